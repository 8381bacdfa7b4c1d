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
from clients.evaluation import evaluation_request
from common.errors import CampaignLiftError
from protos.campaignlift.v1 import evaluation_pb2_grpc, experiments_pb2, experiments_pb2_grpc

experiments_app = typer.Typer(
    help="Experiments: define them, the A/B report, off-policy evaluation of a policy on the logs."
)
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


def _rpc(target: str, method: str, request: Any, stub_class: Any = None, **kwargs: Any) -> Any:
    """One ExperimentService (or `stub_class`) call; a failure prints its status and exits 1."""
    kwargs.setdefault("metadata", _reader_metadata())
    with open_channel(target, credentials_from_env()) as channel:
        stub = (stub_class or experiments_pb2_grpc.ExperimentServiceStub)(channel)
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
    t = Table(title=f"experiment {data['name']} ({data['status']}, salt {data['salt']!r})")
    for col in ("variant", "weight", "share", "policy"):
        t.add_column(col)
    for v in data["variants"]:
        t.add_row(v["name"], f"{v['weight']:g}", f"{v['weight'] / total:.1%}", v["policy_json"])
    console.print(t)
    ns = data.get("namespace")
    who = [f"coverage {data['coverage']:.0%}"]
    if ns:
        who.append(f"namespace {ns['name']} [{ns.get('start', 0):g}, {ns['end']:g})")
    who += [f"{c['feature']} {c['op']} {c['value_json']}" for c in data["eligibility"]]
    console.print("units: " + "; ".join(who))
    fallback = data["release"] or data["variants"][0]["name"]
    console.print(
        f"attribution window {data['attribution_window_s']:g} s, default reward "
        f"{data['default_reward']:g}; outside the experiment: {fallback}'s policy"
    )


def _reader_metadata() -> tuple[tuple[str, str], ...]:
    """Reads carry the reader token (or else the admin token) when the environment has one."""
    token = os.environ.get("CAMPAIGN_LIFT_READER_TOKEN") or os.environ.get(
        "CAMPAIGN_LIFT_ADMIN_TOKEN", ""
    )
    return (("authorization", f"Bearer {token}"),) if token else ()


def _admin_metadata() -> tuple[tuple[str, str], ...]:
    token = os.environ.get("CAMPAIGN_LIFT_ADMIN_TOKEN", "")
    return (("authorization", f"Bearer {token}"),)


def _conditions(specs: list[str]) -> list[experiments_pb2.Condition]:
    conditions = []
    for spec in specs:
        parts = spec.split(" ", 2)
        if len(parts) != 3:
            console.print(
                f"[red]error:[/red] --eligible {spec!r} must be 'FEATURE OP VALUE_JSON', "
                'e.g. \'channel in ["Web", "Phone"]\''
            )
            raise typer.Exit(2)
        conditions.append(
            experiments_pb2.Condition(feature=parts[0], op=parts[1], value_json=parts[2])
        )
    return conditions


