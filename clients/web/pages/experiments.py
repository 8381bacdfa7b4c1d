"""Experiments: the list, and one experiment's live A/B report (as GetReport returns it) with
start, stop and release for admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from clients.render.experiments import report_numbers
from clients.render.html import report_sections
from clients.web.page import Csrf, Refused, SignedIn, call, check_form, page, see_other
from protos.campaignlift.v1 import experiments_pb2

# The report page re-fetches itself this often (a small script; without it, a meta refresh).
REFRESH_S = 30


def shares(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """Each variant with its configured share of the experiment's traffic (weight / sum)."""
    total = sum(float(v["weight"]) for v in definition["variants"]) or 1.0
    return [{**v, "share": float(v["weight"]) / total} for v in definition["variants"]]


def router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/experiments", response_class=HTMLResponse)
    def experiments(request: Request, session: SignedIn) -> Response:
        reply = call(
            request,
            session,
            "experiments",
            "ListExperiments",
            experiments_pb2.ListExperimentsRequest(),
        )
        rows = [{**e, "shares": shares(e)} for e in reply["experiments"]]
        return page(request, "experiments.html", session, title="Experiments", experiments=rows)

    @r.get("/experiments/{name}", response_class=HTMLResponse)
    def experiment(request: Request, session: SignedIn, name: str, done: str = "") -> Response:
        definition = call(
            request,
            session,
            "experiments",
            "GetExperiment",
            experiments_pb2.GetExperimentRequest(name=name),
        )
        report = report_numbers(
            call(
                request,
                session,
                "experiments",
                "GetReport",
                experiments_pb2.GetReportRequest(experiment=name),
            )
        )
        return page(
            request,
            "experiment.html",
            session,
            title=f"Experiment {name}",
            definition=definition,
            variants=shares(definition),
            report=report,
            report_html=Markup("".join(report_sections(report))),
            refresh_s=REFRESH_S,
            done=done,
        )

    @r.post("/experiments/{name}/status")
    def set_status(
        request: Request,
        session: SignedIn,
        name: str,
        status: Annotated[str, Form()],
        csrf: Csrf = "",
        release: Annotated[str, Form()] = "",
    ) -> Response:
        check_form(session, csrf)
        if status not in ("running", "stopped"):
            raise Refused(400, f"status must be running or stopped, got {status!r}")
        call(
            request,
            session,
            "experiments",
            "SetExperimentStatus",
            experiments_pb2.SetExperimentStatusRequest(
                name=name, status=status, release=release if status == "stopped" else ""
            ),
        )
        return see_other(f"/experiments/{name}?done={status}")

    return r
