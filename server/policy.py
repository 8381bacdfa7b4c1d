"""Policies: pick a campaign (or none) from predicted values, with the choice probabilities.

Every policy returns the full probability vector over K candidates plus "no campaign" (last
slot), and the server samples the action from exactly that vector, so the logged propensity is
the probability the action really had. For most policies the vector has a closed form
(`propensity_method` "exact"); Thompson sampling's has none, so it is estimated from posterior
draws ("monte_carlo:<draws>") and the action is then sampled from the estimate: the logged
propensity is still exact for the sampling that happened, and the estimate is what the record
says it is.

Common options of every policy config:
- `objective`: the model target whose predictions drive the choice (default: the server's);
- `mode`: "uplift" (incremental: the campaign's predicted effect; "no campaign" is worth 0) or
  "absolute" (the predicted rate with the campaign; "no campaign" is worth the control rate);
- `min_propensity`: exploration floor, every action gets at least this probability (capped at
  1 / (K + 1), where the policy becomes uniform): p' = f + (1 - (K + 1) f) p;
- `reward`: outcome type that rewards learning policies (click, conversion, revenue); default:
  the objective's outcome type in the model's schema.

Learning policies (thompson, linucb) keep their statistics in the store (feedback/policy_state.py)
and update them from outcomes in batches; every replica reads the same state.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from common.errors import InvalidArgument

MODES = ("uplift", "absolute")
REWARD_TYPES = ("click", "conversion", "revenue")
NO_CAMPAIGN = ""  # arm key of "no campaign" in policy state


@dataclass(frozen=True, slots=True)
class Context:
    """What a policy may look at for one decision, beyond the objective values."""

    # Predicted objective rate with each candidate, then without any campaign (K + 1).
    absolute: np.ndarray | None = None
    user_features: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Observation:
    """One settled decision, as a learning policy sees it."""

    arm: str  # campaign id, or NO_CAMPAIGN
    reward: float
    user_features: Mapping[str, Any]
    # The model's objective value of the chosen arm when it was decided (uplift or absolute).
    value: float
    # The model's predicted absolute rate of the chosen arm (for model-prior Thompson sampling).
    absolute: float | None = None


@dataclass(frozen=True, kw_only=True)
class Policy:
    """Base: the common options. Subclasses implement `_probabilities`."""

    objective: str = ""
    mode: str = "uplift"
    min_propensity: float = 0.0
    reward: str = ""
    name: str = ""

    stateful: ClassVar[bool] = False

    @property
    def propensity_method(self) -> str:
        return "exact"

    def probabilities(
        self,
        values: np.ndarray,
        campaign_ids: Sequence[str],
        *,
        baseline: float = 0.0,
        context: Context | None = None,
        state: Any = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """P(action) for each of the K candidates and, last, "no campaign"; sums to 1.

        `values` are the objective's predictions per candidate (uplift or absolute, by `mode`);
        `baseline` is the value of "no campaign" (0 for uplift, the control rate for absolute).
        """
        arms = np.append(np.asarray(values, dtype=np.float64), baseline)
        probs = self._probabilities(
            arms, list(campaign_ids), context or Context(), state, rng or np.random.default_rng(0)
        )
        return with_floor(probs, self.min_propensity)

    def _probabilities(
        self,
        arms: np.ndarray,
        campaign_ids: list[str],
        context: Context,
        state: Any,
        rng: np.random.Generator,
    ) -> np.ndarray:
        raise NotImplementedError

    # Learning policies override these three.
    def initial_state(self) -> dict[str, Any]:
        return {}

    def update(self, state: dict[str, Any], observations: Sequence[Observation]) -> dict[str, Any]:
        return state

    def prepare(self, state: dict[str, Any]) -> Any:
        """The form of `state` scoring reads (e.g. inverted matrices), built once per refresh."""
        return state


def with_floor(probs: np.ndarray, floor: float) -> np.ndarray:
    """Mixes `probs` with the uniform so every action has at least `floor` (exact)."""
    if floor <= 0.0:
        return probs
    f = min(floor, 1.0 / len(probs))
    return f + (1.0 - len(probs) * f) * probs


def _greedy(arms: np.ndarray) -> np.ndarray:
    """Probability 1 split evenly over the best actions (ties are broken at random)."""
    best = arms >= arms.max() - 1e-12
    return best / best.sum()


@dataclass(frozen=True, kw_only=True)
class EpsilonGreedy(Policy):
    """Greedy on the objective with probability 1 - ε; uniform over all K + 1 actions with
    probability ε. Ties go to the first best action.

    P(greedy) = 1 - ε + ε / (K + 1);  P(other) = ε / (K + 1).
    """

    epsilon: float = 0.1
    name: str = "epsilon_greedy"

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise InvalidArgument(f"policy.epsilon must be in [0, 1], got {self.epsilon}")

    def _probabilities(self, arms, campaign_ids, context, state, rng):  # type: ignore[no-untyped-def]
        probs = np.full(len(arms), self.epsilon / len(arms))
        probs[int(np.argmax(arms))] += 1.0 - self.epsilon
        return probs


@dataclass(frozen=True, kw_only=True)
class UniformRandom(Policy):
    """Every candidate and "no campaign" with probability 1 / (K + 1): the randomized baseline."""

    name: str = "uniform_random"

    def _probabilities(self, arms, campaign_ids, context, state, rng):  # type: ignore[no-untyped-def]
        return np.full(len(arms), 1.0 / len(arms))


@dataclass(frozen=True)
class FixedCampaign(Policy):
    """Always the named campaign when it is a candidate, else no campaign; "" is the control."""

    campaign_id: str = ""
    name: str = field(default="fixed", kw_only=True)

    def _probabilities(self, arms, campaign_ids, context, state, rng):  # type: ignore[no-untyped-def]
        probs = np.zeros(len(arms))
        idx = campaign_ids.index(self.campaign_id) if self.campaign_id in campaign_ids else -1
        probs[idx] = 1.0
        return probs


def _arm_keys(campaign_ids: list[str]) -> list[str]:
    return [*campaign_ids, NO_CAMPAIGN]


@dataclass(frozen=True, kw_only=True)
class ThompsonSampling(Policy):
    """Beta-Bernoulli Thompson sampling per campaign (and per segment of one user feature).

    Each arm's reward rate has a Beta(a0 + successes, b0 + failures) posterior. With
    `model_prior_strength` s > 0 the prior is centred on the model's predicted rate p for this
    user and arm: Beta(s p + successes, s (1 - p) + failures), so the model's ranking drives
    early choices and observed outcomes correct it. The choice probability P(arm is the argmax
    of one posterior draw) has no closed form: it is estimated from `draws` joint draws.
    """

    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    model_prior_strength: float = 0.0
    segment_feature: str = ""
    draws: int = 1000
    name: str = "thompson"

    stateful: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for label, v in (("prior_alpha", self.prior_alpha), ("prior_beta", self.prior_beta)):
            if not math.isfinite(v) or v <= 0:
                raise InvalidArgument(f"policy.{label} must be > 0, got {v}")
        if not math.isfinite(self.model_prior_strength) or self.model_prior_strength < 0:
            raise InvalidArgument(
                f"policy.model_prior_strength must be >= 0, got {self.model_prior_strength}"
            )
        if not 10 <= self.draws <= 100_000:
            raise InvalidArgument(f"policy.draws must be in [10, 100000], got {self.draws}")
        if self.reward == "revenue":
            raise InvalidArgument("policy.reward of thompson must be binary (click, conversion)")

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

    def _probabilities(self, arms, campaign_ids, context, state, rng):  # type: ignore[no-untyped-def]
        keys = _arm_keys(campaign_ids)
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


@dataclass(frozen=True, kw_only=True)
class LinUCB(Policy):
    """Disjoint LinUCB (Li et al. 2010): per arm a ridge regression of the reward on a context
    vector x = [1, numeric user features, hashed categorical features, the model's value of
    the arm]; choose argmax θ_a·x + alpha sqrt(x' A_a⁻¹ x) (ties split evenly). Deterministic apart
    from ties, so the floor (`min_propensity`) is what keeps logging useful for evaluation.
    """

    alpha: float = 1.0
    features: tuple[str, ...] = ()
    # Each numeric feature is divided by its scale (1 when not given) so ridge and bonus see
    # comparable magnitudes.
    scales: tuple[float, ...] = ()
    categorical: tuple[str, ...] = ()
    hash_dim: int = 8
    use_prediction: bool = True
    name: str = "linucb"

    stateful: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not math.isfinite(self.alpha) or self.alpha < 0:
            raise InvalidArgument(f"policy.alpha must be >= 0, got {self.alpha}")
        if not 1 <= self.hash_dim <= 64:
            raise InvalidArgument(f"policy.hash_dim must be in [1, 64], got {self.hash_dim}")
        if any(not math.isfinite(s) or s <= 0 for s in self.scales):
            raise InvalidArgument(f"policy.features scales must be > 0, got {list(self.scales)}")

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

    def _probabilities(self, arms, campaign_ids, context, state, rng):  # type: ignore[no-untyped-def]
        prepared = state or {}
        scores = np.empty(len(arms))
        for j, key in enumerate(_arm_keys(campaign_ids)):
            x = self.context_vector(context.user_features, float(arms[j]))
            hit = prepared.get(key)
            if hit is None:  # unseen arm: A = I, b = 0
                scores[j] = self.alpha * math.sqrt(float(x @ x))
            else:
                a_inv, theta = hit
                scores[j] = float(theta @ x) + self.alpha * math.sqrt(float(x @ a_inv @ x))
        return _greedy(scores)

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


POLICY_TYPES = (
    "epsilon_greedy",
    "uniform_random",
    "fixed",
    "no_campaign",
    "thompson",
    "linucb",
)
COMMON_KEYS = ("type", "objective", "mode", "min_propensity", "reward")
KEYS: dict[str, tuple[str, ...]] = {
    "epsilon_greedy": ("epsilon",),
    "uniform_random": (),
    "fixed": ("campaign_id",),
    "no_campaign": (),
    "thompson": (
        "prior_alpha",
        "prior_beta",
        "model_prior_strength",
        "segment_feature",
        "draws",
    ),
    "linucb": ("alpha", "features", "categorical", "hash_dim", "use_prediction"),
}


def _number(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"policy.{key} must be a number, got {value!r}")
    return float(value)


def _string(config: Mapping[str, Any], key: str, default: str = "") -> str:
    value = config.get(key, default)
    if not isinstance(value, str):
        raise InvalidArgument(f"policy.{key} must be a string, got {value!r}")
    return value


def _names(config: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = config.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidArgument(f"policy.{key} must be a list of feature names, got {value!r}")
    return tuple(value)


def build_policy(config: Mapping[str, Any]) -> Policy:
    """A policy from its config, e.g. {"type": "epsilon_greedy", "epsilon": 0.1}. Unknown keys
    and wrongly typed values are refused with the key and the value named."""
    kind = config.get("type")
    if kind not in KEYS:
        raise InvalidArgument(f"policy.type must be one of {POLICY_TYPES}, got {kind!r}")
    unknown = sorted(set(config) - set(COMMON_KEYS) - set(KEYS[kind]))
    if unknown:
        raise InvalidArgument(
            f"policy has unknown keys {unknown} for type {kind!r}; "
            f"allowed: {sorted(COMMON_KEYS[1:] + KEYS[kind])}"
        )
    mode = _string(config, "mode", "uplift")
    if mode not in MODES:
        raise InvalidArgument(f"policy.mode must be one of {MODES}, got {mode!r}")
    reward = _string(config, "reward")
    if reward and reward not in REWARD_TYPES:
        raise InvalidArgument(f"policy.reward must be one of {REWARD_TYPES}, got {reward!r}")
    floor = _number(config, "min_propensity", 0.0)
    if not 0.0 <= floor <= 1.0:  # also refuses NaN
        raise InvalidArgument(f"policy.min_propensity must be in [0, 1], got {floor}")
    common: dict[str, Any] = {
        "objective": _string(config, "objective"),
        "mode": mode,
        "min_propensity": floor,
        "reward": reward,
    }
    if kind == "epsilon_greedy":
        return EpsilonGreedy(epsilon=_number(config, "epsilon", 0.1), **common)
    if kind == "uniform_random":
        return UniformRandom(**common)
    if kind == "fixed":
        return FixedCampaign(_string(config, "campaign_id"), **common)
    if kind == "no_campaign":
        return FixedCampaign("", name="no_campaign", **common)
    if kind == "thompson":
        draws = config.get("draws", 1000)
        if isinstance(draws, bool) or not isinstance(draws, int):
            raise InvalidArgument(f"policy.draws must be an integer, got {draws!r}")
        return ThompsonSampling(
            prior_alpha=_number(config, "prior_alpha", 1.0),
            prior_beta=_number(config, "prior_beta", 1.0),
            model_prior_strength=_number(config, "model_prior_strength", 0.0),
            segment_feature=_string(config, "segment_feature"),
            draws=draws,
            **common,
        )
    hash_dim = config.get("hash_dim", 8)
    if isinstance(hash_dim, bool) or not isinstance(hash_dim, int):
        raise InvalidArgument(f"policy.hash_dim must be an integer, got {hash_dim!r}")
    use_prediction = config.get("use_prediction", True)
    if not isinstance(use_prediction, bool):
        raise InvalidArgument(
            f"policy.use_prediction must be true or false, got {use_prediction!r}"
        )
    features = config.get("features", [])
    scales: tuple[float, ...] = ()
    if isinstance(features, dict):  # {"age": 100}: name -> scale
        scales = tuple(_number(features, name, 1.0) for name in features)
        features = list(features)
    return LinUCB(
        alpha=_number(config, "alpha", 1.0),
        features=_names({"features": features}, "features"),
        scales=scales,
        categorical=_names(config, "categorical"),
        hash_dim=hash_dim,
        use_prediction=use_prediction,
        **common,
    )


def sample(probs: np.ndarray, rng: np.random.Generator) -> int:
    """Index of the chosen action; len(probs) - 1 means "no campaign".

    Inverse-CDF sampling (one uniform draw, a binary search): what Generator.choice does with
    `p`, without its validation of `p` on every request. A zero-probability action is never
    chosen: its cumulative sum equals the previous one's, and the search takes the first
    index whose cumulative sum exceeds the draw.
    """
    cumulative = np.cumsum(probs)
    i = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(i, len(probs) - 1)
