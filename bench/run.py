"""Runs the benchmark's sections in one process and reports: a rich table, PASS/MISS per target,
and a JSON file. Every ratio is computed from numbers of the same run."""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.context import ROOT, BenchConfig, BenchContext, Row
from bench.sections import SECTIONS
from bench.targets import Target, check

DEFAULT_OUT_DIR = ROOT / "docs" / "benchmarks"
log = logging.getLogger(__name__)


class _Skip(Exception):
    """A section the configuration turned off (its reason is in ctx.skipped)."""


def run_bench(
    config: BenchConfig, out: Path | None = None, console: Console | None = None
) -> dict[str, Any]:
    if console is None:
        console = Console() if Console().is_terminal else Console(width=180)
    unknown = [s for s in config.sections if s not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown sections {unknown}; sections: {list(SECTIONS)}")
    chosen = [s for s in SECTIONS if not config.sections or s in config.sections]
    began = time.monotonic()
    ctx = BenchContext(config, console)
    if not config.peer:
        ctx.skipped["peer"] = "--no-peer"
    sections: dict[str, dict[str, Any]] = {}
    try:
        for name in chosen:
            started = time.monotonic()
            with console.status(f"bench: {name}"):
                try:
                    if name in ctx.skipped:
                        raise _Skip
                    rows = SECTIONS[name](ctx)
                    error = None
                except _Skip:
                    rows, error = [], None
                except Exception as exc:  # one broken section must not hide the others
                    log.debug("section %s failed", name, exc_info=True)
                    rows, error = [], f"{type(exc).__name__}: {exc}"
                    console.print(f"[red]section {name} failed:[/red] {error}")
                    console.print(traceback.format_exc(), markup=False)
            sections[name] = {
                "rows": [asdict(r) for r in rows],
                "seconds": round(time.monotonic() - started, 1),
                "skipped": ctx.skipped.get(name),
                "error": error,
            }
            if ctx.skipped.get(name):
                console.print(f"[yellow]section {name} skipped:[/yellow] {ctx.skipped[name]}")
    finally:
        ctx.close()
    targets = check(ctx.values)
    report = {
        "meta": _meta(config, time.monotonic() - began),
        "sections": sections,
        "values": ctx.values,
        "targets": [{**asdict(t), "status": t.status} for t in targets],
    }
    console.print(table(sections))
    console.print(targets_table(targets))
    path = out or DEFAULT_OUT_DIR / ("quick.json" if config.quick else "latest.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=_number) + "\n")
    console.print(f"written {path}")
    return report


def _number(x: object) -> object:
    return float(x)  # type: ignore[arg-type]


def _meta(config: BenchConfig, seconds: float) -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=5,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "quick": config.quick,
        "cpu_count": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        "python": platform.python_version(),
        "machine": platform.platform(),
        "seconds": round(seconds, 1),
    }


def _fmt(x: float | None, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def table(sections: dict[str, dict[str, Any]]) -> Table:
    t = Table(title="Campaign Lift benchmark (milliseconds; throughput per second)")
    for col in ("section", "measurement", "p50", "p95", "p99", "throughput", "note"):
        t.add_column(col, justify="right" if col in ("p50", "p95", "p99", "throughput") else "left")
    for name, section in sections.items():
        if section["error"]:
            t.add_row(name, "[red]failed[/red]", "", "", "", "", section["error"][:80])
        if section["skipped"]:
            t.add_row(name, "[yellow]skipped[/yellow]", "", "", "", "", section["skipped"])
        for r in section["rows"]:
            row = Row(**r)
            rate = "" if row.throughput is None else f"{row.throughput:,.0f} {row.unit}"
            t.add_row(
                row.section,
                row.measurement,
                _fmt(row.p50_ms),
                _fmt(row.p95_ms),
                _fmt(row.p99_ms),
                rate,
                row.note,
            )
    return t


def targets_table(targets: list[Target]) -> Table:
    t = Table(title="Targets (ratios from this run)")
    for col in ("target", "ratio", "measured", "limit", "status", "note"):
        t.add_column(col)
    for x in targets:
        colour = {"PASS": "green", "MISS": "red"}.get(x.status, "yellow")
        t.add_row(
            x.name,
            x.rule,
            _fmt(x.measured),
            f"{'>=' if x.higher_is_better else '<='} {x.limit}",
            f"[{colour}]{x.status}[/{colour}]",
            x.note,
        )
    return t
