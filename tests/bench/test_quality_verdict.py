"""The decision-quality targets judged on hand-made results, and the cost benchmark's retrain
path run small (no timing checked)."""

from __future__ import annotations

from typing import Any

from bench.quality.costs import main as costs_main
from bench.quality.verdict import verdicts


def _row(learner: str, mode: str, **values: float) -> dict[str, Any]:
    return {"learner": learner, "mode": mode, **values}


def _world(product_off: float, peer_off: float, loop_all: float, tail: float) -> dict[str, Any]:
    return {
        "rows": [
            _row("best single arm (truth)", "offline", share=0.0),
            _row("oracle (truth argmax)", "offline", share=1.0),
            _row("per-arm logistic (T-learner)", "offline", share=peer_off),
            _row("vw squarecb", "offline", share=peer_off - 0.1),
            _row("campaign-lift train (defaults)", "offline", share=product_off),
            _row("oracle (truth argmax)", "closed-loop", share=1.0, value_all=0.2),
            _row("per-arm logistic (T-learner)", "closed-loop", share=0.3, value_all=0.10),
            _row("campaign-lift serve (defaults)", "closed-loop", share=tail, value_all=loop_all),
        ]
    }


def test_targets_pass_and_miss_by_the_rules() -> None:
    results = {
        "worlds": {
            "demo": _world(0.7, 0.5, 0.11, 0.55),  # loop share below the demo's 60%
            "negative": _world(0.4, 0.6, 0.09, 0.45),  # offline below a peer, loop below it
            "gone": {"skipped": "no data"},
        }
    }
    judged = {(v.world, v.target): v.passed for v in verdicts(results)}
    assert judged == {
        ("demo", "offline: above every peer"): True,
        ("demo", "closed-loop: above every peer"): True,
        ("demo", "closed-loop: share (last 20%) >= 60%"): False,
        ("negative", "offline: above every peer"): False,
        ("negative", "closed-loop: above every peer"): False,
        ("negative", "closed-loop: share (last 20%) >= 40%"): True,
        ("", "offline: median share >= 60%"): False,  # median of 0.7 and 0.4
    }


def test_the_oracle_and_best_single_are_references_not_peers() -> None:
    """A product above the per-arm peer but below the oracle still passes 'above every peer'."""
    results = {"worlds": {"w": _world(0.9, 0.5, 0.15, 0.7)}}
    assert all(v.passed for v in verdicts(results))


def test_retrain_costs_run_on_a_small_store() -> None:
    costs = costs_main(["--rows", "3000", "--no-hillstrom"])
    assert [c.what for c in costs] == [
        "retrain, production recipe",
        "retrain, new selection recipe",
    ]
    for c in costs:
        assert c.rows == 3000 and c.seconds > 0 and c.peak_rss_mb > 0
    assert costs[0].verdict in {"PASS", "MISS"} and costs[1].verdict == ""
