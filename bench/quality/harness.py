"""The decision-quality harness: policy learners judged by a simulated world's truth, offline
(learn from a randomized log, act on fresh users) and in a closed loop (act, observe delayed
outcomes, learn), against the best single arm and the oracle.

The headline number is the share of the personalization gain captured,

    share = (V(policy) - V(best single arm)) / (V(oracle) - V(best single arm)),

with V the mean true expected reward of the policy's action distribution on fresh users
(`World.value`): 0 is what a plain A/B test concludes, 1 the best arm for every user.

    python -m bench.quality.harness --worlds interaction,delayed --offline --closed-loop --quick
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.quality.learner import Learner, LearnerFactory, checked_probabilities
from bench.quality.world import ONE_DAY_S, World, best_single, sample_arms

__all__ = ["Learner", "LearnerFactory", "attributed", "closed_loop", "main", "offline"]

Row = dict[str, Any]


def attributed(world: World, log: pd.DataFrame, window_s: float = ONE_DAY_S) -> pd.DataFrame:
    """The log as the product would record it: in a delayed world an outcome arriving after
    the attribution window does not count (target 0, spend 0); other worlds are unchanged."""
    if world.delay is None:
        return log
    late = (log[world.target] > 0) & ~(log["delay_s"] <= window_s)
    out = log.copy()
    out.loc[late, world.target] = 0
    if world.revenue is not None:
        out.loc[late, world.revenue] = 0.0
    return out


def _references(expected: np.ndarray) -> Row:
    arm, single = best_single(expected)
    oracle = float(expected.max(axis=1).mean())
    return {"best_arm": arm, "best_single": single, "oracle": oracle}


def _judged(value: float, refs: Row) -> Row:
    gain = refs["oracle"] - refs["best_single"]
    return {
        "value": value,
        "share": (value - refs["best_single"]) / gain,
        "regret": refs["oracle"] - value,
    }


def offline(
    world: World,
    learners: Iterable[Learner],
    *,
    n_log: int = 60_000,
    n_eval: int = 20_000,
    seed: int = 0,
    window_s: float = ONE_DAY_S,
) -> list[Row]:
    """Each learner fits the same randomized log (outcomes as attributed within `window_s`)
    and is judged on the same fresh users by the truth: value, share of gain, regret."""
    log = attributed(world, world.log(n_log, np.random.default_rng([seed, 1])), window_s)
    users = world.users(n_eval, np.random.default_rng([seed, 2]))
    expected = world.expected(users)
    refs = _references(expected)
    rows = []
    for learner in learners:
        began = time.perf_counter()
        learner.fit(log, world)
        fitted = time.perf_counter()
        probs = checked_probabilities(learner, users, world.n_arms, explore=False)
        value = float((probs * expected).sum(axis=1).mean())
        rows.append(
            {
                "world": world.name,
                "learner": learner.name,
                "mode": "offline",
                **refs,
                **_judged(value, refs),
                "fit_s": fitted - began,
                "act_s": time.perf_counter() - fitted,
            }
        )
    return rows


ARRIVAL, SETTLED = "arrival", "settled"
FEEDBACK_MODES = (ARRIVAL, SETTLED)


class _Feedback:
    """Outcomes waiting to become visible: each decision is delivered to the learner once.

    In a delayed world, with `arrival` feedback a decision comes when its outcome arrives
    (decided_at + delay_s, within the window) or, with reward 0, when its attribution window
    closes without one; with `settled` feedback every decision comes when its window closes,
    as the product's learning policies fold settled decisions (feedback/policy_state.py).
    Without delays: at the end of its batch.
    """

    def __init__(self, n: int, mode: str) -> None:
        self.mode = mode
        self.visible_at = np.full(n, np.inf)
        self.reward = np.zeros(n)
        self.delivered = np.zeros(n, dtype=bool)

    def add(
        self,
        rows: slice,
        decided_at: np.ndarray,
        reward: np.ndarray,
        delay: np.ndarray | None,
        window_s: float,
    ) -> None:
        if delay is None:
            self.visible_at[rows], self.reward[rows] = decided_at, reward
            return
        counted = (reward > 0) & (delay <= window_s)
        arrival = np.where(counted, decided_at + np.nan_to_num(delay), decided_at + window_s)
        self.visible_at[rows] = arrival if self.mode == ARRIVAL else decided_at + window_s
        self.reward[rows] = np.where(counted, reward, 0.0)

    def due(self, clock: float) -> np.ndarray:
        ready = np.flatnonzero(~self.delivered & (self.visible_at <= clock))
        self.delivered[ready] = True
        return ready[np.argsort(self.visible_at[ready], kind="stable")]


def closed_loop(
    world: World,
    learners: Iterable[Learner],
    *,
    n_history: int = 5_000,
    n_decisions: int = 50_000,
    batch: int = 250,
    seed: int = 0,
    window_s: float = ONE_DAY_S,
    decisions_per_day: int = 5_000,
    last: float = 0.2,
    feedback: str = ARRIVAL,
) -> list[Row]:
    """Each learner starts from the same small randomized history, then decides for the same
    stream of users in batches: its exploring probabilities -> a sampled arm -> outcomes
    (the same random numbers for every learner) -> fed back as they become visible on a
    simulated clock advancing 86400 / `decisions_per_day` seconds per decision.

    Reported: mean true value of the action distributions over all decisions and over the
    last `last` share of them, and the share of gain on those last decisions. `feedback`
    says when a delayed world's outcomes reach the learner (see `_Feedback`).
    """
    if feedback not in FEEDBACK_MODES:
        raise ValueError(f"feedback must be one of {FEEDBACK_MODES}, got {feedback!r}")
    history = attributed(world, world.log(n_history, np.random.default_rng([seed, 1])), window_s)
    users = world.users(n_decisions, np.random.default_rng([seed, 2]))
    expected = world.expected(users)
    tail = slice(int(n_decisions * (1.0 - last)), n_decisions)
    refs_all, refs_tail = _references(expected), _references(expected[tail])
    step = ONE_DAY_S / decisions_per_day
    rows = []
    for learner in learners:
        began = time.perf_counter()
        try:
            learner.fit(history, world)
            fitted = time.perf_counter()
            values, reward = _run(
                world, learner, users, expected, (batch, step, window_s), seed, feedback
            )
        finally:
            close = getattr(learner, "close", None)  # the product's loop: its server process
            if close is not None:
                close()
        rows.append(
            {
                "world": world.name,
                "learner": learner.name,
                "mode": "closed-loop",
                "decisions": n_decisions,
                "feedback": feedback if world.delay is not None else "immediate",
                "value_all": float(values.mean()),
                "share_all": _judged(float(values.mean()), refs_all)["share"],
                **refs_tail,
                **_judged(float(values[tail].mean()), refs_tail),
                "realized_reward": float(reward.mean()),
                "fit_s": fitted - began,
                "run_s": time.perf_counter() - fitted,
            }
        )
    return rows


def _run(
    world: World,
    learner: Learner,
    users: pd.DataFrame,
    expected: np.ndarray,
    clock: tuple[int, float, float],
    seed: int,
    mode: str,
) -> tuple[np.ndarray, np.ndarray]:
    """One learner's run: per-decision true value of its distribution and realized reward.
    `clock` is (decisions per batch, simulated seconds per decision, attribution window)."""
    batch, step, window_s = clock
    n = len(users)
    choose, outcomes = np.random.default_rng([seed, 3]), np.random.default_rng([seed, 4])
    values, realized = np.zeros(n), np.zeros(n)
    arms, propensity = np.zeros(n, dtype=int), np.zeros(n)
    feedback = _Feedback(n, mode)
    for start in range(0, n, batch):
        rows = slice(start, min(start + batch, n))
        group = users.iloc[rows]
        probs = checked_probabilities(learner, group, world.n_arms, explore=True)
        arm = sample_arms(probs, choose)
        drawn = world.draw(group, arm, outcomes)
        values[rows] = (probs * expected[rows]).sum(axis=1)
        realized[rows] = world.reward(drawn)
        arms[rows], propensity[rows] = arm, probs[np.arange(len(arm)), arm]
        decided_at = np.arange(rows.start, rows.stop) * step
        feedback.add(rows, decided_at, realized[rows], drawn.get("delay_s"), window_s)
        ready = feedback.due(rows.stop * step)
        if ready.size:
            learner.update(
                users.iloc[ready], arms[ready], feedback.reward[ready], propensity[ready]
            )
    return values, realized


# -- command line ----------------------------------------------------------------------------
PRODUCT_OFFLINE = "campaign-lift train (defaults)"
PRODUCT_LOOP = "campaign-lift serve (defaults, real server)"
QUICK = {"n_log": 6_000, "n_eval": 4_000, "n_history": 1_000, "n_decisions": 4_000, "batch": 200}
FULL = {"n_log": 60_000, "n_eval": 20_000, "n_history": 5_000, "n_decisions": 50_000, "batch": 250}


def _named(learner: Any, name: str) -> Learner:
    learner.name = name
    return learner  # type: ignore[no-any-return]


def run(
    worlds: Sequence[str],
    *,
    offline_mode: bool,
    closed_mode: bool,
    quick: bool,
    seed: int,
    vw: bool = True,
    feedback: str = ARRIVAL,
    product: bool = False,
) -> dict[str, Any]:
    """Every world x peer in the chosen modes; per world its rows, references and runtime
    (or the reason it was skipped). `product`: the project's defaults join as rows of their
    own, offline (`campaign-lift train`'s defaults, the greedy choice of the served graph)
    and in the closed loop (the real server, its default policy, retrain worker and gate)."""
    from bench.quality.peers import peer_factories
    from bench.quality.report import progress
    from bench.quality.worlds import WorldUnavailable, make_world, relative_gain

    sizes = QUICK if quick else FULL
    factories, notes = peer_factories(vw=vw)
    offline_factories, loop_factories = dict(factories), dict(factories)
    per_day = 500 if quick else 5_000
    if product:
        from bench.quality.product import ProductLearner
        from bench.quality.product_loop import ProductLoop

        day_s = 2.0 if quick else 6.0
        offline_factories[PRODUCT_OFFLINE] = lambda: _named(ProductLearner(), PRODUCT_OFFLINE)
        loop_factories[PRODUCT_LOOP] = lambda: _named(
            ProductLoop(day_s=day_s, decisions_per_day=per_day), PRODUCT_LOOP
        )
    results: dict[str, Any] = {
        "sizes": sizes,
        "seed": seed,
        "feedback": feedback,
        "notes": notes,
        "worlds": {},
    }
    with progress() as bar:
        task = bar.add_task("worlds", total=len(worlds))
        for name in worlds:
            bar.update(task, description=f"world {name}")
            began = time.perf_counter()
            try:
                world = make_world(name, seed)
            except WorldUnavailable as exc:
                results["worlds"][name] = {"skipped": str(exc)}
                bar.advance(task)
                continue
            entry: dict[str, Any] = {
                "description": world.description,
                "arms": world.arm_ids,
                "revenue": world.revenue is not None,
                "relative_gain": relative_gain(world),
                "rows": [],
            }
            if offline_mode:
                learners = [f() for f in offline_factories.values()]
                entry["rows"] += offline(
                    world, learners, n_log=sizes["n_log"], n_eval=sizes["n_eval"], seed=seed
                )
            if closed_mode:
                one_at_a_time = (f() for f in loop_factories.values())  # one server at a time
                entry["rows"] += closed_loop(
                    world,
                    one_at_a_time,
                    n_history=sizes["n_history"],
                    n_decisions=sizes["n_decisions"],
                    batch=sizes["batch"],
                    seed=seed,
                    decisions_per_day=per_day,
                    feedback=feedback,
                )
            entry["seconds"] = time.perf_counter() - began
            results["worlds"][name] = entry
            bar.advance(task)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from bench.quality.report import print_results
    from bench.quality.worlds import WORLDS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", default=",".join(WORLDS), help="comma-separated world names")
    parser.add_argument("--offline", action="store_true", help="offline mode (default: both)")
    parser.add_argument("--closed-loop", action="store_true", help="closed loop (default: both)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for tests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--feedback",
        choices=FEEDBACK_MODES,
        default=ARRIVAL,
        help="delayed outcomes reach learners when they arrive, or when the window settles",
    )
    parser.add_argument("--no-vw", action="store_true", help="leave Vowpal Wabbit out")
    parser.add_argument(
        "--product",
        action="store_true",
        help="the project's defaults beside the peers, with the targets' PASS/MISS",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    names = [w.strip() for w in args.worlds.split(",") if w.strip()]
    unknown = sorted(set(names) - set(WORLDS))
    if unknown:
        parser.error(f"unknown worlds {unknown}; choose from {sorted(WORLDS)}")
    both = not (args.offline or args.closed_loop)
    results = run(
        names,
        offline_mode=args.offline or both,
        closed_mode=args.closed_loop or both,
        quick=args.quick,
        seed=args.seed,
        vw=not args.no_vw,
        feedback=args.feedback,
        product=args.product,
    )
    print_results(results)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=float))
    return results


if __name__ == "__main__":
    main()
