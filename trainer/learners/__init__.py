"""Effect learners: how a target's probability with each campaign and each campaign's uplift
are learned from a randomized or logged log. Every learner works with every model family and
exports into the one served graph.

- s-learner: one model on user and campaign features (pairwise products for the linear
  family); new campaign combinations can be scored.
- transformed-outcome: the S-learner's response model plus a pooled regressor of an unbiased
  per-row effect (tree, forest, hgb and mlp families).
- t-learner, x-learner, dr-learner: a model per arm (trainer/learners/per_arm.py); served
  campaigns must be arms of the training log.
"""

from __future__ import annotations

import numpy as np

from common.errors import InvalidArgument
from trainer.learners.base import ArmScores, EffectData, FittedTarget, ServedClassifier
from trainer.learners.per_arm import (
    DR_LEARNER,
    T_LEARNER,
    X_LEARNER,
    PerArmFit,
    fit_dr_learner,
    fit_t_learner,
    fit_x_learner,
)
from trainer.learners.s_learner import SLearnerFit, fit_s_learner

S_LEARNER = "s-learner"
TRANSFORMED_OUTCOME = "transformed-outcome"
LEARNERS = (S_LEARNER, TRANSFORMED_OUTCOME, T_LEARNER, X_LEARNER, DR_LEARNER)
PER_ARM = (T_LEARNER, X_LEARNER, DR_LEARNER)


def fit_learner(
    learner: str,
    data: EffectData,
    target: str,
    family: str,
    seed: int = 0,
    weights: np.ndarray | None = None,
    mu: np.ndarray | None = None,
) -> FittedTarget:
    """Fits `learner` for one target; `weights` (bootstrap heads) weight the rows; `mu` are the
    DR-learner's cross-fitted outcome predictions when the caller has them."""
    if learner == S_LEARNER:
        return fit_s_learner(data, target, family, seed, weights)
    if learner == T_LEARNER:
        return fit_t_learner(data, target, family, seed, weights)
    if learner == X_LEARNER:
        return fit_x_learner(data, target, family, seed, weights)
    if learner == DR_LEARNER:
        return fit_dr_learner(data, target, family, seed, weights, mu)
    if learner == TRANSFORMED_OUTCOME:
        from trainer.uplift import fit_effect

        fitted = fit_s_learner(data, target, family, seed, weights)
        return SLearnerFit(
            data.spec,
            family,
            fitted.response,
            fit_effect(data.frame, data.spec, target, family, seed),
            learner=TRANSFORMED_OUTCOME,
        )
    raise InvalidArgument(f"learner must be one of {LEARNERS}, got {learner!r}")


__all__ = [
    "DR_LEARNER",
    "LEARNERS",
    "PER_ARM",
    "S_LEARNER",
    "TRANSFORMED_OUTCOME",
    "T_LEARNER",
    "X_LEARNER",
    "ArmScores",
    "EffectData",
    "FittedTarget",
    "PerArmFit",
    "SLearnerFit",
    "ServedClassifier",
    "fit_learner",
]
