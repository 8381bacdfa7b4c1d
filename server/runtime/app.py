"""The server process: wires the store, the runtime (models, caches, decision log, background
workers), the transport-free handlers and the gRPC layer onto one port."""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
from collections.abc import Mapping
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Gauge

from common.errors import FailedPrecondition
from common.settings import Settings
from feedback.rewards import BINARY_TYPES, target_labels
from feedback.store import Store, open_store
from protos.campaignlift.v1 import (
    admin_pb2_grpc,
    catalogue_pb2_grpc,
    evaluation_pb2_grpc,
    experiments_pb2_grpc,
    feedback_pb2_grpc,
    scoring_pb2_grpc,
)
from protos.inference import open_inference_pb2_grpc
from server.handlers.admin import ModelAdmin
from server.handlers.evaluation import PolicyEvaluator
from server.handlers.experiments import ExperimentsHandler
from server.handlers.feedback import FeedbackHandler
from server.handlers.inference import InferenceHandler
from server.handlers.scoring import Scorer
from server.rpc import services
from server.rpc.auth import BearerTokenInterceptor, role_tokens
from server.rpc.limits import RequestGuard
from server.rpc.metrics import MetricsInterceptor
from server.rpc.servicers.admin import ModelAdminServicer
from server.rpc.servicers.catalogue import CatalogueServicer
from server.rpc.servicers.evaluation import EvaluationServicer
from server.rpc.servicers.experiments import ExperimentServicer
from server.rpc.servicers.feedback import FeedbackServicer
from server.rpc.servicers.inference import InferenceServicer
from server.rpc.servicers.scoring import ScoringServicer
from server.runtime.calibration import CalibrationMonitor
from server.runtime.catalogue import CatalogueCache
from server.runtime.decision_log import DecisionLog
from server.runtime.metrics import ServerMetrics
from server.runtime.model import LoadedModel
from server.runtime.models import ModelManager
from server.runtime.outcome_writer import OutcomeWriter
from server.runtime.policy_updater import PolicyUpdater
from server.runtime.shadow import ShadowScorer
from server.runtime.supervisor import ChildProcess, http_side, retrain_worker

log = logging.getLogger(__name__)

# Whether Score can answer: the whole server, ScoringService and the inference protocol.
SCORING_HEALTH = ("", services.SCORING, services.INFERENCE)


@dataclass
class Runtime:
    """What a server runs beside its RPCs: each part stops on its own."""

    store: Store
    metrics: ServerMetrics
    models: ModelManager
    decisions: DecisionLog
    shadow: ShadowScorer
    policies: PolicyUpdater
    calibration: CalibrationMonitor
    catalogue: CatalogueCache
    outcomes: OutcomeWriter

    def stop(self) -> None:
        """Stops the parts in the order that loses nothing: decisions are drained last."""
        self.models.stop()
        self.catalogue.stop()
        self.outcomes.close()
        self.shadow.close()
        self.decisions.close()
        self.policies.close()
        self.calibration.stop()
        self.metrics.close()
        self.store.dispose()


@dataclass
class RunningServer:
    """A started server and the parts a caller (CLI, tests) may need to stop or inspect."""

    server: grpc.Server
    port: int
    runtime: Runtime
    health: health.HealthServicer
    metrics_port: int | None

    @property
    def store(self) -> Store:
        return self.runtime.store

    @property
    def models(self) -> ModelManager:
        return self.runtime.models

    @property
    def decisions(self) -> DecisionLog:
        return self.runtime.decisions

    @property
    def shadow(self) -> ShadowScorer:
        return self.runtime.shadow

    @property
    def policies(self) -> PolicyUpdater:
        return self.runtime.policies

    @property
    def metrics(self) -> ServerMetrics:
        return self.runtime.metrics

    @property
    def calibration(self) -> CalibrationMonitor:
        return self.runtime.calibration

    def stop(self, grace_s: float = 5.0) -> None:
        """Graceful: refuse new calls, let running ones finish, then write every decision."""
        for service in SCORING_HEALTH:
            self.health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server.stop(grace_s).wait()
        self.runtime.stop()
        log.info("stopped: %d decisions written", self.decisions.written)


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


def _served_labels(models: ModelManager) -> Mapping[str, str]:
    """The served models' targets with the outcome type labelling each (calibration)."""
    labels = {t: t for t in BINARY_TYPES}
    for model in models.loaded():
        labels.update(target_labels(model.schema, model.targets))
    return labels


