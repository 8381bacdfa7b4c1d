"""Floor: the cheapest unary call a Python gRPC server can answer (health Check), on a bare
thread-pool server and a bare `grpc.aio` server, and the same call on ours (which adds our
interceptors)."""

from __future__ import annotations

import signal
import subprocess
import sys

from grpc_health.v1 import health_pb2

from bench.context import HEALTH_CHECK, BenchContext, Row, free_port, load_row
from bench.loadgen import LoadResult
from clients.client import wait_serving


def _bare(ctx: BenchContext, request: list[bytes], *mode: str) -> tuple[LoadResult, LoadResult]:
    """One client, then under load, on a bare floor server in its own process."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.floor_server", str(port), *mode])
    try:
        target = f"127.0.0.1:{port}"
        wait_serving(target, service="", timeout_s=60)
        return ctx.latency(target, HEALTH_CHECK, request), ctx.throughput(
            target, HEALTH_CHECK, request
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def run(ctx: BenchContext) -> list[Row]:
    request = [health_pb2.HealthCheckRequest(service="").SerializeToString()]
    lat, thr = _bare(ctx, request)
    ctx.record(
        "floor",
        p50_ms=lat.percentile_ms(50),
        p99_ms=lat.percentile_ms(99),
        calls_per_s=thr.calls_per_s,
    )
    aio_lat, aio_thr = _bare(ctx, request, "aio")
    ctx.record(
        "floor",
        aio_p50_ms=aio_lat.percentile_ms(50),
        aio_p99_ms=aio_lat.percentile_ms(99),
        aio_calls_per_s=aio_thr.calls_per_s,
    )
    ours = ctx.latency(ctx.shared_server.target, HEALTH_CHECK, request)
    return [
        load_row("floor", "bare server: health Check, 1 client", lat),
        load_row("floor", "bare server: health Check, under load", thr),
        load_row("floor", "bare grpc.aio server: health Check, 1 client", aio_lat),
        load_row("floor", "bare grpc.aio server: health Check, under load", aio_thr),
        load_row(
            "floor",
            "our server: health Check, 1 client",
            ours,
            note="adds our metrics and token interceptors",
        ),
    ]
