"""`campaign-lift serve --processes 2`: two real server processes share one port (SO_REUSEPORT)
and both answer Score over real gRPC; SIGTERM to the supervisor stops both cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc

from clients.client import score_request, wait_serving
from feedback.store import Store
from protos.campaignlift.v1 import scoring_pb2, scoring_pb2_grpc
from tests.conftest import ROOT, promote_new
from tests.e2e.helpers import user_request

LINE = re.compile(r"serving on 127\.0\.0\.1:(\d+) \(pid (\d+), metrics on port (\d+)\)")


def _metric(metrics_port: int, prefix: str) -> float:
    """The sum of the series whose line starts with `prefix` on a worker's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.decode().splitlines()
        if line.startswith(prefix)
    )


def test_two_processes_serve_on_one_port(
    sqlite_store: Store, tmp_path: Path, world, trained_logreg
) -> None:
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    env = {
        **os.environ,
        "CAMPAIGN_LIFT_DATABASE_URL": sqlite_store.url,
        "CAMPAIGN_LIFT_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "CAMPAIGN_LIFT_PORT": "0",
        "CAMPAIGN_LIFT_HTTP_PORT": "-1",  # the supervisor picks one free port for both
        "CAMPAIGN_LIFT_METRICS_PORT": "0",
        "CAMPAIGN_LIFT_GRPC_WORKERS": "2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "clients.cli", "serve", "--processes", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while len([m for m in map(LINE.search, lines) if m]) < 2:
            assert proc.poll() is None, f"supervisor exited: {lines}"
            assert time.monotonic() < deadline, f"two workers did not start: {lines}"
            time.sleep(0.1)
        workers = [m for m in map(LINE.search, lines) if m]
        ports = {m.group(1) for m in workers}
        assert len(ports) == 1, f"workers listen on different ports: {lines}"
        assert len({m.group(2) for m in workers}) == 2
        target = f"127.0.0.1:{ports.pop()}"
        wait_serving(target, timeout_s=60)
        request = score_request(user_request(world, 3))
        calls = 0
        # The kernel spreads connections, not calls: a fresh connection per call until each
        # worker has answered some (a 2^-40 chance of one worker getting all of 40 by luck).
        for k in range(40):
            with grpc.insecure_channel(target, options=[("test.channel", k)]) as channel:
                reply = scoring_pb2_grpc.ScoringServiceStub(channel).Score(request, timeout=10)
                assert isinstance(reply, scoring_pb2.ScoreResponse)
                assert len(reply.scores) == len(world.campaigns)
                calls += 1
        per_worker = [
            _metric(int(m.group(3)), "campaign_lift_scored_pairs_total{") for m in workers
        ]
        assert all(p > 0 for p in per_worker), per_worker
        assert sum(per_worker) == calls * len(world.campaigns)
        for m in workers:
            port = int(m.group(3))
            # Start-up's objects are frozen out of the collector (no ~165 ms full collections).
            assert _metric(port, "campaign_lift_gc_frozen_objects ") > 50_000
            assert _metric(port, "process_resident_memory_bytes ") > 50 * 2**20
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        reader.join(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert code == 0
    for m in workers:  # the supervisor stopped and reaped both
        assert not Path(f"/proc/{m.group(2)}").exists()


SERVE_LINE = re.compile(r"serving on 127\.0\.0\.1:(\d+) \(pid (\d+)(?:, [^)]*)?\)")
WORKER_PID = re.compile(r"retrain worker pid (\d+)")
TRAINING_LIBRARIES = ("/sklearn/", "/skl2onnx/", "/lightgbm/")


def _mapped(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def _children(pid: int) -> set[int]:
    """Live children of any of the process's threads (each thread lists the ones it forked)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def _wait_for(predicate, what: str, timeout_s: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_serve_runs_a_supervised_retrain_worker_and_no_training_code(
    sqlite_store: Store, tmp_path: Path, trained_logreg
) -> None:
    """The serving process maps no training library; its retrain worker child does, is
    started again after SIGKILL, and stops with the server."""
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    env = {
        **os.environ,
        "CAMPAIGN_LIFT_DATABASE_URL": sqlite_store.url,
        "CAMPAIGN_LIFT_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "CAMPAIGN_LIFT_PORT": "0",
        "CAMPAIGN_LIFT_HTTP_PORT": "-1",
        "CAMPAIGN_LIFT_METRICS_PORT": "-1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "clients.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        _wait_for(lambda: any(map(SERVE_LINE.search, lines)), f"no serving line: {lines}")
        line = next(m for m in map(SERVE_LINE.search, lines) if m)
        server_pid = int(line.group(2))
        assert server_pid == proc.pid  # one process serves; the worker is its child
        worker_pid = int(next(m for m in map(WORKER_PID.search, lines) if m).group(1))
        wait_serving(f"127.0.0.1:{line.group(1)}", timeout_s=60)
        # The worker has imported what training needs by the time it polls.
        _wait_for(lambda: "/sklearn/" in _mapped(worker_pid), "the worker never loaded sklearn")
        served = _mapped(server_pid)
        assert not [lib for lib in TRAINING_LIBRARIES if lib in served]
        assert _children(server_pid) == {worker_pid}
        os.kill(worker_pid, signal.SIGKILL)
        _wait_for(
            lambda: _children(server_pid) - {worker_pid},
            "the retrain worker was not started again",
        )
        (restarted,) = _children(server_pid) - {worker_pid}
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(90)
        reader.join(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert code == 0
    assert not Path(f"/proc/{restarted}").exists()


def test_serve_without_a_worker_starts_no_child(
    sqlite_store: Store, tmp_path: Path, trained_logreg
) -> None:
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    env = {
        **os.environ,
        "CAMPAIGN_LIFT_DATABASE_URL": sqlite_store.url,
        "CAMPAIGN_LIFT_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "CAMPAIGN_LIFT_PORT": "0",
        "CAMPAIGN_LIFT_HTTP_PORT": "-1",
        "CAMPAIGN_LIFT_METRICS_PORT": "-1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "clients.cli", "serve", "--no-retrain-worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert SERVE_LINE.search(line) and "retrain worker" not in line, line
        time.sleep(1.0)
        assert _children(proc.pid) == set()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        if proc.stdout is not None:
            proc.stdout.close()


def _gone(pid: int) -> bool:
    """Exited (a zombie nobody reaped counts: it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def test_the_worker_stops_when_its_server_is_killed(
    sqlite_store: Store, tmp_path: Path, trained_logreg
) -> None:
    """SIGKILL leaves no time to stop children: the worker notices its parent is gone."""
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    env = {
        **os.environ,
        "CAMPAIGN_LIFT_DATABASE_URL": sqlite_store.url,
        "CAMPAIGN_LIFT_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "CAMPAIGN_LIFT_PORT": "0",
        "CAMPAIGN_LIFT_HTTP_PORT": "-1",
        "CAMPAIGN_LIFT_METRICS_PORT": "-1",
        "CAMPAIGN_LIFT_RETRAIN_POLL_INTERVAL_S": "0.2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "clients.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    worker = WORKER_PID.search(line)
    assert worker is not None, line
    worker_pid = int(worker.group(1))
    proc.kill()
    proc.wait(30)
    proc.stdout.close()
    _wait_for(lambda: _gone(worker_pid), "the worker outlived its killed server", timeout_s=30)


HTTP_PID = re.compile(r"HTTP side pid (\d+) on port (\d+)")


def _http_status(url: str, body: bytes | None = None) -> int:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"} if body else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0  # not listening (yet)


def test_serve_brings_up_the_http_side_and_restarts_it(
    sqlite_store: Store, tmp_path: Path, world, trained_logreg
) -> None:
    """`campaign-lift serve --http-port P`: the console and the Personalizer API answer on P,
    calling the gRPC server; a killed HTTP side is started again; SIGTERM stops it."""
    from tests.clients.web.serving import free_port

    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    http_port = free_port()
    env = {
        **os.environ,
        "CAMPAIGN_LIFT_DATABASE_URL": sqlite_store.url,
        "CAMPAIGN_LIFT_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "CAMPAIGN_LIFT_PORT": "0",
        "CAMPAIGN_LIFT_METRICS_PORT": "-1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clients.cli",
            "serve",
            "--no-retrain-worker",
            "--http-port",
            str(http_port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    request = user_request(world, 0)
    rank = json.dumps(
        {
            "contextFeatures": [
                {
                    k: float(v) if not isinstance(v, str) else v
                    for k, v in request.user_features.items()
                }
            ],
            "actions": [
                {
                    "id": cid,
                    "features": [
                        {k: float(v) if not isinstance(v, str) else v for k, v in f.items()}
                    ],
                }
                for cid, f in request.candidates
            ],
        }
    ).encode()
    base = f"http://127.0.0.1:{http_port}"
    try:
        line = proc.stdout.readline()
        found = HTTP_PID.search(line)
        assert found is not None and int(found.group(2)) == http_port, line
        http_pid = int(found.group(1))
        assert _children(proc.pid) == {http_pid}
        _wait_for(lambda: _http_status(f"{base}/openapi.json") == 200, "no HTTP side")
        assert _http_status(f"{base}/login") == 200
        assert _http_status(f"{base}/personalizer/v1.0/rank", rank) == 201
        os.kill(http_pid, signal.SIGKILL)
        _wait_for(lambda: _children(proc.pid) - {http_pid}, "the HTTP side was not restarted")
        (restarted,) = _children(proc.pid) - {http_pid}
        _wait_for(lambda: _http_status(f"{base}/openapi.json") == 200, "no HTTP side again")
        assert _http_status(f"{base}/personalizer/v1.0/rank", rank) == 201
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(90)
        proc.stdout.close()
    assert code == 0
    assert not Path(f"/proc/{restarted}").exists()
