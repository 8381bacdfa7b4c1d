"""Soak: a real server process under steady load at ~70% of its measured capacity for N minutes.

`make soak` (10 minutes; `python -m bench.soak --minutes 2` for a short run). It trains a small
model on the simulator's world, starts `campaign-lift serve` on a temporary SQLite store,
measures capacity (closed loop: Score calls per second with `--threads` callers), then drives
Score at `--load` of it (open loop: a fixed schedule, so a slow server builds a backlog instead of
lowering the rate) and logs an outcome for every fifth decision. Per minute it prints calls,
errors, p50/p99 latency and the server's RSS; at the end the totals. Exit status 1 when any call
failed or RSS grew by 5% or more from the first minute to the last.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from clients.client import CampaignLiftClient, OutcomeEvent, UserRequest, wait_serving
from clients.simulator import World
from feedback.registry import PRODUCTION, set_stage
from feedback.store import open_store
from trainer.spec import FeatureSpec
from trainer.train import register, train

ROOT = Path(__file__).resolve().parent.parent
console = Console()


@dataclass
class Minute:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    rss_mb: float = 0.0
    queue: float = 0.0  # decisions waiting for the store (the server's gauge)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _decision_queue(metrics_url: str) -> float:
    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith("campaign_lift_decision_queue "):
                    return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def _request(world: World, i: int) -> UserRequest:
    u = i % len(world.users)
    return UserRequest(
        unit_id=f"soak-{i}",
        user_features=world.user_features(u),
        candidates=[(c.campaign_id, c.features()) for c in world.campaigns],
    )


def _start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    world = World(n_users=2_000, seed=5)
    spec = FeatureSpec.load(ROOT / "specs" / "simulated.toml")
    url = f"sqlite:///{tmp / 'store.db'}"
    store = open_store(url)
    trained = train(world.history(4_000, seed=2), spec, family="logreg")
    version = register(store, trained, tmp / "artifacts", source="soak")
    set_stage(store, PRODUCTION, version.version, actor="soak")
    store.dispose()
    port, metrics_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "CAMPAIGN_LIFT_DATABASE_URL": url,
        "CAMPAIGN_LIFT_ARTIFACT_DIR": str(tmp / "artifacts"),
        "CAMPAIGN_LIFT_PORT": str(port),
        "CAMPAIGN_LIFT_METRICS_PORT": str(metrics_port),
    }
    log = (tmp / "server.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "clients.cli", "serve"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    target = f"127.0.0.1:{port}"
    wait_serving(target, timeout_s=60)
    return proc, target, f"http://127.0.0.1:{metrics_port}/metrics"


def capacity(target: str, world: World, threads: int, seconds: float) -> float:
    """Score calls per second with `threads` callers back to back."""
    done = [0] * threads
    stop = time.monotonic() + seconds

    def caller(k: int) -> None:
        with CampaignLiftClient(target, timeout_s=10) as client:
            i = k
            while time.monotonic() < stop:
                client.score(_request(world, i))
                done[k] += 1
                i += threads

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(caller, range(threads)))
    return sum(done) / seconds


def soak(
    target: str, pid: int, metrics_url: str, world: World, rate: float, minutes: float, threads: int
) -> list[Minute]:
    per_minute = [Minute() for _ in range(max(1, int(np.ceil(minutes))))]
    lock = threading.Lock()
    clients = [CampaignLiftClient(target, timeout_s=10) for _ in range(threads)]
    start = time.monotonic()
    end = start + minutes * 60

    def one(i: int) -> None:
        client = clients[i % threads]
        t0 = time.monotonic()
        minute = per_minute[min(int((t0 - start) // 60), len(per_minute) - 1)]
        try:
            result = client.score(_request(world, i))
            if i % 5 == 0:
                d = result.decision.decision_id
                client.log_outcomes([OutcomeEvent(f"{d}:click", d, "click")])
            with lock:
                minute.latencies.append(time.monotonic() - t0)
        except Exception as exc:  # every failure counts; the first few are shown
            with lock:
                minute.errors += 1
                if sum(m.errors for m in per_minute) <= 3:
                    console.print(f"[red]call {i} failed: {exc}")

    def sample_rss() -> None:
        while time.monotonic() < end:
            k = min(int((time.monotonic() - start) // 60), len(per_minute) - 1)
            per_minute[k].rss_mb = _rss_mb(pid)  # the last sample of each minute stays
            per_minute[k].queue = _decision_queue(metrics_url)
            time.sleep(1.0)

    threading.Thread(target=sample_rss, daemon=True).start()
    with ThreadPoolExecutor(threads * 2) as pool:
        i = 0
        while (now := time.monotonic()) < end:
            due = start + i / rate
            if due > now:
                time.sleep(due - now)
            pool.submit(one, i)
            i += 1
    for c in clients:
        c.close()
    return per_minute


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--load", type=float, default=0.7, help="share of measured capacity")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--capacity-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    world = World(n_users=2_000, seed=5)
    with tempfile.TemporaryDirectory(prefix="campaign-lift-soak-") as tmp:
        proc, target, metrics_url = _start_server(Path(tmp))
        try:
            cap = capacity(target, world, args.threads, args.capacity_seconds)
            rate = cap * args.load
            console.print(
                f"capacity {cap:.0f} Score/s with {args.threads} callers; "
                f"soaking at {rate:.0f}/s ({args.load:.0%}) for {args.minutes:g} min"
            )
            minutes = soak(target, proc.pid, metrics_url, world, rate, args.minutes, args.threads)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    table = Table(
        "minute", "calls", "errors", "p50 ms", "p99 ms", "server RSS MB", "decisions queued"
    )
    for k, m in enumerate(minutes, 1):
        lat = np.array(m.latencies) * 1000 if m.latencies else np.array([np.nan])
        table.add_row(
            str(k),
            str(len(m.latencies) + m.errors),
            str(m.errors),
            f"{np.percentile(lat, 50):.1f}",
            f"{np.percentile(lat, 99):.1f}",
            f"{m.rss_mb:.1f}",
            f"{m.queue:.0f}",
        )
    console.print(table)
    errors = sum(m.errors for m in minutes)
    growth = (minutes[-1].rss_mb - minutes[0].rss_mb) / minutes[0].rss_mb
    p99 = [float(np.percentile(m.latencies, 99)) * 1000 for m in minutes if m.latencies]
    console.print(
        f"calls {sum(len(m.latencies) + m.errors for m in minutes)}, errors {errors}, "
        f"RSS growth {growth:+.2%} (minute 1 to last), p99 per minute "
        f"{min(p99):.1f}-{max(p99):.1f} ms"
    )
    return 0 if errors == 0 and growth < 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
