"""The product's own learner in the quality harness, offline: the project's trainer on the
world's log (with the world's spec), and the greedy policy the served graph implies, read from
the ONNX graph itself (every user scored with every arm in onnxruntime, as the server does).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bench.quality.world import World
from common.graph import output_names, revenue_output_names
from trainer.export import predict_onnx, session_for
from trainer.spec import FeatureSpec
from trainer.train import TrainedModel, train


class ProductLearner:
    """`campaign-lift train` with a recipe (defaults: selection by decision value)."""

    def __init__(
        self, *, family: str = "auto", learner: str = "auto", heads: int = 0, seed: int = 0
    ) -> None:
        self.family, self.learner, self.heads, self.seed = family, learner, heads, seed
        self.name = f"campaign-lift {family} {learner}"
        self.trained: TrainedModel | None = None
        self._world: World | None = None

    def fit(self, log: pd.DataFrame, world: World) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "spec.toml"
            path.write_text(world.spec_toml())
            spec = FeatureSpec.load(path)
        self.trained = train(
            log,
            spec,
            family=self.family,
            uplift_method=self.learner,
            heads=self.heads,
            seed=self.seed,
            objective=world.revenue or world.target,
            refit=True,  # as `campaign-lift train` serves: the recipe refit on every row
        )
        self._world = world

    def uplift(self, users: pd.DataFrame) -> np.ndarray:
        """[n, n_arms]: the served graph's uplift of the world's objective for every arm
        (revenue's expected uplift in a revenue world), "no campaign" 0."""
        assert self.trained is not None and self._world is not None
        world, spec = self._world, self.trained.spec
        session = session_for(self.trained.onnx_bytes)
        name = (
            revenue_output_names(world.revenue)[2]
            if world.revenue is not None
            else output_names(world.target)[2]
        )
        out = np.zeros((len(users), world.n_arms))
        for a, arm in enumerate(world.arms):
            if a == world.no_campaign:
                continue
            rows = users.assign(**arm.features)
            for column, kind in spec.campaign_features.items():
                if kind == "numeric":
                    rows[column] = rows[column].astype(np.float32)
            out[:, a] = predict_onnx(session, rows, spec)[name]
        return out

    def probabilities(self, users: pd.DataFrame, *, explore: bool = False) -> np.ndarray:
        assert self._world is not None
        uplift = self.uplift(users)
        best = np.argmax(uplift, axis=1)
        best[uplift[np.arange(len(best)), best] <= 0] = self._world.no_campaign
        probs = np.zeros_like(uplift)
        probs[np.arange(len(best)), best] = 1.0
        return probs

    def update(
        self,
        users: pd.DataFrame,
        arm_index: np.ndarray,
        rewards: np.ndarray,
        propensities: np.ndarray,
    ) -> None:
        """Offline only: the closed loop runs the product through its real server."""
