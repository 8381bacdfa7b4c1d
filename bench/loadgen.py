"""The benchmarks' gRPC load generator: closed-loop callers in several processes.

Several processes, so the client is not the bottleneck of a throughput measurement (and when it
is, the CPU it used says so).

Requests are serialized once, up front, and sent as bytes through a generic unary method, and
replies are not parsed: per call the client does only the transport's work. Any unary method of
any server (ours, the health service, another V2 server) is driven the same way.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
import numpy as np


@dataclass(frozen=True)
class Load:
    """What to send, where, and how hard.

    Parameters
    ----------
    target: ``host:port`` of the server.
    method: full method path, e.g. ``/campaignlift.v1.ScoringService/Score``.
    requests: serialized request messages, sent in turn (cycled).
    processes: client processes (each with its own channel).
    concurrency: closed-loop callers (threads) per process, each with one call in flight.
    duration_s: how long every caller sends after the warm-up; or ``calls`` per caller.
    """

    target: str
    method: str
    requests: Sequence[bytes]
    processes: int = 1
    concurrency: int = 1
    duration_s: float | None = None
    calls: int | None = None
    warmup_calls: int = 20
    timeout_s: float = 30.0
    channels_per_process: int = 1  # several connections, e.g. to reach several SO_REUSEPORT peers

    def __post_init__(self) -> None:
        if not self.requests:
            raise ValueError("requests must not be empty")
        if (self.duration_s is None) == (self.calls is None):
            raise ValueError("give exactly one of duration_s and calls")
        if self.processes < 1 or self.concurrency < 1 or self.channels_per_process < 1:
            raise ValueError("processes, concurrency and channels_per_process must be >= 1")


@dataclass
class LoadResult:
    latencies_s: np.ndarray  # every measured call, seconds
    wall_s: float  # from the common start to the last caller's end
    errors: int
    client_cpu_s: float  # CPU the client processes used while measuring (user + system)
    error_samples: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.latencies_s)

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def client_cores(self) -> float:
        """Cores the client kept busy on average: near the machine's count means the client
        (not the server) limited the throughput."""
        return self.client_cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.calls:
            return float("nan")
        return float(np.percentile(self.latencies_s, q) * 1e3)


def _caller(
    call: grpc.UnaryUnaryMultiCallable,
    load: Load,
    offset: int,
    deadline: float | None,
    out: list[float],
    errors: list[str],
) -> None:
    requests = load.requests
    n = len(requests)
    i = offset
    limit = load.calls
    perf = time.perf_counter
    while True:
        if limit is not None:
            if len(out) + len(errors) >= limit:
                return
        elif perf() >= deadline:  # type: ignore[operator]
            return
        began = perf()
        try:
            call(requests[i % n], timeout=load.timeout_s)
        except grpc.RpcError as exc:
            errors.append(f"{exc.code().name}: {exc.details()}")
            continue
        out.append(perf() - began)
        i += 1


def _worker(load: Load, index: int, ready: object, start: object, results: object) -> None:
    """One client process: connect, warm up, wait for the common start, call, report."""
    channels = [
        # A distinct channel argument makes each channel its own connection (no subchannel reuse).
        grpc.insecure_channel(load.target, options=[("bench.channel", index * 1000 + k)])
        for k in range(load.channels_per_process)
    ]
    calls = [c.unary_unary(load.method) for c in channels]  # bytes in, bytes out
    for k in range(load.warmup_calls):
        calls[k % len(calls)](load.requests[k % len(load.requests)], timeout=load.timeout_s)
    ready.put(index)  # type: ignore[attr-defined]
    begin = start.get()  # type: ignore[attr-defined]
    deadline = None if load.duration_s is None else begin + load.duration_s
    while time.perf_counter() < begin:
        time.sleep(0.0005)
    cpu0 = os.times()
    latencies: list[list[float]] = [[] for _ in range(load.concurrency)]
    errors: list[list[str]] = [[] for _ in range(load.concurrency)]
    threads = [
        threading.Thread(
            target=_caller,
            args=(
                calls[t % len(calls)],
                load,
                index * 7919 + t * 104729,
                deadline,
                latencies[t],
                errors[t],
            ),
        )
        for t in range(load.concurrency)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    end = time.perf_counter()
    cpu1 = os.times()
    for c in channels:
        c.close()
    results.put(  # type: ignore[attr-defined]
        (
            [x for lat in latencies for x in lat],
            [e for err in errors for e in err],
            end,
            (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
        )
    )


def run_load(load: Load) -> LoadResult:
    """Runs `load` in fresh (spawned) client processes and gathers every call's latency."""
    ctx = mp.get_context("spawn")  # never fork a process that may hold gRPC state
    ready, start, results = ctx.Queue(), ctx.Queue(), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(load, i, ready, start, results), daemon=True)
        for i in range(load.processes)
    ]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready.get(timeout=120)
        begin = time.perf_counter() + 0.05  # perf_counter is system-wide (CLOCK_MONOTONIC)
        for _ in procs:
            start.put(begin)
        gathered = [results.get(timeout=600) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    latencies = np.array([x for g in gathered for x in g[0]], dtype=np.float64)
    errors = [e for g in gathered for e in g[1]]
    return LoadResult(
        latencies_s=latencies,
        wall_s=max(g[2] for g in gathered) - begin,
        errors=len(errors),
        client_cpu_s=sum(g[3] for g in gathered),
        error_samples=sorted(set(errors))[:3],
    )
