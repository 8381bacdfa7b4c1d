"""`campaign-lift models ...`: model versions over the admin API, as tables or --json."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Annotated, Any

import grpc
import typer
from rich.console import Console
from rich.table import Table

from clients.admin import AdminClient
from clients.client import credentials_from_env

app = typer.Typer(
    help="Model versions: list, show, diff, promote, rollback, canary, archive, history."
)
console = Console(width=120) if not Console().is_terminal else Console()

Target = Annotated[str, typer.Option(help="Server address.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Reason = Annotated[str, typer.Option(help="Why: recorded in the history.")]


def _client(target: str) -> AdminClient:
    token = os.environ.get("CAMPAIGN_LIFT_ADMIN_TOKEN", "")
    if not token:
        console.print("[red]error:[/red] set CAMPAIGN_LIFT_ADMIN_TOKEN to the server's admin token")
        raise typer.Exit(2)
    return AdminClient(target, token, credentials=credentials_from_env())


def _run(target: str, call: Callable[[AdminClient], Any]) -> Any:
    with _client(target) as client:
        try:
            return call(client)
        except grpc.RpcError as exc:
            console.print(f"[red]{exc.code().name}[/red]: {exc.details()}")
            raise typer.Exit(1) from exc


def _metric(v: dict[str, Any], name: str) -> str:
    value = v.get("metrics", {}).get(name)
    return "-" if value is None else f"{value:.4f}"


def _versions_table(versions: list[dict[str, Any]]) -> Table:
    t = Table(title="Model versions")
    for col in (
        "version",
        "stages",
        "family",
        "parent",
        "created",
        "conv. AUC",
        "conv. log loss",
        "source",
    ):
        t.add_column(col)
    for v in versions:
        stages = ", ".join(v["stages"]) + (
            f" {v['canary_percent']:g}%" if v["canary_percent"] else ""
        )
        t.add_row(
            str(v["version"]),
            stages + (" (archived)" if v["archived"] else ""),
            v["family"],
            str(v["parent_version"]) if v["parent_version"] != "0" else "-",
            v["created_at"][:19],
            _metric(v, "conversion.auc"),
            _metric(v, "conversion.log_loss"),
            str(v.get("lineage", {}).get("source", "")),
        )
    return t


def _print(value: Any, as_json: bool, render: Callable[[Any], Any]) -> None:
    if as_json:
        print(json.dumps(value, indent=2, sort_keys=True))
    else:
        console.print(render(value))


@app.command("list")
def list_(
    target: Target = "127.0.0.1:50051", archived: bool = False, as_json: AsJson = False
) -> None:
    """Every version with the stages pointing at it."""
    versions = _run(target, lambda c: c.list_versions(include_archived=archived))
    _print(versions, as_json, _versions_table)


@app.command()
def show(version: int, target: Target = "127.0.0.1:50051", as_json: AsJson = False) -> None:
    """One version in full: metrics, schema, lineage."""
    info = _run(target, lambda c: c.get_version(version))
    _print(info, as_json, lambda v: json.dumps(v, indent=2, sort_keys=True))


@app.command()
def diff(
    base: int, other: int, target: Target = "127.0.0.1:50051", as_json: AsJson = False
) -> None:
    """Two versions' held-out metrics side by side."""
    result = _run(target, lambda c: c.compare(base, other))

    def render(r: dict[str, Any]) -> Table:
        t = Table(
            title=f"version {base} vs {other} (same feature schema: {r['same_feature_schema']})"
        )
        for col in ("metric", str(base), str(other), "difference"):
            t.add_column(col, justify="right")
        for m in r["metrics"]:
            diff_ = f"{m['difference']:+.4f}" if m["in_both"] else "-"
            t.add_row(m["metric"], f"{m['base']:.4f}", f"{m['other']:.4f}", diff_)
        return t

    _print(result, as_json, render)


def _change(change: dict[str, Any]) -> str:
    before = change["from_version"] if change["from_version"] != "0" else "none"
    after = change["to_version"] if change["to_version"] != "0" else "none"
    return f"{change['stage']}: {before} -> {after}"


