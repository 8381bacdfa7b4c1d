"""Learning policies: Beta-Bernoulli Thompson sampling per campaign (optionally per segment, or
with the model's prediction as its prior) and disjoint LinUCB. Their statistics live in the
store (feedback/policy_state.py), are updated from settled decisions in batches, and every
replica reads the same state."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from feedback.policies.base import Context, Observation, Policy, arm_keys, greedy


class ThompsonSampling(Policy):
    """Beta-Bernoulli Thompson sampling per campaign (and per segment of one user feature).

    Each arm's reward rate has a Beta(a0 + successes, b0 + failures) posterior. With
    `model_prior_strength` s > 0 the prior is centred on the model's predicted rate p for this
    user and arm: Beta(s p + successes, s (1 - p) + failures), so the model's ranking drives
    early choices and observed outcomes correct it. The choice probability P(arm is the argmax
    of one posterior draw) has no closed form: it is estimated from `draws` joint draws
    (Thompson 1933; Chapelle and Li, "An Empirical Evaluation of Thompson Sampling", 2011).
    """

    type: Literal["thompson"] = "thompson"
    prior_alpha: float = Field(default=1.0, gt=0.0, strict=True)
    prior_beta: float = Field(default=1.0, gt=0.0, strict=True)
    model_prior_strength: float = Field(default=0.0, ge=0.0, strict=True)
    segment_feature: str = Field(default="", strict=True, max_length=128)
    draws: int = Field(default=1000, ge=10, le=100_000, strict=True)

    stateful: ClassVar[bool] = True

    @model_validator(mode="after")
    def _binary_reward(self) -> ThompsonSampling:
        if self.reward == "revenue":
            raise ValueError("policy.reward of thompson must be binary (click, conversion)")
        return self

    @property
    def propensity_method(self) -> str:
        return f"monte_carlo:{self.draws}"

    def segment(self, user_features: Mapping[str, Any]) -> str:
        if not self.segment_feature:
            return ""
        return str(user_features.get(self.segment_feature, ""))

    def _key(self, segment: str, arm: str) -> str:
        return f"{segment}\x1f{arm}" if self.segment_feature else arm

    def posterior(
        self, state: Mapping[str, Any] | None, segment: str, arms: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(successes, failures) per arm."""
        counts = (state or {}).get("arms", {})
        s = np.array([counts.get(self._key(segment, a), (0.0, 0.0))[0] for a in arms], float)
        f = np.array([counts.get(self._key(segment, a), (0.0, 0.0))[1] for a in arms], float)
        return s, f

    def posterior_mean(self, successes: float, failures: float) -> float:
        return (self.prior_alpha + successes) / (
            self.prior_alpha + self.prior_beta + successes + failures
        )

    def _probabilities(
        self,
        arms: np.ndarray,
        campaign_ids: list[str],
        context: Context,
        state: Any,
        rng: np.random.Generator,
    ) -> np.ndarray:
        keys = arm_keys(campaign_ids)
        succ, fail = self.posterior(state, self.segment(context.user_features), keys)
        if self.model_prior_strength > 0 and context.absolute is not None:
            p = np.clip(context.absolute, 1e-4, 1 - 1e-4)
            alpha = self.model_prior_strength * p + succ
            beta = self.model_prior_strength * (1 - p) + fail
        else:
            alpha = self.prior_alpha + succ
            beta = self.prior_beta + fail
        samples = rng.beta(alpha, beta, size=(self.draws, len(keys)))
        wins = np.bincount(np.argmax(samples, axis=1), minlength=len(keys))
        return wins / self.draws

    def initial_state(self) -> dict[str, Any]:
        return {"arms": {}}

    def update(self, state: dict[str, Any], observations: Sequence[Observation]) -> dict[str, Any]:
        counts = {k: list(v) for k, v in state.get("arms", {}).items()}
        for o in observations:
            key = self._key(self.segment(o.user_features), o.arm)
            s, f = counts.get(key, [0.0, 0.0])
            won = 1.0 if o.reward > 0 else 0.0
            counts[key] = [s + won, f + 1.0 - won]
        return {"arms": counts}


class BootstrapThompson(Policy):
    """Bootstrapped Thompson sampling: the model carries H bootstrap heads of its effect
    estimate (`<objective>_uplift_heads`, refreshed by every retrain); a decision picks a head
    uniformly and acts greedily on it ("no campaign" is worth 0). Its choice probability is
    exact, no Monte Carlo: P(action) = (1/H) sum_h 1[action is head h's best] / (ties of h).
    Osband and Van Roy, "Bootstrapped Thompson Sampling and Deep Exploration", 2015; Eckles and
    Kaptein, "Thompson sampling with the online bootstrap", 2014.

    A model without heads gets the greedy choice on its point estimate (with the floor).
    """

    type: Literal["bootstrap_thompson"] = "bootstrap_thompson"

    def _probabilities(
        self,
        arms: np.ndarray,
        campaign_ids: list[str],
        context: Context,
        state: Any,
        rng: np.random.Generator,
    ) -> np.ndarray:
        if context.heads is None or context.heads.size == 0:
            return greedy(arms)
        heads = np.asarray(context.heads, dtype=np.float64)
        # The control's value is the same for every campaign: in either mode a head's best
        # action is the argmax of its uplifts against 0 for "no campaign".
        values = np.vstack([heads, np.zeros((1, heads.shape[1]))])
        best = values >= values.max(axis=0, keepdims=True) - 1e-12
        return np.asarray((best / best.sum(axis=0, keepdims=True)).mean(axis=1))


