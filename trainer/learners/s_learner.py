"""The S-learner (one response model with the campaign's features among its inputs, scored with
the campaign and with the control's values; uplift is the difference) and its transformed-
outcome variant (an effect regressor fitted to an unbiased per-row effect gives the uplift).

A linear S-learner is additive: the campaign moves every user's log-odds by the same amount,
so it ranks campaigns identically for everyone. It therefore gets the pairwise products of its
features (campaign x user among them): Künzel, Sekhon, Bickel and Yu, "Metalearners for
estimating heterogeneous treatment effects using machine learning", PNAS 2019, section 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from common.graph import output_names
from trainer.arms import Arms
from trainer.data import with_control
from trainer.learners.base import ArmScores, EffectData
from trainer.pipeline import build_pipeline, snap_thresholds_to_float32
from trainer.spec import FeatureSpec

if TYPE_CHECKING:
    from trainer.export import GraphBuilder

LINEAR = "logreg"


@dataclass
class SLearnerFit:
    spec: FeatureSpec
    family: str
    response: Pipeline  # on user and campaign features
    effect: Pipeline | None = None  # transformed outcome: a regressor of the effect itself
    learner: str = "s-learner"
    extra: dict[str, object] = field(default_factory=dict)

    def _features(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[list(self.spec.features)]

    def arm_scores(self, users: pd.DataFrame, arms: Arms) -> ArmScores:
        p = np.empty((len(users), arms.k))
        e = np.empty((len(users), arms.k)) if self.effect is not None else None
        for a, features in enumerate(arms.features):
            x = self._features(users.assign(**features))
            p[:, a] = self.response.predict_proba(x)[:, 1]
            if e is not None and self.effect is not None:
                e[:, a] = self.effect.predict(x)
        base = p if e is None else e
        return ArmScores(p, base - base[:, [arms.control]])

    def served(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        x, x_control = self._features(frame), self._features(with_control(frame, self.spec))
        p = self.response.predict_proba(x)[:, 1]
        c = self.response.predict_proba(x_control)[:, 1]
        u = (
            p - c
            if self.effect is None
            else self.effect.predict(x) - self.effect.predict(x_control)
        )
        return {"probability": p, "control": c, "uplift": u}

    def emit(self, builder: GraphBuilder, target: str) -> None:
        builder.target(target, self.response, self.effect)

    def emit_uplift(self, builder: GraphBuilder, prefix: str) -> str:
        """Only this fit's uplift (a bootstrap head's): [N] under `prefix`."""
        return builder.s_uplift(prefix, self.response, self.effect)

    def pipelines(self) -> list[Pipeline]:
        return [self.response] + ([self.effect] if self.effect is not None else [])


def fit_s_learner(
    data: EffectData, target: str, family: str, seed: int = 0, weights: np.ndarray | None = None
) -> SLearnerFit:
    """One classifier of the target on user and campaign features (with their pairwise
    products for the linear family)."""
    spec = data.spec
    pipeline = build_pipeline(spec, family, seed, interactions=family == LINEAR)
    fitted = _fit(pipeline, data.frame[list(spec.features)], data.y(target), weights)
    return SLearnerFit(spec, family, snap_thresholds_to_float32(fitted))


def _fit(
    pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray, weights: np.ndarray | None
) -> Pipeline:
    if weights is None:
        return pipeline.fit(x, y)
    return pipeline.fit(x, y, model__sample_weight=weights)


def served_outputs(fitted: SLearnerFit, frame: pd.DataFrame, target: str) -> dict[str, np.ndarray]:
    """`served` under common.graph's output names."""
    out = fitted.served(frame)
    names = output_names(target)
    return dict(zip(names, (out["probability"], out["control"], out["uplift"]), strict=True))
