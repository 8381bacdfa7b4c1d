"""What every benchmark section shares: the configuration, a trained model on the simulator's
data in a temporary store, servers started as separate processes, request payloads, and the
rows and named values the sections produce (targets are computed from the values)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from bench.loadgen import Load, LoadResult, run_load
from clients.client import UserRequest, score_request, wait_serving
from clients.simulator import World
from feedback.registry import PRODUCTION, ModelVersion, set_stage
from feedback.store import Store, open_store
from protos.campaignlift.v1 import scoring_pb2
from protos.inference import open_inference_pb2 as v2
from trainer.spec import FeatureSpec
from trainer.train import TrainedModel, register, train

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "simulated.toml"
SCORE = "/campaignlift.v1.ScoringService/Score"
SCORE_BATCH = "/campaignlift.v1.ScoringService/ScoreBatch"
MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
CAMPAIGN_TYPES = ("coupon", "discount", "points", "email")


@dataclass(frozen=True)
class BenchConfig:
    """How much to measure. `quick` shrinks every count and duration to a smoke run."""

    quick: bool = False
    sections: tuple[str, ...] = ()  # empty: all
    peer: bool = True
    history_rows: int = 4_000
    family: str = "hgb"

    @property
    def latency_calls(self) -> int:
        """Sequential calls per latency measurement (one client, one call in flight)."""
        return 30 if self.quick else 1_500

    @property
    def load_s(self) -> float:
        """Seconds of each throughput measurement."""
        return 0.4 if self.quick else 4.0

    @property
    def client_processes(self) -> int:
        return 1 if self.quick else 2

    @property
    def client_concurrency(self) -> int:
        """Callers per client process in throughput runs."""
        return 2 if self.quick else 4

    @property
    def sizes(self) -> tuple[int, ...]:
        """Candidates per Score request."""
        return (1, 10, 100) if self.quick else (1, 10, 100, 1000)


@dataclass
class Row:
    """One line of the table; `values` are what targets and the JSON read."""

    section: str
    measurement: str
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    throughput: float | None = None
    unit: str = ""
    note: str = ""
    values: dict[str, float] = field(default_factory=dict)


def load_row(
    section: str, measurement: str, result: LoadResult, *, pairs: int = 0, note: str = ""
) -> Row:
    """A row from a load run: latency percentiles and throughput in calls/s, or in pairs/s
    when each call scores `pairs` (user, campaign) pairs."""
    notes = [note] if note else []
    notes.append(f"client {result.client_cores:.2f} cores")
    if result.errors:
        notes.append(f"{result.errors} errors: {result.error_samples}")
    return Row(
        section,
        measurement,
        p50_ms=result.percentile_ms(50),
        p95_ms=result.percentile_ms(95),
        p99_ms=result.percentile_ms(99),
        throughput=result.calls_per_s * pairs if pairs else result.calls_per_s,
        unit="pairs/s" if pairs else "calls/s",
        note="; ".join(notes),
    )


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerHandle:
    """A server started by the bench: the supervisor (or single) process and its workers."""

    target: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pids(self) -> list[int]:
        """The processes that serve: the supervisor's children, else the process itself."""
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as fh:
                children = [int(p) for p in fh.read().split()]
        except OSError:
            children = []
        return children or [self.proc.pid]

    def cpu_s(self) -> float:
        return sum(cpu_s(p) for p in self.pids)


