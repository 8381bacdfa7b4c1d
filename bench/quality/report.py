"""The quality harness's tables: one per world, a row per peer, offline and closed-loop values
with the share of the personalization gain each captures. Vowpal Wabbit's configs are
collapsed into their best (named) with the others listed beneath."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.quality.verdict import PRODUCT_PREFIX, Verdict, verdicts

console = Console() if Console().is_terminal else Console(width=170)
VW_PREFIX = "vw "


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _value(v: float | None, revenue: bool) -> str:
    if v is None:
        return ""
    return f"{v:.3f}" if revenue else f"{v:.4f}"


def _share(v: float | None) -> str:
    return "" if v is None else f"{v:+.0%}"


def _get(row: dict[str, Any] | None, key: str) -> float | None:
    return None if row is None else float(row[key])


def _best_vw(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    vw = [r for r in rows if r["learner"].startswith(VW_PREFIX)]
    return max(vw, key=lambda r: r["share"]) if vw else None


def collapse(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Rows of one mode with VW's configs replaced by the best one; a note listing them all."""
    best = _best_vw(rows)
    kept = [r for r in rows if not r["learner"].startswith(VW_PREFIX)]
    if best is None:
        return kept, ""
    vw = [r for r in rows if r["learner"].startswith(VW_PREFIX)]
    listed = ", ".join(f"{r['learner'][len(VW_PREFIX) :]} {r['share']:+.0%}" for r in vw)
    return [
        *kept,
        {**best, "learner": "vowpal wabbit cb_explore_adf", "config": best["learner"]},
    ], listed


def _verdict_cell(label: str, judged: list[Verdict]) -> str:
    """The product's row: PASS when every target of its world holds, else what missed."""
    if not label.startswith(PRODUCT_PREFIX) or not judged:
        return ""
    missed = [v.target.split(":")[0] for v in judged if not v.passed]
    return "PASS" if not missed else "MISS " + ", ".join(dict.fromkeys(missed))


def world_table(
    name: str, entry: dict[str, Any], judged: list[Verdict] | None = None
) -> tuple[Table, list[str]]:
    rows = entry["rows"]
    judged = judged or []
    off = {r["learner"]: r for r in collapse([r for r in rows if r["mode"] == "offline"])[0]}
    loop = {r["learner"]: r for r in collapse([r for r in rows if r["mode"] == "closed-loop"])[0]}
    # The references of the offline users, else of the loop's last 20% of decisions.
    any_row = next(iter(off.values() or loop.values()))
    where = "offline users" if off else "last 20% of the loop"
    revenue = bool(entry.get("revenue"))
    single, oracle = any_row["best_single"], any_row["oracle"]
    gain = oracle - single
    title = (
        f"{name}: {entry['description']}\n{where}: best single "
        f"{entry['arms'][any_row['best_arm']]} V={_value(single, revenue)}, oracle "
        f"V={_value(oracle, revenue)}, gain {_value(gain, revenue)} = {gain / single:.1%} of "
        f"the best single ({entry['seconds']:.0f} s)"
    )
    table = Table(title=title, title_justify="left")
    for col in (
        "peer",
        "offline V",
        "offline share",
        "loop V (all)",
        "loop V (last 20%)",
        "loop share (last 20%)",
        "PASS/MISS",
        "offline s",
        "loop s",
    ):
        table.add_column(col, justify="left" if col == "peer" else "right")
    notes = []
    for learner in dict.fromkeys([*off, *loop]):
        o, c = off.get(learner), loop.get(learner)
        label = learner
        configs = [r["config"][len(VW_PREFIX) :] for r in (o, c) if r and "config" in r]
        if configs:
            label += f" [best: {' / '.join(dict.fromkeys(configs))}]"
        table.add_row(
            label,
            _value(_get(o, "value"), revenue),
            _share(_get(o, "share")),
            _value(_get(c, "value_all"), revenue),
            _value(_get(c, "value"), revenue),
            _share(_get(c, "share")),
            _verdict_cell(label, judged),
            f"{o['fit_s'] + o['act_s']:.1f}" if o else "",
            f"{c['fit_s'] + c['run_s']:.1f}" if c else "",
        )
    for mode in ("offline", "closed-loop"):
        _, listed = collapse([r for r in rows if r["mode"] == mode])
        if listed:
            notes.append(f"vw configs, {mode} share: {listed}")
    return table, notes


def print_results(results: dict[str, Any]) -> None:
    for note in results["notes"]:
        console.print(note)
    judged = verdicts(results)
    for name, entry in results["worlds"].items():
        if "skipped" in entry:
            console.print(f"{name}: skipped ({entry['skipped']})")
            continue
        table, notes = world_table(name, entry, [v for v in judged if v.world == name])
        console.print(table)
        for note in notes:
            console.print(f"  {note}")
    console.print(
        "share = (V - V(best single)) / (V(oracle) - V(best single)), V by the world's truth on "
        "fresh users; loop values over all decisions and over the last 20%"
    )
    if judged:
        console.print(targets_table(judged))


def targets_table(judged: list[Verdict]) -> Table:
    table = Table(title="Targets (bench/quality/verdict.py)", title_justify="left")
    for col in ("target", "world", "measured", "PASS/MISS"):
        table.add_column(col)
    for v in judged:
        table.add_row(v.target, v.world or "all", v.measured, v.word)
    passed = sum(v.passed for v in judged)
    table.caption = f"{passed} of {len(judged)} targets met"
    return table
