"""Policies: pick a campaign (or none) from predicted values, with the exact choice probabilities.

Every policy returns the full probability vector over K candidates plus "no campaign" (last
slot), so the logged propensity of the chosen action is exact, not estimated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from common.errors import InvalidArgument


class Policy(Protocol):
    @property
    def name(self) -> str: ...

    def probabilities(self, values: np.ndarray, campaign_ids: list[str]) -> np.ndarray:
        """P(action) for each of the K candidates and, last, "no campaign"; sums to 1."""
        ...


@dataclass(frozen=True)
class EpsilonGreedy:
    """Greedy on predicted value (uplift: "no campaign" is worth 0) with probability 1 - ε;
    uniform over all K + 1 actions with probability ε. Ties go to the first best action.

    P(greedy) = 1 - ε + ε / (K + 1);  P(other) = ε / (K + 1).
    """

    epsilon: float = 0.1
    name: str = "epsilon_greedy"

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise InvalidArgument(f"policy.epsilon must be in [0, 1], got {self.epsilon}")

    def probabilities(self, values: np.ndarray, campaign_ids: list[str]) -> np.ndarray:
        arms = np.append(values, 0.0)
        probs = np.full(len(arms), self.epsilon / len(arms))
        probs[int(np.argmax(arms))] += 1.0 - self.epsilon
        return probs


@dataclass(frozen=True)
class UniformRandom:
    """Every candidate and "no campaign" with probability 1 / (K + 1): the randomized baseline."""

    name: str = "uniform_random"

    def probabilities(self, values: np.ndarray, campaign_ids: list[str]) -> np.ndarray:
        return np.full(len(values) + 1, 1.0 / (len(values) + 1))


@dataclass(frozen=True)
class FixedCampaign:
    """Always the named campaign when it is a candidate, else no campaign; "" is the control."""

    campaign_id: str = ""
    name: str = "fixed"

    def probabilities(self, values: np.ndarray, campaign_ids: list[str]) -> np.ndarray:
        probs = np.zeros(len(values) + 1)
        idx = campaign_ids.index(self.campaign_id) if self.campaign_id in campaign_ids else -1
        probs[idx] = 1.0
        return probs


POLICY_TYPES = ("epsilon_greedy", "uniform_random", "fixed", "no_campaign")


def build_policy(config: dict[str, Any]) -> Policy:
    """A policy from its config, e.g. {"type": "epsilon_greedy", "epsilon": 0.1}."""
    kind = config.get("type")
    if kind == "epsilon_greedy":
        epsilon = config.get("epsilon", 0.1)
        if isinstance(epsilon, bool) or not isinstance(epsilon, int | float):
            raise InvalidArgument(f"policy.epsilon must be a number, got {epsilon!r}")
        return EpsilonGreedy(epsilon=float(epsilon))
    if kind == "uniform_random":
        return UniformRandom()
    if kind == "fixed":
        return FixedCampaign(campaign_id=str(config.get("campaign_id", "")))
    if kind == "no_campaign":
        return FixedCampaign(campaign_id="", name="no_campaign")
    raise InvalidArgument(f"policy.type must be one of {POLICY_TYPES}, got {kind!r}")


def sample(probs: np.ndarray, rng: np.random.Generator) -> int:
    """Index of the chosen action; len(probs) - 1 means "no campaign".

    Inverse-CDF sampling (one uniform draw, a binary search): what Generator.choice does with
    `p`, without its validation of `p` on every request. A zero-probability action is never
    chosen: its cumulative sum equals the previous one's, and the search takes the first
    index whose cumulative sum exceeds the draw.
    """
    cumulative = np.cumsum(probs)
    i = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(i, len(probs) - 1)
