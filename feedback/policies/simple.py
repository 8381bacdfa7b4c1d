"""Policies that learn nothing: greedy with ε exploration, uniform random, a fixed campaign and
no campaign. Their probabilities have closed forms."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from feedback.policies.base import Context, Policy


class EpsilonGreedy(Policy):
    """Greedy on the objective with probability 1 - ε; uniform over all K + 1 actions with
    probability ε. Ties go to the first best action.

    P(greedy) = 1 - ε + ε / (K + 1);  P(other) = ε / (K + 1).
    """

    type: Literal["epsilon_greedy"] = "epsilon_greedy"
    epsilon: float = Field(default=0.1, ge=0.0, le=1.0, strict=True)

    def _probabilities(
        self,
        arms: np.ndarray,
        campaign_ids: list[str],
        context: Context,
        state: object,
        rng: np.random.Generator,
    ) -> np.ndarray:
        probs = np.full(len(arms), self.epsilon / len(arms))
        probs[int(np.argmax(arms))] += 1.0 - self.epsilon
        return probs


class UniformRandom(Policy):
    """Every candidate and "no campaign" with probability 1 / (K + 1): the randomized baseline."""

    type: Literal["uniform_random"] = "uniform_random"

    def _probabilities(
        self,
        arms: np.ndarray,
        campaign_ids: list[str],
        context: Context,
        state: object,
        rng: np.random.Generator,
    ) -> np.ndarray:
        return np.full(len(arms), 1.0 / len(arms))


class FixedCampaign(Policy):
    """Always the named campaign when it is a candidate, else no campaign; "" is the control."""

    type: Literal["fixed"] = "fixed"
    campaign_id: str = Field(default="", strict=True, max_length=256)

    def _probabilities(
        self,
        arms: np.ndarray,
        campaign_ids: list[str],
        context: Context,
        state: object,
        rng: np.random.Generator,
    ) -> np.ndarray:
        probs = np.zeros(len(arms))
        idx = campaign_ids.index(self.campaign_id) if self.campaign_id in campaign_ids else -1
        probs[idx] = 1.0
        return probs


class NoCampaign(Policy):
    """Nobody gets a campaign: the control of most experiments."""

    type: Literal["no_campaign"] = "no_campaign"

    def _probabilities(
        self,
        arms: np.ndarray,
        campaign_ids: list[str],
        context: Context,
        state: object,
        rng: np.random.Generator,
    ) -> np.ndarray:
        probs = np.zeros(len(arms))
        probs[-1] = 1.0
        return probs