class LinUCB(Policy):
    """Disjoint LinUCB (Li, Chu, Langford and Schapire, "A Contextual-Bandit Approach to
    Personalized News Article Recommendation", WWW 2010): per arm a ridge regression of the
    reward on a context vector x = [1, numeric user features, hashed categorical features, the
    model's value of the arm]; choose argmax θ_a·x + alpha sqrt(x' A_a⁻¹ x) (ties split evenly).
    Deterministic apart from ties, so the floor (`min_propensity`) is what keeps logging useful
    for evaluation.

    `features` is a list of numeric user features, or a mapping name -> scale: each value is
    divided by its scale so ridge and bonus see comparable magnitudes.
    """

    type: Literal["linucb"] = "linucb"
    alpha: float = Field(default=1.0, ge=0.0, strict=True)
    features: tuple[str, ...] = ()
    scales: tuple[float, ...] = ()
    categorical: tuple[str, ...] = ()
    hash_dim: int = Field(default=8, ge=1, le=64, strict=True)
    use_prediction: bool = Field(default=True, strict=True)

    stateful: ClassVar[bool] = True

    @model_validator(mode="before")
    @classmethod
    def _scaled_features(cls, data: Any) -> Any:
        """{"age": 100} as `features` means the feature age divided by 100."""
        if isinstance(data, dict) and isinstance(data.get("features"), dict):
            named = data["features"]
            data = {**data, "features": list(named), "scales": list(named.values())}
        return data

    @field_validator("features", "categorical", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"must be a list of feature names, got {value!r}")
        return value

    @field_validator("scales")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not math.isfinite(s) or s <= 0 for s in value):
            raise ValueError(f"must be > 0, got {list(value)}")
        return value

    @property
    def dim(self) -> int:
        return 1 + len(self.features) + self.hash_dim * len(self.categorical) + self.use_prediction

    def context_vector(self, user_features: Mapping[str, Any], value: float) -> np.ndarray:
        x = np.zeros(self.dim)
        x[0] = 1.0
        i = 1
        for k, f in enumerate(self.features):
            v = user_features.get(f)
            scale = self.scales[k] if k < len(self.scales) else 1.0
            x[i] = float(v) / scale if isinstance(v, int | float) and math.isfinite(v) else 0.0
            i += 1
        for f in self.categorical:
            digest = hashlib.blake2b(f"{f}={user_features.get(f)}".encode(), digest_size=4)
            x[i + int.from_bytes(digest.digest(), "little") % self.hash_dim] = 1.0
            i += self.hash_dim
        if self.use_prediction:
            x[i] = value
        return x

    def prepare(self, state: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        prepared = {}
        for arm, stats in state.get("arms", {}).items():
            a_inv = np.linalg.inv(np.asarray(stats["A"], dtype=np.float64))
            prepared[arm] = (a_inv, a_inv @ np.asarray(stats["b"], dtype=np.float64))
        return prepared

    def _probabilities(
        self,
        arms: np.ndarray,
        campaign_ids: list[str],
        context: Context,
        state: Any,
        rng: np.random.Generator,
    ) -> np.ndarray:
        prepared = state or {}
        scores = np.empty(len(arms))
        for j, key in enumerate(arm_keys(campaign_ids)):
            x = self.context_vector(context.user_features, float(arms[j]))
            hit = prepared.get(key)
            if hit is None:  # unseen arm: A = I, b = 0
                scores[j] = self.alpha * math.sqrt(float(x @ x))
            else:
                a_inv, theta = hit
                scores[j] = float(theta @ x) + self.alpha * math.sqrt(float(x @ a_inv @ x))
        return greedy(scores)

    def initial_state(self) -> dict[str, Any]:
        return {"arms": {}, "dim": self.dim}

    def update(self, state: dict[str, Any], observations: Sequence[Observation]) -> dict[str, Any]:
        arms: dict[str, dict[str, Any]] = {}
        for key, stats in state.get("arms", {}).items():
            arms[key] = {"A": np.asarray(stats["A"]), "b": np.asarray(stats["b"])}
        for o in observations:
            x = self.context_vector(o.user_features, o.value)
            stats = arms.setdefault(o.arm, {"A": np.eye(self.dim), "b": np.zeros(self.dim)})
            stats["A"] = stats["A"] + np.outer(x, x)
            stats["b"] = stats["b"] + o.reward * x
        return {
            "arms": {k: {"A": v["A"].tolist(), "b": v["b"].tolist()} for k, v in arms.items()},
            "dim": self.dim,
        }

    def arm_summary(self, stats: Mapping[str, Any]) -> tuple[float, int]:
        """(mean predicted reward at the arm's mean context, observations) of one arm's state:
        A = I + sum x x' with x[0] = 1, so A's first row is e0 + the sum of the contexts."""
        a = np.asarray(stats["A"])
        theta = np.linalg.solve(a, np.asarray(stats["b"]))
        sums = a[0].copy()
        sums[0] -= 1.0
        n = round(float(sums[0]))
        return float(theta @ (sums / max(n, 1))), n
