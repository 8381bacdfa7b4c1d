"""Shadow scoring off the hot path: production's batches are re-scored by the shadow version in
a background thread and its predictions stored for comparison, never returned. A full queue
drops work (counted) rather than slowing or failing Score."""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from common.errors import CampaignLiftError
from feedback.shadow import ShadowRecord, write_shadow_predictions
from feedback.store import Store
from server.model import LoadedModel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ShadowJob:
    shadow: LoadedModel
    production_version: str
    feeds: dict[str, np.ndarray]
    decision_ids: list[str]
    sizes: list[int]  # candidates per decision, in row order


class ShadowScorer:
    def __init__(self, store: Store, *, max_jobs: int = 256) -> None:
        self._store = store
        self._jobs: deque[ShadowJob] = deque()
        self._max_jobs = max_jobs
        self._cond = threading.Condition()
        self._closing = False
        self.scored = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
        self._thread.start()

    def submit(self, job: ShadowJob) -> None:
        with self._cond:
            if len(self._jobs) >= self._max_jobs:
                self.dropped += len(job.decision_ids)
                return
            self._jobs.append(job)
            self._cond.notify()

    def close(self, timeout_s: float = 10.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closing:
                    self._cond.wait()
                if not self._jobs:
                    return
                job = self._jobs.popleft()
            try:
                self._score(job)
            except CampaignLiftError as exc:
                log.warning(
                    "shadow predictions of %d decisions lost: %s",
                    len(job.decision_ids),
                    exc.message,
                )
            except Exception:
                log.exception("shadow scoring failed for %d decisions", len(job.decision_ids))

    def _score(self, job: ShadowJob) -> None:
        predictions = job.shadow.predict(job.feeds)
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
                            "probability": probability[start:stop].astype(float).tolist(),
                            "uplift": uplift[start:stop].astype(float).tolist(),
                        }
                        for t, (probability, uplift) in predictions.items()
                    },
                    created_at=now,
                )
            )
            start = stop
        write_shadow_predictions(self._store, records)
        self.scored += len(records)
