"""REST: the Personalizer-compatible rank (HTTP/JSON into the HTTP side, then Score over gRPC)
beside Score itself on the same user and 10 actions, one client each; then rank under 200
concurrent callers. Both servers in their own processes (`campaign-lift serve`)."""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from bench.context import SCORE, BenchContext, Row, free_port
from bench.loadgen import Load, run_load
from clients.client import score_request

ACTIONS = 10
CONCURRENT = 200
RANK = "/personalizer/v1.0/rank"


def _plain(features: Any) -> dict[str, Any]:
    return {k: v.item() if hasattr(v, "item") else v for k, v in dict(features).items()}


def _bodies(ctx: BenchContext, count: int = 16) -> list[bytes]:
    """The same users and actions as the Score requests, as Rank bodies."""
    out = []
    for i in range(count):
        request = ctx.user_request(i, ACTIONS)
        body = {
            "contextFeatures": [{"unit_id": request.unit_id}, _plain(request.user_features)],
            "actions": [{"id": c, "features": [_plain(f)]} for c, f in request.candidates],
        }
        out.append(json.dumps(body).encode())
    return out


def _wait_http(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/openapi.json")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the HTTP side on port {port} did not answer")
        time.sleep(0.1)


def _caller(port: int, bodies: list[bytes], calls: int, offset: int) -> tuple[list[float], int]:
    """One keep-alive connection, one call in flight: latencies (s) and errors."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    latencies, errors = [], 0
    for k in range(calls):
        began = time.perf_counter()
        try:
            connection.request(
                "POST", RANK, body=bodies[(offset + k) % len(bodies)], headers=headers
            )
            reply = connection.getresponse()
            reply.read()
            ok = reply.status == 201
        except (OSError, http.client.HTTPException):
            ok = False
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        latencies.append(time.perf_counter() - began)
        errors += not ok
    connection.close()
    return latencies, errors


def _row(measurement: str, latencies: list[float], wall_s: float, errors: int) -> Row:
    ms = np.array(latencies) * 1000
    note = f"{errors} errors" if errors else ""
    return Row(
        "rest",
        measurement,
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        p99_ms=float(np.percentile(ms, 99)),
        throughput=len(latencies) / wall_s,
        unit="calls/s",
        note=note,
    )


def run(ctx: BenchContext) -> list[Row]:
    port = free_port()
    bodies = _bodies(ctx)
    score = [score_request(ctx.user_request(i, ACTIONS)).SerializeToString() for i in range(16)]
    calls = ctx.config.latency_calls
    rows = []
    with ctx.server(http_port=port) as server:
        _wait_http(port)
        _caller(port, bodies, 50, 0)  # warm-up
        lat = run_load(Load(server.target, SCORE, score, calls=calls, warmup_calls=50))
        began = time.perf_counter()
        rank, errors = _caller(port, bodies, calls, 0)
        rank_wall = time.perf_counter() - began
        rows.append(
            Row(
                "rest",
                f"Score 1 x {ACTIONS} (gRPC), 1 client",
                p50_ms=lat.percentile_ms(50),
                p95_ms=lat.percentile_ms(95),
                p99_ms=lat.percentile_ms(99),
                throughput=lat.calls_per_s,
                unit="calls/s",
            )
        )
        rows.append(
            _row(f"Personalizer rank 1 x {ACTIONS} (REST), 1 client", rank, rank_wall, errors)
        )
        per_caller = max(5, (20 if ctx.config.quick else 50))
        results: list[tuple[list[float], int]] = []
        lock = threading.Lock()

        def one(k: int) -> None:
            got = _caller(port, bodies, per_caller, k)
            with lock:
                results.append(got)

        began = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENT) as pool:
            list(pool.map(one, range(CONCURRENT)))
        wall = time.perf_counter() - began
        loaded = [x for latencies, _ in results for x in latencies]
        loaded_errors = sum(e for _, e in results)
        rows.append(
            _row(
                f"Personalizer rank 1 x {ACTIONS}, {CONCURRENT} concurrent callers",
                loaded,
                wall,
                loaded_errors,
            )
        )
    ctx.record(
        "rest",
        score_10_p50_ms=lat.percentile_ms(50),
        rank_10_p50_ms=float(np.percentile(rank, 50)) * 1000,
        rank_errors=float(errors + loaded_errors),
        rank_concurrent_calls=float(len(loaded)),
        rank_concurrent_p99_ms=float(np.percentile(loaded, 99)) * 1000,
    )
    return rows