def _namespace(spec: str) -> experiments_pb2.Namespace | None:
    if not spec:
        return None
    parts = spec.split(":")
    try:
        if len(parts) != 3:
            raise ValueError
        return experiments_pb2.Namespace(name=parts[0], start=float(parts[1]), end=float(parts[2]))
    except ValueError:
        console.print(f"[red]error:[/red] --namespace {spec!r} must be NAME:START:END")
        raise typer.Exit(2) from None


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
    attribution_window: Annotated[
        float, typer.Option(help="Seconds an outcome counts for its decision; 0: one day.")
    ] = 0.0,
    default_reward: Annotated[
        float, typer.Option(help="Reward of a decision with no outcome in its window.")
    ] = 0.0,
    coverage: Annotated[float, typer.Option(help="Share of eligible units included.")] = 1.0,
    namespace: Annotated[
        str, typer.Option(help="NAME:START:END, mutually exclusive with overlapping ranges.")
    ] = "",
    eligible: Annotated[
        list[str] | None,
        typer.Option(help="'FEATURE OP VALUE_JSON' (ops eq ne in not_in lt lte gt gte)."),
    ] = None,
    release: Annotated[
        str, typer.Option(help="Variant for units outside the experiment; empty: the first.")
    ] = "",
    covariate: Annotated[
        str, typer.Option(help="User feature measured before the experiment (CUPED).")
    ] = "",
    target: Annotated[str, typer.Option(help="Server address.")] = "127.0.0.1:50051",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create an experiment or replace its definition (needs CAMPAIGN_LIFT_ADMIN_TOKEN)."""
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
    definition = experiments_pb2.ExperimentDefinition(
        name=name,
        salt=salt,
        variants=variants,
        attribution_window_s=attribution_window,
        default_reward=default_reward,
        coverage=coverage,
        eligibility=_conditions(eligible or []),
        release=release,
        covariate=covariate,
    )
    ns = _namespace(namespace)
    if ns is not None:
        definition.namespace.CopyFrom(ns)
    request = experiments_pb2.SaveExperimentRequest(experiment=definition)
    _show(_rpc(target, "SaveExperiment", request, timeout=30, metadata=_admin_metadata()), as_json)


@experiments_app.command("list")
def list_(
    target: Annotated[str, typer.Option(help="Server address.")] = "127.0.0.1:50051",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every experiment with its status and variants."""
    reply = _rpc(target, "ListExperiments", experiments_pb2.ListExperimentsRequest(), timeout=30)
    if as_json:
        data = MessageToDict(reply, preserving_proto_field_name=True)
        print(json.dumps(data.get("experiments", []), indent=2, sort_keys=True))
        return
    t = Table(title="experiments")
    for col in ("name", "status", "variants", "window (s)"):
        t.add_column(col)
    for e in reply.experiments:
        variants = ", ".join(f"{v.name} ({v.weight:g})" for v in e.variants)
        t.add_row(e.name, e.status, variants, f"{e.attribution_window_s:g}")
    console.print(t)


