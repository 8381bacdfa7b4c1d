"""What every console page shares: the signed-in session, the checks on a form, a call to the
gRPC services with the caller's token, and the page itself (a template with the layout's
context). A failed call becomes a readable error page (`install_errors`), never a traceback."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote

import grpc
from fastapi import Depends, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from google.protobuf.message import Message
from starlette.exceptions import HTTPException

from clients.web.backend import CallFailed
from clients.web.sessions import COOKIE, Session, csrf_ok

# A gRPC status -> the HTTP status of the page that explains it, and its heading.
STATUS_PAGES: Mapping[grpc.StatusCode, tuple[int, str]] = {
    grpc.StatusCode.NOT_FOUND: (404, "Not found"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "Not allowed"),
    grpc.StatusCode.UNAUTHENTICATED: (403, "Not allowed"),
    grpc.StatusCode.INVALID_ARGUMENT: (400, "Refused"),
    grpc.StatusCode.FAILED_PRECONDITION: (409, "Refused"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "Refused"),
    grpc.StatusCode.UNAVAILABLE: (503, "The server is unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "The server took too long"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (503, "The server is overloaded"),
}
# Headers on every console response: nothing from any other host, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class SignInNeeded(Exception):
    """A page asked for without a live session: the login page, then back here."""

    def __init__(self, path: str) -> None:
        self.path = path


class Refused(Exception):
    """A request the console itself turns down (bad form, missing role or CSRF token)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


def session_of(request: Request) -> Session | None:
    session: Session | None = request.app.state.web.sessions.get(request.cookies.get(COOKIE))
    return session


def signed_in(request: Request) -> Session:
    """A dependency: the caller's session; pages without one redirect to /login."""
    session = session_of(request)
    if session is None:
        if request.method != "GET":
            raise Refused(403, "Sign in first: your session has ended.")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(target)
    return session


SignedIn = Annotated[Session, Depends(signed_in)]
Csrf = Annotated[str, Form()]


def check_form(session: Session, csrf: str, *, admin: bool = True) -> None:
    """Every POST: the session's CSRF token first, then (for changes) the admin role."""
    if not csrf_ok(session, csrf):
        raise Refused(403, "The form's CSRF token is missing or wrong: reload the page and retry.")
    if admin and not session.is_admin:
        raise Refused(403, "This needs the admin role; you are signed in as a reader.")


def call(
    request: Request, session: Session, service: str, method: str, message: Message
) -> dict[str, Any]:
    """One RPC with the caller's token and name; CallFailed becomes an error page."""
    result: dict[str, Any] = request.app.state.web.backend.call(
        service, method, message, token=session.token, actor=session.actor
    )
    return result


def page(
    request: Request,
    template: str,
    session: Session | None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    templates = request.app.state.web.templates
    response: HTMLResponse = templates.TemplateResponse(
        request, template, {"session": session, **context}, status_code=status
    )
    return response


def see_other(path: str) -> RedirectResponse:
    """After a POST: the page to look at next (303: the browser GETs it)."""
    return RedirectResponse(path, status_code=303)


def safe_next(path: str) -> str:
    """Only a path on this site (no scheme, no host) may follow a login."""
    if not path.startswith("/") or path.startswith(("//", "/\\")):
        return "/experiments"
    return path


def error_page(request: Request, status: int, heading: str, message: str) -> HTMLResponse:
    return page(
        request,
        "error.html",
        session_of(request),
        status=status,
        heading=heading,
        message=message,
        title=heading,
    )


def install_errors(app: FastAPI) -> None:
    """Error pages for the console's paths (the Personalizer API answers for its own)."""

    @app.exception_handler(SignInNeeded)
    async def sign_in(request: Request, exc: SignInNeeded) -> Response:
        return see_other(f"/login?next={quote(exc.path, safe='/')}")

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        heading = "Not allowed" if exc.status == 403 else "Refused"
        return error_page(request, exc.status, heading, exc.message)

    @app.exception_handler(CallFailed)
    async def failed(request: Request, exc: CallFailed) -> Response:
        status, heading = STATUS_PAGES.get(exc.code, (502, "The server could not answer"))
        return error_page(request, status, heading, exc.message or exc.code.name)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        heading = "Not found" if exc.status_code == 404 else "Refused"
        return error_page(request, exc.status_code, heading, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
            problems.append(f"{field or 'request'}: {error.get('msg', 'invalid')}")
        return error_page(request, 400, "Refused", "; ".join(problems))

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if not request.url.path.startswith("/personalizer"):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        return response


def number(value: Any, fmt: str = ".4f") -> str:
    """A number from a reply (proto JSON writes NaN as a string), "-" when not finite."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "-"
    return format(x, fmt) if math.isfinite(x) else "-"


def percent(value: Any, fmt: str = ".1%") -> str:
    return number(value, fmt)


def when(stamp: Any) -> str:
    """An RFC 3339 timestamp from a reply, to the second, in UTC."""
    text = str(stamp or "")
    return text[:19].replace("T", " ") if text else "-"


def install_filters(app: FastAPI) -> None:
    env = app.state.web.templates.env
    env.filters.update(number=number, percent=percent, when=when)
