"""The decision-quality benchmark's worlds and peers (bench/quality): worlds are deterministic
per seed and their truth is coherent (probabilities, logging propensities, oracle >= best
single >= every arm, a material personalization gain), each world has the property it was
built for, specs match logs, and the harness runs peers offline and in a closed loop with
delayed feedback delivered on time."""

from __future__ import annotations

import contextlib
import tomllib

import numpy as np
import pandas as pd
import pytest

from bench.quality.harness import attributed, closed_loop, main, offline
from bench.quality.learner import checked_probabilities
from bench.quality.peers import (
    VW_CONFIGS,
    BestSingleArm,
    BetaThompson,
    Oracle,
    PeerUnavailable,
    PerArmLogistic,
    UniformRandom,
    VowpalWabbitCB,
)
from bench.quality.world import ONE_DAY_S, World
from bench.quality.worlds import WORLDS, WorldUnavailable, make_world, relative_gain
from tests.conftest import require_shared_data

NAMES = sorted(WORLDS)


def world_of(name: str, seed: int = 0) -> World:
    if name == "hillstrom":
        require_shared_data("hillstrom/hillstrom.csv")
    try:
        return make_world(name, seed)
    except WorldUnavailable as exc:
        pytest.skip(str(exc))


def rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(list(key))


@pytest.mark.parametrize("name", NAMES)
def test_a_world_is_deterministic_per_seed(name: str) -> None:
    first, again = world_of(name, 3), world_of(name, 3)
    pd.testing.assert_frame_equal(first.log(400, rng(5)), again.log(400, rng(5)))
    users = first.users(300, rng(6))
    np.testing.assert_array_equal(first.expected(users), again.expected(users))
    assert first.arm_ids == again.arm_ids
    if name != "demo":  # the demo's formulas are fixed; generated worlds differ by seed
        other = world_of(name, 4).expected(users)
        assert other.shape[1] != first.n_arms or not np.allclose(other, first.expected(users))


@pytest.mark.parametrize("name", NAMES)
def test_truth_is_coherent(name: str) -> None:
    world = world_of(name)
    users = world.users(5_000, rng(7))
    expected = world.expected(users)
    assert expected.shape == (5_000, world.n_arms)
    assert 4 <= world.n_arms <= 6
    assert world.arms[world.no_campaign].features == world.control
    if world.revenue is None:
        assert ((expected > 0) & (expected < 1)).all()
        base = expected[:, world.no_campaign].mean()
        assert 0.01 <= base <= 0.15, f"base rate {base:.3f}"
    else:
        assert (expected > 0).all()
    arm, single = world.best_single(users)
    oracle = world.oracle_value(users)
    assert oracle >= single >= expected.mean(axis=0).max() - 1e-12
    assert single == pytest.approx(expected[:, arm].mean())
    # Personalizing must be worth it: at least 10% over the best single arm.
    assert (oracle - single) / single >= 0.10


@pytest.mark.parametrize("name", [n for n in NAMES if n != "demo"])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_personalization_gain_is_material_for_other_seeds(name: str, seed: int) -> None:
    world = world_of(name, seed)
    users = world.users(10_000, rng(seed, 77))  # not the users the redraw rule looked at
    _, single = world.best_single(users)
    assert (world.oracle_value(users) - single) / single >= 0.10
    assert relative_gain(world) >= 0.12  # the redraw rule's own check


@pytest.mark.parametrize("name", NAMES)
def test_logged_propensities_are_the_logging_policy(name: str) -> None:
    world = world_of(name)
    log = world.log(3_000, rng(8))
    probs = world.logging_policy(log)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert probs.min() >= 0.02
    arms = world.arm_index(log["arm"])
    np.testing.assert_allclose(log["propensity"], probs[np.arange(len(log)), arms])
    for column, value in world.arms[world.no_campaign].features.items():
        assert (log.loc[log["arm"] == "none", column] == value).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_rare_arm_is_rare_in_the_log_and_best_for_its_segment(seed: int) -> None:
    world = world_of("rare-arm", seed)
    assert world.rare_arm is not None and world.rare_segment is not None
    rare = world.arm_ids[world.rare_arm]
    share = (world.log(20_000, rng(9))["arm"] == rare).mean()
    assert 0.025 <= share <= 0.055
    users = world.users(20_000, rng(10))
    expected, segment = world.expected(users), world.rare_segment(users)
    assert 0.15 <= segment.mean() <= 0.45
    assert expected[segment].mean(axis=0).argmax() == world.rare_arm
    assert (expected[segment].argmax(axis=1) == world.rare_arm).mean() > 0.5
    assert (expected[~segment].argmax(axis=1) == world.rare_arm).mean() < 0.05


