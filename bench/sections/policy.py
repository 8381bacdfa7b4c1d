"""Bandit policies on the simulated world with known truth (bench/policy.py): regret per
policy beside Vowpal Wabbit's contextual bandit when installed, and off-policy estimates next
to each frozen policy's true value."""

from __future__ import annotations

from bench.context import BenchContext, Row


def run(ctx: BenchContext) -> list[Row]:
    from bench import policy

    args = ["--quick"] if ctx.config.quick else []
    result = policy.main(args)
    rows = [
        Row(
            "policy",
            f"{r['policy']}: {r['decisions']} decisions",
            note=f"true rate {r['mean_true_rate']:.4f}, regret/decision "
            f"{r['regret_per_decision']:.4f} "
            f"(last 25% {r['last_quarter_regret_per_decision']:.4f})",
            values={"regret_per_decision": r["regret_per_decision"]},
        )
        for r in result["runs"]
    ]
    for note in result["notes"]:
        ctx.skipped["policy: vowpal wabbit"] = note
    return rows
