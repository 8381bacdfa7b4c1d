"""Vowpal Wabbit's contextual bandit as a peer: `--cb_explore_adf` (one example per decision:
the user in a shared namespace U, each arm's campaign features in an action namespace A,
crossed by `-q UA`), cost = -reward, learned from the logged propensities (Agarwal et al.,
"Taming the monster", ICML 2014; the VW contextual bandit tutorial). Needs the bench extra
`vowpalwabbit`; without it the peer is unavailable, not an error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bench.quality.world import World, one_hot

# Exploration configs the benchmark tries; the report shows the best of them and names it.
VW_CONFIGS: dict[str, str] = {
    "epsilon 0.05": "--epsilon 0.05",
    "squarecb": "--squarecb",
    "cover 4": "--cover 4",
    "bag 5": "--bag 5",
}
_UNSAFE = re.compile(r"[\s|:]")


class PeerUnavailable(RuntimeError):
    """A peer cannot run here (a package is missing); the message says what to install."""


def _token(value: object) -> str:
    return _UNSAFE.sub("_", str(value))


class VowpalWabbitCB:
    """`--cb_explore_adf` with one exploration config from VW_CONFIGS.

    From a log it learns `passes` passes (the first in log order, the others shuffled, as
    VW's `--passes` does offline; one pass leaves it far from converged on logs with rates
    of a few percent), label `0:cost:propensity` on the logged arm; offline
    it then acts greedily: the argmax of its distribution, ties (cover's policies disagreeing)
    broken at random. In the closed loop it keeps learning online, one example per outcome,
    and acts with its exploring distribution. Numeric user features are standardized with the
    log's mean and spread; a revenue reward is divided by the log's mean positive spend so
    costs are of order one.
    """

    def __init__(self, config: str = "squarecb", *, seed: int = 0, passes: int = 5) -> None:
        if config not in VW_CONFIGS:
            raise ValueError(f"config must be one of {sorted(VW_CONFIGS)}, got {config!r}")
        if passes < 1:
            raise ValueError(f"passes must be at least 1, got {passes}")
        self.check_available()
        self.config = config
        self.name = f"vw {config}"
        self.seed, self.passes = seed, passes
        self._rng = np.random.default_rng(seed)

    @staticmethod
    def check_available() -> None:
        try:
            import vowpalwabbit  # noqa: F401
        except ImportError as exc:
            raise PeerUnavailable(
                "vowpalwabbit is not installed (pip install vowpalwabbit==9.11.9)"
            ) from exc

    def fit(self, log: pd.DataFrame, world: World) -> None:
        import vowpalwabbit

        self.world = world
        self._vw: Any = vowpalwabbit.Workspace(
            f"--cb_explore_adf {VW_CONFIGS[self.config]} -q UA --quiet --random_seed {self.seed}"
        )
        numeric = [c for c, k in world.user_features.items() if k == "numeric"]
        self._center = log[numeric].astype(float).mean()
        self._scale = log[numeric].astype(float).std(ddof=0).replace(0.0, 1.0)
        reward = log[world.revenue or world.target].to_numpy(dtype=float)
        positive = reward[reward > 0]
        self._reward_scale = float(positive.mean()) if world.revenue and positive.size else 1.0
        self._actions = [self._action(arm.arm_id, arm.features) for arm in world.arms]
        shared = np.asarray(self._shared(log), dtype=object)
        arms, propensity = world.arm_index(log["arm"]), log["propensity"].to_numpy(dtype=float)
        for k in range(self.passes):
            order = np.arange(len(log)) if k == 0 else self._rng.permutation(len(log))
            self._learn(shared[order], arms[order], reward[order], propensity[order])

    @staticmethod
    def _action(arm_id: str, features: dict[str, float | str]) -> str:
        parts = [f"arm={_token(arm_id)}"]
        for name, value in features.items():
            if isinstance(value, str):
                parts.append(f"{_token(name)}={_token(value)}")
            else:
                parts.append(f"{_token(name)}:{float(value) / 10.0:.4g}")
        return "|A " + " ".join(parts)

    def _shared(self, users: pd.DataFrame) -> list[str]:
        columns: list[list[str]] = []
        for name, kind in self.world.user_features.items():
            key = _token(name)
            if kind == "numeric":
                z = (users[name].astype(float) - self._center[name]) / self._scale[name]
                columns.append([f"{key}:{v:.4g}" for v in z.fillna(0.0)])
            else:
                columns.append([f"{key}={_token(v)}" for v in users[name]])
        return ["shared |U " + " ".join(tokens) for tokens in zip(*columns, strict=True)]

    def _pmf(self, users: pd.DataFrame) -> np.ndarray:
        rows = [self._vw.predict([shared, *self._actions]) for shared in self._shared(users)]
        pmf = np.asarray(rows, dtype=float)
        return pmf / pmf.sum(axis=1, keepdims=True)

    def probabilities(self, users: pd.DataFrame, *, explore: bool = False) -> np.ndarray:
        pmf = self._pmf(users)
        if explore:
            return pmf
        jitter = self._rng.random(pmf.shape) * 1e-9
        return one_hot((np.round(pmf, 6) + jitter).argmax(axis=1), self.world.n_arms)

    def update(
        self,
        users: pd.DataFrame,
        arm_index: np.ndarray,
        rewards: np.ndarray,
        propensities: np.ndarray,
    ) -> None:
        self._learn(self._shared(users), arm_index, rewards, propensities)

    def _learn(
        self,
        shared_lines: Sequence[str] | np.ndarray,
        arm_index: np.ndarray,
        rewards: np.ndarray,
        propensities: np.ndarray,
    ) -> None:
        costs = -np.asarray(rewards, dtype=float) / self._reward_scale
        for shared, arm, cost, p in zip(
            shared_lines, np.asarray(arm_index), costs, np.asarray(propensities), strict=True
        ):
            lines = [shared, *self._actions]
            lines[1 + int(arm)] = f"0:{cost:.6g}:{max(float(p), 1e-6):.6g} " + lines[1 + int(arm)]
            self._vw.learn(lines)
