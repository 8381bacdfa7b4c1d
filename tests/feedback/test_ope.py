"""Off-policy estimators: hand-computed values, unbiasedness and interval coverage on seeded
synthetic logs with a known true value, and refusal of bad logs."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from common.errors import InvalidArgument
from feedback.ope import LoggedBandit, estimate, evaluate, kish_ess

# ---------------------------------------------------------------- a tiny worked example
# Two actions (column 0: a campaign, column 1: no campaign), four logged rows.
TINY = {
    "reward": [1.0, 0.0, 0.0, 1.0],
    "pscore": [0.5, 0.5, 0.25, 0.75],
    "action": np.array([0, 1, 0, 1]),
    "target_dist": np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5], [0.5, 0.5]]),
    "reward_hat": np.array([[0.6, 0.2], [0.5, 0.1], [0.4, 0.4], [0.2, 0.3]]),
    "ids": ["d0", "d1", "d2", "d3"],
}


def tiny() -> LoggedBandit:
    return LoggedBandit(**TINY)  # type: ignore[arg-type]


def test_tiny_example_matches_hand_computed_values() -> None:
    data = tiny()
    # π(a_i) = 1, 0, 0.5, 0.5 → w = 2, 0, 2, 2/3; w·r = 2, 0, 0, 2/3.
    assert data.weights.tolist() == pytest.approx([2.0, 0.0, 2.0, 2 / 3])
    got = {e.estimator: e for e in evaluate(data)}
    assert got["ips"].value == pytest.approx((2 + 2 / 3) / 4)  # 2/3
    assert got["snips"].value == pytest.approx((8 / 3) / (14 / 3))  # 4/7
    # DM: Σ_a π q̂ per row = 0.6, 0.5, 0.4, 0.25.
    assert got["dm"].value == pytest.approx(1.75 / 4)
    # DR: 0.6 + 2(1 - 0.6), 0.5 + 0, 0.4 + 2(0 - 0.4), 0.25 + (2/3)(1 - 0.3) → 133/60 in all.
    assert got["dr"].value == pytest.approx(133 / 240)
    # Kish: (14/3)² / (4 + 0 + 4 + 4/9) = 49/19; the direct method uses no weights.
    assert got["ips"].ess == pytest.approx(49 / 19)
    assert got["dm"].ess == 4
    # IPS terms 2, 0, 0, 2/3: sample variance 8/9, SE sqrt(8/9 / 4).
    assert got["ips"].std_error == pytest.approx(math.sqrt(2 / 9))
    # SNIPS (delta method): residuals w(r - 4/7) = 6/7, 0, -8/7, 2/7; / mean(w) = 7/6.
    assert got["snips"].std_error == pytest.approx(math.sqrt(104 / 49 / 12) / (7 / 6))
    z = 1.959963984540054
    ips = got["ips"]
    assert (ips.ci_low, ips.ci_high) == pytest.approx(
        (2 / 3 - z * ips.std_error, 2 / 3 + z * ips.std_error)
    )
    assert all(e.method == "normal" and e.n == 4 for e in got.values())


def test_target_prob_alone_gives_ips_and_snips_only() -> None:
    data = LoggedBandit(
        reward=[1.0, 0.0, 0.0, 1.0], pscore=[0.5, 0.5, 0.25, 0.75], target_prob=[1, 0, 0.5, 0.5]
    )
    assert [e.estimator for e in evaluate(data)] == ["ips", "snips"]
    assert evaluate(data)[0].value == pytest.approx(2 / 3)
    with pytest.raises(InvalidArgument, match="dr needs target_dist, reward_hat and action"):
        estimate(data, "dr")


# ------------------------------------------------------------------------- bad logs
@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            {"pscore": [0.5, 0.0, 0.25, 0.75]},
            r"logged propensity of decision 'd1' must be in \(0, 1\], got 0\.0",
        ),
        ({"pscore": [0.5, -0.2, 0.25, 0.75]}, r"decision 'd1' must be in \(0, 1\], got -0\.2"),
        ({"pscore": [0.5, 0.5, 1.5, 0.75]}, r"decision 'd2' must be in \(0, 1\], got 1\.5"),
        (
            {"pscore": [0.5, 0.5, 0.25, float("nan")]},
            r"logged propensity of decision 'd3' is missing",
        ),
        ({"pscore": [0.5, None, 0.25, 0.75]}, r"logged propensity of decision 'd1' is missing"),
        ({"pscore": [0.5, 0.5, 0.25]}, r"pscore must be a vector of 4 values"),
        ({"reward": [1.0, float("inf"), 0.0, 1.0]}, r"reward of decision 'd1' must be finite"),
        (
            {"target_dist": np.array([[1.0, 0.0], [0.7, 0.2], [0.5, 0.5], [0.5, 0.5]])},
            r"target distribution of decision 'd1' must be probabilities summing to 1",
        ),
        (
            {"target_dist": np.array([[1.0, 0.0], [1.0, 0.0], [1.5, -0.5], [0.5, 0.5]])},
            r"target distribution of decision 'd2'",
        ),
        (
            {"action": np.array([0, 1, 2, 1])},
            r"logged action of decision 'd2' is column 2, outside 0\.\.1",
        ),
        (
            {"reward_hat": np.array([[0.6, 0.2], [0.5, 0.1], [0.4, np.nan], [0.2, 0.3]])},
            r"predicted rewards of decision 'd2' must be finite",
        ),
        ({"target_prob": [1.0, 0.0, 0.4, 0.5]}, r"target probability of decision 'd2'"),
        ({"reward": []}, r"no logged decisions"),
    ],
)
def test_bad_logs_are_refused_naming_the_decision(change: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        LoggedBandit(**{**TINY, **change})  # type: ignore[arg-type]


def test_rows_are_numbered_without_ids() -> None:
    with pytest.raises(
        InvalidArgument, match=r"logged propensity of row 2 must be in \(0, 1\], got 0\.0"
    ):
        LoggedBandit(reward=[1, 0, 1], pscore=[0.5, 0.5, 0.0], target_prob=[1, 1, 1])


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"confidence must be in \(0, 1\), got 1\.5"):
        estimate(tiny(), "ips", confidence=1.5)
    with pytest.raises(InvalidArgument, match="estimator must be one of"):
        estimate(tiny(), "magic")
    with pytest.raises(InvalidArgument, match="bootstrap must be >= 0"):
        estimate(tiny(), "ips", bootstrap=-1)


# ------------------------------------------------------------- seeded synthetic worlds
@dataclass
class SyntheticLog:
    truth_per_action: np.ndarray  # (n, A) true expected reward of each action per context
    logging: np.ndarray  # (n, A) the logging policy's distribution
    action: np.ndarray
    reward: np.ndarray


def synthetic_log(n: int, seed: int, actions: int = 4) -> SyntheticLog:
    """Contexts x ~ N(0, I₃); the true click rate of action a is sigmoid(x·β_a + c_a); the
    logging policy is a softmax of a noisy score, so propensities vary from about 0.01 to 0.9."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    beta = np.random.default_rng(99).normal(scale=0.8, size=(3, actions))
    base = np.linspace(-2.0, -0.5, actions)
    truth = 1.0 / (1.0 + np.exp(-(x @ beta + base)))
    scores = 1.5 * (x @ np.random.default_rng(7).normal(size=(3, actions)))
    logging = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    logging = 0.95 * logging + 0.05 / actions  # every action keeps some chance
    action = (rng.random(n)[:, None] > np.cumsum(logging, axis=1)).sum(axis=1)
    reward = (rng.random(n) < truth[np.arange(n), action]).astype(float)
    return SyntheticLog(truth, logging, action, reward)


