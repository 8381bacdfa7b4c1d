"""The benchmark harness still runs end to end (quick mode, no peer): every section reports,
every target is evaluated. No timing is asserted: numbers on a shared machine are noise."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from bench.context import BenchConfig
from bench.run import run_bench
from bench.sections import SECTIONS
from bench.targets import TARGETS


def test_quick_bench_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    printed = io.StringIO()
    run_bench(
        BenchConfig(quick=True, peer=False, history_rows=1_000),
        out,
        Console(file=printed, width=200),
    )
    report = json.loads(out.read_text())
    assert list(report["sections"]) == list(SECTIONS)
    for name, section in report["sections"].items():
        assert section["error"] is None, (name, section["error"])
        if name == "peer":
            assert section["skipped"] == "--no-peer"
            assert section["rows"] == []
        else:
            assert section["skipped"] is None
            assert section["rows"], name
    values = report["values"]
    for key in (
        "floor.p50_ms",
        "limit.ort_100_p50_ms",
        "ours.score_100_p50_ms",
        "scaling.process_speedup",
        "memory.rss_rest_mb",
        "decision_log.overhead",
    ):
        assert values[key] > -1, key
    statuses = {t["name"]: t["status"] for t in report["targets"]}
    assert len(statuses) == len(TARGETS)
    assert statuses["throughput vs MLServer"] == "n/a"  # the peer was not run
    assert all(s in ("PASS", "MISS") for n, s in statuses.items() if n != "throughput vs MLServer")
    assert "Targets" in printed.getvalue()