@app.command()
def promote(
    version: int, target: Target = "127.0.0.1:50051", reason: Reason = "", as_json: AsJson = False
) -> None:
    """Point production at VERSION."""
    _print(_run(target, lambda c: c.promote(version, reason)), as_json, _change)


@app.command()
def rollback(
    target: Target = "127.0.0.1:50051", reason: Reason = "", as_json: AsJson = False
) -> None:
    """Point production back at the version the current one replaced."""
    _print(_run(target, lambda c: c.rollback(reason)), as_json, _change)


@app.command()
def canary(
    version: int,
    percent: Annotated[float, typer.Argument(help="Share of units, (0, 100]; 0 ends the canary.")],
    target: Target = "127.0.0.1:50051",
    reason: Reason = "",
    as_json: AsJson = False,
) -> None:
    """Send PERCENT of units (by hash of unit id) to VERSION."""
    _print(_run(target, lambda c: c.set_canary(version, percent, reason)), as_json, _change)


@app.command()
def shadow(
    version: Annotated[int, typer.Argument(help="Version to shadow production with; 0 ends it.")],
    target: Target = "127.0.0.1:50051",
    reason: Reason = "",
    as_json: AsJson = False,
) -> None:
    """Score production's traffic with VERSION off the hot path; its predictions are logged."""
    _print(_run(target, lambda c: c.set_shadow(version, reason)), as_json, _change)


@app.command("shadow-report")
def shadow_report(
    version: Annotated[int, typer.Argument(help="Shadow version; 0 is the current one.")] = 0,
    metric_target: Annotated[str, typer.Option("--on", help="Model target to compare.")] = "",
    target: Target = "127.0.0.1:50051",
    as_json: AsJson = False,
) -> None:
    """Shadow vs production on the same decisions: agreement and calibration."""
    report = _run(target, lambda c: c.shadow_report(version, metric_target))

    def render(r: dict[str, Any]) -> str:
        return (
            f"shadow {r['shadow_version']} vs production {r['production_version']} on "
            f"{r['target']} over {r['decisions']} decisions: greedy agreement "
            f"{r['greedy_agreement']:.1%}, mean |Δp| {r['mean_abs_probability_diff']:.4f}; "
            f"{r['labelled']} labelled: predicted {r['shadow_mean_prediction']:.4f} (shadow) vs "
            f"{r['production_mean_prediction']:.4f} (production), observed {r['observed_rate']:.4f}"
        )

    _print(report, as_json, render)


@app.command()
def archive(
    version: int, target: Target = "127.0.0.1:50051", reason: Reason = "", as_json: AsJson = False
) -> None:
    """Retire VERSION (no stage may point at it)."""
    _print(_run(target, lambda c: c.archive(version, reason)), as_json, _change)


@app.command()
def history(stage: str = "", target: Target = "127.0.0.1:50051", as_json: AsJson = False) -> None:
    """Every recorded stage move: who, when, from, to, why."""
    events = _run(target, lambda c: c.events(stage))

    def render(rows: list[dict[str, Any]]) -> Table:
        t = Table(title="Stage history")
        for col in ("at", "stage", "from", "to", "traffic", "actor", "reason"):
            t.add_column(col)
        for e in rows:
            t.add_row(
                e["at"][:19],
                e["stage"],
                e["from_version"],
                e["to_version"],
                f"{e['traffic_percent']:g}%" if e["traffic_percent"] else "",
                e["actor"],
                e["reason"],
            )
        return t

    _print(events, as_json, render)


@app.command()
def jobs(target: Target = "127.0.0.1:50051", as_json: AsJson = False) -> None:
    """Retrain jobs: trigger, outcome, version registered, promoted or not."""

    def render(rows: list[dict[str, Any]]) -> Table:
        t = Table(title="Retrain jobs")
        for col in ("job", "started", "status", "version", "promoted", "reason", "detail"):
            t.add_column(col)
        for j in rows:
            t.add_row(
                j["id"],
                j["created_at"][:19],
                j["status"],
                j["result_version"] if j["result_version"] != "0" else "-",
                "yes" if j["promoted"] else "no",
                j["reason"],
                j["message"],
            )
        return t

    _print(_run(target, lambda c: c.jobs()), as_json, render)
