"""`campaign-lift campaigns ...`: the campaign catalogue over CatalogueService, as tables or
--json. A campaign is defined by a JSON file (or inline JSON) with the fields of the
Campaign message, e.g.

    {"campaign_id": "coupon-25", "features": {"campaign_type": "coupon",
     "discount_pct": 25, "duration_days": 3}, "cost_share": 0.25,
     "starts_at": "2026-12-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z",
     "budget": {"daily_sends": 5000}, "cap_sends": 1, "cap_days": 7}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from clients.catalogue import CatalogueClient, campaign_message
from clients.cli.common import (
    DEFAULT_TARGET,
    AdminToken,
    AsJson,
    ReaderToken,
    Target,
    cli_errors,
    console,
    print_json,
)
from clients.client import credentials_from_env
from common.errors import InvalidArgument

app = typer.Typer(help="The campaign catalogue: put, list, show, pause, resume, archive.")

FIELDS = (
    "campaign_id",
    "features",
    "status",
    "starts_at",
    "ends_at",
    "cost_per_send",
    "cost_share",
    "budget",
    "cap_sends",
    "cap_days",
)


def _client(target: str, token: str, call: Callable[[CatalogueClient], Any]) -> Any:
    with CatalogueClient(target, token, credentials=credentials_from_env()) as client:
        return call(client)


def _when(value: Any, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidArgument(f"{name} must be an ISO 8601 time, got {value!r}") from exc
    if at.tzinfo is None:
        raise InvalidArgument(f"{name} must carry a time zone (e.g. Z), got {value!r}")
    return at


def parse_definition(text: str) -> dict[str, Any]:
    """A campaign definition from JSON: its fields checked by name, times parsed."""
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"the campaign definition is not JSON: {exc}") from exc
    if not isinstance(values, dict):
        raise InvalidArgument("the campaign definition must be a JSON object")
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise InvalidArgument(f"unknown campaign fields {sorted(unknown)}; known: {list(FIELDS)}")
    if not values.get("campaign_id") or not isinstance(values.get("features"), dict):
        raise InvalidArgument("a campaign needs campaign_id and a features object")
    values["starts_at"] = _when(values.get("starts_at"), "starts_at")
    values["ends_at"] = _when(values.get("ends_at"), "ends_at")
    return values


def campaigns_table(campaigns: list[dict[str, Any]], version: str | int | None = None) -> Table:
    title = "campaigns" + (f" (catalogue version {version})" if version is not None else "")
    table = Table(title=title, title_justify="left")
    for col in ("campaign", "status", "features", "schedule", "cost", "budget (leased)", "cap"):
        table.add_column(col)
    for info in campaigns:
        c = info["campaign"]
        schedule = f"{c.get('starts_at') or '…'} → {c.get('ends_at') or '…'}"
        cost = f"{c['cost_per_send']:g} + {c['cost_share']:.0%} of basket"
        budget = ", ".join(
            f"{k} {v:g} ({info['leased'].get(k, 0):g})" for k, v in c["budget"].items() if v
        )
        cap = f"{c['cap_sends']} per {c['cap_days']:g} d" if c["cap_sends"] else ""
        features = ", ".join(
            f"{k}={next(iter(v.values()), '') if isinstance(v, dict) else v}"
            for k, v in c["features"].items()
        )
        table.add_row(c["campaign_id"], c["status"], features, schedule, cost, budget, cap)
    return table


@app.command()
@cli_errors
def put(
    definition: Annotated[str, typer.Argument(help="A JSON file, or the JSON itself.")],
    target: Target = DEFAULT_TARGET,
    as_json: AsJson = False,
    token: AdminToken = "",
) -> None:
    """Creates a campaign or replaces its whole definition (needs the admin token)."""
    if definition.lstrip().startswith("{"):
        text = definition
    else:
        try:
            text = Path(definition).read_text()
        except OSError as exc:
            raise InvalidArgument(f"cannot read {definition!r}: {exc.strerror}") from exc
    values = parse_definition(text)
    campaign_id, features = values.pop("campaign_id"), values.pop("features")
    values = {k: v for k, v in values.items() if v is not None}
    try:
        message = campaign_message(campaign_id, features, **values)
    except (TypeError, ValueError) as exc:  # a field of the wrong type, an unknown budget key
        raise InvalidArgument(f"campaign {campaign_id!r}: {exc}") from exc
    info = _client(target, token, lambda c: c.put_message(message))
    if as_json:
        print_json(info)
    else:
        console.print(campaigns_table([info]))


@app.command("list")
@cli_errors
def list_(
    target: Target = DEFAULT_TARGET, as_json: AsJson = False, token: ReaderToken = ""
) -> None:
    """Every campaign of the catalogue, with the catalogue's version."""
    reply = _client(target, token, lambda c: c.list())
    if as_json:
        print_json(reply)
    else:
        console.print(campaigns_table(reply["campaigns"], reply["catalogue_version"]))


@app.command()
@cli_errors
def show(
    campaign_id: str,
    target: Target = DEFAULT_TARGET,
    as_json: AsJson = False,
    token: ReaderToken = "",
) -> None:
    """One campaign."""
    info = _client(target, token, lambda c: c.get(campaign_id))
    if as_json:
        print_json(info)
    else:
        console.print(campaigns_table([info]))


def _status_command(status: str, verb: str) -> Callable[..., None]:
    @cli_errors
    def command(
        campaign_id: str,
        target: Target = DEFAULT_TARGET,
        as_json: AsJson = False,
        token: AdminToken = "",
    ) -> None:
        info = _client(target, token, lambda c: c.set_status(campaign_id, status))
        if as_json:
            print_json(info)
        else:
            console.print(
                f"{campaign_id}: {info['campaign']['status']} (revision {info['revision']})"
            )

    command.__doc__ = f"{verb} a campaign (needs the admin token)."
    return command


app.command("pause")(_status_command("paused", "Pauses"))
app.command("resume")(_status_command("active", "Resumes"))
app.command("archive")(_status_command("archived", "Archives"))
