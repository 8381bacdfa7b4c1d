"""Soak: a real server process under steady load at ~70% of its measured capacity for N minutes.

`make soak` (10 minutes; `python -m bench.soak --minutes 2` for a short run). It trains a small
model on the simulator's world, starts `campaign-lift serve` on a temporary SQLite store,
measures capacity (the most Score calls per second that 4, 8 or 16 closed-loop callers reach,
with an outcome for every fifth decision sent beside them by a producer of its own), then sends
the same load at `--load` of it (open loop: a fixed schedule, so a slow server builds a backlog
instead of lowering the rate; each call is timed from its scheduled start and counted in that
minute, and more callers than any closed loop used keep one slow call from delaying the next
one's start). Per minute it prints calls, errors, p50/p99 latency, the server's RSS and the
machine's CPU (busy and stolen); at the end the totals. Exit status 1 when any call failed, RSS
grew by 5% or more from the first minute to the last, or p99 was not stable (a minute's p99
above P99_SPREAD times the median minute's: a backlog or a stall).
"""

from __future__ import annotations

import argparse
import math
import os
import queue
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
RSS_GROWTH_LIMIT = 0.05  # from the first minute's RSS to the last's
P99_SPREAD = 2.0  # the worst minute's p99 against the median minute's
console = Console(width=120)