@experiments_app.command()
def stop(
    name: str,
    release: Annotated[
        str, typer.Option(help="Variant everyone gets from now on (e.g. the winner).")
    ] = "",
    target: Annotated[str, typer.Option(help="Server address.")] = "127.0.0.1:50051",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Stop an experiment: everyone gets the released variant's policy, outside the experiment."""
    request = experiments_pb2.SetExperimentStatusRequest(
        name=name, status="stopped", release=release
    )
    reply = _rpc(target, "SetExperimentStatus", request, timeout=30, metadata=_admin_metadata())
    _show(reply, as_json)


@experiments_app.command()
def start(
    name: str,
    target: Annotated[str, typer.Option(help="Server address.")] = "127.0.0.1:50051",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Start a stopped experiment again (same salt: units return to their variants)."""
    request = experiments_pb2.SetExperimentStatusRequest(name=name, status="running")
    reply = _rpc(target, "SetExperimentStatus", request, timeout=30, metadata=_admin_metadata())
    _show(reply, as_json)


@experiments_app.command("policy-state")
def policy_state(
    name: str,
    variant: str,
    target: Annotated[str, typer.Option(help="Server address.")] = "127.0.0.1:50051",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What a learning variant (thompson, linucb) has learned, shared by every replica."""
    request = experiments_pb2.GetPolicyStateRequest(experiment=name, variant=variant)
    reply = _rpc(target, "GetPolicyState", request, timeout=30)
    data = MessageToDict(
        reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    t = Table(
        title=f"{name}/{variant}: {data['policy']}, {data['decisions']} decisions settled "
        f"through {data.get('settled_through', '-')}"
    )
    for col in ("arm", "observations", "successes", "failures", "posterior mean"):
        t.add_column(col, justify="right")
    for arm in data["arms"]:
        t.add_row(
            arm["arm"].replace("\x1f", " / ") or "(no campaign)",
            str(arm["observations"]),
            f"{arm['successes']:g}",
            f"{arm['failures']:g}",
            f"{arm['posterior_mean']:.4f}",
        )
    console.print(t)


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


ESTIMATORS = {
    "ips": "IPS (inverse propensity)",
    "snips": "SNIPS (self-normalized IPS)",
    "dm": "DM (direct method)",
    "dr": "DR (doubly robust)",
}


def _num(value: Any) -> str:
    x = float(value)
    return f"{x:.4f}" if math.isfinite(x) else "-"


def render_evaluation(data: dict[str, Any]) -> None:
    level = f"{float(data['confidence']):.0%}"
    t = Table(
        title=f"policy {data['policy']} with model version {data['model_version']} on "
        f"experiment {data['experiment']}: {data['decisions']} decisions, "
        f"reward {data['reward']} (objective {data['objective']})"
    )
    for col in ("estimator", "value", "std error", f"{level} interval", "effective sample size"):
        t.add_column(col, justify="right")
    for e in data["estimates"]:
        t.add_row(
            ESTIMATORS.get(e["estimator"], e["estimator"]),
            _num(e["value"]),
            _num(e["std_error"]),
            f"[{_num(e['ci_low'])}, {_num(e['ci_high'])}]",
            f"{float(e['effective_sample_size']):,.0f}",
        )
    t.add_row(
        "logged policy (observed)",
        _num(data["logged_mean_reward"]),
        "",
        f"[{_num(data['logged_ci_low'])}, {_num(data['logged_ci_high'])}]",
        f"{data['decisions']:,}",
    )
    console.print(t)
    kinds = {e["interval"] for e in data["estimates"]}
    console.print(
        f"value: estimated mean reward per decision had the policy decided; intervals: "
        f"{', '.join(sorted(kinds))}; a small effective sample size means few logged decisions "
        "agree with the policy"
    )


def _when(text: str, option: str) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        console.print(f"[red]error:[/red] {option} {text!r} is not an ISO 8601 time")
        raise typer.Exit(2) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@experiments_app.command()
def evaluate(
    name: str,
    model_version: Annotated[str, typer.Option(help="The model version whose predictions decide.")],
    policy: Annotated[
        str,
        typer.Option(
            help='Policy config as JSON, e.g. \'{"type": "epsilon_greedy", "epsilon": 0.1}\''
        ),
    ] = '{"type": "epsilon_greedy", "epsilon": 0.1}',
    objective: Annotated[
        str, typer.Option(help="Model target the policy ranks by (default: the server's).")
    ] = "",
    reward: Annotated[
        str, typer.Option(help="click, conversion or revenue (default: the objective's).")
    ] = "",
    variant: Annotated[str, typer.Option(help="Only this variant's decisions.")] = "",
    after: Annotated[str, typer.Option(help="Only decisions at or after (ISO 8601).")] = "",
    before: Annotated[str, typer.Option(help="Only decisions before (ISO 8601).")] = "",
    confidence: Annotated[float, typer.Option(help="Interval level.")] = 0.95,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples (0: normal intervals).")] = 0,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    target: Annotated[str, typer.Option(help="Server address.")] = "127.0.0.1:50051",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """What a model version with a policy would have earned on an experiment's logs (IPS,
    SNIPS, DM, DR), next to what the logged policy earned."""
    try:
        config = json.loads(policy)
    except json.JSONDecodeError as exc:
        console.print(f"[red]error:[/red] --policy is not JSON: {exc}")
        raise typer.Exit(2) from None
    if not isinstance(config, dict):
        console.print("[red]error:[/red] --policy must be a JSON object")
        raise typer.Exit(2)
    request = evaluation_request(
        name,
        model_version,
        config,
        objective=objective,
        reward=reward,
        variant=variant,
        decided_after=_when(after, "--after"),
        decided_before=_when(before, "--before"),
        confidence=confidence,
        bootstrap_samples=bootstrap,
        seed=seed,
    )
    reply = _rpc(
        target,
        "EvaluatePolicy",
        request,
        stub_class=evaluation_pb2_grpc.EvaluationServiceStub,
        timeout=300,
    )
    data = MessageToDict(
        reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    data["decisions"] = int(data["decisions"])
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        render_evaluation(data)


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
