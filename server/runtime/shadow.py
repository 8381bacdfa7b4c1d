"""Shadow scoring off the hot path: production's batches are re-scored by the shadow version in
a background thread and its predictions stored for comparison, never returned. A full queue
drops work (counted) rather than slowing or failing Score."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from feedback.shadow import ShadowRecord, write_shadow_predictions
from feedback.store import Store
from server.runtime.model import LoadedModel
from server.runtime.worker import BackgroundWorker


@dataclass(frozen=True, slots=True)
class ShadowJob:
    shadow: LoadedModel
    production_version: str
    feeds: dict[str, np.ndarray]
    decision_ids: list[str]
    sizes: list[int]  # candidates per decision, in row order


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
        for decision_id, size in zip(job.decision_ids, job.sizes, strict=True):
            stop = start + size
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
                    created_at=now,
                )
            )
            start = stop
        write_shadow_predictions(self._store, records)
        self.scored += len(records)
