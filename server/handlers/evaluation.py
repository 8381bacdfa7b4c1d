"""Evaluating a model version with a policy on an experiment's logs (transport-free).

Each logged decision's candidates are scored by the model version; the predicted uplift of the
objective becomes the policy's distribution over the candidates and "no campaign", exactly as
Score would decide; the model's predicted probabilities (the control probability for "no
campaign") are the reward model of DM and DR. feedback/ope.py computes the estimates.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
from scipy import stats

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from feedback.experiments import Experiment, get_experiment
from feedback.logged import LoggedDecision, campaign_catalogue, logged_decisions
from feedback.ope import Estimate, LoggedBandit, check_pscore, evaluate
from feedback.policies import Policy, Scores, build_policy, decide
from feedback.policy_state import get_policy_state
from feedback.registry import get_version
from feedback.rewards import OUTCOME_TYPES, default_objective, outcome_type
from feedback.store import Store
from server.handlers.features import Candidate, ScoreItem, build_feeds
from server.runtime.model import LoadedModel

# Decisions scored per model run: bounds the feed arrays' memory.
CHUNK = 4_096


class ModelSource(Protocol):
    def get(self, version: str) -> LoadedModel: ...


@dataclass(frozen=True)
class EvaluationQuery:
    experiment: str
    model_version: str
    policy: dict[str, Any]
    objective: str = ""  # a model target; "" : the default objective, else the first target
    reward: str = ""  # click, conversion or revenue; "" : the objective's outcome type
    # False: the reward policies learn from (attribution window, default reward); True: every
    # outcome at any time, 0 when none came (feedback/rewards.py).
    raw_reward: bool = False
    variant: str = ""
    decided_after: datetime | None = None
    decided_before: datetime | None = None
    confidence: float = 0.95
    bootstrap: int = 0
    seed: int = 0


@dataclass(frozen=True)
class PolicyEvaluation:
    experiment: str
    model_version: str
    policy: str
    objective: str
    reward: str
    decisions: int
    logged_mean_reward: float
    raw_reward: bool
    logged_ci: tuple[float, float]
    confidence: float
    estimates: list[Estimate]


@dataclass(frozen=True)
class _Scored:
    """Per decision: the policy's distribution and the reward model, padded to one width."""

    target_dist: np.ndarray
    reward_hat: np.ndarray
    action: np.ndarray


class PolicyEvaluator:
    def __init__(self, store: Store, models: ModelSource, default_objective: str) -> None:
        self._store = store
        self._models = models
        self._default_objective = default_objective

    def evaluate(self, q: EvaluationQuery) -> PolicyEvaluation:
        experiment = self._experiment(q)
        policy = build_policy(q.policy)
        model = self._models.get(q.model_version)
        objective, outcome_type = self._objective(q, model)
        reward = q.reward or outcome_type
        if reward not in OUTCOME_TYPES:
            raise InvalidArgument(f"reward must be one of {OUTCOME_TYPES}, got {reward!r}")
        logs = self._logs(q, reward, experiment.default_reward)
        # The model predicts the objective's outcome: a reward model only for that.
        data = self._logged_bandit(q, logs, model, policy, objective, reward == outcome_type)
        estimates = evaluate(data, confidence=q.confidence, bootstrap=q.bootstrap, seed=q.seed)
        mean, ci = _mean_with_interval(data.reward, q.confidence)
        return PolicyEvaluation(
            experiment=q.experiment,
            model_version=model.version,
            policy=policy.name,
            objective=objective,
            reward=reward,
            decisions=data.n,
            logged_mean_reward=mean,
            raw_reward=q.raw_reward,
            logged_ci=ci,
            confidence=q.confidence,
            estimates=estimates,
        )

    def _experiment(self, q: EvaluationQuery) -> Experiment:
        """The query's experiment, once the query names one (and a variant of it, if any)."""
        if not q.experiment:
            raise InvalidArgument("experiment must not be empty")
        if not q.model_version:
            raise InvalidArgument("model_version must not be empty")
        experiment = get_experiment(self._store, q.experiment)
        if q.variant and q.variant not in [v.name for v in experiment.variants]:
            raise NotFound(f"experiment {q.experiment!r} has no variant {q.variant!r}")
        return experiment

    def _logs(self, q: EvaluationQuery, reward: str, default_reward: float) -> list[LoggedDecision]:
        """The logged decisions the query selects; refuses an empty selection."""
        logs = logged_decisions(
            self._store,
            q.experiment,
            reward,
            default_reward=default_reward,
            raw=q.raw_reward,
            variant=q.variant,
            decided_after=q.decided_after,
            decided_before=q.decided_before,
        )
        if not logs:
            where = f" variant {q.variant!r}" if q.variant else ""
            raise FailedPrecondition(
                f"experiment {q.experiment!r}{where} has no logged decisions in the time range"
            )
        return logs

    def _logged_bandit(
        self,
        q: EvaluationQuery,
        logs: list[LoggedDecision],
        model: LoadedModel,
        policy: Policy,
        objective: str,
        with_reward_model: bool,
    ) -> LoggedBandit:
        """The logs with the policy's distributions and the model's rewards, ready for OPE."""
        ids = [d.decision_id for d in logs]
        try:
            # Before any model runs: a log without usable propensities cannot be evaluated.
            pscore = check_pscore([d.propensity for d in logs], ids)
            state = _policy_state(self._store, q, policy)
            catalogue = campaign_catalogue(self._store, q.experiment)
            scored = _score(logs, model, policy, objective, catalogue, state)
            return LoggedBandit(
                reward=np.array([d.reward for d in logs]),
                pscore=pscore,
                ids=ids,
                target_dist=scored.target_dist,
                reward_hat=scored.reward_hat if with_reward_model else None,
                action=scored.action,
            )
        except InvalidArgument as exc:  # the request is fine; the stored logs are not
            raise FailedPrecondition(
                f"experiment {q.experiment!r} logs cannot be evaluated: {exc.message}"
            ) from exc

    def _objective(self, q: EvaluationQuery, model: LoadedModel) -> tuple[str, str]:
        """(objective target, the outcome type that labels it)."""
        if q.objective and q.objective not in model.objectives:
            raise InvalidArgument(
                f"objective must be one of model version {model.version}'s targets and revenue "
                f"outputs {list(model.objectives)}, got {q.objective!r}"
            )
        objective = q.objective or default_objective(model.objectives, self._default_objective)
        schema = get_version(self._store, int(model.version)).feature_schema
        return objective, outcome_type(schema, objective)


