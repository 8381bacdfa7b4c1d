"""Model versions: the list with stages, metrics, lineage and the gate's numbers; one version;
two side by side; the stage history and retrain jobs; promote, canary, rollback and archive
for admins, each with a required reason and a confirmation step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from google.protobuf.message import Message

from clients.web.page import Csrf, Refused, SignedIn, call, check_form, page, see_other
from clients.web.sessions import Session
from protos.campaignlift.v1 import admin_pb2

# The held-out metrics shown in the list (every one is on the version's page).
HEADLINE_METRICS = ("conversion.auc", "conversion.log_loss")


@dataclass(frozen=True)
class Action:
    """A stage move: what the confirmation page says, and the RPC that makes it."""

    verb: str
    method: str
    request: Callable[[int, float, str], Message]


ACTIONS = {
    "promote": Action(
        "Promote to production",
        "Promote",
        lambda version, _, reason: admin_pb2.PromoteRequest(version=version, reason=reason),
    ),
    "canary": Action(
        "Send a canary share of traffic to",
        "SetCanary",
        lambda version, percent, reason: admin_pb2.SetCanaryRequest(
            version=version, percent=percent, reason=reason
        ),
    ),
    "archive": Action(
        "Archive",
        "Archive",
        lambda version, _, reason: admin_pb2.ArchiveRequest(version=version, reason=reason),
    ),
    "rollback": Action(
        "Roll production back from",
        "Rollback",
        lambda _, __, reason: admin_pb2.RollbackRequest(reason=reason),
    ),
}


def _admin(request: Request, session: Session, method: str, message: Message) -> dict[str, Any]:
    return call(request, session, "admin", method, message)


def _versions(request: Request, session: Session) -> list[dict[str, Any]]:
    reply = _admin(
        request, session, "ListVersions", admin_pb2.ListVersionsRequest(include_archived=True)
    )
    return list(reply["versions"])


def _events(request: Request, session: Session) -> list[dict[str, Any]]:
    reply = _admin(request, session, "ListStageEvents", admin_pb2.ListStageEventsRequest())
    return list(reversed(reply["events"]))  # newest first


def _production(versions: list[dict[str, Any]]) -> str:
    return next((v["version"] for v in versions if "production" in v["stages"]), "")


def router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/models", response_class=HTMLResponse)
    def models(request: Request, session: SignedIn, done: str = "") -> Response:
        versions = _versions(request, session)
        jobs = _admin(request, session, "ListRetrainJobs", admin_pb2.ListRetrainJobsRequest())
        return page(
            request,
            "models.html",
            session,
            title="Model versions",
            versions=versions,
            production=_production(versions),
            events=_events(request, session),
            jobs=list(reversed(jobs["jobs"])),
            headline=HEADLINE_METRICS,
            done=done,
        )

    @r.get("/models/compare", response_class=HTMLResponse)
    def compare(request: Request, session: SignedIn, base: int, other: int) -> Response:
        result = _admin(
            request,
            session,
            "CompareVersions",
            admin_pb2.CompareVersionsRequest(base=base, other=other),
        )
        return page(
            request,
            "compare.html",
            session,
            title=f"Version {base} against {other}",
            base=base,
            other=other,
            result=result,
        )

    @r.get("/models/{version}", response_class=HTMLResponse)
    def version(request: Request, session: SignedIn, version: int, done: str = "") -> Response:
        info = _admin(request, session, "GetVersion", admin_pb2.GetVersionRequest(version=version))
        events = [
            e
            for e in _events(request, session)
            if str(version) in (e["from_version"], e["to_version"])
        ]
        lineage = dict(info.get("lineage") or {})
        return page(
            request,
            "model.html",
            session,
            title=f"Model version {version}",
            info=info,
            events=events,
            gate=lineage.pop("gate", None),
            lineage=lineage,
            done=done,
        )

    @r.post("/models/{version}/{action}")
    def act(
        request: Request,
        session: SignedIn,
        version: int,
        action: str,
        csrf: Csrf = "",
        reason: Annotated[str, Form()] = "",
        percent: Annotated[float, Form()] = 0.0,
        confirmed: Annotated[str, Form()] = "",
    ) -> Response:
        check_form(session, csrf)
        move = ACTIONS.get(action)
        if move is None:
            raise Refused(404, f"no such action {action!r}; one of {sorted(ACTIONS)}")
        reason = reason.strip()
        if not reason:
            raise Refused(400, "reason is required: say why, for the stage history")
        if confirmed != "yes":
            return page(
                request,
                "confirm.html",
                session,
                title="Confirm",
                action=action,
                move=move,
                version=version,
                reason=reason,
                percent=percent,
                production=_production(_versions(request, session)),
            )
        _admin(request, session, move.method, move.request(version, percent, reason))
        back = "/models" if action == "rollback" else f"/models/{version}"
        return see_other(f"{back}?done={action}")

    return r
