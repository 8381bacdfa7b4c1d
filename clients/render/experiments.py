"""Experiments on the terminal: the A/B report, a definition, the list, a policy's state.

Input is what the server replied, as dicts with proto field names."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table

TESTS = {"two_proportion_z": "z", "welch_t": "t"}
REPORT_COLUMNS = (
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
)
FOOTNOTE = (
    "p: two-proportion z-test (z) for rates, Welch's unpooled t-test (t) for revenue, on the "
    "absolute difference; intervals: Welch (gbstats conventions); unit = user"
)


def report_numbers(data: dict[str, Any]) -> dict[str, Any]:
    """GetReport as a dict with its counts as numbers (proto JSON writes int64 as strings)."""
    for row in (*data["variants"], *data["campaigns"]):
        for key in ("units", "decisions", "outcomes"):
            row[key] = int(row[key])
    return data


def _pct(value: Any, signed: bool = True) -> str:
    """Proto JSON writes NaN and infinities as strings: those print as '-'."""
    x = float(value)
    if not math.isfinite(x):
        return "-"
    return f"{x:+.2%}" if signed else f"{x:.1%}"


def _absolute(m: dict[str, Any], prefix: str = "") -> str:
    """An absolute lift with its interval, e.g. "+0.0810 [-0.0323, +0.1942]"."""
    low, high = float(m[f"{prefix}absolute_ci_low"]), float(m[f"{prefix}absolute_ci_high"])
    return f"{float(m[f'{prefix}absolute']):+.4f} [{low:+.4f}, {high:+.4f}]"


def _comparison(m: dict[str, Any]) -> list[str]:
    """The four cells comparing a metric with control ("-" for control itself)."""
    if not m["compared"]:
        return ["-"] * 4
    relative = f"[{_pct(m['relative_ci_low'])}, {_pct(m['relative_ci_high'])}]"
    return [
        _absolute(m),
        f"{_pct(m['relative'])} {relative}",
        f"{float(m['p_value']):.4g} ({TESTS.get(m['test'], m['test'])})",
        _pct(m["chance_to_beat_control"], signed=False),
    ]


def variants_table(report: dict[str, Any]) -> Table:
    """One row per variant and metric; the variant's counts on its first row only."""
    t = Table(title=f"experiment {report['experiment']} (control: {report['control']})")
    for col in REPORT_COLUMNS:
        t.add_column(col, justify="right")
    for v in report["variants"]:
        counts = [v["name"], str(v["units"]), str(v["decisions"]), str(v["outcomes"])]
        for i, m in enumerate(v["metrics"]):
            first = counts if i == 0 else [""] * len(counts)
            t.add_row(*first, m["metric"], f"{float(m['mean']):.4f}", *_comparison(m))
    return t


def cuped_table(report: dict[str, Any]) -> Table:
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
                    _absolute(m, "cuped_"),
                    f"{float(m['cuped_p']):.4g}",
                    _pct(m["cuped_variance_reduction"], signed=False),
                )
    return t


def campaigns_table(report: dict[str, Any]) -> Table:
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
    return t


def best_single_table(report: dict[str, Any]) -> Table:
    """Each variant against the single campaign best for everyone, estimated from the logs
    (IPS over the experiment's decisions): what a plain A/B test would conclude."""
    t = Table(
        title="against the best single campaign for everyone (IPS over the experiment's "
        "decisions; per decision, 95% CI)"
    )
    for col in ("metric", "best single", "value [95% CI]", "variant", "mean", "difference"):
        t.add_column(col, justify="right")
    for b in report.get("best_single", []):
        single = f"{float(b['value']):.4f} [{float(b['ci_low']):.4f}, {float(b['ci_high']):.4f}]"
        for k, v in enumerate(b["variants"]):
            t.add_row(
                b["metric"] if k == 0 else "",
                (b["campaign_id"] or "(none)") if k == 0 else "",
                single if k == 0 else "",
                v["variant"],
                f"{float(v['mean']):.4f}",
                f"{float(v['difference']):+.4f} [{float(v['ci_low']):+.4f}, "
                f"{float(v['ci_high']):+.4f}]",
            )
    return t


def calibration_table(report: dict[str, Any]) -> Table:
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
    return t


def srm_line(report: dict[str, Any]) -> str:
    """The sample-ratio check (console markup): a mismatch means the lifts are not to be trusted."""
    srm = f"sample-ratio check: chi2 {report['srm_chi2']:.3f}, p {report['srm_p']:.4g}"
    if report["srm_warning"]:
        return f"[red]SAMPLE RATIO MISMATCH[/red] ({srm}): assignment or logging is broken"
    return f"{srm}: no mismatch"


def report_view(report: dict[str, Any]) -> Group:
    """The whole A/B report: variants, CUPED (with a covariate), campaigns, calibration (when
    there are predictions), the sample-ratio check and what the p-values are."""
    parts: list[Any] = [variants_table(report)]
    if report["covariate"]:
        parts.append(cuped_table(report))
    parts.append(campaigns_table(report))
    if report.get("best_single"):
        parts.append(best_single_table(report))
    if report["calibration"]:
        parts.append(calibration_table(report))
    return Group(*parts, srm_line(report), FOOTNOTE)


def definition_view(data: dict[str, Any]) -> Group:
    """An experiment's variants with their shares, who is in it, and its reward settings."""
    total = sum(v["weight"] for v in data["variants"]) or 1.0
    t = Table(title=f"experiment {data['name']} ({data['status']}, salt {data['salt']!r})")
    for col in ("variant", "weight", "share", "policy"):
        t.add_column(col)
    for v in data["variants"]:
        t.add_row(v["name"], f"{v['weight']:g}", f"{v['weight'] / total:.1%}", v["policy_json"])
    ns = data.get("namespace")
    who = [f"coverage {data['coverage']:.0%}"]
    if ns:
        who.append(f"namespace {ns['name']} [{ns.get('start', 0):g}, {ns['end']:g})")
    who += [f"{c['feature']} {c['op']} {c['value_json']}" for c in data["eligibility"]]
    fallback = data["release"] or data["variants"][0]["name"]
    reward = (
        f"attribution window {data['attribution_window_s']:g} s, default reward "
        f"{data['default_reward']:g}; outside the experiment: {fallback}'s policy"
    )
    return Group(t, escape("units: " + "; ".join(who)), escape(reward))


def experiments_table(experiments: list[dict[str, Any]]) -> Table:
    t = Table(title="experiments")
    for col in ("name", "status", "variants", "window (s)"):
        t.add_column(col)
    for e in experiments:
        variants = ", ".join(f"{v['name']} ({v['weight']:g})" for v in e["variants"])
        t.add_row(e["name"], e["status"], variants, f"{e['attribution_window_s']:g}")
    return t


def policy_state_table(experiment: str, variant: str, data: dict[str, Any]) -> Table:
    """What a learning variant has learned, per arm ("\\x1f" joins a combination's campaigns)."""
    t = Table(
        title=f"{experiment}/{variant}: {data['policy']}, {data['decisions']} decisions settled "
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
    return t
