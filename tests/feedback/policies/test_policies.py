"""Policies: exact choice probabilities, config validation and sampling."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from common.errors import InvalidArgument
from feedback.policies import (
    Context,
    EpsilonGreedy,
    FixedCampaign,
    Observation,
    UniformRandom,
    build_policy,
    sample,
)

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
    {"type": "thompson"},
    {"type": "thompson", "draws": 50, "min_propensity": 0.05},
    {"type": "linucb"},
    {"type": "linucb", "alpha": 0.0, "min_propensity": 0.02, "mode": "absolute"},
    {"type": "epsilon_greedy", "epsilon": 0.0, "min_propensity": 0.9},
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
    np.testing.assert_array_equal(
        FixedCampaign(campaign_id=campaign_id).probabilities(VALUES, IDS), expected
    )


def test_build_policy_builds_the_named_policy() -> None:
    assert build_policy({"type": "epsilon_greedy", "epsilon": 0.3}) == EpsilonGreedy(epsilon=0.3)
    assert build_policy({"type": "epsilon_greedy"}) == EpsilonGreedy(epsilon=0.1)
    assert build_policy({"type": "uniform_random"}) == UniformRandom()
    assert build_policy({"type": "fixed", "campaign_id": "c-2"}) == FixedCampaign(campaign_id="c-2")
    assert build_policy({"type": "no_campaign"}).name == "no_campaign"


INVALID_CONFIGS = [
    ({"type": "greedy"}, r"policy.type must be one of .*'greedy'"),
    ({}, r"policy.type must be one of .*None"),
    ({"type": "epsilon_greedy", "epsilon": 1.5}, r"policy.epsilon must be <= 1.0, got 1.5"),
    ({"type": "epsilon_greedy", "epsilon": -0.1}, r"policy.epsilon must be >= 0.0, got -0.1"),
    ({"type": "epsilon_greedy", "epsilon": True}, r"policy.epsilon must be a number, got True"),
    (
        {"type": "epsilon_greedy", "epsilon": math.nan},
        r"policy.epsilon must be a finite number, got nan",
    ),
    ({"type": "thompson", "draws": 5}, r"policy.draws must be >= 10, got 5"),
    ({"type": "thompson", "draws": 50.0}, r"policy.draws must be an integer, got 50.0"),
    ({"type": "thompson", "prior_alpha": 0}, r"policy.prior_alpha must be > 0.0, got 0"),
    ({"type": "thompson", "reward": "revenue"}, r"thompson must be binary"),
    ({"type": "linucb", "features": "age"}, r"policy.features must be a list"),
    ({"type": "linucb", "alpha": -1}, r"policy.alpha must be >= 0.0, got -1"),
    ({"type": "linucb", "hash_dim": 65}, r"policy.hash_dim must be <= 64, got 65"),
    ({"type": "linucb", "use_prediction": "yes"}, r"policy.use_prediction must be true or false"),
    ({"type": "uniform_random", "epsilon": 0.1}, r"unknown keys \['epsilon'\]"),
    ({"type": "fixed", "mode": "relative"}, r"policy.mode must be one of .*'relative'"),
    ({"type": "fixed", "reward": "sales"}, r"policy.reward must be one of .*'sales'"),
    ({"type": "fixed", "min_propensity": 2}, r"policy.min_propensity must be <= 1.0, got 2"),
    ({"type": "fixed", "campaign_id": 7}, r"policy.campaign_id must be a string, got 7"),
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
        FixedCampaign(campaign_id="c-2").probabilities(VALUES, IDS),
    ],
)
def test_sample_frequencies_match_probabilities(probs: np.ndarray) -> None:
    rng = np.random.default_rng(20240301)
    draws = [sample(probs, rng) for _ in range(20_000)]

    freq = np.bincount(draws, minlength=len(probs)) / len(draws)
    np.testing.assert_allclose(freq, probs, atol=0.01)


# --- exploration floor, objective modes -------------------------------------------------


@pytest.mark.parametrize("floor", [0.01, 0.05, 0.2])
def test_floor_gives_every_action_at_least_the_floor(floor: float) -> None:
    policy = build_policy({"type": "epsilon_greedy", "epsilon": 0.0, "min_propensity": floor})

    probs = policy.probabilities(VALUES, IDS)

    assert probs.min() == pytest.approx(floor)
    assert probs.sum() == pytest.approx(1.0)
    # The greedy action keeps the rest: 1 - K * floor.
    assert probs[1] == pytest.approx(1.0 - 3 * floor)


def test_floor_above_uniform_is_uniform() -> None:
    policy = build_policy({"type": "fixed", "campaign_id": "c-1", "min_propensity": 0.5})
    np.testing.assert_allclose(policy.probabilities(VALUES, IDS), [0.25] * 4)


def test_absolute_mode_compares_against_the_control_rate() -> None:
    greedy = build_policy({"type": "epsilon_greedy", "epsilon": 0.0, "mode": "absolute"})
    rates = np.array([0.10, 0.12, 0.08])
    # Every campaign beats a control rate of 0.05; none beats 0.2.
    assert int(np.argmax(greedy.probabilities(rates, IDS, baseline=0.05))) == 1
    assert int(np.argmax(greedy.probabilities(rates, IDS, baseline=0.2))) == 3


# --- Thompson sampling ---------------------------------------------------------------------


def _thompson_state(counts: dict[str, tuple[float, float]]) -> dict[str, Any]:
    return {"arms": {k: list(v) for k, v in counts.items()}}


def test_thompson_propensities_match_its_real_choice_frequencies() -> None:
    """The Monte Carlo estimate agrees with what Thompson sampling actually does: draw one
    posterior sample per arm and take the best."""
    policy = build_policy({"type": "thompson", "draws": 4000})
    counts = {"c-1": (12.0, 88.0), "c-2": (15.0, 85.0), "c-3": (3.0, 27.0), "": (9.0, 91.0)}
    state = _thompson_state(counts)

    probs = policy.probabilities(VALUES, IDS, state=state, rng=np.random.default_rng(1))

    rng = np.random.default_rng(2)
    alpha = np.array([1 + counts[k][0] for k in [*IDS, ""]])
    beta = np.array([1 + counts[k][1] for k in [*IDS, ""]])
    choices = np.argmax(rng.beta(alpha, beta, size=(40_000, 4)), axis=1)
    freq = np.bincount(choices, minlength=4) / len(choices)
    np.testing.assert_allclose(probs, freq, atol=0.025)
    assert probs.sum() == pytest.approx(1.0)
    assert policy.propensity_method == "monte_carlo:4000"


def test_thompson_concentrates_on_the_best_arm() -> None:
    """Seeded simulation with batched updates: the posterior moves the choice to the best arm."""
    truth = {"c-1": 0.04, "c-2": 0.12, "c-3": 0.07, "": 0.02}
    keys = [*IDS, ""]
    policy = build_policy({"type": "thompson", "draws": 200})
    state = policy.initial_state()
    rng = np.random.default_rng(7)
    chosen_late = []
    for step in range(40):
        batch = []
        for _ in range(100):
            probs = policy.probabilities(VALUES, IDS, state=state, rng=rng)
            arm = keys[sample(probs, rng)]
            batch.append(
                Observation(
                    arm=arm, reward=float(rng.random() < truth[arm]), user_features={}, value=0.0
                )
            )
            if step >= 30:
                chosen_late.append(arm)
        state = policy.update(state, batch)

    final = policy.probabilities(VALUES, IDS, state=state, rng=rng)
    assert int(np.argmax(final)) == 1 and final[1] > 0.8
    assert chosen_late.count("c-2") / len(chosen_late) > 0.75


def test_thompson_segments_learn_separately() -> None:
    policy = build_policy({"type": "thompson", "segment_feature": "region", "draws": 500})
    obs = [Observation("c-1", 1.0, {"region": "north"}, 0.0) for _ in range(50)] + [
        Observation("c-3", 1.0, {"region": "south"}, 0.0) for _ in range(50)
    ]
    state = policy.update(policy.initial_state(), obs)
    rng = np.random.default_rng(0)
    north = policy.probabilities(
        VALUES, IDS, context=Context(user_features={"region": "north"}), state=state, rng=rng
    )
    south = policy.probabilities(
        VALUES, IDS, context=Context(user_features={"region": "south"}), state=state, rng=rng
    )
    assert int(np.argmax(north)) == 0 and int(np.argmax(south)) == 2


def test_thompson_model_prior_follows_the_model_until_data_disagrees() -> None:
    policy = build_policy({"type": "thompson", "model_prior_strength": 200, "draws": 2000})
    absolute = np.array([0.05, 0.15, 0.05, 0.02])  # the model prefers c-2
    ctx = Context(absolute=absolute)
    rng = np.random.default_rng(3)
    before = policy.probabilities(VALUES, IDS, context=ctx, state=policy.initial_state(), rng=rng)
    assert int(np.argmax(before)) == 1
    # Outcomes say c-2 converts at 1% and c-1 at 30%.
    obs = [Observation("c-2", float(i % 100 == 0), {}, 0.0) for i in range(400)] + [
        Observation("c-1", float(i % 10 < 3), {}, 0.0) for i in range(400)
    ]
    state = policy.update(policy.initial_state(), obs)
    after = policy.probabilities(VALUES, IDS, context=ctx, state=state, rng=rng)
    assert int(np.argmax(after)) == 0


# --- LinUCB ----------------------------------------------------------------------------------


def test_linucb_learns_which_campaign_suits_which_context() -> None:
    """c-1 pays when x > 0, c-3 when x < 0; after enough feedback LinUCB picks accordingly."""
    policy = build_policy(
        {"type": "linucb", "alpha": 0.5, "features": ["x"], "use_prediction": False}
    )
    keys = [*IDS, ""]
    rng = np.random.default_rng(11)
    state = policy.initial_state()
    for _ in range(30):
        batch = []
        for _ in range(50):
            x = float(rng.choice([-1.0, 1.0]))
            probs = policy.probabilities(
                VALUES,
                IDS,
                context=Context(user_features={"x": x}),
                state=policy.prepare(state),
                rng=rng,
            )
            probs = 0.7 * probs + 0.3 / 4  # keep exploring so every arm is seen
            arm = keys[sample(probs, rng)]
            rate = {"c-1": 0.6 if x > 0 else 0.1, "c-3": 0.6 if x < 0 else 0.1}.get(arm, 0.2)
            batch.append(Observation(arm, float(rng.random() < rate), {"x": x}, 0.0))
        state = policy.update(state, batch)
    prepared = policy.prepare(state)
    pos = policy.probabilities(
        VALUES, IDS, context=Context(user_features={"x": 1.0}), state=prepared
    )
    neg = policy.probabilities(
        VALUES, IDS, context=Context(user_features={"x": -1.0}), state=prepared
    )
    assert int(np.argmax(pos)) == 0 and int(np.argmax(neg)) == 2


def test_linucb_unseen_arms_tie_and_split_evenly() -> None:
    policy = build_policy({"type": "linucb", "use_prediction": False})
    np.testing.assert_allclose(policy.probabilities(VALUES, IDS, state={}), [0.25] * 4)


def test_linucb_state_survives_json() -> None:
    import json

    policy = build_policy({"type": "linucb", "features": ["x"], "categorical": ["c"]})
    obs = [Observation("c-1", 1.0, {"x": 2.0, "c": "a"}, 0.3)]
    state = json.loads(json.dumps(policy.update(policy.initial_state(), obs)))
    a = np.asarray(state["arms"]["c-1"]["A"])
    assert a.shape == (policy.dim, policy.dim) and a[0, 0] == 2.0  # identity + x0 * x0


def test_linucb_scales_numeric_features() -> None:
    policy = build_policy({"type": "linucb", "features": {"age": 100}, "use_prediction": False})
    np.testing.assert_allclose(policy.context_vector({"age": 50}, 0.0), [1.0, 0.5])
    with pytest.raises(InvalidArgument, match=r"scales must be > 0"):
        build_policy({"type": "linucb", "features": {"age": 0}})
