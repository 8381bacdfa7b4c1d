"""The campaign catalogue as ListCampaigns returns it: status, schedule, cost, each budget with
what servers have taken of it in leases, and frequency caps."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from clients.catalogue import BUDGET_KEYS
from clients.web.page import SignedIn, call, page
from protos.campaignlift.v1 import catalogue_pb2


def budgets(info: dict[str, Any]) -> list[dict[str, Any]]:
    """Each budget that has a limit: the limit, how much is leased and what is left of it."""
    limits = info["campaign"].get("budget") or {}
    leased = info.get("leased") or {}
    rows = []
    for key in BUDGET_KEYS:
        limit = float(limits.get(key, 0.0))
        if limit > 0:
            taken = float(leased.get(key, 0.0))
            rows.append(
                {
                    "name": key.replace("_", " "),
                    "limit": limit,
                    "leased": taken,
                    "left": max(limit - taken, 0.0),
                }
            )
    return rows


def router() -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/campaigns", response_class=HTMLResponse)
    def campaigns(request: Request, session: SignedIn) -> Response:
        reply = call(
            request, session, "catalogue", "ListCampaigns", catalogue_pb2.ListCampaignsRequest()
        )
        rows = [{**c, "budgets": budgets(c)} for c in reply["campaigns"]]
        return page(
            request,
            "campaigns.html",
            session,
            title="Campaigns",
            campaigns=rows,
            catalogue_version=reply["catalogue_version"],
        )

    @r.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
    def campaign(request: Request, session: SignedIn, campaign_id: str) -> Response:
        info = call(
            request,
            session,
            "catalogue",
            "GetCampaign",
            catalogue_pb2.GetCampaignRequest(campaign_id=campaign_id),
        )
        return page(
            request,
            "campaign.html",
            session,
            title=f"Campaign {campaign_id}",
            info=info,
            budgets=budgets(info),
        )

    return r
