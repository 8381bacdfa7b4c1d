"""`campaign-lift experiments report NAME` and `campaign-lift feedback import`."""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import grpc
import typer
from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.table import Table

from clients.client import credentials_from_env, open_channel
from common.errors import CampaignLiftError
from protos.campaignlift.v1 import experiments_pb2, experiments_pb2_grpc

experiments_app = typer.Typer(help="Experiments: the A/B report of what the store recorded.")
feedback_app = typer.Typer(help="Feedback: import logged decisions and outcomes.")
console = Console(width=120) if not Console().is_terminal else Console()


def _pct(value: Any, signed: bool = True) -> str:
    """Proto JSON writes NaN and infinities as strings: those print as '-'."""
    x = float(value)
    if not math.isfinite(x):
        return "-"
    return f"{x:+.2%}" if signed else f"{x:.1%}"


def _interval(m: dict[str, Any], kind: str) -> str:
    return f"[{_pct(m[f'{kind}_ci_low'])}, {_pct(m[f'{kind}_ci_high'])}]"


def _p(m: dict[str, Any]) -> str:
    short = {"two_proportion_z": "z", "welch_t": "t"}.get(m["test"], m["test"])
    return f"{float(m['p_value']):.4g} ({short})"


def render(report: dict[str, Any]) -> None:
    t = Table(title=f"experiment {report['experiment']} (control: {report['control']})")
    for col in (
        "variant",
        "units",
        "decisions",
        "outcomes",
        "metric",
        "mean",
        "absolute lift (95% CI)",
        "relative lift (95% CI)",
        "p (test)",
        "chance to beat control",
    ):
        t.add_column(col, justify="right")
    for v in report["variants"]:
        for i, m in enumerate(v["metrics"]):
            compared = m["compared"]
            first = i == 0
            t.add_row(
                v["name"] if first else "",
                str(v["units"]) if first else "",
                str(v["decisions"]) if first else "",
                str(v["outcomes"]) if first else "",
                m["metric"],
                f"{float(m['mean']):.4f}",
                f"{float(m['absolute']):+.4f} [{float(m['absolute_ci_low']):+.4f}, "
                f"{float(m['absolute_ci_high']):+.4f}]"
                if compared
                else "-",
                f"{_pct(m['relative'])} {_interval(m, 'relative')}" if compared else "-",
                _p(m) if compared else "-",
                _pct(m["chance_to_beat_control"], signed=False) if compared else "-",
            )
    console.print(t)
    if report["covariate"]:
        _render_cuped(report)
    _render_campaigns(report)
    _render_calibration(report)
    srm = f"sample-ratio check: chi2 {report['srm_chi2']:.3f}, p {report['srm_p']:.4g}"
    if report["srm_warning"]:
        console.print(f"[red]SAMPLE RATIO MISMATCH[/red] ({srm}): assignment or logging is broken")
    else:
        console.print(f"{srm}: no mismatch")
    console.print(
        "p: two-proportion z-test (z) for rates, Welch's unpooled t-test (t) for revenue, on the "
        "absolute difference; intervals: Welch (gbstats conventions); unit = user"
    )


def _render_cuped(report: dict[str, Any]) -> None:
    t = Table(title=f"CUPED with pre-period covariate {report['covariate']!r}")
    for col in ("variant", "metric", "theta", "adjusted mean", "adjusted lift (95% CI)", "p (t)"):
        t.add_column(col, justify="right")
    t.add_column("variance reduction", justify="right")
    for v in report["variants"]:
        for m in v["metrics"]:
            if m["cuped"]:
                t.add_row(
                    v["name"],
                    m["metric"],
                    f"{float(m['cuped_theta']):.4g}",
                    f"{float(m['cuped_mean']):.4f}",
                    f"{float(m['cuped_absolute']):+.4f} [{float(m['cuped_absolute_ci_low']):+.4f}, "
                    f"{float(m['cuped_absolute_ci_high']):+.4f}]",
                    f"{float(m['cuped_p']):.4g}",
                    _pct(m["cuped_variance_reduction"], signed=False),
                )
    console.print(t)


