"""Shadow scoring off the hot path: production's batches are re-scored by the shadow version in
a background thread, which also decides what each decision's policy would have chosen with the
shadow's predictions (feedback.policies.decide, as Score does); both are stored for
comparison, never returned. A full queue drops work (counted) rather than slowing Score."""

from __future__ import annotations

import threading
import uuid
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from feedback.policies import Policy, Scores, decide
from feedback.shadow import ShadowRecord, write_shadow_predictions
from feedback.store import Store
from server.runtime.model import LoadedModel, Prediction
from server.runtime.worker import BackgroundWorker


@dataclass(frozen=True, slots=True)
class ShadowContext:
    """What a decision's policy saw, to decide again with the shadow's predictions."""

    policy: Policy
    state: Any
    objective: str
    user_features: Mapping[str, Any]
    campaign_ids: list[str]


@dataclass(frozen=True, slots=True)
class ShadowJob:
    shadow: LoadedModel
    production_version: str
    feeds: dict[str, np.ndarray]
    decision_ids: list[str]
    sizes: list[int]  # candidates per decision, in row order
    contexts: list[ShadowContext] = field(default_factory=list)


class ShadowScorer(BackgroundWorker):
    def __init__(self, store: Store, *, max_jobs: int = 256) -> None:
        super().__init__("shadow", None)
        self._store = store
        self._jobs: deque[ShadowJob] = deque()
        self._max_jobs = max_jobs
        self._lock = threading.Lock()
        self.scored = 0
        self.dropped = 0
        self.start()

    def submit(self, job: ShadowJob) -> None:
        with self._lock:
            if len(self._jobs) >= self._max_jobs:
                self.dropped += len(job.decision_ids)
                return
            self._jobs.append(job)
        self.wake()

    def close(self, timeout_s: float = 10.0) -> None:
        self.stop(timeout_s)

    def step(self) -> None:
        while True:
            with self._lock:
                if not self._jobs:
                    return
                job = self._jobs.popleft()
            self._score(job)

    def final(self) -> None:
        self.run_step()

    def _score(self, job: ShadowJob) -> None:
        predictions = job.shadow.predict_all(job.feeds)
        now = datetime.now(UTC)
        records, start = [], 0
        contexts: list[ShadowContext | None] = list(job.contexts) or [None] * len(job.sizes)
        for decision_id, size, context in zip(job.decision_ids, job.sizes, contexts, strict=True):
            stop = start + size
            choice = _choice(context, predictions, decision_id, start, stop) if context else {}
            records.append(
                ShadowRecord(
                    decision_id=decision_id,
                    shadow_version=int(job.shadow.version),
                    production_version=int(job.production_version),
                    predictions={
                        t: {
                            "probability": p.value[start:stop].astype(float).tolist(),
                            "uplift": p.uplift[start:stop].astype(float).tolist(),
                        }
                        for t, p in predictions.items()
                        if t in job.shadow.targets
                    },
                    decision=choice,
                    created_at=now,
                )
            )
            start = stop
        write_shadow_predictions(self._store, records)
        self.scored += len(records)


def _seed(decision_id: str) -> int:
    """Score's seed of the decision (its id as a number): a shadow identical to production
    draws what production drew and decides alike."""
    try:
        return uuid.UUID(hex=decision_id).int
    except ValueError:
        return zlib.crc32(decision_id.encode())


def _choice(
    context: ShadowContext,
    predictions: Mapping[str, Prediction],
    decision_id: str,
    start: int,
    stop: int,
) -> dict[str, Any]:
    """What the decision's policy would have chosen with the shadow's predictions, with its
    probability; empty when the shadow lacks the policy's objective."""
    scored = predictions.get(context.objective)
    if scored is None:
        return {}
    choice = decide(
        context.policy,
        Scores(
            value=scored.value[start:stop].astype(np.float64),
            uplift=scored.uplift[start:stop].astype(np.float64),
            control=float(scored.control[start]),
            heads=None if scored.heads is None else scored.heads[start:stop],
        ),
        context.campaign_ids,
        user_features=context.user_features,
        state=context.state,
        rng=np.random.default_rng(_seed(decision_id)),
    )
    chosen = None if choice.no_campaign else context.campaign_ids[choice.index]
    return {"campaign_id": chosen, "propensity": choice.propensity, "policy": context.policy.name}
