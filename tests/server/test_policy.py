"""Policies: exact choice probabilities, config validation and sampling."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from common.errors import InvalidArgument
from server.policy import EpsilonGreedy, FixedCampaign, UniformRandom, build_policy, sample

IDS = ["c-1", "c-2", "c-3"]
VALUES = np.array([0.1, 0.3, -0.2])

CONFIGS = [
    {"type": "epsilon_greedy", "epsilon": 0.0},
    {"type": "epsilon_greedy", "epsilon": 0.2},
    {"type": "epsilon_greedy", "epsilon": 1.0},
    {"type": "uniform_random"},
    {"type": "fixed", "campaign_id": "c-2"},
    {"type": "fixed", "campaign_id": "c-missing"},
    {"type": "no_campaign"},
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [0, 1, 3, 7])
def test_probabilities_are_a_distribution(config: dict[str, Any], seed: int, k: int) -> None:
    values = np.random.default_rng(seed).normal(size=k)
    ids = [f"c-{i + 1}" for i in range(k)]

    probs = build_policy(config).probabilities(values, ids)

    assert probs.shape == (k + 1,)
    assert (probs >= 0).all()
    assert probs.sum() == pytest.approx(1.0)


def test_epsilon_greedy_exact_values() -> None:
    probs = EpsilonGreedy(epsilon=0.2).probabilities(VALUES, IDS)

    other = 0.2 / 4
    np.testing.assert_allclose(probs, [other, 1 - 0.2 + other, other, other])


def test_epsilon_greedy_prefers_no_campaign_when_every_uplift_is_negative() -> None:
    probs = EpsilonGreedy(epsilon=0.2).probabilities(np.array([-0.1, -0.3, -0.2]), IDS)

    np.testing.assert_allclose(probs, [0.05, 0.05, 0.05, 0.85])


@pytest.mark.parametrize(
    ("values", "greedy"),
    [([0.3, 0.3, 0.1], 0), ([0.1, 0.3, 0.3], 1), ([0.0, -1.0, -1.0], 0)],  # 0.0 ties "no campaign"
)
def test_epsilon_greedy_ties_go_to_the_first(values: list[float], greedy: int) -> None:
    probs = EpsilonGreedy(epsilon=0.2).probabilities(np.array(values), IDS)

    assert int(np.argmax(probs)) == greedy
    assert probs[greedy] == pytest.approx(0.85)


def test_uniform_random() -> None:
    np.testing.assert_allclose(UniformRandom().probabilities(VALUES, IDS), [0.25] * 4)


@pytest.mark.parametrize(
    ("campaign_id", "expected"),
    [("c-3", [0, 0, 1, 0]), ("c-1", [1, 0, 0, 0]), ("c-missing", [0, 0, 0, 1]), ("", [0, 0, 0, 1])],
)
def test_fixed_campaign(campaign_id: str, expected: list[float]) -> None:
    np.testing.assert_array_equal(FixedCampaign(campaign_id).probabilities(VALUES, IDS), expected)


def test_build_policy_builds_the_named_policy() -> None:
    assert build_policy({"type": "epsilon_greedy", "epsilon": 0.3}) == EpsilonGreedy(epsilon=0.3)
    assert build_policy({"type": "epsilon_greedy"}) == EpsilonGreedy(epsilon=0.1)
    assert build_policy({"type": "uniform_random"}) == UniformRandom()
    assert build_policy({"type": "fixed", "campaign_id": "c-2"}) == FixedCampaign("c-2")
    assert build_policy({"type": "no_campaign"}).name == "no_campaign"


INVALID_CONFIGS = [
    ({"type": "greedy"}, r"policy.type must be one of .*'greedy'"),
    ({}, r"policy.type must be one of .*None"),
    ({"type": "epsilon_greedy", "epsilon": 1.5}, r"policy.epsilon must be in \[0, 1\], got 1.5"),
    ({"type": "epsilon_greedy", "epsilon": -0.1}, r"policy.epsilon must be in \[0, 1\], got -0.1"),
    (
        {"type": "epsilon_greedy", "epsilon": math.nan},
        r"policy.epsilon must be in \[0, 1\], got nan",
    ),
]


@pytest.mark.parametrize(("config", "message"), INVALID_CONFIGS)
def test_invalid_policy_config_raises(config: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        build_policy(config)


@pytest.mark.parametrize("epsilon", ["abc", None])
def test_non_numeric_epsilon_is_invalid_argument(epsilon: object) -> None:
    with pytest.raises(InvalidArgument, match=r"policy\.epsilon"):
        build_policy({"type": "epsilon_greedy", "epsilon": epsilon})


@pytest.mark.parametrize(
    "probs",
    [
        EpsilonGreedy(epsilon=0.2).probabilities(VALUES, IDS),
        UniformRandom().probabilities(VALUES, IDS),
        FixedCampaign("c-2").probabilities(VALUES, IDS),
    ],
)
def test_sample_frequencies_match_probabilities(probs: np.ndarray) -> None:
    rng = np.random.default_rng(20240301)
    draws = [sample(probs, rng) for _ in range(20_000)]

    freq = np.bincount(draws, minlength=len(probs)) / len(draws)
    np.testing.assert_allclose(freq, probs, atol=0.01)
