"""The peers a policy is compared with, all behind the harness's Learner interface: a per-arm
logistic T-learner, context-free Thompson sampling, Vowpal Wabbit's contextual bandit
(bench/quality/vw.py), and the reference rows (best single arm, oracle, uniform random).

Every peer: `fit(log, world)` on a logged randomized campaign log; `probabilities(users,
explore=...)` its action distribution [n, n_arms]; `update(users, arm_index, rewards,
propensities)` with outcomes that became visible (closed loop). Rewards are the world's
reward: the binary target, or the spend in a revenue world.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from bench.quality.learner import LearnerFactory
from bench.quality.vw import VW_CONFIGS, PeerUnavailable, VowpalWabbitCB
from bench.quality.world import World, best_single, one_hot

__all__ = [
    "VW_CONFIGS",
    "BestSingleArm",
    "BetaThompson",
    "Oracle",
    "PeerUnavailable",
    "PerArmLogistic",
    "UniformRandom",
    "VowpalWabbitCB",
    "logged_reward",
    "peer_factories",
]


def logged_reward(log: pd.DataFrame, world: World) -> np.ndarray:
    """The reward column of a log: the spend in a revenue world, else the target."""
    return log[world.revenue or world.target].to_numpy(dtype=float)


def user_encoder(world: World) -> ColumnTransformer:
    """Numeric user features standardized, categorical ones one-hot (unknown levels: zeros)."""
    kinds = world.user_features
    return ColumnTransformer(
        [
            ("numeric", StandardScaler(), [c for c, k in kinds.items() if k == "numeric"]),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                [c for c, k in kinds.items() if k == "categorical"],
            ),
        ]
    )


def epsilon_greedy(scores: np.ndarray, epsilon: float) -> np.ndarray:
    """1 - epsilon + epsilon/K on each row's argmax, epsilon/K elsewhere."""
    k = scores.shape[1]
    return (1.0 - epsilon) * one_hot(scores.argmax(axis=1), k) + epsilon / k


class _ArmModel:
    """One arm's response: P(conversion) by logistic regression and, for revenue, E[spend |
    conversion] by ridge regression on the converters (a two-part model)."""

    MIN_SPENDERS = 20

    def __init__(self, x: np.ndarray, reward: np.ndarray, revenue: bool, c: float) -> None:
        hit = reward > 0
        self.rate = float(hit.mean()) if len(hit) else 0.0
        self.logistic: LogisticRegression | None = None
        if 0 < hit.sum() < len(hit):
            self.logistic = LogisticRegression(C=c, max_iter=2000).fit(x, hit.astype(int))
        self.spend: Ridge | None = None
        self.mean_spend = float(reward[hit].mean()) if hit.any() else 0.0
        if revenue and hit.sum() >= self.MIN_SPENDERS:
            self.spend = Ridge(alpha=1.0).fit(x[hit], reward[hit])
        self.revenue = revenue

    def predict(self, x: np.ndarray) -> np.ndarray:
        p = self.logistic.predict_proba(x)[:, 1] if self.logistic else np.full(len(x), self.rate)
        if not self.revenue:
            return np.asarray(p)
        spend = self.spend.predict(x) if self.spend else np.full(len(x), self.mean_spend)
        return np.asarray(p * np.maximum(spend, 0.0))


class PerArmLogistic:
    """T-learner: one logistic regression per arm (two-part logistic x ridge for revenue) on
    standardized/one-hot user features; acts on the argmax of predicted reward.

    Offline it is greedy; in the closed loop it explores epsilon-greedily and retrains every
    `retrain_every` new observations on everything seen so far. Rows are not reweighted by
    propensity: conditional on the user features a per-arm model is unbiased whatever the
    logging policy, as long as it is well specified.
    """

    def __init__(self, *, epsilon: float = 0.05, retrain_every: int = 5_000, c: float = 1.0):
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.name = "per-arm logistic (T-learner)"
        self.epsilon, self.retrain_every, self.c = epsilon, retrain_every, c
        self._users: list[pd.DataFrame] = []
        self._arms: list[np.ndarray] = []
        self._rewards: list[np.ndarray] = []
        self._pending = 0

    def fit(self, log: pd.DataFrame, world: World) -> None:
        self.world = world
        self._columns = list(world.user_features)
        self._users = [log[self._columns]]
        self._arms = [world.arm_index(log["arm"])]
        self._rewards = [logged_reward(log, world)]
        self._retrain()

    def _retrain(self) -> None:
        users = pd.concat(self._users, ignore_index=True)
        arms, rewards = np.concatenate(self._arms), np.concatenate(self._rewards)
        self._encoder = user_encoder(self.world).fit(users)
        x = self._encoder.transform(users)
        revenue = self.world.revenue is not None
        self._models = [
            _ArmModel(x[arms == a], rewards[arms == a], revenue, self.c)
            for a in range(self.world.n_arms)
        ]
        self._pending = 0

    def predict(self, users: pd.DataFrame) -> np.ndarray:
        """Predicted expected reward of every arm, [n, n_arms]."""
        x = self._encoder.transform(users[self._columns])
        return np.column_stack([m.predict(x) for m in self._models])

    def probabilities(self, users: pd.DataFrame, *, explore: bool = False) -> np.ndarray:
        return epsilon_greedy(self.predict(users), self.epsilon if explore else 0.0)

    def update(
        self,
        users: pd.DataFrame,
        arm_index: np.ndarray,
        rewards: np.ndarray,
        propensities: np.ndarray,
    ) -> None:
        self._users.append(users[self._columns])
        self._arms.append(np.asarray(arm_index, dtype=int))
        self._rewards.append(np.asarray(rewards, dtype=float))
        self._pending += len(arm_index)
        if self._pending >= self.retrain_every:
            self._retrain()