def target_policies(log: SyntheticLog) -> dict[str, np.ndarray]:
    n, actions = log.truth_per_action.shape
    always_one = np.zeros((n, actions))
    always_one[:, 1] = 1.0
    # ε-greedy on the truth: far from the logging policy, so the weights are large.
    greedy = np.full((n, actions), 0.1 / actions)
    greedy[np.arange(n), log.truth_per_action.argmax(axis=1)] += 0.9
    uniform = np.full((n, actions), 1.0 / actions)
    return {"always action 1": always_one, "greedy on truth": greedy, "uniform": uniform}


def bandit(log: SyntheticLog, target: np.ndarray, reward_hat: np.ndarray) -> LoggedBandit:
    n = len(log.reward)
    return LoggedBandit(
        reward=log.reward,
        pscore=log.logging[np.arange(n), log.action],
        target_dist=target,
        reward_hat=reward_hat,
        action=log.action,
    )


def test_unbiased_on_a_seeded_log_with_known_truth() -> None:
    log = synthetic_log(20_000, seed=1)
    pscore = log.logging[np.arange(len(log.reward)), log.action]
    assert pscore.min() < 0.05 and pscore.max() > 0.8  # varied propensities
    # A deliberately wrong reward model: DR must correct it, DM cannot.
    biased_model = np.clip(log.truth_per_action + 0.1, 0, 1)
    for name, target in target_policies(log).items():
        truth = float(np.mean(np.sum(target * log.truth_per_action, axis=1)))
        got = {e.estimator: e for e in evaluate(bandit(log, target, biased_model), confidence=0.99)}
        for est in ("ips", "snips", "dr"):
            e = got[est]
            assert abs(e.value - truth) < 3 * e.std_error, (name, est, e, truth)
            assert e.ci_low <= truth <= e.ci_high, (name, est, e, truth)
            assert e.std_error < 0.03, (name, est, e)  # the interval says something
        # The biased model shifts DM by the 0.1 it added (minus clipping); DR does not follow.
        assert got["dm"].value - truth > 0.08, (name, got["dm"], truth)
        assert not got["dm"].ci_low <= truth <= got["dm"].ci_high
        # With the true reward model, DR is at least as precise as IPS.
        exact = {e.estimator: e for e in evaluate(bandit(log, target, log.truth_per_action))}
        assert exact["dr"].std_error <= got["ips"].std_error, name
        assert abs(exact["dm"].value - truth) < 1e-12


