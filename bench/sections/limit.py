"""Limit: onnxruntime in process on the served model (the same session options as the server),
at the batch sizes Score sends it. No gRPC, no validation, no policy: the runtime's own cost."""

from __future__ import annotations

import time

import numpy as np

from bench.context import BenchContext, Row
from server.runtime.model import load_model


def run(ctx: BenchContext) -> list[Row]:
    model = load_model(ctx.version)
    kinds = {**model.user_features, **model.campaign_features}
    rows = []
    for n in ctx.config.sizes:
        cols = ctx.feature_rows(n)
        feeds = {
            name: np.asarray(
                cols[name], dtype=np.float32 if kinds[name] == "numeric" else object
            ).reshape(-1, 1)
            for name in kinds
        }
        reps = 20 if ctx.config.quick else (300 if n >= 1000 else 1500)
        for _ in range(min(reps, 50)):  # warm-up
            model.predict_all(feeds)
        times = np.empty(reps)
        for i in range(reps):
            began = time.perf_counter()
            model.predict_all(feeds)
            times[i] = time.perf_counter() - began
        p50, p95, p99 = (float(np.percentile(times, q) * 1e3) for q in (50, 95, 99))
        ctx.record("limit", **{f"ort_{n}_p50_ms": p50})
        rows.append(
            Row(
                "limit",
                f"onnxruntime in process, {n} rows",
                p50_ms=p50,
                p95_ms=p95,
                p99_ms=p99,
                throughput=n / float(np.mean(times)),
                unit="pairs/s",
                note="one thread (server's session options)",
            )
        )
    return rows
