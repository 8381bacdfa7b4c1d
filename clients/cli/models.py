"""`campaign-lift models ...`: model versions over the admin API, as tables or --json."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.markup import escape

from clients.admin import AdminClient
from clients.cli.common import (
    DEFAULT_TARGET,
    AdminToken,
    AsJson,
    Reason,
    Target,
    cli_errors,
    console,
    print_json,
)
from clients.client import credentials_from_env
from clients.render.models import (
    change_line,
    diff_table,
    history_table,
    jobs_table,
    shadow_report_line,
    versions_table,
)
from common.errors import InvalidArgument

app = typer.Typer(
    help="Model versions: list, show, diff, promote, rollback, canary, archive, history."
)


def _admin(target: str, token: str, call: Callable[[AdminClient], Any]) -> Any:
    """One admin call; every one needs the admin token."""
    if not token:
        raise InvalidArgument("set CAMPAIGN_LIFT_ADMIN_TOKEN to the server's admin token")
    with AdminClient(target, token, credentials=credentials_from_env()) as client:
        return call(client)


def _print(value: Any, as_json: bool, render: Callable[[Any], Any]) -> None:
    if as_json:
        print_json(value)
    else:
        console.print(render(value))


@app.command("list")
@cli_errors
def list_(
    target: Target = DEFAULT_TARGET,
    archived: bool = False,
    as_json: AsJson = False,
    token: AdminToken = "",
) -> None:
    """Every version with the stages pointing at it."""
    versions = _admin(target, token, lambda c: c.list_versions(include_archived=archived))
    _print(versions, as_json, versions_table)


@app.command()
@cli_errors
def show(
    version: int, target: Target = DEFAULT_TARGET, as_json: AsJson = False, token: AdminToken = ""
) -> None:
    """One version in full: metrics, schema, lineage."""
    info = _admin(target, token, lambda c: c.get_version(version))
    _print(info, as_json, lambda v: escape(json.dumps(v, indent=2, sort_keys=True)))


@app.command()
@cli_errors
def diff(
    base: int,
    other: int,
    target: Target = DEFAULT_TARGET,
    as_json: AsJson = False,
    token: AdminToken = "",
) -> None:
    """Two versions' held-out metrics side by side."""
    result = _admin(target, token, lambda c: c.compare(base, other))
    _print(result, as_json, lambda r: diff_table(base, other, r))


@app.command()
@cli_errors
def promote(
    version: int,
    target: Target = DEFAULT_TARGET,
    reason: Reason = "",
    as_json: AsJson = False,
    token: AdminToken = "",
) -> None:
    """Point production at VERSION."""
    _print(_admin(target, token, lambda c: c.promote(version, reason)), as_json, change_line)


@app.command()
@cli_errors
def rollback(
    target: Target = DEFAULT_TARGET,
    reason: Reason = "",
    as_json: AsJson = False,
    token: AdminToken = "",
) -> None:
    """Point production back at the version the current one replaced."""
    _print(_admin(target, token, lambda c: c.rollback(reason)), as_json, change_line)


@app.command()
@cli_errors
def canary(
    version: int,
    percent: Annotated[float, typer.Argument(help="Share of units, (0, 100]; 0 ends the canary.")],
    target: Target = DEFAULT_TARGET,
    reason: Reason = "",
    as_json: AsJson = False,
    token: AdminToken = "",
) -> None:
    """Send PERCENT of units (by hash of unit id) to VERSION."""
    change = _admin(target, token, lambda c: c.set_canary(version, percent, reason))
    _print(change, as_json, change_line)


@app.command()
@cli_errors
def shadow(
    version: Annotated[int, typer.Argument(help="Version to shadow production with; 0 ends it.")],
    target: Target = DEFAULT_TARGET,
    reason: Reason = "",
    as_json: AsJson = False,
    token: AdminToken = "",
) -> None:
    """Score production's traffic with VERSION off the hot path; its predictions are logged."""
    _print(_admin(target, token, lambda c: c.set_shadow(version, reason)), as_json, change_line)


@app.command("shadow-report")
@cli_errors
def shadow_report(
    version: Annotated[int, typer.Argument(help="Shadow version; 0 is the current one.")] = 0,
    metric_target: Annotated[str, typer.Option("--on", help="Model target to compare.")] = "",
    target: Target = DEFAULT_TARGET,
    as_json: AsJson = False,
    token: AdminToken = "",
) -> None:
    """Shadow vs production on the same decisions: agreement and calibration."""
    report = _admin(target, token, lambda c: c.shadow_report(version, metric_target))
    _print(report, as_json, shadow_report_line)


@app.command()
@cli_errors
def archive(
    version: int,
    target: Target = DEFAULT_TARGET,
    reason: Reason = "",
    as_json: AsJson = False,
    token: AdminToken = "",
) -> None:
    """Retire VERSION (no stage may point at it)."""
    _print(_admin(target, token, lambda c: c.archive(version, reason)), as_json, change_line)


@app.command()
@cli_errors
def history(
    stage: str = "",
    target: Target = DEFAULT_TARGET,
    as_json: AsJson = False,
    token: AdminToken = "",
) -> None:
    """Every recorded stage move: who, when, from, to, why."""
    _print(_admin(target, token, lambda c: c.events(stage)), as_json, history_table)


@app.command()
@cli_errors
def jobs(target: Target = DEFAULT_TARGET, as_json: AsJson = False, token: AdminToken = "") -> None:
    """Retrain jobs: trigger, outcome, version registered, promoted or not."""
    _print(_admin(target, token, lambda c: c.jobs()), as_json, jobs_table)
