"""Several server processes on one port: a supervisor starts N `campaign-lift serve` workers
with SO_REUSEPORT, so the kernel spreads connections over them (each is a full server with its
own GIL), forwards SIGTERM/SIGINT to them, and stops all when one dies."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from common.errors import FailedPrecondition
from common.settings import Settings

log = logging.getLogger(__name__)


def worker_env(settings: Settings, port: int, index: int) -> dict[str, str]:
    """The worker's settings as CAMPAIGN_LIFT_* variables: env and flags as the supervisor
    resolved them, with the shared port, SO_REUSEPORT on, and metrics port `metrics_port + i`
    (0 stays 0: each worker picks a free one)."""
    env = dict(os.environ)
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        env[f"CAMPAIGN_LIFT_{name.upper()}"] = str(value)
    env["CAMPAIGN_LIFT_PORT"] = str(port)
    env["CAMPAIGN_LIFT_REUSE_PORT"] = "true"
    if settings.metrics_port > 0:
        env["CAMPAIGN_LIFT_METRICS_PORT"] = str(settings.metrics_port + index)
    return env


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


def supervise(settings: Settings, processes: int, log_level: str = "INFO") -> int:
    """Runs `processes` workers until SIGTERM/SIGINT or until one exits; returns an exit code."""
    if processes < 1:
        raise FailedPrecondition(f"--processes must be at least 1, got {processes}")
    settings.ensure_dirs()
    reserved = reserve_port(settings.host, settings.port)
    port = int(reserved.getsockname()[1])
    command = [sys.executable, "-m", "clients.cli", "serve", "--log-level", log_level]
    workers = [
        subprocess.Popen(command, env=worker_env(settings, port, i), cwd=Path.cwd())
        for i in range(processes)
    ]
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    log.info("supervising %d workers on %s:%d", processes, settings.host, port)
    code = 0
    while not done.wait(0.25):
        exited = [w for w in workers if w.poll() is not None]
        if exited:
            code = exited[0].returncode or 1
            log.error("worker %d exited (%s): stopping the others", exited[0].pid, code)
            break
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.wait(60)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()
    reserved.close()
    return code