class BetaThompson:
    """Context-free Thompson sampling: a Beta(1 + s, 1 + f) posterior per arm on the target
    rate, or for revenue a Gaussian posterior on mean spend, N(mean, var / n). Its action
    distribution, the same for every user, is P(arm has the highest posterior draw),
    estimated by Monte Carlo (Chapelle and Li, "An empirical evaluation of Thompson sampling",
    NIPS 2011).

    From a log, each row is weighted by 1/propensity, normalized to the arm's row count, so a
    confounded log estimates each arm's population mean (self-normalized IPS) with about the
    right posterior width. In the closed loop its own choices do not depend on the user, so
    observations count once.
    """

    def __init__(self, *, draws: int = 4_000, seed: int = 0) -> None:
        self.name = "Thompson sampling (context-free)"
        self.draws = draws
        self._rng = np.random.default_rng(seed)

    def fit(self, log: pd.DataFrame, world: World) -> None:
        self.world = world
        k = world.n_arms
        self._n, self._sum, self._sq = np.zeros(k), np.zeros(k), np.zeros(k)
        arms, reward = world.arm_index(log["arm"]), logged_reward(log, world)
        weight = 1.0 / log["propensity"].to_numpy(dtype=float)
        for a in range(k):
            mine = arms == a
            if mine.any():
                w = weight[mine] * mine.sum() / weight[mine].sum()
                self._add(a, reward[mine], w)

    def _add(self, arm: int, reward: np.ndarray, weight: np.ndarray) -> None:
        self._n[arm] += weight.sum()
        self._sum[arm] += (weight * reward).sum()
        self._sq[arm] += (weight * reward**2).sum()

    def _posterior_draws(self) -> np.ndarray:
        k = self.world.n_arms
        if self.world.revenue is None:
            s = self._sum
            return self._rng.beta(1.0 + s, 1.0 + self._n - s, (self.draws, k))
        n = np.maximum(self._n, 1.0)
        mean = self._sum / n
        pooled = max(float(self._sq.sum() / max(self._n.sum(), 1.0)), 1e-9)
        var = np.maximum(self._sq / n - mean**2, 0.0)
        # A fresh arm: the prior is the pooled second moment, wide enough to get tried.
        var = np.where(self._n > 1, var, pooled)
        return mean + np.sqrt(var / n) * self._rng.standard_normal((self.draws, k))

    def probabilities(self, users: pd.DataFrame, *, explore: bool = False) -> np.ndarray:
        wins = np.bincount(self._posterior_draws().argmax(axis=1), minlength=self.world.n_arms)
        return np.tile(wins / self.draws, (len(users), 1))

    def update(
        self,
        users: pd.DataFrame,
        arm_index: np.ndarray,
        rewards: np.ndarray,
        propensities: np.ndarray,
    ) -> None:
        arm_index, rewards = np.asarray(arm_index, dtype=int), np.asarray(rewards, dtype=float)
        for a in np.unique(arm_index):
            mine = arm_index == a
            self._add(int(a), rewards[mine], np.ones(int(mine.sum())))


class _Reference:
    """A row of reference values: it does not learn from outcomes."""

    name = "reference"

    def fit(self, log: pd.DataFrame, world: World) -> None:
        self.world = world

    def update(
        self,
        users: pd.DataFrame,
        arm_index: np.ndarray,
        rewards: np.ndarray,
        propensities: np.ndarray,
    ) -> None:
        return None


class UniformRandom(_Reference):
    """Every arm with probability 1/K."""

    name = "uniform random"

    def probabilities(self, users: pd.DataFrame, *, explore: bool = False) -> np.ndarray:
        k = self.world.n_arms
        return np.full((len(users), k), 1.0 / k)


class BestSingleArm(_Reference):
    """The truth's best arm for everyone (what a plain A/B test with unlimited users
    concludes), chosen on `reference_users` fresh users of the world."""

    name = "best single arm (truth)"

    def __init__(self, reference_users: int = 100_000) -> None:
        self.reference_users = reference_users

    def fit(self, log: pd.DataFrame, world: World) -> None:
        self.world = world
        users = world.users(self.reference_users, np.random.default_rng([world.seed, 17]))
        self.arm, _ = best_single(world.expected(users))

    def probabilities(self, users: pd.DataFrame, *, explore: bool = False) -> np.ndarray:
        return one_hot(np.full(len(users), self.arm), self.world.n_arms)


class Oracle(_Reference):
    """The truth's best arm for each user."""

    name = "oracle (truth argmax)"

    def probabilities(self, users: pd.DataFrame, *, explore: bool = False) -> np.ndarray:
        return one_hot(self.world.expected(users).argmax(axis=1), self.world.n_arms)


def peer_factories(*, vw: bool = True) -> tuple[dict[str, LearnerFactory], list[str]]:
    """Fresh-peer factories by row name, and notes on peers skipped (with the reason)."""
    factories: dict[str, LearnerFactory] = {
        "uniform random": UniformRandom,
        "best single arm (truth)": BestSingleArm,
        "oracle (truth argmax)": Oracle,
        "per-arm logistic (T-learner)": PerArmLogistic,
        "Thompson sampling (context-free)": BetaThompson,
    }
    notes: list[str] = []
    if vw:
        try:
            VowpalWabbitCB.check_available()
        except PeerUnavailable as exc:
            notes.append(f"Vowpal Wabbit skipped: {exc}")
        else:
            for config in VW_CONFIGS:
                factories[f"vw {config}"] = _vw_factory(config)
    return factories, notes


def _vw_factory(config: str) -> LearnerFactory:
    return lambda: VowpalWabbitCB(config)
