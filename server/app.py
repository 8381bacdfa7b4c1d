"""The server process: wires store, models, policies and services onto one gRPC port."""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Gauge

from common.errors import FailedPrecondition
from common.settings import Settings
from feedback.store import Store, open_store
from protos.campaignlift.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    evaluation_pb2,
    evaluation_pb2_grpc,
    experiments_pb2,
    experiments_pb2_grpc,
    feedback_pb2,
    feedback_pb2_grpc,
    scoring_pb2,
    scoring_pb2_grpc,
)
from protos.inference import open_inference_pb2, open_inference_pb2_grpc
from server.admin import ModelAdmin
from server.admin_servicer import ModelAdminServicer
from server.auth import BearerTokenInterceptor, role_tokens
from server.decision_log import DecisionLog
from server.evaluation import PolicyEvaluator
from server.evaluation_servicer import EvaluationServicer
from server.experiments_servicer import ExperimentServicer
from server.guard import RequestGuard
from server.inference_v2 import InferenceServicer
from server.metrics import MetricsInterceptor, ServerMetrics
from server.model import LoadedModel
from server.monitoring import CalibrationMonitor
from server.policy_updater import PolicyUpdater
from server.registry_client import ModelManager
from server.retraining import RetrainRunner
from server.scoring import Scorer
from server.servicers import FeedbackServicer, ScoringServicer
from server.shadow import ShadowScorer

log = logging.getLogger(__name__)

SCORING = scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name
ADMIN = admin_pb2.DESCRIPTOR.services_by_name["ModelAdminService"].full_name
EXPERIMENTS = experiments_pb2.DESCRIPTOR.services_by_name["ExperimentService"].full_name
INFERENCE = open_inference_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
EVALUATION = evaluation_pb2.DESCRIPTOR.services_by_name["EvaluationService"].full_name
FEEDBACK = feedback_pb2.DESCRIPTOR.services_by_name["FeedbackService"].full_name


@dataclass
class RunningServer:
    """A started server and the parts a caller (CLI, tests) may need to stop or inspect."""

    server: grpc.Server
    port: int
    store: Store
    models: ModelManager
    decisions: DecisionLog
    shadow: ShadowScorer
    retrain: RetrainRunner
    policies: PolicyUpdater
    health: health.HealthServicer
    metrics: ServerMetrics
    metrics_port: int | None
    calibration: CalibrationMonitor | None = None

    def stop(self, grace_s: float = 5.0) -> None:
        """Graceful: refuse new calls, let running ones finish, then write every decision."""
        for service in ("", SCORING, INFERENCE):
            self.health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server.stop(grace_s).wait()
        self.models.stop()
        self.shadow.close()
        self.decisions.close()
        self.retrain.join(timeout_s=60)
        self.policies.close()
        if self.calibration is not None:
            self.calibration.stop()
        self.metrics.close()
        self.store.dispose()
        log.info("stopped: %d decisions written", self.decisions.written)


