"""Runs retrain jobs in the background of a server when the trigger says so."""

from __future__ import annotations

import logging
import threading

from threadpoolctl import threadpool_limits

from common.settings import Settings
from feedback.store import Store
from feedback.trigger import TriggerRules, claim_retrain
from server.registry_client import ModelManager
from trainer.retrain import RetrainConfig, not_ready_reason, run_job

log = logging.getLogger(__name__)


class RetrainRunner:
    """At most one job per process; the store's claim makes it at most one per window overall."""

    def __init__(self, store: Store, settings: Settings, models: ModelManager) -> None:
        self._store = store
        self._rules = TriggerRules(
            min_new_outcomes=settings.retrain_after_outcomes,
            max_production_age_s=settings.retrain_max_production_age_s,
            drift_tolerance=settings.retrain_drift_tolerance,
            drift_window_s=settings.retrain_drift_window_s,
            drift_lag_s=settings.attribution_window_s,
            drift_min_decisions=settings.retrain_drift_min_decisions,
        )
        self._config = RetrainConfig.from_settings(settings)
        self._models = models
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def poke(self) -> None:
        """Called after outcomes are committed; returns at once."""
        if not self._rules.enabled:
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="retrain", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            # Checked before claiming: a claim consumes its window of outcomes.
            if not_ready_reason(self._store, self._config) is not None:
                return
            job = claim_retrain(self._store, rules=self._rules)
            if job is None:
                return
            # One native thread: OpenMP workers spinning beside the serving threads would
            # oversubscribe the cores (a 2-second retrain took 45 s under load).
            with threadpool_limits(limits=1):
                result = run_job(self._store, job, self._config)
            if result is not None and result.promoted:
                self._models.refresh()
        except Exception:
            log.exception("retrain runner failed")

    def join(self, timeout_s: float = 300.0) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