def _render_campaigns(report: dict[str, Any]) -> None:
    t = Table(title="per campaign (rates and revenue per decision)")
    for col in ("variant", "campaign", "units", "decisions", "outcomes", "click", "conversion"):
        t.add_column(col, justify="right")
    t.add_column("revenue / decision", justify="right")
    for c in report["campaigns"]:
        t.add_row(
            c["variant"],
            c["campaign_id"] or "(none)",
            str(c["units"]),
            str(c["decisions"]),
            str(c["outcomes"]),
            f"{float(c['click_rate']):.4f}",
            f"{float(c['conversion_rate']):.4f}",
            f"{float(c['revenue_per_decision']):.4f}",
        )
    console.print(t)


def _render_calibration(report: dict[str, Any]) -> None:
    if not report["calibration"]:
        return
    t = Table(title="calibration: predicted against observed, per campaign and model version")
    for col in ("campaign", "model version", "target", "decisions", "predicted", "observed"):
        t.add_column(col, justify="right")
    t.add_column("observed / predicted", justify="right")
    for c in report["calibration"]:
        t.add_row(
            c["campaign_id"] or "(none)",
            c["model_version"],
            c["target"],
            str(c["count"]),
            f"{float(c['predicted']):.4f}",
            f"{float(c['observed']):.4f}",
            f"{float(c['ratio']):.3f}",
        )
    console.print(t)


def _rpc(target: str, method: str, request: Any, **kwargs: Any) -> Any:
    """One ExperimentService call; a failure prints its status and exits 1."""
    with open_channel(target, credentials_from_env()) as channel:
        stub = experiments_pb2_grpc.ExperimentServiceStub(channel)
        try:
            return getattr(stub, method)(request, **kwargs)
        except grpc.RpcError as exc:
            console.print(f"[red]{exc.code().name}[/red]: {exc.details()}")
            raise typer.Exit(1) from exc


