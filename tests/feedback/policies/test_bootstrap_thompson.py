"""Bootstrapped Thompson sampling: a decision's propensity is exactly the share of bootstrap
heads for which its action is best, and off-policy estimates on its logs are unbiased."""

from __future__ import annotations

import numpy as np
import pytest

from feedback.ope import LoggedBandit, estimate
from feedback.policies import Context, Scores, build_policy, decide


def test_propensities_are_the_head_shares_exactly() -> None:
    policy = build_policy({"type": "bootstrap_thompson"})
    heads = np.array(
        [
            [0.30, 0.10, -0.2, 0.30],  # campaign a: best in heads 0 and 3 (tied in 3)
            [0.10, 0.20, -0.1, 0.30],  # campaign b: best in head 1, tied with a in head 3
            [-0.5, -0.1, -0.3, -0.4],  # campaign c: never best
        ]
    )  # head 2: every uplift negative, so no campaign is best
    probs = policy.probabilities(heads.mean(axis=1), ["a", "b", "c"], context=Context(heads=heads))
    np.testing.assert_array_equal(probs, [(1 + 0.5) / 4, (1 + 0.5) / 4, 0.0, 1 / 4])


def test_sampled_actions_follow_the_shares_and_the_floor() -> None:
    policy = build_policy({"type": "bootstrap_thompson", "min_propensity": 0.02})
    rng = np.random.default_rng(0)
    heads = rng.normal(0.0, 0.1, size=(3, 8))
    scores = Scores(heads.mean(axis=1), heads.mean(axis=1), 0.1, heads)
    choices = [
        decide(policy, scores, ["a", "b", "c"], user_features={}, state=None, rng=rng)
        for _ in range(20_000)
    ]
    expected = choices[0].probabilities
    assert (expected >= 0.02 - 1e-12).all()
    counts = np.bincount([c.index for c in choices], minlength=4) / len(choices)
    np.testing.assert_allclose(counts, expected, atol=0.012)
    assert {round(c.propensity, 12) for c in choices} <= {round(p, 12) for p in expected}


def test_ope_on_its_logs_is_unbiased_in_simulation() -> None:
    """Users with a true conversion rate per action; heads are noisy estimates of it. The
    policy's logs (with its exact propensities) value two other policies, uniform random and
    always-campaign-0, by IPS and DR within their intervals of the truth."""
    rng = np.random.default_rng(7)
    n, k, h = 40_000, 3, 8
    truth = rng.uniform(0.02, 0.2, size=(n, k + 1))  # last column: no campaign
    policy = build_policy({"type": "bootstrap_thompson", "min_propensity": 0.02})
    logged, pscore, reward = np.empty(n, int), np.empty(n), np.empty(n)
    dists = np.empty((n, k + 1))
    for i in range(n):
        uplift = truth[i, :k] - truth[i, k]
        heads = uplift[:, None] + rng.normal(0.0, 0.05, size=(k, h))
        choice = decide(
            policy,
            Scores(truth[i, :k], uplift, truth[i, k], heads),
            ["a", "b", "c"],
            user_features={},
            state=None,
            rng=rng,
        )
        logged[i], pscore[i], dists[i] = choice.index, choice.propensity, choice.probabilities
        reward[i] = float(rng.random() < truth[i, choice.index])
    assert np.allclose(pscore, dists[np.arange(n), logged])
    targets = {
        "uniform": np.full((n, k + 1), 1 / (k + 1)),
        "campaign a": np.eye(k + 1)[np.zeros(n, int)],
    }
    for name, target in targets.items():
        true_value = float((target * truth).sum(axis=1).mean())
        data = LoggedBandit(
            reward=reward,
            pscore=pscore,
            target_dist=target,
            reward_hat=truth * 0.9,  # a biased reward model: DR must correct it
            action=logged,
        )
        for estimator in ("ips", "dr"):
            e = estimate(data, estimator)
            assert e.ci_low - 0.25 * e.std_error <= true_value <= e.ci_high + 0.25 * e.std_error, (
                name, estimator, e, true_value
            )  # fmt: skip


@pytest.mark.parametrize("mode", ["uplift", "absolute"])
def test_without_heads_it_is_greedy_with_its_floor(mode: str) -> None:
    policy = build_policy({"type": "bootstrap_thompson", "mode": mode, "min_propensity": 0.05})
    probs = policy.probabilities(np.array([0.1, 0.3]), ["a", "b"], baseline=0.2)
    assert probs.argmax() == 1 and probs.min() == pytest.approx(0.05)
