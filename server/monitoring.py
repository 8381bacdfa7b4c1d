"""Calibration gauges: a background thread recomputes feedback/monitoring.py's rows on a timer
and exports them through the server's Prometheus registry."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from common.errors import CampaignLiftError
from feedback.monitoring import CalibrationRow, ScoredMinutes, calibration
from feedback.store import Store
from server.metrics import ServerMetrics

log = logging.getLogger(__name__)


class CalibrationMonitor:
    """Refreshes the calibration gauges every `interval_s` (0: only when refresh() is called)."""

    def __init__(
        self, store: Store, metrics: ServerMetrics, *, window_s: float, interval_s: float
    ) -> None:
        self._store = store
        self._m = metrics
        self._window = timedelta(seconds=window_s)
        self._interval_s = interval_s
        # Whole minutes' predicted sums between refreshes: each refresh reads what is new.
        self._scored = ScoredMinutes()
        self._lock = threading.Lock()  # the timer and a caller of refresh() share the cache
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._interval_s > 0:
            self._thread = threading.Thread(target=self._run, name="calibration", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.refresh()
            except CampaignLiftError as exc:  # a store outage: keep the last values, try again
                log.warning("calibration gauges not refreshed: %s", exc.message)
            except Exception:  # a bug: said loudly, and the gauges keep their thread
                log.exception("calibration gauges not refreshed")

    def refresh(self) -> list[CalibrationRow]:
        """Recomputes every gauge; label sets absent from the new window are removed."""
        with self._lock:
            rows = calibration(self._store, self._window, cache=self._scored)
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

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
