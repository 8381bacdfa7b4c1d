"""Revenue as a hurdle model: P(the hurdle target, e.g. a purchase) from the target's learner,
times E[revenue | target] from a regressor fitted on the rows where the target is 1 — one
regressor on user and campaign features (pooled, with the S-learner), or one per arm on the
user features (with the per-arm learners, so that a campaign may change the basket differently
for different users, as a discount raises purchases and lowers the basket)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from common.errors import InvalidArgument
from trainer.arms import Arms
from trainer.data import with_control
from trainer.learners.base import EffectData, FittedTarget
from trainer.learners.ensemble import EnsembleFit
from trainer.pipeline import build_pipeline, snap_thresholds_to_float32
from trainer.spec import FeatureSpec, user_only

if TYPE_CHECKING:
    from trainer.export import GraphBuilder

MIN_REVENUE_ROWS = 20
# An arm with fewer purchases than this gets the pooled regressor's amounts.
MIN_ARM_REVENUE_ROWS = 10


@dataclass
class PooledRevenue:
    spec: FeatureSpec
    column: str
    pipeline: Pipeline  # on user and campaign features

    def amounts(self, users: pd.DataFrame, arms: Arms) -> np.ndarray:
        """[n, K]: E[revenue | purchase] of every user with every arm."""
        x = [users.assign(**f)[list(self.spec.features)] for f in arms.features]
        return np.column_stack([self.pipeline.predict(rows) for rows in x])

    def served(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(amount with each row's own campaign, amount without any)."""
        features = list(self.spec.features)
        control = with_control(frame, self.spec)[features]
        return self.pipeline.predict(frame[features]), self.pipeline.predict(control)

    def emit(self, builder: GraphBuilder, hurdle: str | None = None, column: str = "") -> None:
        builder.revenue(column or self.column, self.pipeline, hurdle)

    def expected(self, hurdle: FittedTarget, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(expected revenue with each row's campaign, without any): P(target) x amount."""
        served = hurdle.served(frame)
        amount, control = self.served(frame)
        return served["probability"] * amount, served["control"] * control

    def scale(self, frame: pd.DataFrame) -> float:
        """The largest predicted amount (parity compares revenue relative to it)."""
        return float(np.abs(self.pipeline.predict(frame[list(self.spec.features)])).max(initial=0))


@dataclass
class PerArmRevenue:
    spec: FeatureSpec
    column: str
    arms: Arms
    regressors: list[Pipeline]  # per arm, on the user features

    def amounts(self, users: pd.DataFrame, arms: Arms) -> np.ndarray:
        x = users[list(self.spec.user_features)]
        return np.column_stack([r.predict(x) for r in self.regressors])

    def served(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        s = self.amounts(frame, self.arms)
        located = self.arms.locate(frame)
        return s[np.arange(len(frame)), located], s[:, self.arms.control]

    def emit(self, builder: GraphBuilder, hurdle: str | None = None, column: str = "") -> None:
        builder.per_arm_revenue(column or self.column, self.arms, self.regressors, hurdle)

    def expected(self, hurdle: FittedTarget, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        served = hurdle.served(frame)
        amount, control = self.served(frame)
        return served["probability"] * amount, served["control"] * control

    def scale(self, frame: pd.DataFrame) -> float:
        return float(np.abs(self.amounts(frame, self.arms)).max(initial=0))


@dataclass
class EnsembleRevenue:
    """An ensemble's revenue: the weighted average of its members' hurdle models, each
    member's probability times its own amount model."""

    column: str
    members: list[PooledRevenue | PerArmRevenue]
    weights: list[float]

    def emit(self, builder: GraphBuilder, hurdle: str | None = None, column: str = "") -> None:
        target = hurdle or self.members[0].spec.revenue[self.column]
        builder.revenue_ensemble(
            column or self.column, list(zip(self.weights, self.members, strict=True)), target
        )

    def expected(self, hurdle: FittedTarget, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(hurdle, EnsembleFit)
        parts = [m.expected(h, frame) for m, h in zip(self.members, hurdle.members, strict=True)]
        w = self.weights
        return (
            np.sum([wi * e for wi, (e, _) in zip(w, parts, strict=True)], axis=0),
            np.sum([wi * c for wi, (_, c) in zip(w, parts, strict=True)], axis=0),
        )

    def scale(self, frame: pd.DataFrame) -> float:
        return max(m.scale(frame) for m in self.members)


RevenueFit = PooledRevenue | PerArmRevenue | EnsembleRevenue


def _regressor(
    spec: FeatureSpec, family: str, seed: int, x: pd.DataFrame, y: np.ndarray
) -> Pipeline:
    return snap_thresholds_to_float32(build_pipeline(spec, family, seed, regressor=True).fit(x, y))


def fit_revenue(
    data: EffectData, column: str, family: str, seed: int, *, per_arm: bool
) -> PooledRevenue | PerArmRevenue:
    """The second part of `column`'s hurdle model, on the rows where its target is 1."""
    spec = data.spec
    hurdle = spec.revenue[column]
    bought = data.y(hurdle) == 1
    if bought.sum() < MIN_REVENUE_ROWS:
        raise InvalidArgument(
            f"revenue {column!r} needs at least {MIN_REVENUE_ROWS} training rows with "
            f"{hurdle} = 1, got {int(bought.sum())}"
        )
    amount = data.frame[column].to_numpy(float)
    pooled = _regressor(spec, family, seed, data.frame[list(spec.features)][bought], amount[bought])
    if not per_arm:
        return PooledRevenue(spec, column, pooled)
    users = user_only(spec)
    x = data.users
    regressors = []
    all_bought = _regressor(users, family, seed, x[bought], amount[bought])
    for arm in range(data.arms.k):
        rows = bought & (data.arms.index == arm)
        if rows.sum() < MIN_ARM_REVENUE_ROWS:
            regressors.append(all_bought)  # too few purchases to say how this arm differs
            continue
        regressors.append(_regressor(users, family, seed, x[rows], amount[rows]))
    return PerArmRevenue(spec, column, data.arms, regressors)


def fit_recipe_revenue(
    data: EffectData,
    column: str,
    members: list[tuple[str, bool]],
    seed: int,
) -> RevenueFit:
    """The amount model of a recipe: one (family, per arm or not), or one per ensemble
    member, averaged with equal weights."""
    fits = [fit_revenue(data, column, f, seed, per_arm=per_arm) for f, per_arm in members]
    if len(fits) == 1:
        return fits[0]
    return EnsembleRevenue(column, fits, [1.0 / len(fits)] * len(fits))