def test_the_confounded_log_needs_its_propensities() -> None:
    world = world_of("confounded")
    log = world.log(40_000, rng(11))
    probs = world.logging_policy(log)
    assert probs[:, :-1].std(axis=0).min() > 0.02, "the logging policy must depend on users"
    truth = world.expected(log).mean(axis=0)
    arms, y = world.arm_index(log["arm"]), log["conversion"].to_numpy(float)
    w = 1.0 / log["propensity"].to_numpy()
    naive = np.array([y[arms == a].mean() for a in range(world.n_arms)])
    ips = np.array([(w * y * (arms == a)).sum() / len(log) for a in range(world.n_arms)])
    # Campaigns went to likely buyers: "no campaign" looks worse in the log than it is.
    assert naive[world.no_campaign] < 0.8 * truth[world.no_campaign]
    assert np.abs(ips - truth).sum() < 0.5 * np.abs(naive - truth).sum()


def test_the_delayed_world_has_outcomes_past_one_day() -> None:
    world = world_of("delayed")
    log = world.log(20_000, rng(12))
    hit = log["conversion"] == 1
    delay = log["delay_s"]
    assert (delay[hit] > 0).all() and delay[~hit].isna().all()
    late = (delay[hit] > ONE_DAY_S).mean()
    assert 0.03 <= late <= 0.5
    seen = attributed(world, log)
    assert seen["conversion"].sum() == int((hit & (delay <= ONE_DAY_S)).sum())
    assert "delay_s" not in world_of("threshold").log(10, rng(1))


def test_the_revenue_world_rewards_spend() -> None:
    world = world_of("revenue")
    log = world.log(20_000, rng(13))
    assert world.revenue == "spend"
    assert (log.loc[log["conversion"] == 0, "spend"] == 0).all()
    assert (log.loc[log["conversion"] == 1, "spend"] > 0).all()
    expected = world.expected(log)
    assert log["spend"].mean() == pytest.approx(
        expected[np.arange(len(log)), world.arm_index(log["arm"])].mean(), rel=0.1
    )
    discounted = [i for i, a in enumerate(world.arms) if a.features["campaign_type"] == "discount"]
    assert discounted, "the revenue world always has a discount"
    response = world.truth(log)
    assert response.basket is not None
    none = world.no_campaign
    for i in discounted:  # a discount buys conversions with smaller baskets
        assert response.probability[:, i].mean() > response.probability[:, none].mean()
        assert response.basket[:, i].mean() < response.basket[:, none].mean()


@pytest.mark.parametrize("name", NAMES)
def test_the_spec_names_the_log_columns(name: str) -> None:
    world = world_of(name)
    spec = tomllib.loads(world.spec_toml())
    log = world.log(200, rng(14))
    named = [
        *spec["user_features"],
        *spec["campaign_features"],
        *spec["targets"],
        spec["treatment"],
        spec["unit_id"],
        spec["row_id"],
        *spec.get("revenue", {}),
    ]
    assert set(named) <= set(log.columns)
    assert spec["user_features"] == world.user_features
    assert spec["control"] == world.control
    assert ("propensity" in spec) == (world.logging is not None)
    assert spec.get("revenue", {}) == ({world.revenue: world.target} if world.revenue else {})


def test_per_arm_logistic_beats_uniform_random_offline_on_the_interaction_world() -> None:
    world = world_of("interaction")
    rows = offline(
        world, [PerArmLogistic(), UniformRandom(), Oracle()], n_log=20_000, n_eval=5_000, seed=1
    )
    value = {r["learner"]: r["value"] for r in rows}
    assert value["per-arm logistic (T-learner)"] > value["uniform random"] + 0.005
    assert rows[2]["share"] == pytest.approx(1.0)


def test_per_arm_logistic_captures_gain_where_effects_are_nearly_linear() -> None:
    # The negative-effect world's effects are segment steps plus linear tilts: a T-learner
    # on one-hot features finds a good part of the gain from 40,000 logged decisions.
    rows = offline(
        world_of("negative"),
        [PerArmLogistic(), BestSingleArm()],
        n_log=40_000,
        n_eval=5_000,
        seed=2,
    )
    assert rows[0]["share"] > 0.3
    assert abs(rows[1]["share"]) < 0.05


def peers() -> list[object]:
    learners: list[object] = [
        UniformRandom(),
        BestSingleArm(),
        Oracle(),
        PerArmLogistic(retrain_every=500),
        BetaThompson(),
    ]
    with contextlib.suppress(PeerUnavailable):  # without vowpalwabbit: the other peers
        learners += [VowpalWabbitCB(config) for config in VW_CONFIGS]
    return learners


