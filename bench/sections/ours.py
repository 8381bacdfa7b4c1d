"""Ours: Score at 1..1000 candidates (one client, then under load), ScoreBatch, and the V2
ModelInfer path, all over real gRPC to a server in its own process."""

from __future__ import annotations

from bench.context import MODEL_INFER, SCORE, SCORE_BATCH, BenchContext, Row, load_row
from bench.loadgen import Load, run_load
from server.handlers.inference import MODEL_NAME

BATCH_USERS, BATCH_CANDIDATES = 250, 5


def run(ctx: BenchContext) -> list[Row]:
    target = ctx.shared_server.target
    rows = []
    for n in ctx.config.sizes:
        requests = ctx.score_requests(n)
        calls = ctx.config.latency_calls if n < 1000 else ctx.config.latency_calls // 5
        lat = run_load(Load(target, SCORE, requests, calls=calls, warmup_calls=20))
        thr = ctx.throughput(target, SCORE, requests)
        ctx.record(
            "ours",
            **{
                f"score_{n}_p50_ms": lat.percentile_ms(50),
                f"score_{n}_p99_ms": lat.percentile_ms(99),
                f"score_{n}_pairs_per_s": thr.calls_per_s * n,
                f"score_{n}_client_cores": thr.client_cores,
            },
        )
        rows.append(load_row("ours", f"Score 1 x {n}, 1 client", lat, pairs=n))
        rows.append(load_row("ours", f"Score 1 x {n}, under load", thr, pairs=n))
    for n in ctx.config.sizes:
        # The same sizes by catalogue id: features resolved and checked once per catalogue
        # version, the candidate block built by indexing.
        requests = ctx.catalogue_requests(n)
        calls = ctx.config.latency_calls if n < 1000 else ctx.config.latency_calls // 5
        lat = run_load(Load(target, SCORE, requests, calls=calls, warmup_calls=20))
        ctx.record(
            "ours",
            **{
                f"score_id_{n}_p50_ms": lat.percentile_ms(50),
                f"score_id_{n}_p99_ms": lat.percentile_ms(99),
            },
        )
        rows.append(load_row("ours", f"Score by id 1 x {n}, 1 client", lat, pairs=n))
    users = 10 if ctx.config.quick else BATCH_USERS
    batch = ctx.score_batch_requests(users, BATCH_CANDIDATES)
    thr = ctx.throughput(target, SCORE_BATCH, batch)
    ctx.record("ours", score_batch_pairs_per_s=thr.calls_per_s * users * BATCH_CANDIDATES)
    rows.append(
        load_row(
            "ours",
            f"ScoreBatch {users} x {BATCH_CANDIDATES}, under load",
            thr,
            pairs=users * BATCH_CANDIDATES,
        )
    )
    infer = ctx.infer_requests(100, MODEL_NAME)
    lat = ctx.latency(target, MODEL_INFER, infer)
    thr = ctx.throughput(target, MODEL_INFER, infer)
    ctx.record(
        "ours",
        v2_100_p50_ms=lat.percentile_ms(50),
        v2_100_pairs_per_s=thr.calls_per_s * 100,
    )
    rows.append(load_row("ours", "V2 ModelInfer 100 rows, 1 client", lat, pairs=100))
    rows.append(load_row("ours", "V2 ModelInfer 100 rows, under load", thr, pairs=100))
    return rows
