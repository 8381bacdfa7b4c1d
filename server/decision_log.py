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
from feedback.store import Store

log = logging.getLogger(__name__)

Pending = DecisionRecord | Callable[[], DecisionRecord]


class DecisionLog:
    def __init__(
        self,
        store: Store,
        *,
        flush_interval_s: float = 0.05,
        max_queue: int = 100_000,
        batch_size: int = 2000,
    ) -> None:
        self._store = store
        self._flush_interval_s = flush_interval_s
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._queue: deque[Pending] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._in_flight = 0
        self.written = 0
        self.write_failures = 0
        self.dropped = 0
        self.refused = 0  # submitted while the queue was full: Score answered UNAVAILABLE
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    def submit(self, records: Sequence[Pending]) -> None:
        with self._cond:
            if self._closing:
                raise Unavailable("server is shutting down")
            if len(self._queue) + len(records) > self._max_queue:
                self.refused += len(records)
                raise Unavailable(
                    f"decision log is full ({len(self._queue)} waiting): "
                    "the store is not keeping up"
                )
            self._queue.extend(records)
            if len(self._queue) >= self._batch_size:
                self._cond.notify()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + self._in_flight

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Waits until everything submitted so far is committed; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._cond.notify()
        while self.pending:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout_s: float = 30.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout_s)
        if self.pending:
            log.error("decision log closed with %d decisions not written", self.pending)

    def _take(self) -> list[Pending]:
        with self._cond:
            if not self._queue and not self._closing:
                self._cond.wait(self._flush_interval_s)
            n = min(len(self._queue), self._batch_size)
            batch = [self._queue.popleft() for _ in range(n)]
            self._in_flight = len(batch)
            return batch

    def _run(self) -> None:
        while True:
            pending = self._take()
            if not pending:
                if self._closing:
                    return
                continue
            backoff = 0.05
            written = 0
            try:
                batch = [r if isinstance(r, DecisionRecord) else r() for r in pending]
            except Exception:  # a bug in building records: logged loudly, never retried
                log.exception("dropping a decision batch of %d", len(pending))
                self.dropped += len(pending)
                batch = []
            while batch:
                try:
                    write_decisions(self._store, batch)
                    written = len(batch)
                    break
                except CampaignLiftError as exc:
                    self.write_failures += 1
                    log.warning("decision batch of %d not written yet: %s", len(batch), exc.message)
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                except Exception:
                    # A bug, not an outage: retrying cannot help. Counted and logged loudly.
                    log.exception("dropping a decision batch of %d", len(batch))
                    self.dropped += len(batch)
                    break
            with self._cond:
                self._in_flight = 0
                self.written += written
