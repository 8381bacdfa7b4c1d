"""An ensemble of fitted learners: the weighted average of their probabilities and uplifts.
Averaging learners that err differently (a linear per-arm model, boosted trees pooling the
arms) usually decides better than either alone; selection keeps the ensemble only when its
cross-fitted decision value says so (trainer/selection.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from trainer.arms import Arms
from trainer.learners.base import ArmScores, FittedTarget

if TYPE_CHECKING:
    from trainer.export import GraphBuilder

ENSEMBLE = "ensemble"


@dataclass
class EnsembleFit:
    members: list[FittedTarget]
    weights: list[float]
    family: str = ENSEMBLE
    learner: str = ENSEMBLE

    def arm_scores(self, users: pd.DataFrame, arms: Arms) -> ArmScores:
        scores = [m.arm_scores(users, arms) for m in self.members]
        w = np.asarray(self.weights)[:, None, None]
        return ArmScores(
            np.sum(w * np.stack([s.probability for s in scores]), axis=0),
            np.sum(w * np.stack([s.uplift for s in scores]), axis=0),
        )

    def served(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        outs = [m.served(frame) for m in self.members]
        w = np.asarray(self.weights)[:, None]
        return {
            key: np.sum(w * np.stack([o[key] for o in outs]), axis=0)
            for key in ("probability", "control", "uplift")
        }

    def emit(self, builder: GraphBuilder, target: str) -> None:
        builder.ensemble(target, list(zip(self.weights, self.members, strict=True)))

    def emit_uplift(self, builder: GraphBuilder, prefix: str) -> str:
        columns = [m.emit_uplift(builder, f"{prefix}m{i}__") for i, m in enumerate(self.members)]
        weighted = []
        for i, (weight, column) in enumerate(zip(self.weights, columns, strict=True)):
            builder.constant(f"{prefix}m{i}__weight", weight)
            builder.node("Mul", [column, f"{prefix}m{i}__weight"], [f"{column}__weighted"])
            weighted.append(f"{column}__weighted")
        builder.sum(weighted, f"{prefix}uplift")
        return f"{prefix}uplift"

    def pipelines(self) -> list[Pipeline]:
        return [p for m in self.members for p in m.pipelines()]
