"""The policy protocol: what a policy sees of one decision, the probabilities it returns, the
exploration floor, sampling, and `decide()` — the one function scoring, off-policy replay and
shadow scoring call to turn a model's predictions into a choice.

Every policy returns the full probability vector over K candidates plus "no campaign" (the last
slot), and the action is sampled from exactly that vector, so the logged propensity is the
probability the action really had. For most policies the vector has a closed form
(`propensity_method` "exact"); Beta-Bernoulli Thompson sampling's has none, so it is estimated
from posterior draws ("monte_carlo:<draws>") and the action is sampled from the estimate: the
logged propensity is still exact for the sampling that happened.

Common options of every policy:
- `objective`: the model target (or revenue output) whose predictions drive the choice
  (default: the deployment's, see feedback.rewards.default_objective);
- `mode`: "uplift" (the campaign's predicted effect; "no campaign" is worth 0) or "absolute"
  (the predicted rate with the campaign; "no campaign" is worth the control rate);
- `min_propensity`: exploration floor, every action gets at least this probability (capped at
  1 / (K + 1), where the policy becomes uniform): p' = f + (1 - (K + 1) f) p;
- `reward`: the outcome type that rewards learning policies (click, conversion, revenue);
  default: the objective's outcome type in the model's schema (feedback.rewards).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

MODES = ("uplift", "absolute")
REWARD_TYPES = ("click", "conversion", "revenue")
NO_CAMPAIGN = ""  # arm key of "no campaign" in policy state


@dataclass(frozen=True, slots=True)
class Context:
    """What a policy may look at for one decision, beyond the objective values."""

    # Predicted objective rate with each candidate, then without any campaign (K + 1).
    absolute: np.ndarray | None = None
    user_features: Mapping[str, Any] = field(default_factory=dict)
    # Per candidate and bootstrap head (K x H): the objective's uplift by each head of a
    # bootstrapped effect model; None when the model has no heads.
    heads: np.ndarray | None = None


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


class Policy(BaseModel):
    """Base of every policy: its configuration is its fields (validated when built, unknown
    keys refused); subclasses implement `_probabilities`."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    type: str
    objective: str = Field(default="", strict=True, max_length=128)
    mode: Literal["uplift", "absolute"] = "uplift"
    min_propensity: float = Field(default=0.0, ge=0.0, le=1.0, strict=True)
    reward: Literal["", "click", "conversion", "revenue"] = ""

    stateful: ClassVar[bool] = False

    @property
    def name(self) -> str:
        """What decisions record as their policy."""
        return self.type

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


def greedy(arms: np.ndarray) -> np.ndarray:
    """Probability 1 split evenly over the best actions (ties are broken at random)."""
    best = arms >= arms.max() - 1e-12
    return best / best.sum()


def arm_keys(campaign_ids: Sequence[str]) -> list[str]:
    """The keys of the K candidates and, last, "no campaign" in learned state."""
    return [*campaign_ids, NO_CAMPAIGN]


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


@dataclass(frozen=True, slots=True)
class Scores:
    """A model's predictions of one objective for one decision's K candidates."""

    value: np.ndarray  # with each candidate (probability or expected value)
    uplift: np.ndarray  # each candidate's effect versus no campaign (the model's own estimate)
    control: float  # without any campaign
    heads: np.ndarray | None = None  # K x H bootstrap heads' uplift, when the model has them


@dataclass(frozen=True, slots=True)
class Choice:
    """What a policy decided: the distribution over K candidates + "no campaign", the index
    sampled from it (K: no campaign) and that action's exact probability."""

    probabilities: np.ndarray
    index: int

    @property
    def propensity(self) -> float:
        return float(self.probabilities[self.index])

    @property
    def no_campaign(self) -> bool:
        return self.index == len(self.probabilities) - 1


def decide(
    policy: Policy,
    scores: Scores,
    campaign_ids: Sequence[str],
    *,
    user_features: Mapping[str, Any],
    state: Any,
    rng: np.random.Generator,
) -> Choice:
    """The policy's distribution over the candidates and "no campaign" for one decision, and
    the action sampled from it: what Score serves, what off-policy replay re-weights with, and
    what a shadow version would have chosen."""
    absolute = policy.mode == "absolute"
    probs = policy.probabilities(
        scores.value if absolute else scores.uplift,
        campaign_ids,
        baseline=scores.control if absolute else 0.0,
        context=Context(
            absolute=np.append(scores.value, scores.control),
            user_features=user_features,
            heads=scores.heads,
        ),
        state=state,
        rng=rng,
    )
    return Choice(probs, sample(probs, rng))
