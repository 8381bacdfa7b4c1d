"""What the quality harness needs from a policy learner: the interface the peers implement and
the product's own learners (trained by the project's trainer on `world.log()` with
`world.spec_toml()`, served through the real server) can implement later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from bench.quality.world import World


@runtime_checkable
class Learner(Protocol):
    """A policy learner, judged by the truth of a simulated world.

    Attributes
    ----------
    name
        The row's name in the report.

    Methods
    -------
    fit(log, world)
        Learn offline from a logged randomized campaign log (`World.log` columns: user
        features, the logged arm's campaign features, `arm`, `propensity`, outcomes). `world`
        gives the arms, their campaign features and the reward's definition; only the
        reference rows may read its truth.
    probabilities(users, explore=False)
        The action distribution for each user, [n, n_arms] in `world.arms` order, rows
        summing to 1. `explore=False`: the policy to deploy (greedy learners put 1 on their
        argmax); `explore=True`: the closed loop's exploring policy.
    update(users, arm_index, rewards, propensities)
        Outcomes that became visible (closed loop): the users, the arms they got, the
        rewards as attributed (late outcomes count 0), and the probabilities with which those
        arms were chosen. Called in arrival order; learners may batch internally.
    """

    name: str

    def fit(self, log: pd.DataFrame, world: World) -> None: ...

    def probabilities(self, users: pd.DataFrame, *, explore: bool = False) -> np.ndarray: ...

    def update(
        self,
        users: pd.DataFrame,
        arm_index: np.ndarray,
        rewards: np.ndarray,
        propensities: np.ndarray,
    ) -> None: ...


LearnerFactory = Callable[[], Learner]


def checked_probabilities(
    learner: Learner, users: pd.DataFrame, n_arms: int, explore: bool
) -> np.ndarray:
    """The learner's probabilities, checked: shape [n, n_arms], non-negative, rows sum to 1."""
    probs = np.asarray(learner.probabilities(users, explore=explore), dtype=float)
    if probs.shape != (len(users), n_arms):
        raise ValueError(
            f"{learner.name}: probabilities must have shape {(len(users), n_arms)}, "
            f"got {probs.shape}"
        )
    if (probs < -1e-12).any() or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-6):
        raise ValueError(f"{learner.name}: probabilities must be non-negative and sum to 1")
    return np.clip(probs, 0.0, None)
