"""Child processes of `campaign-lift serve`: several server processes on one port (SO_REUSEPORT,
so the kernel spreads connections over them, each with its own GIL), the retrain worker and
the HTTP side.

A server process that dies stops the others (the deployment is broken: say so, exit non-zero);
the retrain worker and the HTTP side are restarted with a growing backoff, since scoring goes
on without them.
SIGTERM/SIGINT are forwarded; children get 60 s to finish, then are killed."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from common.errors import FailedPrecondition
from common.settings import Settings
from server.runtime.worker import BackgroundWorker

log = logging.getLogger(__name__)

SERVER_COMMAND = (sys.executable, "-m", "server")
# A command line, not an import: the serving process never loads training code.
WORKER_COMMAND = (sys.executable, "-m", "trainer.worker")
# The HTTP side (console, Personalizer-compatible REST API): a gRPC client of this server.
HTTP_COMMAND = (sys.executable, "-m", "clients.web")
STOP_TIMEOUT_S = 60.0
MAX_BACKOFF_S = 60.0


def settings_env(settings: Settings, **overrides: object) -> dict[str, str]:
    """The environment of a child: every setting as the supervisor resolved it (env and flags)
    as CAMPAIGN_LIFT_* variables, then `overrides`."""
    env = dict(os.environ)
    values = {name: getattr(settings, name) for name in Settings.model_fields}
    values.update(overrides)
    for name, value in values.items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"CAMPAIGN_LIFT_{name.upper()}"] = str(value)
    return env


class ChildProcess(BackgroundWorker):
    """Runs `command` and watches it; with `restart`, an exit is followed by a new start after
    a backoff that doubles up to MAX_BACKOFF_S (and resets after a minute of running)."""

    def __init__(
        self, name: str, command: tuple[str, ...], env: dict[str, str], *, restart: bool
    ) -> None:
        super().__init__(f"child-{name}", 0.25)
        self.label = name
        self._command = list(command)
        self._env = env
        self._restart = restart
        self._process: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._backoff_s = 1.0
        self._next_start = 0.0
        self.restarts = 0
        self.exit_code: int | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        self._spawn()
        super().start()

    def _spawn(self) -> None:
        self._process = subprocess.Popen(self._command, env=self._env, cwd=Path.cwd())
        self._started_at = time.monotonic()
        log.info("started %s (pid %d)", self.label, self._process.pid)

    def step(self) -> None:
        process = self._process
        if process is None:
            if time.monotonic() >= self._next_start:
                self.restarts += 1
                self._spawn()
            return
        code = process.poll()
        if code is None:
            return
        self.exit_code = code
        self._process = None
        if not self._restart:
            log.error("%s (pid %d) exited with %s", self.label, process.pid, code)
            return
        if time.monotonic() - self._started_at > 60:
            self._backoff_s = 1.0
        log.error(
            "%s (pid %d) exited with %s: restarting in %.0f s",
            self.label,
            process.pid,
            code,
            self._backoff_s,
        )
        self._next_start = time.monotonic() + self._backoff_s
        self._backoff_s = min(2 * self._backoff_s, MAX_BACKOFF_S)

    @property
    def exited(self) -> bool:
        """True once a child that is not restarted has exited."""
        return not self._restart and self.exit_code is not None

    def final(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.error("%s (pid %d) did not stop: killing it", self.label, process.pid)
            process.kill()
            process.wait()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S + 10) -> None:
        super().stop(timeout_s)


# trainer/worker.py's SUPERVISED_ENV: a worker whose supervisor is gone (SIGKILL) stops too.
SUPERVISOR_PID_ENV = "CAMPAIGN_LIFT_SUPERVISOR_PID"


def retrain_worker(settings: Settings) -> ChildProcess:
    """The retrain worker as a supervised child (trainer/worker.py)."""
    env = {**settings_env(settings), SUPERVISOR_PID_ENV: str(os.getpid())}
    return ChildProcess("retrain-worker", WORKER_COMMAND, env, restart=True)


def http_side(settings: Settings, grpc_port: int) -> ChildProcess | None:
    """The HTTP side as a supervised child calling the gRPC server on `grpc_port` (restarted
    with a backoff when it exits: scoring goes on without it); None when http_port is -1."""
    if settings.http_port < 0:
        return None
    target = settings.http_grpc_target
    if not target:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "", "::", "[::]") else settings.host
        target = f"{host}:{grpc_port}"
    env = settings_env(settings, http_grpc_target=target)
    return ChildProcess("http", HTTP_COMMAND, env, restart=True)


def reserve_port(host: str, port: int) -> socket.socket:
    """Binds (without listening) with SO_REUSEPORT: port 0 becomes a concrete free port the
    workers can share, and a port some other program holds without SO_REUSEPORT fails here."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise FailedPrecondition(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


def _server_env(settings: Settings, port: int, index: int) -> dict[str, str]:
    """A server process's settings: the shared port with SO_REUSEPORT, metrics on
    `metrics_port + index` (0 stays 0: each picks a free one), no worker or HTTP side of its
    own."""
    metrics = settings.metrics_port + index if settings.metrics_port > 0 else settings.metrics_port
    return settings_env(
        settings,
        port=port,
        reuse_port=True,
        metrics_port=metrics,
        retrain_worker=False,
        http_port=-1,  # the supervisor runs the one HTTP side
    )


def supervise(settings: Settings, processes: int) -> int:
    """Runs `processes` servers (and the retrain worker unless turned off) until SIGTERM/SIGINT
    or until a server exits; returns an exit code."""
    if processes < 1:
        raise FailedPrecondition(f"--processes must be at least 1, got {processes}")
    settings.ensure_dirs()
    reserved = reserve_port(settings.host, settings.port)
    port = int(reserved.getsockname()[1])
    children = [
        ChildProcess(f"server-{i}", SERVER_COMMAND, _server_env(settings, port, i), restart=False)
        for i in range(processes)
    ]
    if settings.retrain_worker:
        children.append(retrain_worker(settings))
    if (web := http_side(settings, port)) is not None:
        children.append(web)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    for child in children:
        child.start()
    log.info("supervising %d server processes on %s:%d", processes, settings.host, port)
    code = 0
    while not done.wait(0.25):
        exited = [c for c in children if c.exited]
        if exited:
            code = exited[0].exit_code or 1
            log.error("%s exited (%s): stopping the others", exited[0].label, code)
            break
    for child in children:  # all at once: each gets its SIGTERM now
        child.request_stop()
    for child in children:
        child.stop()
    reserved.close()
    return code
