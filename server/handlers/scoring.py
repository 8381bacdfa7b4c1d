"""The scoring handler, transport-free: validate, run the model once per batch, decide, log."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from common.errors import FailedPrecondition, ResourceExhausted
from common.settings import Settings
from feedback.decisions import DecisionRecord
from feedback.policies import Scores, build_policy, decide
from feedback.privacy import stored_unit_id
from feedback.rewards import default_objective
from feedback.store import Store
from server.handlers.features import ScoreItem, build_feeds, validate_item
from server.runtime.caches import Assignment, Experiments, PolicyStates
from server.runtime.decision_log import DecisionLog
from server.runtime.metrics import ServerMetrics
from server.runtime.model import LoadedModel, Prediction
from server.runtime.models import ModelManager
from server.runtime.shadow import ShadowContext, ShadowJob, ShadowScorer


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """One decision and the scores behind it, held as columns (one entry per candidate, in
    request order): building a dict per candidate costs more than the model on small models."""

    campaign_ids: list[str]
    probability: dict[str, list[float]]  # per target: with the campaign
    uplift: dict[str, list[float]]  # per target: versus no campaign (the model's own estimate)
    propensities: list[float]  # the policy's probability of choosing each candidate
    decision_id: str
    campaign_id: str | None  # None: no campaign
    propensity: float
    no_campaign_propensity: float
    experiment: str
    variant: str
    policy: str
    model_version: str
    decided_at: datetime
    propensity_method: str = "exact"
    # Per target: the probability without any campaign (the same for every candidate).
    control: dict[str, float] = field(default_factory=dict)
    # Per revenue output (e.g. spend): expected value with each candidate, and its uplift.
    expected: dict[str, list[float]] = field(default_factory=dict)
    expected_uplift: dict[str, list[float]] = field(default_factory=dict)


class Scorer:
    def __init__(
        self,
        models: ModelManager,
        store: Store,
        decisions: DecisionLog,
        settings: Settings,
        metrics: ServerMetrics | None = None,
        shadow: ShadowScorer | None = None,
    ) -> None:
        self._metrics = metrics
        self._shadow = shadow
        self._models = models
        self._decisions = decisions
        self._experiments = Experiments(store)
        self._states = PolicyStates(store, settings.policy_state_refresh_s)
        self._settings = settings
        self._unit_key = settings.unit_id_hash_key.get_secret_value().encode("utf-8")
        self._default_policy = build_policy(settings.policy_config())

    def score(self, items: Sequence[ScoreItem]) -> list[ScoreResult]:
        if len(items) > self._settings.max_batch:
            raise ResourceExhausted(
                f"requests has {len(items)} entries; the limit is {self._settings.max_batch}"
            )
        for item in items:
            validate_item(item, self._settings.max_candidates)
        # Variants first: an unknown experiment fails the call before any model runs.
        assigned = [self._assign(item) for item in items]
        # Each item's model: its pinned version, else the canary or production by unit id.
        by_model: dict[str, tuple[LoadedModel, list[int]]] = {}
        for i, item in enumerate(items):
            if item.model_version:
                model = self._models.get(item.model_version)
            else:
                model = self._models.for_unit(item.unit_id)
            by_model.setdefault(model.version, (model, []))[1].append(i)
        results: list[ScoreResult | None] = [None] * len(items)
        records: list[Callable[[], DecisionRecord]] = []
        for model, indices in by_model.values():
            group = [(items[i], assigned[i]) for i in indices]
            for i, (result, record) in zip(indices, self._score_group(group, model), strict=True):
                results[i] = result
                records.append(record)
        if self._settings.decision_log:
            self._decisions.submit(records)
        return [r for r in results if r is not None]

    def _assign(self, item: ScoreItem) -> Assignment:
        """The item's experiment variant and policy, or the default policy."""
        if item.experiment:
            return self._experiments.assign(item.experiment, item.unit_id, item.user_features)
        # The default path learns like a variant (feedback/policy_state.py DefaultPath).
        key = ("", "") if self._default_policy.stateful else None
        return Assignment("", "", self._default_policy, key)

    def _score_group(
        self, group: list[tuple[ScoreItem, Assignment]], model: LoadedModel
    ) -> list[tuple[ScoreResult, Callable[[], DecisionRecord]]]:
        began = time.perf_counter()
        feeds = build_feeds([item for item, _ in group], model)
        predictions = model.predict_all(feeds)
        if self._metrics is not None:
            self._metrics.model_seconds.labels(model.version).observe(time.perf_counter() - began)
            self._metrics.pairs.labels(model.version).inc(len(next(iter(feeds.values()))))
        configured = default_objective(model.objectives, self._settings.objective)
        out = []
        start = 0
        for item, assignment in group:
            stop = start + len(item.candidates)
            rows = {name: p.rows(start, stop) for name, p in predictions.items()}
            objective = assignment.policy.objective or configured
            if objective not in rows:
                raise FailedPrecondition(
                    f"experiment {item.experiment!r} variant {assignment.variant!r}: objective "
                    f"{objective!r} is not an output of model version {model.version} "
                    f"(targets {list(model.targets)}, revenue {list(model.revenue)})"
                )
            out.append(self._decide(item, assignment, model, rows, objective))
            if self._metrics is not None:
                self._metrics.decisions.labels(out[-1][0].policy, model.version).inc()
            start = stop
        self._shadow_score(model, group, feeds, out, configured)
        return out

    def _shadow_score(
        self,
        model: LoadedModel,
        group: list[tuple[ScoreItem, Assignment]],
        feeds: dict[str, np.ndarray],
        out: list[tuple[ScoreResult, Callable[[], DecisionRecord]]],
        configured: str,
    ) -> None:
        """Hands production's batch to the shadow version, if one is set (never waits): it
        re-scores the rows and decides with each decision's own policy and state."""
        shadow = self._models.shadow
        current = self._models.current
        if self._shadow is None or shadow is None or current is None:
            return
        if model is not current or shadow.version == model.version:
            return
        contexts = [
            ShadowContext(
                policy=a.policy,
                state=self._states.get(a.state_key, a.policy) if a.state_key else None,
                objective=a.policy.objective
                or default_objective(shadow.objectives, self._settings.objective),
                user_features=item.user_features,
                campaign_ids=[c.campaign_id for c in item.candidates],
            )
            for item, a in group
        ]
        self._shadow.submit(
            ShadowJob(
                shadow=shadow,
                production_version=model.version,
                feeds=feeds,
                decision_ids=[result.decision_id for result, _ in out],
                sizes=[len(item.candidates) for item, _ in group],
                contexts=contexts,
            )
        )

    def _decide(
        self,
        item: ScoreItem,
        assignment: Assignment,
        model: LoadedModel,
        rows: dict[str, Prediction],
        objective: str,
    ) -> tuple[ScoreResult, Callable[[], DecisionRecord]]:
        policy = assignment.policy
        ids = [c.campaign_id for c in item.candidates]
        chosen_objective = rows[objective]
        state = (
            self._states.get(assignment.state_key, policy)
            if assignment.state_key is not None
            else None
        )
        decision = uuid.uuid4()
        choice = decide(
            policy,
            Scores(
                value=chosen_objective.value.astype(np.float64),
                uplift=chosen_objective.uplift.astype(np.float64),
                control=float(chosen_objective.control[0]) if len(ids) else 0.0,
                heads=chosen_objective.heads,
            ),
            ids,
            user_features=item.user_features,
            state=state,
            rng=np.random.default_rng(decision.int),
        )
        chosen = choice.index
        no_campaign = choice.no_campaign
        propensities = choice.probabilities.tolist()
        targets = [t for t in model.targets if t in rows]
        result = ScoreResult(
            campaign_ids=ids,
            probability={t: rows[t].value.tolist() for t in targets},
            uplift={t: rows[t].uplift.tolist() for t in targets},
            propensities=propensities[:-1],
            decision_id=decision.hex,
            campaign_id=None if no_campaign else ids[chosen],
            propensity=propensities[chosen],
            no_campaign_propensity=propensities[-1],
            experiment=assignment.experiment,
            variant=assignment.variant,
            policy=policy.name,
            model_version=model.version,
            decided_at=datetime.now(UTC),
            propensity_method=policy.propensity_method,
            control={t: float(rows[t].control[0]) for t in targets if len(ids)},
            expected={r: rows[r].value.tolist() for r in model.revenue},
            expected_uplift={r: rows[r].uplift.tolist() for r in model.revenue},
        )
        # The record (a dict per candidate, JSON later) is built by the decision log's writer.
        unit_id = stored_unit_id(item.unit_id, self._unit_key)
        return result, functools.partial(decision_record, item, result, model, unit_id)


