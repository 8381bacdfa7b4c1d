"""Prometheus metrics of one server: requests, errors and latency per RPC (counted by
server/rpc/metrics.py), scoring per model version, model load events, the decision log,
calibration. Served on their own HTTP port."""

from __future__ import annotations

import gc
import logging
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServerMetrics:
    """Own registry per server, so several servers in one process never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Registration order is the order of the /metrics page: keep the groups in this order.
        self._add_process_metrics()
        self._add_request_metrics()
        self._add_model_metrics()
        self._add_decision_log_metrics()
        self._add_calibration_metrics()
        self._http: Any = None

    def _add_process_metrics(self) -> None:
        """The standard process_* (RSS, CPU, open files), python_gc_* and python_info series."""
        r = self.registry
        # The collectors are process-wide; each server's registry reads them.
        for collector in (PROCESS_COLLECTOR, GC_COLLECTOR, PLATFORM_COLLECTOR):
            r.register(collector)
        Gauge(
            "campaign_lift_gc_frozen_objects",
            "Objects moved out of the garbage collector's reach after start-up (gc.freeze).",
            registry=r,
        ).set_function(gc.get_freeze_count)

    def _add_request_metrics(self) -> None:
        """Per-RPC counts and latency, recorded by the server interceptor."""
        self.requests = Counter(
            "campaign_lift_requests",
            "RPCs handled, by method and status code.",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "campaign_lift_request_seconds",
            "RPC latency by method.",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def _add_model_metrics(self) -> None:
        """Scoring per model version, decisions per policy, model loads and served versions."""
        r = self.registry
        self.model_seconds = Histogram(
            "campaign_lift_model_run_seconds",
            "Feature building and model run per batch, by version.",
            ["model_version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.pairs = Counter(
            "campaign_lift_scored_pairs",
            "User x campaign pairs scored, by model version.",
            ["model_version"],
            registry=r,
        )
        self.decisions = Counter(
            "campaign_lift_decisions",
            "Decisions made, by policy and model version.",
            ["policy", "model_version"],
            registry=r,
        )
        self.model_loads = Counter(
            "campaign_lift_model_loads",
            "Model loads by stage and result (loaded, refused).",
            ["stage", "result"],
            registry=r,
        )
        self.serving_version = Gauge(
            "campaign_lift_serving_version",
            "Model version a stage serves (0: none).",
            ["stage"],
            registry=r,
        )

    def _add_decision_log_metrics(self) -> None:
        """The queue of decisions waiting for the store, and shadow scoring of them."""
        r = self.registry
        self.decision_queue = Gauge(
            "campaign_lift_decision_queue",
            "Decisions waiting to be written to the store.",
            registry=r,
        )
        self.shadow_scored = Gauge(
            "campaign_lift_shadow_scored", "Decisions the shadow version re-scored.", registry=r
        )
        self.shadow_dropped = Gauge(
            "campaign_lift_shadow_dropped",
            "Decisions not shadow-scored: its queue was full.",
            registry=r,
        )

    def _add_calibration_metrics(self) -> None:
        """Predicted against observed rates of the chosen actions, per campaign and target."""
        r = self.registry
        calibration = ["campaign", "model_version", "target"]
        self.calibration_predicted = Gauge(
            "campaign_lift_calibration_predicted",
            "Mean predicted probability of the chosen action over the calibration window.",
            calibration,
            registry=r,
        )
        self.calibration_observed = Gauge(
            "campaign_lift_calibration_observed",
            "Observed rate of the target over the same decisions.",
            calibration,
            registry=r,
        )
        self.calibration_ratio = Gauge(
            "campaign_lift_calibration_ratio",
            "Observed / predicted (1: calibrated).",
            calibration,
            registry=r,
        )
        self.calibration_decisions = Gauge(
            "campaign_lift_calibration_decisions",
            "Decisions in the calibration window.",
            calibration,
            registry=r,
        )

    def serve_http(self, host: str, port: int) -> int | None:
        """Starts the /metrics endpoint; returns its port, or None when it could not bind."""
        try:
            self._http, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            log.warning("metrics endpoint not started on %s:%d: %s", host, port, exc)
            return None
        return int(self._http.server_port)

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
