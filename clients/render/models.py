"""Model versions on the terminal: versions, diff, stage moves, history, jobs, shadow.

Input is what the admin API replied, as dicts with proto field names."""

from __future__ import annotations

from typing import Any

from rich.table import Table

VERSION_COLUMNS = (
    "version",
    "stages",
    "family",
    "parent",
    "created",
    "conv. AUC",
    "conv. log loss",
    "source",
)


def _metric(v: dict[str, Any], name: str) -> str:
    value = v.get("metrics", {}).get(name)
    return "-" if value is None else f"{value:.4f}"


def _stages(v: dict[str, Any]) -> str:
    canary = f" {v['canary_percent']:g}%" if v["canary_percent"] else ""
    return ", ".join(v["stages"]) + canary + (" (archived)" if v["archived"] else "")


def versions_table(versions: list[dict[str, Any]]) -> Table:
    t = Table(title="Model versions")
    for col in VERSION_COLUMNS:
        t.add_column(col)
    for v in versions:
        t.add_row(
            str(v["version"]),
            _stages(v),
            v["family"],
            str(v["parent_version"]) if v["parent_version"] != "0" else "-",
            v["created_at"][:19],
            _metric(v, "conversion.auc"),
            _metric(v, "conversion.log_loss"),
            str(v.get("lineage", {}).get("source", "")),
        )
    return t


def diff_table(base: int, other: int, result: dict[str, Any]) -> Table:
    """Two versions' held-out metrics side by side."""
    same = result["same_feature_schema"]
    t = Table(title=f"version {base} vs {other} (same feature schema: {same})")
    for col in ("metric", str(base), str(other), "difference"):
        t.add_column(col, justify="right")
    for m in result["metrics"]:
        difference = f"{m['difference']:+.4f}" if m["in_both"] else "-"
        t.add_row(m["metric"], f"{m['base']:.4f}", f"{m['other']:.4f}", difference)
    return t


def change_line(change: dict[str, Any]) -> str:
    """A stage move, e.g. "production: 6 -> 7" ("none": the stage was or is now unset)."""
    before = change["from_version"] if change["from_version"] != "0" else "none"
    after = change["to_version"] if change["to_version"] != "0" else "none"
    return f"{change['stage']}: {before} -> {after}"


def shadow_report_line(r: dict[str, Any]) -> str:
    return (
        f"shadow {r['shadow_version']} vs production {r['production_version']} on "
        f"{r['target']} over {r['decisions']} decisions: greedy agreement "
        f"{r['greedy_agreement']:.1%}, mean |Δp| {r['mean_abs_probability_diff']:.4f}; "
        f"{r['labelled']} labelled: predicted {r['shadow_mean_prediction']:.4f} (shadow) vs "
        f"{r['production_mean_prediction']:.4f} (production), observed {r['observed_rate']:.4f}"
    )


def history_table(events: list[dict[str, Any]]) -> Table:
    t = Table(title="Stage history")
    for col in ("at", "stage", "from", "to", "traffic", "actor", "reason"):
        t.add_column(col)
    for e in events:
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


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    t = Table(title="Retrain jobs")
    for col in ("job", "started", "status", "version", "promoted", "reason", "detail"):
        t.add_column(col)
    for j in jobs:
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
