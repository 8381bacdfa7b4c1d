"""Learners with a model per arm, on the user features: the T-learner (one response model per
arm; uplift the difference with the control's), the X-learner and the DR-learner (a regressor
of each campaign's effect, fitted to imputed or doubly robust per-row effects).

- T-learner: mu_a(x) = P(y | x, arm a), fitted on arm a's rows; tau_a = mu_a - mu_0.
- X-learner (Künzel, Sekhon, Bickel and Yu, PNAS 2019): imputed effects D = y - mu_0(x) on
  arm a's rows and D = mu_a(x) - y on the control's; regressors tau_a1, tau_a0 of them, mixed
  tau_a = g_a tau_a0 + (1 - g_a) tau_a1 with g_a the arm's share of the pair's rows.
- DR-learner (Kennedy, "Towards optimal doubly robust estimation of heterogeneous causal
  effects", 2023): with out-of-fold mu (cross-fitting) and the logged propensity e_i of the
  logged arm, every row gives every campaign a the pseudo-outcome
  phi_a = mu_a(x) - mu_0(x) + 1[a_i = a] (y - mu_a(x)) / e_i - 1[a_i = 0] (y - mu_0(x)) / e_i,
  unbiased for the effect whenever either mu or e is right — also on a bandit's own adaptive
  logs, whose propensities are logged exactly — and tau_a regresses phi_a on x.
The served probability is mu_a for every learner; the uplift is each learner's own tau_a.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from common.errors import InvalidArgument
from trainer.arms import Arms
from trainer.learners.base import ArmScores, EffectData
from trainer.pipeline import build_pipeline, snap_thresholds_to_float32
from trainer.spec import FeatureSpec, user_only

if TYPE_CHECKING:
    from trainer.export import GraphBuilder

T_LEARNER, X_LEARNER, DR_LEARNER = "t-learner", "x-learner", "dr-learner"
MIN_ARM_ROWS = 20
# Fewest rows of the rarer outcome per arm: early stopping's stratified validation share
# needs at least two, and a model of a handful of conversions is noise.
MIN_ARM_MINORITY = 10
CROSS_FIT_FOLDS = 3


# One term of an arm's effect: weight x a regressor's prediction.
Term = tuple[float, Pipeline]


@dataclass
class PerArmFit:
    spec: FeatureSpec
    family: str
    learner: str
    arms: Arms  # features and order; index unused
    outcomes: list[Pipeline]  # per arm: mu_a on the user features
    # Per arm: the terms of tau_a (empty: mu_a - mu_0, the T-learner; the control's: none).
    effects: list[list[Term]]

    def _users(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[list(self.spec.user_features)]

    def arm_scores(self, users: pd.DataFrame, arms: Arms) -> ArmScores:
        x = self._users(users)
        p = np.column_stack([m.predict_proba(x)[:, 1] for m in self.outcomes])
        c = self.arms.control
        u = np.zeros_like(p)
        for a in self.arms.campaigns:
            terms = self.effects[a]
            u[:, a] = sum(w * r.predict(x) for w, r in terms) if terms else p[:, a] - p[:, c]
        return ArmScores(p, u)

    def served(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        located = self.arms.locate(frame)
        if (located < 0).any():
            i = int(np.argmax(located < 0))
            raise InvalidArgument(f"row {i} has campaign features of no trained arm")
        scores = self.arm_scores(frame, self.arms)
        rows = np.arange(len(frame))
        return {
            "probability": scores.probability[rows, located],
            "control": scores.probability[:, self.arms.control],
            "uplift": scores.uplift[rows, located],
        }

    def emit(self, builder: GraphBuilder, target: str) -> None:
        builder.per_arm_target(target, self.arms, self.outcomes, self.effects)

    def emit_uplift(self, builder: GraphBuilder, prefix: str) -> str:
        return builder.per_arm_uplift(prefix, self.arms, self.outcomes, self.effects)

    def pipelines(self) -> list[Pipeline]:
        return [*self.outcomes, *(r for terms in self.effects for _, r in terms)]


def _arm_rows(data: EffectData, arm: int, target: str) -> np.ndarray:
    rows = data.arms.index == arm
    y = data.y(target)[rows]
    minority = int(min(y.sum(), len(y) - y.sum())) if len(y) else 0
    if rows.sum() < MIN_ARM_ROWS or minority < MIN_ARM_MINORITY:
        raise InvalidArgument(
            f"arm {data.arms.names[arm]!r} has {int(rows.sum())} rows and "
            f"{int(y.sum()) if len(y) else 0} with {target} = 1: too few for a model of its own "
            "(the S-learner pools the arms)"
        )
    return rows


def fit_outcomes(
    data: EffectData, target: str, family: str, seed: int, weights: np.ndarray | None = None
) -> list[Pipeline]:
    """mu_a for every arm: a classifier of the target on the arm's rows' user features."""
    users = user_only(data.spec)
    models = []
    for arm in range(data.arms.k):
        rows = _arm_rows(data, arm, target)
        pipeline = build_pipeline(users, family, seed)
        x, y = data.users[rows], data.y(target)[rows]
        if weights is None:
            pipeline.fit(x, y)
        else:
            pipeline.fit(x, y, model__sample_weight=weights[rows])
        models.append(snap_thresholds_to_float32(pipeline))
    return models


def _regress(
    data: EffectData, x: pd.DataFrame, z: np.ndarray, family: str, seed: int, w: np.ndarray | None
) -> Pipeline:
    pipeline = build_pipeline(user_only(data.spec), family, seed, regressor=True)
    if w is None:
        pipeline.fit(x, z)
    else:
        pipeline.fit(x, z, model__sample_weight=w)
    return snap_thresholds_to_float32(pipeline)


def fit_t_learner(
    data: EffectData, target: str, family: str, seed: int = 0, weights: np.ndarray | None = None
) -> PerArmFit:
    outcomes = fit_outcomes(data, target, family, seed, weights)
    return PerArmFit(data.spec, family, T_LEARNER, data.arms, outcomes, [[] for _ in outcomes])


def fit_x_learner(
    data: EffectData, target: str, family: str, seed: int = 0, weights: np.ndarray | None = None
) -> PerArmFit:
    outcomes = fit_outcomes(data, target, family, seed, weights)
    control = data.arms.control
    y, x = data.y(target), data.users
    mu0 = outcomes[control].predict_proba(x)[:, 1]
    effects: list[list[Term]] = [[] for _ in outcomes]
    for a in data.arms.campaigns:
        treated, untreated = data.arms.index == a, data.arms.index == control
        mu_a = outcomes[a].predict_proba(x)[:, 1]
        w = None if weights is None else weights
        tau1 = _regress(
            data, x[treated], (y - mu0)[treated], family, seed, None if w is None else w[treated]
        )
        tau0 = _regress(
            data,
            x[untreated],
            (mu_a - y)[untreated],
            family,
            seed,
            None if w is None else w[untreated],
        )
        g = float(treated.sum() / (treated.sum() + untreated.sum()))
        effects[a] = [(g, tau0), (1.0 - g, tau1)]
    return PerArmFit(data.spec, family, X_LEARNER, data.arms, outcomes, effects)


def cross_fitted_outcomes(
    data: EffectData, target: str, family: str, seed: int, folds: int = CROSS_FIT_FOLDS
) -> np.ndarray:
    """[n, K]: every row's mu_a for every arm from models that never saw the row."""
    fold = np.random.default_rng(seed).integers(0, folds, len(data.frame))
    mu = np.empty((len(data.frame), data.arms.k))
    for k in range(folds):
        models = fit_outcomes(data.rows(fold != k), target, family, seed)
        held = data.users[fold == k]
        for a, model in enumerate(models):
            mu[fold == k, a] = model.predict_proba(held)[:, 1]
    return mu


