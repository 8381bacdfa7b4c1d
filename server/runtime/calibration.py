"""Calibration gauges: a background thread recomputes feedback/monitoring.py's rows on a timer
and exports them through the server's Prometheus registry."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import timedelta

from feedback.monitoring import CalibrationRow, ScoredMinutes, calibration
from feedback.store import Store
from server.runtime.metrics import ServerMetrics
from server.runtime.worker import BackgroundWorker


class CalibrationMonitor(BackgroundWorker):
    """Refreshes the calibration gauges every `interval_s` (0: only when refresh() is called).
    `labels` gives the served models' targets with the outcome type labelling each."""

    def __init__(
        self,
        store: Store,
        metrics: ServerMetrics,
        *,
        window_s: float,
        interval_s: float,
        labels: Callable[[], Mapping[str, str] | None] = lambda: None,
    ) -> None:
        super().__init__("calibration", interval_s or None)
        self._store = store
        self._m = metrics
        self._window = timedelta(seconds=window_s)
        self._labels = labels
        self._enabled = interval_s > 0
        # Whole minutes' predicted sums between refreshes: each refresh reads what is new.
        self._scored = ScoredMinutes()
        self._lock = threading.Lock()  # the timer and a caller of refresh() share the cache

    def start(self) -> None:
        if self._enabled:
            super().start()

    def step(self) -> None:
        self.refresh()

    def refresh(self) -> list[CalibrationRow]:
        """Recomputes every gauge; label sets absent from the new window are removed."""
        with self._lock:
            rows = calibration(self._store, self._window, labels=self._labels(), cache=self._scored)
        gauges = (
            self._m.calibration_predicted,
            self._m.calibration_observed,
            self._m.calibration_ratio,
            self._m.calibration_decisions,
        )
        for gauge in gauges:
            gauge.clear()
        for r in rows:
            labels = (r.campaign_id or "none", r.model_version, r.target)
            self._m.calibration_predicted.labels(*labels).set(r.predicted)
            self._m.calibration_observed.labels(*labels).set(r.observed)
            self._m.calibration_ratio.labels(*labels).set(r.ratio)
            self._m.calibration_decisions.labels(*labels).set(r.count)
        return rows
