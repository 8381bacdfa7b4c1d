"""Decision logging overhead: Score 1 x 100 p50 with the decision log on and off (the
benchmark switch CAMPAIGN_LIFT_DECISION_LOG=false), alternating runs to share the noise."""

from __future__ import annotations

import numpy as np

from bench.context import SCORE, BenchContext, Row
from bench.loadgen import Load, run_load

CANDIDATES = 100
ROUNDS = 2


def run(ctx: BenchContext) -> list[Row]:
    requests = ctx.score_requests(CANDIDATES)
    calls = max(ctx.config.latency_calls // ROUNDS, 10)
    p50: dict[bool, list[float]] = {True: [], False: []}
    with ctx.server(decision_log=True) as on, ctx.server(decision_log=False) as off:
        for _ in range(ROUNDS):
            for enabled, server in ((True, on), (False, off)):
                result = run_load(Load(server.target, SCORE, requests, calls=calls))
                p50[enabled].append(result.percentile_ms(50))
    p_on, p_off = float(np.median(p50[True])), float(np.median(p50[False]))
    ctx.record("decision_log", p50_on_ms=p_on, p50_off_ms=p_off, overhead=p_on / p_off - 1)
    return [
        Row(
            "decision_log",
            f"Score 1 x {CANDIDATES}, decision log on, 1 client",
            p50_ms=p_on,
            note=f"median of {ROUNDS} alternating runs' p50",
        ),
        Row(
            "decision_log",
            f"Score 1 x {CANDIDATES}, decision log off, 1 client",
            p50_ms=p_off,
            note=f"overhead {p_on / p_off - 1:+.1%}",
        ),
    ]