class BenchContext:
    """Created once per run; sections read the model, start servers and record values."""

    def __init__(self, config: BenchConfig, console: Console) -> None:
        self.config = config
        self.console = console
        self.workdir = Path(tempfile.mkdtemp(prefix="campaign-lift-bench-"))
        self.database_url = f"sqlite:///{self.workdir / 'store.db'}"
        self.artifact_dir = self.workdir / "artifacts"
        self.store: Store = open_store(self.database_url)
        self.world = World(n_users=2_000, seed=3)
        self.spec = FeatureSpec.load(SPEC)
        self.values: dict[str, float] = {}  # "section.name" -> number, for the targets
        self.skipped: dict[str, str] = {}  # section -> why
        with console.status("training the benchmark model on the simulator's history"):
            self.trained: TrainedModel = train(
                self.world.history(config.history_rows), self.spec, family=config.family
            )
        self.version: ModelVersion = self.register_version(promote=True)
        self._server: ServerHandle | None = None

    def close(self) -> None:
        if self._server is not None:
            self.stop_server(self._server)
        self.store.dispose()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def register_version(self, *, promote: bool) -> ModelVersion:
        version = register(self.store, self.trained, self.artifact_dir, source="file")
        if promote:
            set_stage(self.store, PRODUCTION, version.version, actor="bench", reason="bench")
        return version

    # -- servers ------------------------------------------------------------------------------

    def start_server(self, *, processes: int = 1, **settings: Any) -> ServerHandle:
        """`campaign-lift serve` as a separate process on a free loopback port; `settings`
        are extra CAMPAIGN_LIFT_* values (e.g. decision_log=False)."""
        port = free_port()
        env = {
            **os.environ,
            "CAMPAIGN_LIFT_DATABASE_URL": self.database_url,
            "CAMPAIGN_LIFT_ARTIFACT_DIR": str(self.artifact_dir),
            "CAMPAIGN_LIFT_PORT": str(port),
            "CAMPAIGN_LIFT_METRICS_PORT": "-1",
            "CAMPAIGN_LIFT_MODEL_POLL_INTERVAL_S": "0.2",
            # Only servers: a retrain worker or HTTP side child would be taken for one of
            # them by `pids` (memory, CPU). Sections that want them ask (http_port=...).
            "CAMPAIGN_LIFT_RETRAIN_WORKER": "false",
            "CAMPAIGN_LIFT_HTTP_PORT": "-1",
        }
        for key, value in settings.items():
            env[f"CAMPAIGN_LIFT_{key.upper()}"] = str(value)
        log_path = self.workdir / f"server-{port}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "clients.cli",
                    "serve",
                    "--processes",
                    str(processes),
                    "--log-level",
                    "WARNING",
                ],
                env=env,
                stdout=log,
                stderr=log,
            )
        handle = ServerHandle(f"127.0.0.1:{port}", proc, log_path)
        try:
            wait_serving(handle.target, timeout_s=90)
            deadline = time.monotonic() + 30
            while len(handle.pids) < processes and time.monotonic() < deadline:
                time.sleep(0.1)
            # Every worker has loaded the model: each answers health on its own connections.
            for _ in range(4 * processes):
                wait_serving(handle.target, timeout_s=60)
        except Exception:
            self.stop_server(handle)
            raise RuntimeError(f"server did not start: {log_path.read_text()[-2000:]}") from None
        return handle

    def stop_server(self, handle: ServerHandle) -> None:
        handle.proc.send_signal(signal.SIGTERM)
        try:
            handle.proc.wait(60)
        except subprocess.TimeoutExpired:
            handle.proc.kill()
            handle.proc.wait()
        if handle is self._server:
            self._server = None

    @contextmanager
    def server(self, *, processes: int = 1, **settings: Any) -> Iterator[ServerHandle]:
        handle = self.start_server(processes=processes, **settings)
        try:
            yield handle
        finally:
            self.stop_server(handle)

    @property
    def shared_server(self) -> ServerHandle:
        """One default server (one process, decision logging on) that sections may share."""
        if self._server is None:
            self._server = self.start_server()
        return self._server

    # -- load -----------------------------------------------------------------------------------

    def latency(self, target: str, method: str, requests: list[bytes]) -> LoadResult:
        """One client, one call in flight: latency without queueing (moderate load)."""
        return run_load(
            Load(target, method, requests, calls=self.config.latency_calls, warmup_calls=50)
        )

    def throughput(
        self, target: str, method: str, requests: list[bytes], *, channels: int = 1
    ) -> LoadResult:
        """Several client processes with several callers each, for `load_s` seconds."""
        return run_load(
            Load(
                target,
                method,
                requests,
                processes=self.config.client_processes,
                concurrency=self.config.client_concurrency,
                duration_s=self.config.load_s,
                warmup_calls=20,
                channels_per_process=channels,
            )
        )

    # -- payloads -------------------------------------------------------------------------------

    def candidates(self, n: int, seed: int = 0) -> list[tuple[str, dict[str, float | str]]]:
        """n distinct campaigns of the kinds the model was trained on."""
        rng = np.random.default_rng(seed)
        return [
            (
                f"campaign-{j:04d}",
                {
                    "campaign_type": CAMPAIGN_TYPES[j % len(CAMPAIGN_TYPES)],
                    "discount_pct": float(rng.integers(0, 40)),
                    "duration_days": float(rng.integers(1, 15)),
                },
            )
            for j in range(n)
        ]

    def user_request(self, i: int, n_candidates: int) -> UserRequest:
        i %= len(self.world.users)
        return UserRequest(
            unit_id=self.world.users.unit_id.iat[i],
            user_features=self.world.user_features(i),
            candidates=self.candidates(n_candidates, seed=i),
        )

    def score_requests(self, n_candidates: int, count: int = 16) -> list[bytes]:
        return [
            score_request(self.user_request(i, n_candidates)).SerializeToString()
            for i in range(count)
        ]

    def catalogue_requests(self, n_candidates: int, count: int = 16) -> list[bytes]:
        """Score requests naming `n_candidates` catalogue campaigns by id; the campaigns (the
        1,000 of `candidates(1000)`) are put into the store's catalogue on first use (servers
        started after that load it at start, others within their poll interval)."""
        from feedback.catalogue import Campaign, catalogue_version, put_campaign

        if catalogue_version(self.store) == 0:
            for cid, features in self.candidates(1000):
                put_campaign(self.store, Campaign(cid, features), actor="bench")
        ids = [cid for cid, _ in self.candidates(n_candidates)]
        out = []
        for i in range(count):
            base = self.user_request(i, 0)
            request = UserRequest(base.unit_id, base.user_features, campaign_ids=ids)
            out.append(score_request(request).SerializeToString())
        return out

    def score_batch_requests(self, users: int, n_candidates: int, count: int = 4) -> list[bytes]:
        return [
            scoring_pb2.ScoreBatchRequest(
                requests=[
                    score_request(self.user_request(b * users + u, n_candidates))
                    for u in range(users)
                ]
            ).SerializeToString()
            for b in range(count)
        ]

    def feature_rows(self, rows: int, seed: int = 0) -> dict[str, list[Any]]:
        """`rows` (user, campaign) pairs as columns of raw features, as the model takes them."""
        rng = np.random.default_rng(seed)
        users = rng.integers(0, len(self.world.users), rows)
        cols: dict[str, list[Any]] = {}
        for name in self.spec.user_features:
            cols[name] = self.world.users[name].to_numpy()[users].tolist()
        campaigns = self.candidates(rows, seed=seed)
        for name in self.spec.campaign_features:
            cols[name] = [c[1][name] for c in campaigns]
        return cols

    def infer_requests(self, rows: int, model_name: str, count: int = 8) -> list[bytes]:
        """V2 ModelInfer requests with raw (binary) contents, as tritonclient sends them."""
        out = []
        for k in range(count):
            cols = self.feature_rows(rows, seed=k)
            request = v2.ModelInferRequest(model_name=model_name)
            # MLServer decodes the inputs into one DataFrame, as its sklearn runtime needs.
            request.parameters["content_type"].string_param = "pd"
            kinds = {**self.spec.user_features, **self.spec.campaign_features}
            for name, kind in kinds.items():
                tensor = request.inputs.add(name=name, shape=[rows, 1])
                if kind == "numeric":
                    tensor.datatype = "FP32"
                    request.raw_input_contents.append(np.asarray(cols[name], dtype="<f4").tobytes())
                else:
                    tensor.datatype = "BYTES"
                    # For MLServer's codecs: text, not bytes (ignored by our server).
                    tensor.parameters["content_type"].string_param = "str"
                    request.raw_input_contents.append(
                        b"".join(
                            len(b).to_bytes(4, "little") + b
                            for b in (str(v).encode() for v in cols[name])
                        )
                    )
            out.append(request.SerializeToString())
        return out

    def record(self, section: str, **values: float) -> None:
        for k, v in values.items():
            self.values[f"{section}.{k}"] = float(v)