def test_ess_is_n_when_target_equals_logging_and_shrinks_when_far() -> None:
    log = synthetic_log(5_000, seed=2)
    same = bandit(log, log.logging, log.truth_per_action)
    assert kish_ess(same.weights) == pytest.approx(5_000)
    far = bandit(log, target_policies(log)["always action 1"], log.truth_per_action)
    assert kish_ess(far.weights) < 2_500


def test_normal_intervals_cover_the_truth_at_about_their_level() -> None:
    """200 seeded logs of 2,000 rows: the 90% intervals of IPS and DR cover the truth
    about 90% of the time (binomial 99.9% band for 200 trials: 0.82 to 0.96)."""
    covered = {"ips": 0, "snips": 0, "dr": 0}
    trials = 200
    for seed in range(trials):
        log = synthetic_log(2_000, seed=1_000 + seed)
        target = target_policies(log)["uniform"]
        truth = float(np.mean(np.sum(target * log.truth_per_action, axis=1)))
        model = np.clip(log.truth_per_action - 0.05, 0, 1)
        for e in evaluate(bandit(log, target, model), confidence=0.9):
            if e.estimator in covered:
                covered[e.estimator] += e.ci_low <= truth <= e.ci_high
    for est, hits in covered.items():
        assert 0.82 <= hits / trials <= 0.96, (est, hits)


def test_bootstrap_interval_is_seeded_and_agrees_with_the_normal_one() -> None:
    log = synthetic_log(5_000, seed=3)
    data = bandit(log, target_policies(log)["greedy on truth"], log.truth_per_action)
    normal = estimate(data, "snips")
    boot = estimate(data, "snips", bootstrap=400, seed=11)
    assert boot.method == "bootstrap" and boot.value == normal.value
    assert boot == estimate(data, "snips", bootstrap=400, seed=11)
    assert boot != estimate(data, "snips", bootstrap=400, seed=12)
    width_normal = normal.ci_high - normal.ci_low
    width_boot = boot.ci_high - boot.ci_low
    assert width_boot == pytest.approx(width_normal, rel=0.15)
    assert boot.ci_low < boot.value < boot.ci_high
