"""The main job end to end, small: history, first model, a real server subprocess, the loop
through the experiment, retrains from feedback while the users wait, and the summary."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from rich.console import Console

from clients.demo import DemoConfig, run_demo
from clients.render.demo import summary_view


def test_the_demo_retrains_from_feedback_and_reports_against_the_best_single(
    tmp_path: Path,
) -> None:
    config = DemoConfig(
        workdir=tmp_path / "demo",
        decisions=12_000,
        history_rows=2_000,
        retrain_after_outcomes=600,
        family="logreg",  # a pinned recipe keeps the test short; the demo's default is auto
        learner="t-learner",
    )
    out = StringIO()
    console = Console(file=out, width=200)
    summary = run_demo(config, console)
    report = summary.report
    assert report.outcomes_sent == report.outcomes_accepted > 0
    assert set(report.by_variant) == {"learned", "random"}
    assert sum(s.decisions for s in report.by_variant.values()) == config.decisions
    assert summary.retrained, "no version was retrained from the loop's feedback"
    assert all(v.lineage["recipe"]["learner"] == "t-learner" for v in summary.retrained)
    assert summary.paused_s > 0  # the users waited while at least one retrain ran
    learned = report.by_variant["learned"]
    arm, single = learned.best_single
    assert summary.actions[arm] and 0 < single < learned.oracle_per_decision
    console.print(summary_view(summary))
    text = out.getvalue()
    assert "best single campaign" in text and "share of gain" in text