def _mean_with_interval(values: np.ndarray, confidence: float) -> tuple[float, tuple[float, float]]:
    if not 0.0 < confidence < 1.0:
        raise InvalidArgument(f"confidence must be in (0, 1), got {confidence!r}")
    mean = float(np.mean(values))
    if len(values) < 2:
        return mean, (math.nan, math.nan)
    half = float(stats.norm.ppf(0.5 + confidence / 2)) * float(
        np.std(values, ddof=1) / math.sqrt(len(values))
    )
    return mean, (mean - half, mean + half)


def _candidates(
    logs: Sequence[LoggedDecision], catalogue: dict[str, dict[str, Any]]
) -> dict[str, list[Candidate]]:
    """Each decision's candidates as logged. Imported logs keep none: their candidates are every
    campaign the experiment's logs chose (in any variant or time), with the features logged
    when it was first chosen."""
    fallback = [Candidate(c, _plain(catalogue[c])) for c in sorted(catalogue)]
    out = {}
    for d in logs:
        logged = [Candidate(c["campaign_id"], _plain(c["features"])) for c in d.candidates]
        cands = logged or fallback
        if not cands:
            raise FailedPrecondition(
                f"decision {d.decision_id!r} has no candidates and its experiment's logs chose "
                "no campaign at all: there is nothing to evaluate"
            )
        if d.campaign_id is not None and d.campaign_id not in [c.campaign_id for c in cands]:
            raise FailedPrecondition(
                f"decision {d.decision_id!r} chose campaign {d.campaign_id!r}, which is not among "
                "its logged candidates"
            )
        out[d.decision_id] = cands
    return out


def _plain(features: dict[str, Any]) -> dict[str, Any]:
    """JSON keeps whole numbers as int; the model takes numbers as float."""
    return {
        k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in features.items()
    }


def _policy_state(store: Store, q: EvaluationQuery, policy: Policy) -> Any:
    """A learning policy is evaluated with what the variant named in the query has learned
    (when that variant runs the same kind of policy), else with its prior."""
    if not policy.stateful:
        return None
    row = get_policy_state(store, q.experiment, q.variant) if q.variant else None
    state = row.state if row is not None and row.policy == policy.name else policy.initial_state()
    return policy.prepare(state)


def _score(
    logs: Sequence[LoggedDecision],
    model: LoadedModel,
    policy: Policy,
    objective: str,
    catalogue: dict[str, dict[str, Any]],
    state: Any = None,
) -> _Scored:
    candidates = _candidates(logs, catalogue)
    width = max(len(c) for c in candidates.values()) + 1
    n = len(logs)
    target_dist = np.zeros((n, width))
    reward_hat = np.zeros((n, width))
    action = np.zeros(n, dtype=np.int64)
    names = model.output_names(objective)
    for start in range(0, n, CHUNK):
        chunk = logs[start : start + CHUNK]
        items = [
            ScoreItem(
                unit_id=d.decision_id,
                user_features=_plain(d.user_features),
                candidates=candidates[d.decision_id],
                where=f"decision {d.decision_id!r}: ",
            )
            for d in chunk
        ]
        try:
            feeds = build_feeds(items, model)
        except InvalidArgument as exc:
            raise FailedPrecondition(
                f"model version {model.version} cannot score the logs: {exc.message}"
            ) from exc
        probability, control, uplift = (
            a.astype(np.float64).ravel() for a in model.run(list(names), feeds)
        )
        row = 0
        for i, (d, item) in enumerate(zip(chunk, items, strict=True), start=start):
            k = len(item.candidates)
            ids = [c.campaign_id for c in item.candidates]
            target_dist[i, : k + 1] = decide(
                policy,
                Scores(probability[row : row + k], uplift[row : row + k], float(control[row])),
                ids,
                user_features=item.user_features,
                state=state,
                # Monte Carlo policies: the same decision always gets the same estimate.
                rng=np.random.default_rng(zlib.crc32(d.decision_id.encode())),
            ).probabilities
            reward_hat[i, :k] = probability[row : row + k]
            reward_hat[i, k] = control[row]
            action[i] = k if d.campaign_id is None else ids.index(d.campaign_id)
            row += k
    return _Scored(target_dist, reward_hat, action)
