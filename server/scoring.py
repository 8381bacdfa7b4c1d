"""The scoring handler, transport-free: validate, run the model once per batch, decide, log."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from common.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from common.settings import Settings
from feedback.decisions import DecisionRecord
from feedback.experiments import Experiment, get_experiment
from feedback.store import Store
from server.assignment import choose_variant
from server.decision_log import DecisionLog
from server.features import ScoreItem, build_feeds, validate_item
from server.metrics import ServerMetrics
from server.model import LoadedModel
from server.policy import Policy, build_policy, sample
from server.registry_client import ModelManager
from server.shadow import ShadowJob, ShadowScorer

EXPERIMENT_CACHE_S = 2.0


@dataclass(frozen=True, slots=True)
class CandidateResult:
    campaign_id: str
    probability: dict[str, float]
    uplift: dict[str, float]
    propensity: float


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """One decision and the scores behind it, held as columns (one entry per candidate, in
    request order): building a dict per candidate costs more than the model on small models."""

    campaign_ids: list[str]
    probability: dict[str, list[float]]  # per target: with the campaign
    uplift: dict[str, list[float]]  # per target: versus no campaign
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

    @property
    def candidates(self) -> list[CandidateResult]:
        return [
            CandidateResult(
                campaign_id=cid,
                probability={t: v[j] for t, v in self.probability.items()},
                uplift={t: v[j] for t, v in self.uplift.items()},
                propensity=self.propensities[j],
            )
            for j, cid in enumerate(self.campaign_ids)
        ]


class Experiments:
    """Experiments read from the store, cached briefly so Score does not query per request."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: dict[str, tuple[float, Experiment, list[Policy]]] = {}
        self._lock = threading.Lock()

    def assign(self, name: str, unit_id: str) -> tuple[str, Policy]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
        if hit is None or hit[0] < now:
            experiment = get_experiment(self._store, name)
            try:
                policies = [build_policy(v.policy) for v in experiment.variants]
            except InvalidArgument as exc:  # the experiment's config is wrong, not the request
                raise FailedPrecondition(
                    f"experiment {name!r} is misconfigured: {exc.message}"
                ) from exc
            hit = (now + EXPERIMENT_CACHE_S, experiment, policies)
            with self._lock:
                self._cache[name] = hit
        _, experiment, policies = hit
        i = choose_variant(experiment.salt, unit_id, [v.weight for v in experiment.variants])
        return experiment.variants[i].name, policies[i]


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
        self._settings = settings
        self._default_policy = build_policy({"type": settings.policy, "epsilon": settings.epsilon})

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

    def _assign(self, item: ScoreItem) -> tuple[str, Policy]:
        """(variant, policy) for the item: its experiment's, or the default policy's."""
        if item.experiment:
            return self._experiments.assign(item.experiment, item.unit_id)
        return "", self._default_policy

    def _score_group(
        self, group: list[tuple[ScoreItem, tuple[str, Policy]]], model: LoadedModel
    ) -> list[tuple[ScoreResult, Callable[[], DecisionRecord]]]:
        began = time.perf_counter()
        feeds = build_feeds([item for item, _ in group], model)
        predictions = model.predict(feeds)
        if self._metrics is not None:
            self._metrics.model_seconds.labels(model.version).observe(time.perf_counter() - began)
            self._metrics.pairs.labels(model.version).inc(len(next(iter(feeds.values()))))
        objective = self._settings.objective
        if objective not in model.targets:
            objective = model.targets[0]
        out = []
        start = 0
        for item, (variant, policy) in group:
            stop = start + len(item.candidates)
            rows = {t: (p[start:stop], u[start:stop]) for t, (p, u) in predictions.items()}
            out.append(self._decide(item, variant, policy, model, rows, objective))
            if self._metrics is not None:
                self._metrics.decisions.labels(out[-1][0].policy, model.version).inc()
            start = stop
        self._shadow_score(model, [item for item, _ in group], feeds, out)
        return out

    def _shadow_score(
        self,
        model: LoadedModel,
        items: list[ScoreItem],
        feeds: dict[str, np.ndarray],
        out: list[tuple[ScoreResult, Callable[[], DecisionRecord]]],
    ) -> None:
        """Hands production's batch to the shadow version, if one is set (never waits)."""
        shadow = self._models.shadow
        current = self._models.current
        if self._shadow is None or shadow is None or current is None:
            return
        if model is not current or shadow.version == model.version:
            return
        self._shadow.submit(
            ShadowJob(
                shadow=shadow,
                production_version=model.version,
                feeds=feeds,
                decision_ids=[result.decision_id for result, _ in out],
                sizes=[len(item.candidates) for item in items],
            )
        )

    def _decide(
        self,
        item: ScoreItem,
        variant: str,
        policy: Policy,
        model: LoadedModel,
        rows: dict[str, tuple[np.ndarray, np.ndarray]],
        objective: str,
    ) -> tuple[ScoreResult, Callable[[], DecisionRecord]]:
        ids = [c.campaign_id for c in item.candidates]
        probs = policy.probabilities(rows[objective][1].astype(np.float64), ids)
        decision = uuid.uuid4()
        chosen = sample(probs, np.random.default_rng(decision.int))
        no_campaign = chosen == len(ids)
        propensities = probs.tolist()
        result = ScoreResult(
            campaign_ids=ids,
            probability={t: p.tolist() for t, (p, _) in rows.items()},
            uplift={t: u.tolist() for t, (_, u) in rows.items()},
            propensities=propensities[:-1],
            decision_id=decision.hex,
            campaign_id=None if no_campaign else ids[chosen],
            propensity=propensities[chosen],
            no_campaign_propensity=propensities[-1],
            experiment=item.experiment,
            variant=variant,
            policy=policy.name,
            model_version=model.version,
            decided_at=datetime.now(UTC),
        )
        # The record (a dict per candidate, JSON later) is built by the decision log's writer.
        return result, functools.partial(decision_record, item, result, model)


def decision_record(item: ScoreItem, result: ScoreResult, model: LoadedModel) -> DecisionRecord:
    """What the store keeps of a decision: everything needed to replay or re-weight it."""
    if result.campaign_id is None:
        chosen_features = dict(model.control)
    else:
        chosen = item.candidates[result.campaign_ids.index(result.campaign_id)]
        chosen_features = {k: chosen.features.get(k) for k in model.campaign_features}
    probability, uplift = result.probability, result.uplift
    return DecisionRecord(
        decision_id=result.decision_id,
        unit_id=item.unit_id,
        experiment=item.experiment,
        variant=result.variant,
        policy=result.policy,
        model_version=result.model_version,
        campaign_id=result.campaign_id,
        propensity=result.propensity,
        user_features=dict(item.user_features),
        candidates=[
            {
                "campaign_id": cid,
                "features": dict(item.candidates[j].features),
                "probability": {t: v[j] for t, v in probability.items()},
                "uplift": {t: v[j] for t, v in uplift.items()},
                "propensity": result.propensities[j],
            }
            for j, cid in enumerate(result.campaign_ids)
        ],
        chosen_features=chosen_features,
        created_at=result.decided_at,
    )
