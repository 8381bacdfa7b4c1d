"""Memory: resident set size of a server process at rest, under load, and across model swaps
(each promotion loads a new session; the old one must be freed, so RSS must not grow by a
session per swap)."""

from __future__ import annotations

import threading
import time

import grpc

from bench.context import SCORE, BenchContext, Row, rss_mb
from feedback.registry import PRODUCTION, set_stage
from protos.campaignlift.v1 import scoring_pb2

SWAPS = 6


def run(ctx: BenchContext) -> list[Row]:
    requests = ctx.score_requests(100)
    swaps = 2 if ctx.config.quick else SWAPS
    with ctx.server() as server:
        (pid,) = server.pids
        at_rest = rss_mb(pid)
        peak = [at_rest]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.05):
                peak.append(rss_mb(pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        ctx.throughput(server.target, SCORE, requests)
        stop.set()
        sampler.join()
        after_load = rss_mb(pid)
        per_swap = []
        with grpc.insecure_channel(server.target) as channel:
            score = channel.unary_unary(
                "/campaignlift.v1.ScoringService/Score",
                response_deserializer=scoring_pb2.ScoreResponse.FromString,
            )
            for _ in range(swaps):
                version = ctx.register_version(promote=False)
                set_stage(ctx.store, PRODUCTION, version.version, actor="bench", reason="swap")
                _wait_for_version(score, requests[0], str(version.version))
                for _ in range(50):  # traffic on the new session
                    score(requests[0], timeout=10)
                per_swap.append(rss_mb(pid))
    growth = (per_swap[-1] - per_swap[0]) / (len(per_swap) - 1) if len(per_swap) > 1 else 0.0
    ctx.record(
        "memory",
        rss_rest_mb=at_rest,
        rss_load_peak_mb=max(peak),
        rss_after_load_mb=after_load,
        rss_first_swap_mb=per_swap[0],
        rss_last_swap_mb=per_swap[-1],
        growth_per_swap_mb=growth,
        model_mb=len(ctx.trained.onnx_bytes) / 2**20,
    )
    return [
        Row("memory", "RSS of one server process at rest", note=f"{at_rest:.1f} MB"),
        Row("memory", "RSS under load (peak)", note=f"{max(peak):.1f} MB"),
        Row(
            "memory",
            f"RSS after each of {swaps} model swaps",
            note=", ".join(f"{r:.1f}" for r in per_swap)
            + f" MB; {growth:+.2f} MB per swap; the ONNX file is "
            f"{len(ctx.trained.onnx_bytes) / 2**20:.2f} MB",
        ),
    ]


def _wait_for_version(
    score: grpc.UnaryUnaryMultiCallable, request: bytes, version: str, timeout_s: float = 30
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if score(request, timeout=10).decision.model_version == version:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the server did not swap to model version {version} in {timeout_s} s")
