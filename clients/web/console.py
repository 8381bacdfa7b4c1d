"""The console's pages (server-rendered; readable without JavaScript): signing in and out here,
experiments, models and campaigns in `clients/web/pages/`. Every number on them comes from the
gRPC services, called with the signed-in caller's token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clients.web.page import (
    Csrf,
    SignedIn,
    check_form,
    install_errors,
    install_filters,
    page,
    safe_next,
    see_other,
    session_of,
)
from clients.web.pages import campaigns, experiments, models
from clients.web.sessions import COOKIE, role_of

DEFAULT_ACTOR = "console"


def _login_page(
    request: Request, next_path: str, *, status: int = 200, error: str = ""
) -> Response:
    return page(
        request,
        "login.html",
        None,
        status=status,
        title="Sign in",
        next_path=safe_next(next_path),
        error=error,
    )


def router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/experiments", status_code=303)

    @r.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/experiments") -> Response:
        return _login_page(request, next)

    @r.post("/login")
    def login(
        request: Request,
        token: Annotated[str, Form()] = "",
        name: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/experiments",
    ) -> Response:
        web = request.app.state.web
        role = role_of(web.settings, token)
        if role is None:
            return _login_page(
                request, next, status=401, error="That token opens nothing here: check it."
            )
        previous = session_of(request)
        if previous is not None:
            web.sessions.close(previous.id)
        session = web.sessions.open(role, token, name.strip() or DEFAULT_ACTOR)
        response = see_other(safe_next(next))
        response.set_cookie(
            COOKIE,
            session.id,
            max_age=int(web.settings.http_session_ttl_s),
            path="/",
            httponly=True,
            samesite="strict",
            secure=web.settings.http_secure_cookies,
        )
        return response

    @r.post("/logout")
    def logout(request: Request, session: SignedIn, csrf: Csrf = "") -> Response:
        check_form(session, csrf, admin=False)
        request.app.state.web.sessions.close(session.id)
        response = see_other("/login")
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return r


def install(app: FastAPI) -> None:
    """Adds the console's routes, error pages and response headers to `app`."""
    install_filters(app)
    install_errors(app)
    app.include_router(router())
    for pages in (experiments, models, campaigns):
        app.include_router(pages.router())
