"""A simulated world with known truth: users, campaigns (arms), the true expected reward of
every arm for every user, realized outcomes, a logging policy, and the values a policy is
judged by (best single arm, oracle, share of the personalization gain).

The reward is the world's binary target (its probability is the expected reward) or, in a
revenue world, the spend: P(target) x E[spend | target].
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

FeatureKind = Literal["numeric", "categorical"]
ONE_DAY_S = 86_400.0
# Spend given a conversion is Gamma with this shape around its mean (coefficient of variation
# 1/sqrt(shape) = 0.58): baskets vary a lot between purchases, as real ones do.
SPEND_SHAPE = 3.0


class WorldUnavailable(RuntimeError):
    """A world cannot be built here (e.g. the real covariates it resamples are absent)."""


@dataclass(frozen=True)
class Arm:
    """One campaign (or "no campaign") with its campaign-feature values."""

    arm_id: str
    features: dict[str, float | str]


@dataclass(frozen=True)
class Response:
    """The truth for a set of users: P(target) per arm and, in a revenue world, the mean spend
    given the target per arm; both [n_users, n_arms]."""

    probability: np.ndarray
    basket: np.ndarray | None = None


@dataclass(frozen=True)
class Delay:
    """When a positive outcome arrives after its decision: lognormal with a median per arm.

    A delay beyond the attribution window (one day by default in the product) makes the
    outcome late: it does not count for learning, though it is part of the true value.
    """

    median_s: tuple[float, ...]
    sigma: float

    def draw(self, arm_index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        median = np.asarray(self.median_s)[arm_index]
        return np.asarray(median * np.exp(self.sigma * rng.standard_normal(len(arm_index))))

    def late_share(self, arm: int, window_s: float = ONE_DAY_S) -> float:
        """P(delay > window) for arm: 1 - Phi(log(window / median) / sigma)."""
        from scipy.stats import norm

        return float(norm.sf(np.log(window_s / self.median_s[arm]) / self.sigma))


Sampler = Callable[[int, np.random.Generator], pd.DataFrame]
Truth = Callable[[pd.DataFrame], Response]
LoggingPolicy = Callable[[pd.DataFrame], np.ndarray]
Segment = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True, eq=False)
class World:
    """A world: who the users are, what each arm truly does for each of them, how it logs.

    Parameters
    ----------
    name, description
        What the world is called and what makes it hard.
    user_features, campaign_features
        Column name -> "numeric" | "categorical", as in a product feature spec.
    arms
        The campaigns; the arm whose features equal `control` is "no campaign" (last here).
    control
        The campaign-feature values meaning no campaign.
    target
        The binary outcome (e.g. "conversion").
    sampler
        `sampler(n, rng)` draws the user-feature columns of n fresh users.
    truth
        `truth(users)` gives the exact `Response` of every arm for every user.
    revenue
        Name of the revenue column (spend) when the reward is revenue, else None.
    logging
        `logging(users)` -> [n, n_arms] probabilities of the logging policy; None: uniform.
    delay
        Outcome arrival delays (delayed-outcome worlds), else None: outcomes are immediate.
    rare_arm, rare_segment
        An arm the log rarely shows and the users it is best for (the rare-arm world).
    seed
        The seed the world was generated from.
    """

    name: str
    description: str
    user_features: dict[str, FeatureKind]
    arms: list[Arm]
    campaign_features: dict[str, FeatureKind]
    control: dict[str, float | str]
    target: str
    sampler: Sampler
    truth: Truth
    revenue: str | None = None
    logging: LoggingPolicy | None = None
    delay: Delay | None = None
    rare_arm: int | None = None
    rare_segment: Segment | None = None
    seed: int = 0
    notes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        controls = [i for i, a in enumerate(self.arms) if a.features == self.control]
        if len(controls) != 1:
            raise ValueError(f"world {self.name!r}: exactly one arm must have the control values")
        if not 4 <= len(self.arms) <= 6:
            raise ValueError(f"world {self.name!r}: needs 4-6 arms, got {len(self.arms)}")
        for arm in self.arms:
            if set(arm.features) != set(self.campaign_features):
                raise ValueError(f"arm {arm.arm_id!r}: features must be {self.campaign_features}")

    # -- who and what -------------------------------------------------------------------
    @property
    def n_arms(self) -> int:
        return len(self.arms)

    @property
    def arm_ids(self) -> list[str]:
        return [a.arm_id for a in self.arms]

    @property
    def no_campaign(self) -> int:
        """Index of the "no campaign" arm."""
        return next(i for i, a in enumerate(self.arms) if a.features == self.control)

    def users(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """n fresh users: a `unit_id` column and the user-feature columns."""
        frame = self.sampler(n, rng).reset_index(drop=True)
        token = int(rng.integers(0, 2**32))
        frame.insert(0, "unit_id", [f"{self.name}-{token:08x}-{i}" for i in range(n)])
        return frame

    # -- the truth ----------------------------------------------------------------------
    def expected(self, users: pd.DataFrame) -> np.ndarray:
        """TRUE expected reward of every arm for every user, [n, n_arms] in arm order:
        P(target), or P(target) x E[spend | target] in a revenue world."""
        response = self.truth(users)
        if self.revenue is None:
            return response.probability
        assert response.basket is not None
        return response.probability * response.basket

    def draw(
        self, users: pd.DataFrame, arm_index: np.ndarray, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """Realized outcomes of giving each user its arm: the binary target; the spend in a
        revenue world (0 without the target); `delay_s` in a delayed world (seconds from the
        decision to the outcome's arrival; NaN where there is no outcome)."""
        arm_index = np.asarray(arm_index, dtype=int)
        rows = np.arange(len(users))
        response = self.truth(users)
        hit = rng.random(len(users)) < response.probability[rows, arm_index]
        out: dict[str, np.ndarray] = {self.target: hit.astype(np.int64)}
        if self.revenue is not None:
            assert response.basket is not None
            mean = response.basket[rows, arm_index]
            spend = rng.gamma(SPEND_SHAPE, mean / SPEND_SHAPE)
            out[self.revenue] = np.where(hit, spend, 0.0)
        if self.delay is not None:
            delay = self.delay.draw(arm_index, rng)
            out["delay_s"] = np.where(hit, delay, np.nan)
        return out

    def reward(self, outcomes: dict[str, np.ndarray]) -> np.ndarray:
        """The reward of realized outcomes: the spend in a revenue world, else the target."""
        return np.asarray(outcomes[self.revenue or self.target], dtype=float)

    # -- the log ------------------------------------------------------------------------
    def logging_policy(self, users: pd.DataFrame) -> np.ndarray:
        """The logging policy's probabilities, [n, n_arms]; uniform unless the world says."""
        if self.logging is None:
            return np.full((len(users), self.n_arms), 1.0 / self.n_arms)
        return self.logging(users)

    def log(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """A randomized campaign log of n decisions under the logging policy: user features,
        the logged arm's campaign features, `arm`, `propensity`, outcomes, `decision_id`."""
        users = self.users(n, rng)
        probs = self.logging_policy(users)
        arm = sample_arms(probs, rng)
        frame = users.copy()
        for column in self.campaign_features:
            values = [a.features[column] for a in self.arms]
            frame[column] = np.asarray(values, dtype=object)[arm]
            if self.campaign_features[column] == "numeric":
                frame[column] = frame[column].astype(float)
        frame["arm"] = np.asarray(self.arm_ids, dtype=object)[arm]
        frame["propensity"] = probs[np.arange(n), arm]
        for column, outcome in self.draw(users, arm, rng).items():
            frame[column] = outcome
        frame.insert(0, "decision_id", [f"{u}-d" for u in users["unit_id"]])
        return frame

    def arm_index(self, arm_ids: pd.Series | np.ndarray) -> np.ndarray:
        """Arm ids (the log's `arm` column) -> arm indices."""
        lookup = {a: i for i, a in enumerate(self.arm_ids)}
        return np.array([lookup[str(a)] for a in arm_ids], dtype=int)

    def spec_toml(self) -> str:
        """A feature spec (specs/*.toml format, read by trainer/spec.py) naming `log()`'s
        columns, so the product's trainer trains on the log as it is. The propensity column is
        named only when the logging policy is not uniform (the trainer then models it)."""
        lines = [
            f"# Simulated world {self.name!r} (bench/quality), seed {self.seed}.",
            f"name = {_toml(f'quality-{self.name}')}",
            'treatment = "arm"',
            'unit_id = "unit_id"',
            'row_id = "decision_id"',
            f"targets = [{_toml(self.target)}]",
        ]
        if self.logging is not None:
            lines.append('propensity = "propensity"')
        lines += ["", "[outcome_types]", f'{_key(self.target)} = "conversion"']
        for title, group in (
            ("user_features", self.user_features),
            ("campaign_features", self.campaign_features),
            ("control", self.control),
        ):
            lines += ["", f"[{title}]"] + [f"{_key(k)} = {_toml(v)}" for k, v in group.items()]
        if self.revenue is not None:
            lines += ["", "[revenue]", f"{_key(self.revenue)} = {_toml(self.target)}"]
        return "\n".join(lines) + "\n"

    # -- what a policy is judged by -----------------------------------------------------
    def best_single(self, users: pd.DataFrame) -> tuple[int, float]:
        """The one arm best for everyone (what a plain A/B test concludes) and its value."""
        return best_single(self.expected(users))

    def oracle_value(self, users: pd.DataFrame) -> float:
        """Mean over users of the best arm's expected reward (the truth's argmax)."""
        return float(self.expected(users).max(axis=1).mean())

    def value(self, users: pd.DataFrame, probs: np.ndarray) -> float:
        """V(policy) = mean over users of sum over arms of probs x expected reward."""
        return policy_value(self.expected(users), probs)

    def gain_share(self, users: pd.DataFrame, probs: np.ndarray) -> float:
        """(V(policy) - V(best single)) / (V(oracle) - V(best single))."""
        return gain_share(self.expected(users), probs)


def best_single(expected: np.ndarray) -> tuple[int, float]:
    means = expected.mean(axis=0)
    arm = int(np.argmax(means))
    return arm, float(means[arm])


def policy_value(expected: np.ndarray, probs: np.ndarray) -> float:
    if probs.shape != expected.shape:
        raise ValueError(f"probs must have shape {expected.shape}, got {probs.shape}")
    return float((probs * expected).sum(axis=1).mean())


def gain_share(expected: np.ndarray, probs: np.ndarray) -> float:
    """Share of the personalization gain captured: 0 is the best single arm, 1 the oracle."""
    _, single = best_single(expected)
    oracle = float(expected.max(axis=1).mean())
    return (policy_value(expected, probs) - single) / (oracle - single)


def sample_arms(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One arm per row drawn from its probabilities (inverse CDF on one uniform per row)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), probs.shape[1] - 1)


def _toml(value: object) -> str:
    """A TOML value: strings as JSON strings (a subset of TOML's basic strings), numbers as
    floats."""
    if isinstance(value, str):
        return json.dumps(value)
    return repr(float(value))  # type: ignore[arg-type]


def _key(name: str) -> str:
    """A TOML key: bare when it can be, else quoted."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def one_hot(index: np.ndarray, n_arms: int) -> np.ndarray:
    out = np.zeros((len(index), n_arms))
    out[np.arange(len(index)), index] = 1.0
    return out
