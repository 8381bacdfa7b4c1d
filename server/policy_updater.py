"""Folds settled decisions into learning policies' state, in the background of every replica.

Runs every `policy_update_interval_s`, and sooner once `policy_update_after_outcomes` outcomes
arrived here since the last pass. Every replica may run it: feedback/policy_state.py applies each
decision exactly once (compare-and-set on the watermark), so replicas only share the work.
"""

from __future__ import annotations

import logging
import threading

from common.settings import Settings
from feedback.policy_state import UpdateResult, update_all
from feedback.store import Store

log = logging.getLogger(__name__)


class PolicyUpdater:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._interval_s = settings.policy_update_interval_s
        self._after_outcomes = settings.policy_update_after_outcomes
        self._grace_s = settings.policy_update_grace_s
        self._objective = settings.objective
        self._wake = threading.Event()
        self._closing = False
        self._lock = threading.Lock()
        self._since_update = 0
        self.passes = 0
        self.folded = 0  # decisions this replica folded in
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name="policy-updater", daemon=True)
        self._thread.start()

    def poke(self, outcomes: int) -> None:
        """Called after outcomes are committed; returns at once."""
        if self._after_outcomes <= 0:
            return
        with self._lock:
            self._since_update += outcomes
            due = self._since_update >= self._after_outcomes
        if due:
            self._wake.set()

    def run_once(self) -> list[UpdateResult]:
        with self._lock:
            self._since_update = 0
        results = update_all(self._store, grace_s=self._grace_s, default_objective=self._objective)
        self.passes += 1
        self.folded += sum(r.decisions for r in results if r.applied)
        return results

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            if self._closing:
                return
            try:
                self.run_once()
            except Exception:  # the store may be down: keep serving, try again next time
                self.errors += 1
                log.exception("policy update failed; retrying in %.1f s", self._interval_s)

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=30)