def _show(definition: Any, as_json: bool) -> None:
    data = MessageToDict(
        definition, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    total = sum(v["weight"] for v in data["variants"]) or 1.0
    t = Table(title=f"experiment {data['name']} (salt {data['salt']!r})")
    for col in ("variant", "weight", "share", "policy"):
        t.add_column(col)
    for v in data["variants"]:
        t.add_row(v["name"], f"{v['weight']:g}", f"{v['weight'] / total:.1%}", v["policy_json"])
    console.print(t)


@experiments_app.command()
def save(
    name: str,
    variant: Annotated[
        list[str],
        typer.Option(
            help="NAME:WEIGHT:POLICY_JSON, once per variant, control first, e.g. "
            '\'control:1:{"type": "no_campaign"}\''
        ),
    ],
    salt: Annotated[
        str, typer.Option(help="Hash salt; empty: the name. Keep it to keep units.")
    ] = "",
    target: Annotated[str, typer.Option(help="Server address.")] = "127.0.0.1:50051",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create an experiment or replace its variants (needs CAMPAIGN_LIFT_ADMIN_TOKEN)."""
    variants = []
    for spec in variant:
        parts = spec.split(":", 2)
        if len(parts) != 3:
            console.print(f"[red]error:[/red] --variant {spec!r} must be NAME:WEIGHT:POLICY_JSON")
            raise typer.Exit(2)
        try:
            weight = float(parts[1])
        except ValueError:
            console.print(
                f"[red]error:[/red] --variant {spec!r}: weight {parts[1]!r} is not a number"
            )
            raise typer.Exit(2) from None
        variants.append(
            experiments_pb2.VariantDefinition(name=parts[0], weight=weight, policy_json=parts[2])
        )
    request = experiments_pb2.SaveExperimentRequest(
        experiment=experiments_pb2.ExperimentDefinition(name=name, salt=salt, variants=variants)
    )
    token = os.environ.get("CAMPAIGN_LIFT_ADMIN_TOKEN", "")
    auth = (("authorization", f"Bearer {token}"),)
    _show(_rpc(target, "SaveExperiment", request, timeout=30, metadata=auth), as_json)


@experiments_app.command()
def show(
    name: str,
    target: Annotated[str, typer.Option(help="Server address.")] = "127.0.0.1:50051",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """An experiment's salt, variants, weights and policies."""
    request = experiments_pb2.GetExperimentRequest(name=name)
    _show(_rpc(target, "GetExperiment", request, timeout=30), as_json)


@experiments_app.command()
def report(
    name: str,
    target: Annotated[str, typer.Option(help="Server address.")] = "127.0.0.1:50051",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    covariate: Annotated[
        str | None,
        typer.Option(help="User feature for CUPED instead of the experiment's; '' turns it off."),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the report as one self-contained HTML file."),
    ] = None,
) -> None:
    """Per variant and campaign: units, decisions, outcomes, rates, revenue per unit, lift vs
    control, p-values (z-test for rates, Welch t for revenue), CUPED, SRM."""
    request = experiments_pb2.GetReportRequest(experiment=name)
    if covariate is not None:
        request.covariate = covariate
    reply = _rpc(target, "GetReport", request, timeout=60)
    data = MessageToDict(
        reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    for v in data["variants"]:
        v["units"], v["decisions"] = int(v["units"]), int(v["decisions"])
        v["outcomes"] = int(v["outcomes"])
    for c in data["campaigns"]:
        c["units"], c["decisions"], c["outcomes"] = (
            int(c["units"]),
            int(c["decisions"]),
            int(c["outcomes"]),
        )
    if html is not None:
        from clients.report_html import render_html

        html.write_text(render_html(data), encoding="utf-8")
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        render(data)
        if html is not None:
            console.print(f"wrote {html}")


@feedback_app.command("import")
def import_(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet of logged decisions and outcomes.")],
    mapping: Annotated[
        Path, typer.Option(help="Mapping spec (TOML), e.g. specs/hillstrom-import.toml.")
    ],
) -> None:
    """Import a logged experiment into the store (idempotent: re-importing adds nothing)."""
    from common.settings import Settings
    from feedback.import_spec import import_table, load_mapping
    from feedback.store import open_store
    from trainer.data import load_table

    settings = Settings()
    settings.ensure_dirs()
    try:
        log_mapping, control, weights = load_mapping(mapping)
        store = open_store(settings.database_url)
        frame = load_table(data)
        with console.status(f"importing {len(frame)} rows"):
            decisions, outcomes = import_table(
                store,
                frame,
                log_mapping,
                control,
                datetime.now(UTC),
                weights,
                unit_key=settings.unit_id_hash_key.get_secret_value().encode("utf-8"),
            )
    except CampaignLiftError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    console.print(
        f"imported {decisions} decisions and {outcomes} new outcomes into {store.location}"
        + (f" as experiment {log_mapping.experiment!r}" if log_mapping.experiment else "")
    )


@feedback_app.command()
def purge(
    older_than_days: Annotated[
        float, typer.Option(help="Delete decisions (and their outcomes) older than this.")
    ],
) -> None:
    """Retention: delete decisions older than N days with their outcomes and shadow predictions
    (reports on what remains stay correct). Acts on the store of CAMPAIGN_LIFT_DATABASE_URL."""
    from datetime import timedelta

    from common.settings import Settings
    from feedback.privacy import purge as purge_store
    from feedback.store import open_store

    if not (math.isfinite(older_than_days) and older_than_days > 0):
        console.print(f"[red]error:[/red] --older-than-days must be > 0, got {older_than_days}")
        raise typer.Exit(2)
    settings = Settings()
    try:
        store = open_store(settings.database_url)
        result = purge_store(store, timedelta(days=older_than_days))
    except CampaignLiftError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    console.print(
        f"purged {result.decisions} decisions, {result.outcomes} outcomes and "
        f"{result.shadow_predictions} shadow predictions older than "
        f"{result.cutoff.isoformat(timespec='seconds')} from {store.location}"
    )
