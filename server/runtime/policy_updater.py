"""Folds settled decisions into learning policies' state, in the background of every replica.

Runs every `policy_update_interval_s`, and sooner once `policy_update_after_outcomes` outcomes
arrived here since the last pass. Every replica may run it: feedback/policy_state.py applies each
decision exactly once (compare-and-set on the watermark), so replicas only share the work.
"""

from __future__ import annotations

import threading

from common.settings import Settings
from feedback.policy_state import UpdateResult, update_all
from feedback.store import Store
from server.runtime.worker import BackgroundWorker


class PolicyUpdater(BackgroundWorker):
    def __init__(self, store: Store, settings: Settings) -> None:
        super().__init__("policy-updater", settings.policy_update_interval_s)
        self._store = store
        self._after_outcomes = settings.policy_update_after_outcomes
        self._grace_s = settings.policy_update_grace_s
        self._objective = settings.objective
        self._default_policy = settings.policy_config()
        self._window_s = settings.attribution_window_s
        self._lock = threading.Lock()
        self._since_update = 0
        self.folded = 0  # decisions this replica folded in
        self.start()

    def poke(self, outcomes: int) -> None:
        """Called after outcomes are committed; returns at once."""
        if self._after_outcomes <= 0:
            return
        with self._lock:
            self._since_update += outcomes
            due = self._since_update >= self._after_outcomes
        if due:
            self.wake()

    def run_once(self) -> list[UpdateResult]:
        with self._lock:
            self._since_update = 0
        results = update_all(
            self._store,
            grace_s=self._grace_s,
            default_objective=self._objective,
            default_policy=self._default_policy,
            default_window_s=self._window_s,
        )
        self.folded += sum(r.decisions for r in results if r.applied)
        return results

    def step(self) -> None:
        self.run_once()

    @property
    def passes(self) -> int:
        return self.steps

    def close(self) -> None:
        self.stop(timeout_s=30)
