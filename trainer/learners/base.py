"""What every effect learner produces for one target: a fitted model that predicts, for any
user, the probability with each arm and each campaign's uplift against the control (the
scikit-learn side, for selection, reports and the parity check), and that writes the same into
the served graph (trainer/export.py's GraphBuilder)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from trainer.arms import Arms
from trainer.spec import FeatureSpec

if TYPE_CHECKING:
    from trainer.export import GraphBuilder


@dataclass(frozen=True)
class EffectData:
    """A cleaned log as effect learners read it."""

    frame: pd.DataFrame  # user and campaign features, targets
    spec: FeatureSpec
    arms: Arms  # arms.index: each row's logged arm
    propensity: np.ndarray  # P(logged arm | user), floored

    def y(self, target: str) -> np.ndarray:
        return self.frame[target].to_numpy(float)

    @property
    def users(self) -> pd.DataFrame:
        return self.frame[list(self.spec.user_features)]

    def rows(self, mask: np.ndarray) -> EffectData:
        """The same log restricted to the rows of `mask` (a boolean array or indices)."""
        frame = self.frame.iloc[np.flatnonzero(mask) if mask.dtype == bool else mask]
        keep = np.flatnonzero(mask) if mask.dtype == bool else mask
        arms = Arms(self.spec, self.arms.features, self.arms.names, self.arms.index[keep])
        return EffectData(frame.reset_index(drop=True), self.spec, arms, self.propensity[keep])


@dataclass(frozen=True)
class ArmScores:
    """Per user and arm (control included, arms' order): the probability of the target with
    that arm, and the uplift of that arm against the control (0 for the control itself)."""

    probability: np.ndarray  # [n, K]
    uplift: np.ndarray  # [n, K]

    def greedy(self, control: int) -> np.ndarray:
        """Each user's arm of the largest uplift; the control when no uplift is positive."""
        best = np.argmax(self.uplift, axis=1)
        best[self.uplift[np.arange(len(best)), best] <= 0] = control
        return best


class FittedTarget(Protocol):
    """A learner fitted for one target."""

    learner: str
    family: str

    def arm_scores(self, users: pd.DataFrame, arms: Arms) -> ArmScores:
        """Scores of every arm for these users (only the user feature columns are read)."""
        ...

    def served(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """What the graph outputs for these rows (each with its own campaign features):
        "probability", "control" (probability without any campaign) and "uplift"."""
        ...

    def emit(self, builder: GraphBuilder, target: str) -> None:
        """Adds the target's three outputs to the served graph."""
        ...

    def emit_uplift(self, builder: GraphBuilder, prefix: str) -> str:
        """Adds only the uplift of each row's campaign (a bootstrap head's); its [N] name."""
        ...

    def pipelines(self) -> list[Pipeline]:
        """Every scikit-learn pipeline inside (for reports and tests)."""
        ...


class ServedClassifier(ClassifierMixin, BaseEstimator):
    """The served probability of one target (rows with their own campaign features) as a
    scikit-learn classifier, for tools that take an estimator (permutation importance)."""

    def __init__(self, fitted: Any = None, target: str = "") -> None:
        self.fitted = fitted
        self.target = target

    def fit(self, x: Any, y: Any) -> ServedClassifier:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        p = self.fitted.served(x)["probability"]
        return np.column_stack([1 - p, p])

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)