@dataclass
class Minute:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    rss_mb: float = 0.0
    queue: float = 0.0  # decisions waiting for the store (the server's gauge)
    # The machine's CPU jiffies (busy, stolen by the hypervisor, all) at the minute's first and
    # last sample: a shared machine's noise shows beside the latency it causes.
    cpu_first: tuple[int, int, int] | None = None
    cpu_last: tuple[int, int, int] | None = None

    def cpu_share(self) -> tuple[float, float]:
        """(busy, stolen) shares of the machine's CPU time during the minute."""
        if self.cpu_first is None or self.cpu_last is None:
            return math.nan, math.nan
        busy, steal, total = (b - a for a, b in zip(self.cpu_first, self.cpu_last, strict=True))
        return (busy / total, steal / total) if total else (math.nan, math.nan)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_times() -> tuple[int, int, int]:
    """/proc/stat's first line: (busy, steal, total) jiffies over all cores."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split()[1:9]
    )
    total = user + nice + system + idle + iowait + irq + softirq + steal
    return user + nice + system + irq + softirq, steal, total


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
        "CAMPAIGN_LIFT_HTTP_PORT": "-1",  # no console: it would want port 8080
        "CAMPAIGN_LIFT_METRICS_PORT": str(metrics_port),
    }
    with (tmp / "server.log").open("ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "clients.cli", "serve"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
    target = f"127.0.0.1:{port}"
    wait_serving(target, timeout_s=60)
    return proc, target, f"http://127.0.0.1:{metrics_port}/metrics"


class OutcomeSender:
    """Outcomes for every fifth decision, sent by a producer of its own (as another service
    would), so a slow outcome commit never delays a Score call. Each call carries what has
    queued since the last one (up to BATCH events): one caller keeps up at any rate, where one
    event per call would fall behind once a commit takes longer than the gap between events."""

    BATCH = 500

    def __init__(self, target: str) -> None:
        self._client = CampaignLiftClient(target, timeout_s=10)
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.sent = 0  # events acknowledged
        self.calls = 0
        self.errors = 0  # events in failed calls
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def decided(self, i: int, decision_id: str) -> None:
        if i % 5 == 0:
            self._queue.put(decision_id)

    def _run(self) -> None:
        done = False
        while not done:
            batch: list[str] = []
            d = self._queue.get()
            while d is not None:
                batch.append(d)
                if len(batch) >= self.BATCH or self._queue.empty():
                    break
                d = self._queue.get()
            done = d is None
            if batch:
                self._send(batch)

    def _send(self, batch: list[str]) -> None:
        self.calls += 1
        try:
            self._client.log_outcomes([OutcomeEvent(f"{d}:click", d, "click") for d in batch])
            self.sent += len(batch)
        except Exception as exc:  # counted per event; the first few are shown
            self.errors += len(batch)
            if self.errors <= 3 * self.BATCH:
                console.print(f"[red]{len(batch)} outcomes failed: {exc}")

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(60)
        if self._thread.is_alive():  # still sending: what it has not sent counts as failed
            self.errors += max(0, self._queue.qsize() - 1)  # less the stop sentinel
        self._client.close()


def capacity(target: str, world: World, threads: int, seconds: float) -> float:
    """Score calls per second with `threads` callers back to back, outcomes for every fifth
    decision flowing beside them as in the soak."""
    done = [0] * threads
    stop = time.monotonic() + seconds
    outcomes = OutcomeSender(target)

    def caller(k: int) -> None:
        with CampaignLiftClient(target, timeout_s=10) as client:
            i = k
            while time.monotonic() < stop:
                outcomes.decided(i, client.score(_request(world, i)).decision.decision_id)
                done[k] += 1
                i += threads

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(caller, range(threads)))
    outcomes.close()
    return sum(done) / seconds


def soak(
    target: str, pid: int, metrics_url: str, world: World, rate: float, minutes: float, threads: int
) -> tuple[list[Minute], OutcomeSender]:
    """Open loop: Score call i is due at start + i / rate; `threads` workers each take every
    threads-th call, wait for its due time and send it. A call is counted in the minute it was
    due and timed from then, so a server (or client) that falls behind shows as latency, not as
    a lower rate (no coordinated omission)."""
    per_minute = [Minute() for _ in range(max(1, int(np.ceil(minutes))))]
    lock = threading.Lock()
    start = time.monotonic()
    total = int(minutes * 60 * rate)
    outcomes = OutcomeSender(target)

    def worker(k: int) -> None:
        with CampaignLiftClient(target, timeout_s=10) as client:
            for i in range(k, total, threads):
                due = start + i / rate
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)
                minute = per_minute[min(int((due - start) // 60), len(per_minute) - 1)]
                try:
                    result = client.score(_request(world, i))
                    latency = time.monotonic() - due
                    outcomes.decided(i, result.decision.decision_id)
                    with lock:
                        minute.latencies.append(latency)
                except Exception as exc:  # every failure counts; the first few are shown
                    with lock:
                        minute.errors += 1
                        if sum(m.errors for m in per_minute) <= 3:
                            console.print(f"[red]call {i} failed: {exc}")

    def sample_rss() -> None:
        end = start + minutes * 60
        while time.monotonic() < end:
            k = min(int((time.monotonic() - start) // 60), len(per_minute) - 1)
            m = per_minute[k]
            m.rss_mb = _rss_mb(pid)  # the last sample of each minute stays
            m.queue = _decision_queue(metrics_url)
            m.cpu_last = _cpu_times()
            m.cpu_first = m.cpu_first or m.cpu_last
            time.sleep(1.0)

    threading.Thread(target=sample_rss, daemon=True).start()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    outcomes.close()
    return per_minute, outcomes


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--load", type=float, default=0.7, help="share of measured capacity")
    parser.add_argument(
        "--callers",
        type=int,
        nargs="+",
        default=[4, 8, 16],
        help="closed-loop callers tried for capacity (the best rate counts)",
    )
    parser.add_argument("--capacity-seconds", type=float, default=15.0, help="per caller count")
    parser.add_argument("--workers", type=int, default=32, help="open-loop Score callers")
    return parser.parse_args(argv)


def _soak_rate(target: str, world: World, args: argparse.Namespace) -> float:
    """The open-loop rate: `--load` of the best closed-loop capacity over `--callers`."""
    rates = {n: capacity(target, world, n, args.capacity_seconds) for n in args.callers}
    best = max(rates, key=rates.__getitem__)
    rate = rates[best] * args.load
    console.print(
        "capacity: "
        + ", ".join(f"{r:.0f} Score/s with {n} callers" for n, r in rates.items())
        + f"; soaking at {rate:.0f}/s ({args.load:.0%} of {rates[best]:.0f}) "
        f"for {args.minutes:g} min with {args.workers} open-loop callers"
    )
    return rate


def _run_server_soak(args: argparse.Namespace) -> tuple[list[Minute], OutcomeSender]:
    """Starts a server on a temporary store, measures its capacity, soaks it, stops it."""
    world = World(n_users=2_000, seed=5)
    with tempfile.TemporaryDirectory(prefix="campaign-lift-soak-") as tmp:
        proc, target, metrics_url = _start_server(Path(tmp))
        try:
            rate = _soak_rate(target, world, args)
            return soak(target, proc.pid, metrics_url, world, rate, args.minutes, args.workers)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)


def _print_minutes(minutes: list[Minute]) -> None:
    table = Table(
        "minute",
        "calls",
        "errors",
        "p50 ms",
        "p99 ms",
        "server RSS MB",
        "decisions queued",
        "CPU busy",
        "CPU stolen",
    )
    for k, m in enumerate(minutes, 1):
        lat = np.array(m.latencies) * 1000 if m.latencies else np.array([np.nan])
        busy, stolen = m.cpu_share()
        table.add_row(
            str(k),
            str(len(m.latencies) + m.errors),
            str(m.errors),
            f"{np.percentile(lat, 50):.1f}",
            f"{np.percentile(lat, 99):.1f}",
            f"{m.rss_mb:.1f}",
            f"{m.queue:.0f}",
            f"{busy:.0%}",
            f"{stolen:.1%}",
        )
    console.print(table)


def _verdict(minutes: list[Minute], outcomes: OutcomeSender) -> int:
    """Prints the totals; 1 when a call failed, RSS grew or p99 was not stable, else 0."""
    errors = sum(m.errors for m in minutes) + outcomes.errors
    growth = (minutes[-1].rss_mb - minutes[0].rss_mb) / minutes[0].rss_mb
    p99 = [float(np.percentile(m.latencies, 99)) * 1000 for m in minutes if m.latencies]
    spread = max(p99) / float(np.median(p99))
    console.print(
        f"Score calls {sum(len(m.latencies) + m.errors for m in minutes)}, outcomes "
        f"{outcomes.sent + outcomes.errors} in {outcomes.calls} calls, errors {errors}, "
        f"RSS growth {growth:+.2%} (minute 1 to last), p99 per minute "
        f"{min(p99):.1f}-{max(p99):.1f} ms (worst minute {spread:.2f}x the median minute)"
    )
    return 0 if errors == 0 and growth < RSS_GROWTH_LIMIT and spread <= P99_SPREAD else 1


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    minutes, outcomes = _run_server_soak(args)
    _print_minutes(minutes)
    return _verdict(minutes, outcomes)


if __name__ == "__main__":
    sys.exit(main())
