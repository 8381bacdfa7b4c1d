"""`make soak` still runs end to end: a real server process, capacity, the open-loop load with
its outcome producer, the per-minute table and the verdict. A few seconds, not ten minutes; no
timing is asserted (numbers on a shared machine are noise), only that no call failed."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bench import soak


def test_short_soak_passes_and_prints_its_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    printed = io.StringIO()
    monkeypatch.setattr(soak, "console", Console(file=printed, width=200))
    args = ["--minutes", "0.2", "--callers", "2", "--capacity-seconds", "2", "--workers", "4"]
    code = soak.main(args)
    text = printed.getvalue()
    assert code == 0, text
    assert "Score/s with 2 callers" in text
    assert ", errors 0, RSS growth" in text
    for column in ("p99 ms", "server RSS MB", "CPU stolen"):
        assert column in text
