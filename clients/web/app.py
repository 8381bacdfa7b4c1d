"""The HTTP application: the console (server-rendered pages) and the Personalizer-compatible
REST API, on one ASGI app. Nothing is loaded from any other host: templates and assets ship in
this package."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from clients.web.backend import Backend, grpc_target
from clients.web.sessions import Sessions
from common.settings import Settings

HERE = Path(__file__).parent
TITLE = "Campaign Lift"


@dataclass
class Web:
    """What every route needs, on `app.state.web`."""

    settings: Settings
    backend: Backend
    sessions: Sessions
    templates: Jinja2Templates


def create_app(settings: Settings, backend: Backend | None = None) -> FastAPI:
    from clients.web import console, personalizer

    app = FastAPI(
        title=f"{TITLE} HTTP API",
        description=(
            "The Personalizer-compatible Rank/Reward API (`/personalizer/v1.0`) beside the "
            "console. Decisions and rewards go to the same store, experiments, reports and "
            "off-policy evaluation as the gRPC ScoringService and FeedbackService."
        ),
        version="1.0",
        docs_url=None,  # Swagger UI would load its assets from a CDN
        redoc_url=None,
    )
    app.state.web = Web(
        settings,
        backend or Backend(grpc_target(settings)),
        Sessions(settings.http_session_ttl_s),
        Jinja2Templates(directory=HERE / "templates"),
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    # The console first: the Personalizer API's error handlers answer for its own paths and
    # hand every other path to the handlers installed before them.
    console.install(app)
    personalizer.install(app)
    return app
