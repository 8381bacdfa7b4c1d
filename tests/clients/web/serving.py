"""The HTTP side served for tests: create_app() under uvicorn in a background thread on a
free loopback port, pointed at a running gRPC server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from clients.web.app import create_app
from common.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_side(settings: Settings, grpc_port: int) -> Iterator[str]:
    """Yields the base URL (http://127.0.0.1:PORT) until the block ends."""
    port = free_port()
    settings = settings.model_copy(
        update={"http_port": port, "http_grpc_target": f"127.0.0.1:{grpc_port}"}
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="http-side", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the HTTP side did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        app.state.web.backend.close()