def service_tokens(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Which services need which bearer tokens: the role model of server/auth.py."""
    return role_tokens(settings)


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS when a certificate and key are configured; mutual TLS when a client CA is too."""
    if settings.tls_cert_file is None and settings.tls_key_file is None:
        if settings.tls_client_ca_file is not None:
            raise FailedPrecondition("tls_client_ca_file needs tls_cert_file and tls_key_file")
        return None
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        raise FailedPrecondition("TLS needs both tls_cert_file and tls_key_file")
    try:
        cert = settings.tls_cert_file.read_bytes()
        key = settings.tls_key_file.read_bytes()
        client_ca = (
            settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
        )
    except OSError as exc:
        raise FailedPrecondition(f"cannot read a TLS file: {exc}") from exc
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def start(settings: Settings) -> RunningServer:
    credentials = server_credentials(settings)  # before anything starts: a bad file stops here
    settings.ensure_dirs()
    store = open_store(settings.database_url)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_servicer.set(FEEDBACK, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set(ADMIN, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set(EXPERIMENTS, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set(EVALUATION, health_pb2.HealthCheckResponse.SERVING)

    def on_model(model: LoadedModel | None) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if model
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in ("", SCORING, INFERENCE):
            health_servicer.set(service, status)

    on_model(None)
    metrics = ServerMetrics()
    models = ModelManager(
        store, poll_interval_s=settings.model_poll_interval_s, on_change=on_model, metrics=metrics
    )
    models.start()
    decisions = DecisionLog(
        store,
        flush_interval_s=settings.decision_flush_interval_s,
        max_queue=settings.decision_queue_size,
    )
    metrics.decision_queue.set_function(lambda: decisions.pending)
    Gauge(
        "campaign_lift_decisions_refused",
        "Decisions refused (Score answered UNAVAILABLE) because the decision log was full.",
        registry=metrics.registry,
    ).set_function(lambda: decisions.refused)
    shadow = ShadowScorer(store)
    metrics.shadow_scored.set_function(lambda: shadow.scored)
    metrics.shadow_dropped.set_function(lambda: shadow.dropped)
    retrain = RetrainRunner(store, settings, models)
    policies = PolicyUpdater(store, settings)
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", int(settings.reuse_port)),
    ]
    interceptors = [
        MetricsInterceptor(metrics),
        BearerTokenInterceptor(service_tokens(settings)),
        RequestGuard(metrics.registry),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.grpc_workers),
        options=options,
        interceptors=interceptors,
        # Past this many calls in flight new ones get RESOURCE_EXHAUSTED at once, not a queue.
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs or None,
    )
    scoring_pb2_grpc.add_ScoringServiceServicer_to_server(
        ScoringServicer(Scorer(models, store, decisions, settings, metrics, shadow)), server
    )
    feedback_pb2_grpc.add_FeedbackServiceServicer_to_server(
        FeedbackServicer(
            store,
            retrain,
            settings.max_outcomes,
            policies,
            settings.unit_id_hash_key.get_secret_value().encode("utf-8"),
        ),
        server,
    )
    admin_pb2_grpc.add_ModelAdminServiceServicer_to_server(
        ModelAdminServicer(ModelAdmin(store, settings.objective)), server
    )
    open_inference_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceServicer(models, store, metrics), server
    )
    experiments_pb2_grpc.add_ExperimentServiceServicer_to_server(ExperimentServicer(store), server)
    # A read, like the A/B report: open unless a per-method token is configured.
    evaluation_pb2_grpc.add_EvaluationServiceServicer_to_server(
        EvaluationServicer(PolicyEvaluator(store, models, settings.objective)), server
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (
            SCORING,
            FEEDBACK,
            ADMIN,
            INFERENCE,
            EXPERIMENTS,
            EVALUATION,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    address = f"{settings.host}:{settings.port}"
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError as exc:  # grpcio's way of saying the bind failed
        decisions.close()
        shadow.close()
        policies.close()
        models.stop()
        raise FailedPrecondition(f"cannot listen on {address}: is the port in use?") from exc
    server.start()
    calibration = CalibrationMonitor(
        store,
        metrics,
        window_s=settings.calibration_window_s,
        interval_s=settings.calibration_refresh_s,
    )
    calibration.start()
    metrics_port = None
    if settings.metrics_port >= 0:
        metrics_port = metrics.serve_http(settings.host, settings.metrics_port)
    log.info(
        "serving on %s:%d; store %s; artifacts %s",
        settings.host,
        port,
        store.location,
        settings.artifact_dir.resolve(),
    )
    if models.current is None:
        log.warning("no production model in this store yet: Score answers FAILED_PRECONDITION")
    return RunningServer(
        server,
        port,
        store,
        models,
        decisions,
        shadow,
        retrain,
        policies,
        health_servicer,
        metrics,
        metrics_port,
        calibration,
    )


def serve(settings: Settings) -> None:
    """Runs until SIGTERM or SIGINT, then shuts down gracefully."""
    running = start(settings)
    # What start-up made (modules, models, caches: ~220k objects) lives as long as the
    # process; frozen out of the collector, a full collection stops walking it (~165 ms each,
    # pausing every serving thread, -> under 1 ms). Not in start(): tests run many servers in
    # one process.
    gc.collect()
    gc.freeze()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    metrics = f", metrics on port {running.metrics_port}" if running.metrics_port else ""
    print(
        f"campaign-lift serving on {settings.host}:{running.port} (pid {os.getpid()}{metrics})",
        flush=True,
    )
    while not done.wait(0.25):  # a bounded wait lets the signal handler run promptly
        pass
    log.info("shutting down")
    running.stop()
