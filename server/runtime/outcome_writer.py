"""Group commit for feedback: concurrent LogOutcomes / StreamOutcomes calls hand their
(validated) outcomes to one writer thread, which commits everything waiting in one
transaction and then answers each call with its own counts. A call returns only after the
commit that holds its rows, so nothing acknowledged can be lost; when a group's commit fails,
each of its calls is committed on its own, so a call fails only for its own rows (or the
store's outage). No call waits for company: while one commit runs the
next calls queue, which is where the batching comes from.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from feedback.outcomes import LogResult, Outcome, log_outcome_groups
from feedback.store import Store

# Rows one commit takes at most (several calls' worth; a call is never split).
MAX_GROUP_ROWS = 20_000


class OutcomeWriter:
    def __init__(self, store: Store, default_window_s: float) -> None:
        self._store = store
        self._window_s = default_window_s
        self._queue: queue.SimpleQueue[tuple[Sequence[Outcome], Future[LogResult]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="outcome-writer", daemon=True)
        self._started = False
        self._lock = threading.Lock()
        self.commits = 0
        self.calls = 0

    def _ensure_started(self) -> None:
        if not self._started:
            with self._lock:
                if not self._started:
                    self._thread.start()
                    self._started = True

    def log(self, outcomes: Sequence[Outcome]) -> LogResult:
        """Blocks until the commit holding these outcomes is done; its counts for them. The
        outcomes must have been validated (feedback.outcomes.validate_outcome): a bad one
        would fail every call of its group."""
        self._ensure_started()
        future: Future[LogResult] = Future()
        self._queue.put((outcomes, future))
        return future.result()

    def close(self) -> None:
        """Ends the thread after the calls already queued are committed."""
        if self._started:
            self._queue.put(None)
            self._thread.join(30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            rows = len(first[0])
            stop = False
            while rows < MAX_GROUP_ROWS:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
                rows += len(more[0])
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[Sequence[Outcome], Future[LogResult]]]) -> None:
        try:
            results = log_outcome_groups(
                self._store,
                [o for o, _ in batch],
                default_window_s=self._window_s,
                validated=True,  # each call was checked before it was queued
            )
        except BaseException as exc:  # never leaves a caller waiting
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            # One call's rows may be what the store refused: each call is committed on its
            # own, so that only the calls that fail alone hear of a failure.
            for call in batch:
                self._commit([call])
            return
        self.commits += 1
        self.calls += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
