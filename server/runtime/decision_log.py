"""Decisions leave the scoring path through a bounded queue and reach the store in batches.

Score returns before its decision is committed; a background writer commits batches every
`flush_interval_s` or when `batch_size` are waiting, and retries while the store is down.
Score may submit a decision as a callable that builds its record: the writer builds it, so the
per-candidate dictionaries and their JSON are made off the request's path.
On graceful shutdown the queue is drained. On a crash (SIGKILL) the decisions still queued are
lost (at most `max_queue`; normally those of the last flush interval, as the writer keeps up);
outcomes for them are still stored and simply join no decision, so reports count those
decisions' outcomes nowhere rather than wrongly.
When the queue is full, Score answers UNAVAILABLE instead of growing memory without bound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from common.errors import CampaignLiftError, Unavailable
from feedback.decisions import DecisionRecord, write_decisions
from feedback.rewards import DEFAULT_ATTRIBUTION_WINDOW_S
from feedback.store import Store
from server.runtime.worker import BackgroundWorker

log = logging.getLogger(__name__)

Pending = DecisionRecord | Callable[[], DecisionRecord]
MAX_BACKOFF_S = 2.0


class DecisionLog(BackgroundWorker):
    def __init__(
        self,
        store: Store,
        *,
        flush_interval_s: float = 0.05,
        max_queue: int = 100_000,
        batch_size: int = 2000,
        default_window_s: float = DEFAULT_ATTRIBUTION_WINDOW_S,
    ) -> None:
        super().__init__("decision-log", flush_interval_s)
        self._store = store
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._default_window_s = default_window_s
        self._queue: deque[Pending] = deque()
        self._lock = threading.Lock()
        self._closing = False
        self._in_flight = 0
        self.written = 0
        self.write_failures = 0
        self.dropped = 0
        self.refused = 0  # submitted while the queue was full: Score answered UNAVAILABLE
        self.start()

    def submit(self, records: Sequence[Pending]) -> None:
        with self._lock:
            if self._closing:
                raise Unavailable("server is shutting down")
            if len(self._queue) + len(records) > self._max_queue:
                self.refused += len(records)
                raise Unavailable(
                    f"decision log is full ({len(self._queue)} waiting): "
                    "the store is not keeping up"
                )
            self._queue.extend(records)
            full = len(self._queue) >= self._batch_size
        if full:
            self.wake()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + self._in_flight

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Waits until everything submitted so far is committed; False on timeout."""
        deadline = time.monotonic() + timeout_s
        self.wake()
        while self.pending:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout_s: float = 30.0) -> None:
        with self._lock:
            self._closing = True
        self.stop(timeout_s)
        if self.pending:
            log.error("decision log closed with %d decisions not written", self.pending)

    def step(self) -> None:
        while self._write_batch():
            pass

    def final(self) -> None:
        self.step()  # drain

    def _take(self) -> list[Pending]:
        with self._lock:
            n = min(len(self._queue), self._batch_size)
            batch = [self._queue.popleft() for _ in range(n)]
            self._in_flight = len(batch)
            return batch

    def _write_batch(self) -> bool:
        """Writes one batch (retrying while the store is down); False when the queue was empty."""
        pending = self._take()
        if not pending:
            return False
        written = 0
        try:
            batch = [r if isinstance(r, DecisionRecord) else r() for r in pending]
        except Exception:  # a bug in building records: logged loudly, never retried
            log.exception("dropping a decision batch of %d", len(pending))
            self.dropped += len(pending)
            batch = []
        backoff = 0.05
        while batch:
            try:
                write_decisions(self._store, batch, default_window_s=self._default_window_s)
                written = len(batch)
                break
            except CampaignLiftError as exc:
                self.write_failures += 1
                log.warning("decision batch of %d not written yet: %s", len(batch), exc.message)
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            except Exception:
                # A bug, not an outage: retrying cannot help. Counted and logged loudly.
                log.exception("dropping a decision batch of %d", len(batch))
                self.dropped += len(batch)
                break
        with self._lock:
            self._in_flight = 0
            self.written += written
        return True