def dr_pseudo_outcomes(data: EffectData, target: str, mu: np.ndarray) -> np.ndarray:
    """[n, K] doubly robust pseudo-outcomes phi_a (0 for the control's column)."""
    y, e, logged = data.y(target), data.propensity, data.arms.index
    c = data.arms.control
    rows = np.arange(len(y))
    residual = (y - mu[rows, logged]) / e
    phi = np.zeros_like(mu)
    for a in data.arms.campaigns:
        phi[:, a] = mu[:, a] - mu[:, c] + np.where(logged == a, residual, 0.0)
        phi[:, a] -= np.where(logged == c, residual, 0.0)
    return phi


def fit_dr_learner(
    data: EffectData,
    target: str,
    family: str,
    seed: int = 0,
    weights: np.ndarray | None = None,
    mu: np.ndarray | None = None,
) -> PerArmFit:
    """`mu`: cross-fitted outcome predictions when the caller has them already."""
    if mu is None:
        mu = cross_fitted_outcomes(data, target, family, seed)
    phi = dr_pseudo_outcomes(data, target, mu)
    outcomes = fit_outcomes(data, target, family, seed, weights)
    effects: list[list[Term]] = [[] for _ in outcomes]
    for a in data.arms.campaigns:
        effects[a] = [(1.0, _regress(data, data.users, phi[:, a], family, seed, weights))]
    return PerArmFit(data.spec, family, DR_LEARNER, data.arms, outcomes, effects)
