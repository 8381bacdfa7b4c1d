"""`python -m clients.web`: the HTTP side on `http_port`, settings from the environment
(CAMPAIGN_LIFT_*), until SIGTERM/SIGINT. `campaign-lift serve` runs it as a supervised child."""

from __future__ import annotations

import logging
import sys

import uvicorn

from clients.web.app import create_app
from common.settings import Settings


def main() -> int:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if settings.http_port < 0:
        print("the HTTP side is turned off (http_port -1)", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