def decision_record(
    item: ScoreItem, result: ScoreResult, model: LoadedModel, unit_id: str
) -> DecisionRecord:
    """What the store keeps of a decision: everything needed to replay or re-weight it."""
    if result.campaign_id is None:
        chosen_features = dict(model.control)
    else:
        chosen = item.candidates[result.campaign_ids.index(result.campaign_id)]
        chosen_features = {k: chosen.features.get(k) for k in model.campaign_features}
    probability, uplift = result.probability, result.uplift
    expected, expected_uplift = result.expected, result.expected_uplift
    return DecisionRecord(
        decision_id=result.decision_id,
        unit_id=unit_id,
        experiment=result.experiment,
        variant=result.variant,
        policy=result.policy,
        model_version=result.model_version,
        campaign_id=result.campaign_id,
        propensity=result.propensity,
        propensity_method=result.propensity_method,
        user_features=dict(item.user_features),
        candidates=[
            {
                "campaign_id": cid,
                "features": dict(item.candidates[j].features),
                "probability": {t: v[j] for t, v in probability.items()},
                "uplift": {t: v[j] for t, v in uplift.items()},
                "control": result.control,
                "propensity": result.propensities[j],
                **(
                    {
                        "expected": {r: v[j] for r, v in expected.items()},
                        "expected_uplift": {r: v[j] for r, v in expected_uplift.items()},
                    }
                    if expected
                    else {}
                ),
            }
            for j, cid in enumerate(result.campaign_ids)
        ],
        chosen_features=chosen_features,
        created_at=result.decided_at,
    )