@pytest.mark.parametrize("name", ["delayed", "revenue"])
def test_a_quick_closed_loop_runs_for_every_peer(name: str) -> None:
    world = world_of(name)
    learners = peers()
    rows = closed_loop(
        world, learners, n_history=500, n_decisions=1_500, batch=250, seed=3, decisions_per_day=500
    )  # type: ignore[arg-type]
    assert [r["learner"] for r in rows] == [lr.name for lr in learners]  # type: ignore[attr-defined]
    by = {r["learner"]: r for r in rows}
    assert by["oracle (truth argmax)"]["share"] == pytest.approx(1.0)
    assert by["uniform random"]["share"] < 0
    for row in rows:
        assert row["value"] <= row["oracle"] + 1e-12


class Recorder:
    """A learner that plays uniformly and records when each outcome reached it."""

    name = "recorder"

    def fit(self, log: pd.DataFrame, world: World) -> None:
        self.n_arms, self.batches, self.seen = world.n_arms, 0, []

    def probabilities(self, users: pd.DataFrame, *, explore: bool = False) -> np.ndarray:
        self.batches += 1
        return np.full((len(users), self.n_arms), 1.0 / self.n_arms)

    def update(
        self,
        users: pd.DataFrame,
        arm_index: np.ndarray,
        rewards: np.ndarray,
        propensities: np.ndarray,
    ) -> None:
        np.testing.assert_allclose(propensities, 1.0 / self.n_arms)
        self.seen.append((self.batches, users["unit_id"].to_list(), rewards.copy()))


@pytest.mark.parametrize("feedback", ["arrival", "settled"])
def test_delayed_outcomes_reach_the_learner_when_they_arrive(feedback: str) -> None:
    world = world_of("delayed")
    per_day, batch, n = 1_000, 100, 3_000
    recorder = Recorder()
    closed_loop(
        world,
        [recorder],  # type: ignore[list-item]
        n_history=200,
        n_decisions=n,
        batch=batch,
        seed=4,
        decisions_per_day=per_day,
        feedback=feedback,
    )
    step = ONE_DAY_S / per_day
    delivered, positives, early = 0, 0, 0
    for batches, ids, rewards in recorder.seen:
        clock = batches * batch * step
        # A user's id ends with its position in the stream, i.e. its decision's index.
        decided = np.array([int(u.rsplit("-", 1)[1]) for u in ids]) * step
        # No outcome: delivered (as 0) only once the attribution window has closed.
        assert (decided[rewards == 0] + ONE_DAY_S <= clock + 1e-9).all()
        assert (decided <= clock).all()
        delivered += len(ids)
        positives += int((rewards > 0).sum())
        early += int((decided + ONE_DAY_S > clock + 1e-9).sum())
    # Everything decided a window before the end has been delivered, exactly once.
    settled = int(n - ONE_DAY_S / step)
    assert settled <= delivered <= n
    assert len({u for _, ids, _ in recorder.seen for u in ids}) == delivered
    assert 0 < positives < delivered
    if feedback == "arrival":  # a conversion within the window comes when it arrives
        assert early > 0
    else:  # everything comes when its window closes
        assert early == 0


def test_an_unknown_feedback_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="feedback must be one of"):
        closed_loop(world_of("delayed"), [], feedback="eventually")


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: make_world("nope"), KeyError, "is not one of"),
        (lambda: PerArmLogistic(epsilon=1.5), ValueError, "epsilon must be in"),
        (lambda: VowpalWabbitCB("nope"), ValueError, "config must be one of"),
    ],
)
def test_invalid_arguments_are_named(build: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build()  # type: ignore[operator]


def test_bad_probabilities_are_refused() -> None:
    world = world_of("threshold")
    users = world.users(10, rng(15))

    class Broken(UniformRandom):
        name = "broken"

        def probabilities(self, users: pd.DataFrame, *, explore: bool = False) -> np.ndarray:
            return np.ones((len(users), self.world.n_arms))

    broken = Broken()
    broken.fit(users, world)
    with pytest.raises(ValueError, match="broken: probabilities must be non-negative and sum to 1"):
        checked_probabilities(broken, users, world.n_arms, explore=False)
    with pytest.raises(ValueError, match="must have shape"):
        checked_probabilities(broken, users, world.n_arms + 1, explore=False)


def test_the_command_line_prints_a_table_per_world(capsys: pytest.CaptureFixture[str]) -> None:
    results = main(["--worlds", "demo,latent", "--offline", "--quick", "--no-vw"])
    out = capsys.readouterr().out
    assert "demo:" in out and "latent:" in out and "PASS/MISS" in out
    rows = results["worlds"]["demo"]["rows"]
    assert {r["mode"] for r in rows} == {"offline"}
    assert {r["learner"] for r in rows} >= {"oracle (truth argmax)", "best single arm (truth)"}