def start_runtime(settings: Settings, health_servicer: health.HealthServicer) -> Runtime:
    store = open_store(settings.database_url)
    metrics = ServerMetrics()

    def on_model(model: LoadedModel | None) -> None:
        serving = health_pb2.HealthCheckResponse.SERVING
        status = serving if model else health_pb2.HealthCheckResponse.NOT_SERVING
        for service in SCORING_HEALTH:
            health_servicer.set(service, status)

    on_model(None)
    models = ModelManager(
        store, poll_interval_s=settings.model_poll_interval_s, on_change=on_model, metrics=metrics
    )
    models.start()
    decisions = DecisionLog(
        store,
        flush_interval_s=settings.decision_flush_interval_s,
        max_queue=settings.decision_queue_size,
        default_window_s=settings.attribution_window_s,
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
    calibration = CalibrationMonitor(
        store,
        metrics,
        window_s=settings.calibration_window_s,
        interval_s=settings.calibration_refresh_s,
        labels=lambda: _served_labels(models),
    )
    catalogue = CatalogueCache(
        store, settings.catalogue_poll_interval_s, lease_share=settings.budget_lease_share
    )
    catalogue.start()
    return Runtime(
        store,
        metrics,
        models,
        decisions,
        shadow,
        PolicyUpdater(store, settings),
        calibration,
        catalogue,
        OutcomeWriter(store, settings.attribution_window_s),
    )


def _grpc_server(settings: Settings, metrics: ServerMetrics) -> grpc.Server:
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", int(settings.reuse_port)),
    ]
    interceptors = [
        MetricsInterceptor(metrics),
        BearerTokenInterceptor(role_tokens(settings)),
        RequestGuard(metrics.registry),
    ]
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.grpc_workers),
        options=options,
        interceptors=interceptors,
        # Past this many calls in flight new ones get RESOURCE_EXHAUSTED at once, not a queue.
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs or None,
    )


def _add_services(
    server: grpc.Server, rt: Runtime, settings: Settings, health_servicer: health.HealthServicer
) -> None:
    scorer = Scorer(
        rt.models, rt.store, rt.decisions, settings, rt.metrics, rt.shadow, rt.catalogue
    )
    scoring_pb2_grpc.add_ScoringServiceServicer_to_server(ScoringServicer(scorer), server)
    catalogue_pb2_grpc.add_CatalogueServiceServicer_to_server(
        CatalogueServicer(rt.store, rt.catalogue), server
    )
    feedback_pb2_grpc.add_FeedbackServiceServicer_to_server(
        FeedbackServicer(FeedbackHandler(rt.store, settings, rt.policies, rt.outcomes)), server
    )
    admin_pb2_grpc.add_ModelAdminServiceServicer_to_server(
        ModelAdminServicer(ModelAdmin(rt.store, settings.objective)), server
    )
    open_inference_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceServicer(InferenceHandler(rt.models, rt.store, rt.metrics)), server
    )
    experiments_pb2_grpc.add_ExperimentServiceServicer_to_server(
        ExperimentServicer(ExperimentsHandler(rt.store)), server
    )
    evaluation_pb2_grpc.add_EvaluationServiceServicer_to_server(
        EvaluationServicer(PolicyEvaluator(rt.store, rt.models, settings.objective)), server
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(services.REFLECTED, server)


def _listen(server: grpc.Server, settings: Settings) -> int:
    credentials = server_credentials(settings)
    address = f"{settings.host}:{settings.port}"
    try:
        if credentials is None:
            return int(server.add_insecure_port(address))
        return int(server.add_secure_port(address, credentials))
    except RuntimeError as exc:  # grpcio's way of saying the bind failed
        raise FailedPrecondition(f"cannot listen on {address}: is the port in use?") from exc


def start(settings: Settings) -> RunningServer:
    """Starts a server (and its background workers); stop it with RunningServer.stop()."""
    server_credentials(settings)  # before anything starts: a bad file stops here
    settings.ensure_dirs()
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    for service in services.ALWAYS_SERVING:
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    rt = start_runtime(settings, health_servicer)
    server = _grpc_server(settings, rt.metrics)
    _add_services(server, rt, settings, health_servicer)
    try:
        port = _listen(server, settings)
    except FailedPrecondition:
        rt.stop()
        raise
    server.start()
    rt.calibration.start()
    metrics_port = None
    if settings.metrics_port >= 0:
        metrics_port = rt.metrics.serve_http(settings.host, settings.metrics_port)
    log.info(
        "serving on %s:%d; store %s; artifacts %s",
        settings.host,
        port,
        rt.store.location,
        settings.artifact_dir.resolve(),
    )
    if rt.models.current is None:
        log.warning("no production model in this store yet: Score answers FAILED_PRECONDITION")
    return RunningServer(server, port, rt, health_servicer, metrics_port)


def serve(settings: Settings) -> None:
    """Runs until SIGTERM or SIGINT, then shuts down gracefully; with `retrain_worker`, a
    retrain worker runs beside it as a supervised child process, and the HTTP side (console,
    REST API) unless http_port is -1."""
    running = start(settings)
    worker: ChildProcess | None = None
    if settings.retrain_worker:
        worker = retrain_worker(settings)
        worker.start()
    web = http_side(settings, running.port)
    if web is not None:
        web.start()
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
    child = f", retrain worker pid {worker.pid}" if worker is not None else ""
    if web is not None:
        child += f", HTTP side pid {web.pid} on port {settings.http_port}"
    print(
        f"campaign-lift serving on {settings.host}:{running.port} "
        f"(pid {os.getpid()}{metrics}{child})",
        flush=True,
    )
    while not done.wait(0.25):  # a bounded wait lets the signal handler run promptly
        pass
    log.info("shutting down")
    children = [c for c in (worker, web) if c is not None]
    for c in children:
        c.request_stop()
    running.stop()
    for c in children:
        c.stop()


def main() -> int:
    """`python -m server`: the settings from the environment (CAMPAIGN_LIFT_*)."""
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    serve(settings)
    return 0
