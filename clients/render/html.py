"""The A/B report as one self-contained HTML page: tables, and matplotlib plots inlined as SVG.

For test owners; the page loads nothing from anywhere (no network, no external script or style).

Input is the report as the CLI receives it (GetReport as a dict, proto field names).
"""

from __future__ import annotations

import html
import io
import math
import threading
from datetime import datetime
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to SVG only

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from scipy import stats as sps

RATES = ("click", "conversion")
Z95 = float(sps.norm.ppf(0.975))
# Nothing may load from anywhere: inline styles and the one inline script only.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
# pyplot's figure registry is global: pages rendered on several threads (the console) take
# turns.
_PLOTTING = threading.Lock()
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f3f3f3; }
td.name { text-align: left; }
.warning { background: #fde2e2; border: 2px solid #c0392b; padding: 0.8em; font-weight: bold; }
.ok { background: #e5f5e0; border: 1px solid #4a9; padding: 0.8em; }
figure { margin: 1em 0; }
"""


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: inline SVG


def _num(x: Any, fmt: str = ".4f") -> str:
    value = float(x)
    return format(value, fmt) if math.isfinite(value) else "-"


def _pct(x: Any) -> str:
    value = float(x)
    return f"{value:+.2%}" if math.isfinite(value) else "-"


def _metric(v: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in v["metrics"] if m["metric"] == name)


def _rate_interval(v: dict[str, Any], name: str) -> tuple[float, float, float]:
    """A variant's rate per unit with its 95% Wald interval."""
    p, n = float(_metric(v, name)["mean"]), int(v["units"])
    half = Z95 * math.sqrt(p * (1 - p) / n) if n else math.nan
    return p, p - half, p + half


def _rates_plot(report: dict[str, Any]) -> str:
    fig, axes = plt.subplots(1, len(RATES), figsize=(10, 3.2))
    names = [v["name"] for v in report["variants"]]
    for ax, metric in zip(axes, RATES, strict=True):
        points = [_rate_interval(v, metric) for v in report["variants"]]
        y = np.arange(len(names))
        mid = np.array([p[0] for p in points])
        err = np.array([[p[0] - p[1] for p in points], [p[2] - p[0] for p in points]])
        ax.errorbar(mid, y, xerr=err, fmt="o", capsize=4)
        ax.set_yticks(y, names)
        ax.set_title(f"{metric} rate per unit (95% interval)")
    fig.tight_layout()
    return _svg(fig)


def _cumulative_plot(report: dict[str, Any]) -> str:
    fig, axes = plt.subplots(1, len(RATES), figsize=(10, 3.2))
    days = sorted({d["day"] for d in report["daily"]})
    for ax, metric in zip(axes, RATES, strict=True):
        for v in report["variants"][1:]:
            lift = {
                d["day"]: d["relative_lift"].get(metric, math.nan)
                for d in report["daily"]
                if d["variant"] == v["name"]
            }
            ax.plot(
                days, [100 * lift.get(day, math.nan) for day in days], marker="o", label=v["name"]
            )
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_title(f"cumulative relative lift of {metric} (%)")
        ax.tick_params(axis="x", labelrotation=30)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    fig.tight_layout()
    return _svg(fig)


def _posterior_plot(report: dict[str, Any]) -> str:
    fig, axes = plt.subplots(1, len(RATES), figsize=(10, 3.2))
    for ax, metric in zip(axes, RATES, strict=True):
        for v in report["variants"][1:]:
            m = _metric(v, metric)
            mean, sd = float(m["posterior_mean"]), float(m["posterior_sd"])
            if not (m["compared"] and math.isfinite(mean) and sd > 0):
                continue
            x = np.linspace(mean - 4 * sd, mean + 4 * sd, 200)
            ax.plot(100 * x, sps.norm.pdf(x, mean, sd) / 100, label=v["name"])
            ax.fill_between(100 * x, sps.norm.pdf(x, mean, sd) / 100, where=x > 0, alpha=0.2)
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set_title(f"posterior of the relative lift of {metric} (%)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    fig.tight_layout()
    return _svg(fig)


def _timeline_plot(report: dict[str, Any]) -> str:
    events = [e for e in report["timeline"] if e["stage"] == "production"]
    fig, ax = plt.subplots(figsize=(10, 2.4))
    if events:
        at = np.array(
            [datetime.fromisoformat(e["at"]).replace(tzinfo=None) for e in events],
            dtype="datetime64[us]",
        )
        ax.step(at, [int(e["to_version"]) for e in events], where="post", marker="o")
        ax.set_ylabel("production version")
    else:
        ax.text(0.5, 0.5, "no stage changes recorded", ha="center", va="center")
    ax.set_title("model version timeline (production)")
    fig.autofmt_xdate()
    return _svg(fig)


def _table(header: list[str], rows: list[list[str]], name_cols: int = 1) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="name">{html.escape(c)}</td>'
            if i < name_cols
            else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _variants_table(report: dict[str, Any]) -> str:
    rows = []
    for v in report["variants"]:
        for m in v["metrics"]:
            compared = m["compared"]
            rows.append(
                [
                    v["name"],
                    m["metric"],
                    str(v["units"]),
                    str(v["decisions"]),
                    _num(m["mean"]),
                    f"{_num(m['absolute'])} [{_num(m['absolute_ci_low'])}, "
                    f"{_num(m['absolute_ci_high'])}]"
                    if compared
                    else "-",
                    f"{_pct(m['relative'])} [{_pct(m['relative_ci_low'])}, "
                    f"{_pct(m['relative_ci_high'])}]"
                    if compared
                    else "-",
                    f"{_num(m['p_value'], '.4g')} ({m['test']})" if compared else "-",
                    _num(m["chance_to_beat_control"], ".1%") if compared else "-",
                ]
            )
    header = ["variant", "metric", "units", "decisions", "mean per unit", "absolute lift (95% CI)"]
    header += ["relative lift (95% CI)", "p (test)", "chance to beat control"]
    return _table(header, rows, name_cols=2)


def _srm(report: dict[str, Any]) -> str:
    text = (
        f"sample-ratio check: chi-square {_num(report['srm_chi2'], '.3f')}, "
        f"p = {_num(report['srm_p'], '.4g')}"
    )
    if report["srm_warning"]:
        return (
            f'<p class="warning" id="srm">SAMPLE RATIO MISMATCH: {html.escape(text)}. Units per '
            "variant do not match the configured weights: assignment or logging is broken; do "
            "not trust the lifts.</p>"
        )
    return f'<p class="ok" id="srm">{html.escape(text)}: no mismatch.</p>'


def _timeline_table(report: dict[str, Any]) -> str:
    rows = [
        [
            e["at"],
            e["stage"],
            str(e["from_version"] or "-"),
            str(e["to_version"] or "cleared"),
            e["actor"],
            e["reason"],
        ]
        for e in report["timeline"]
    ]
    return _table(["at (UTC)", "stage", "from", "to", "by", "reason"], rows, name_cols=2)


def _cuped_table(report: dict[str, Any]) -> str:
    rows = [
        [
            v["name"],
            m["metric"],
            _num(m["cuped_theta"], ".4g"),
            _num(m["cuped_mean"]),
            f"{_num(m['cuped_absolute'])} [{_num(m['cuped_absolute_ci_low'])}, "
            f"{_num(m['cuped_absolute_ci_high'])}]",
            _num(m["cuped_p"], ".4g"),
            _num(m["cuped_variance_reduction"], ".1%"),
        ]
        for v in report["variants"]
        for m in v["metrics"]
        if m["cuped"]
    ]
    header = ["variant", "metric", "theta", "adjusted mean", "adjusted lift (95% CI)", "p (t)"]
    return (
        f"<h2>CUPED with pre-period covariate {html.escape(report['covariate'])}</h2>"
        + _table([*header, "variance reduction"], rows, name_cols=2)
        if rows
        else ""
    )


def _campaigns_table(report: dict[str, Any]) -> str:
    rows = [
        [
            c["variant"],
            c["campaign_id"] or "(none)",
            str(c["units"]),
            str(c["decisions"]),
            str(c["outcomes"]),
            _num(c["click_rate"]),
            _num(c["conversion_rate"]),
            _num(c["revenue_per_decision"]),
        ]
        for c in report["campaigns"]
    ]
    header = ["variant", "campaign", "units", "decisions", "outcomes", "click", "conversion"]
    return _table([*header, "revenue / decision"], rows, name_cols=2)


def _best_single_table(report: dict[str, Any]) -> str:
    rows = []
    for b in report.get("best_single", []):
        for v in b["variants"]:
            rows.append(
                [
                    b["metric"],
                    b["campaign_id"] or "(none)",
                    f"{_num(b['value'])} ({_num(b['ci_low'])} to {_num(b['ci_high'])})",
                    v["variant"],
                    _num(v["mean"]),
                    f"{float(v['difference']):+.4f} ({float(v['ci_low']):+.4f} to "
                    f"{float(v['ci_high']):+.4f})",
                ]
            )
    if not rows:
        return "<p>Too few decisions for an estimate.</p>"
    header = ["metric", "best single", "its value (95% CI)", "variant", "mean"]
    return _table([*header, "difference (95% CI)"], rows, name_cols=2)


def _calibration_table(report: dict[str, Any]) -> str:
    rows = [
        [
            c["campaign_id"] or "(none)",
            c["model_version"],
            c["target"],
            str(c["count"]),
            _num(c["predicted"]),
            _num(c["observed"]),
            _num(c["ratio"], ".3f"),
        ]
        for c in report.get("calibration", [])
    ]
    if not rows:
        return "<p>No decisions with model predictions in the window.</p>"
    header = ["campaign", "model version", "target", "decisions", "predicted", "observed"]
    return _table([*header, "observed / predicted"], rows, name_cols=3)


def report_sections(report: dict[str, Any]) -> list[str]:
    """The report below its title, as HTML fragments (h2 sections, tables, inline SVG plots):
    every number shown in the CLI's report is in its tables. The console embeds these in its
    own page; `render_html` wraps them in a self-contained one."""
    with _PLOTTING:
        plots = {
            "rates": _rates_plot(report),
            "cumulative": _cumulative_plot(report),
            "posterior": _posterior_plot(report),
            "timeline": _timeline_plot(report),
        }
    return [
        f"<p>Control: <b>{html.escape(report['control'])}</b>. Unit: user. p-values: "
        "two-proportion z-test for rates, Welch's t-test for revenue; intervals: Welch "
        "(GrowthBook gbstats conventions); chance to beat control: flat-prior Bayesian.</p>",
        _srm(report),
        "<h2>Variants</h2>",
        _variants_table(report),
        f"<figure>{plots['rates']}</figure>",
        _cuped_table(report),
        "<h2>Per campaign (per decision)</h2>",
        _campaigns_table(report),
        "<h2>Against the best single campaign for everyone</h2>",
        "<p>Inverse propensity scoring over all the experiment's decisions with their logged "
        "propensities: what sending everyone one campaign would have earned per decision, and "
        "each variant's mean per decision against it.</p>",
        _best_single_table(report),
        "<h2>Cumulative lift by day of first decision</h2>",
        f"<figure>{plots['cumulative']}</figure>",
        "<h2>Posterior distributions of the lift</h2>",
        f"<figure>{plots['posterior']}</figure>",
        "<h2>Calibration: predicted against observed</h2>",
        _calibration_table(report),
        "<h2>Model versions</h2>",
        f"<figure>{plots['timeline']}</figure>",
        _timeline_table(report),
    ]


def render_html(report: dict[str, Any]) -> str:
    """The whole page, self-contained."""
    title = f"A/B report: {report['experiment']}"
    sections = [f"<h1>{html.escape(title)}</h1>", *report_sections(report)]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f'<body data-rendered="no">{"".join(sections)}'
        # Proves in a browser that the page ran to the end without a script error.
        "<script>document.body.dataset.rendered = 'yes';</script>"
        "</body></html>\n"
    )
