"""Scaling: Score latency against candidates per request (a straight-line fit: the model part
should cost the same per candidate), and throughput against server processes sharing one port
(SO_REUSEPORT, `campaign-lift serve --processes N`)."""

from __future__ import annotations

import os

import numpy as np

from bench.context import SCORE, BenchContext, Row, load_row

CANDIDATES = 100


def run(ctx: BenchContext) -> list[Row]:
    rows = _latency_fit(ctx)
    requests = ctx.score_requests(CANDIDATES)
    rates = {}
    for processes in (1, 2):
        with ctx.server(processes=processes) as server:
            cpu0 = server.cpu_s()
            # Several connections per client process: the kernel spreads connections, not
            # calls, over the processes sharing the port.
            thr = ctx.throughput(server.target, SCORE, requests, channels=4)
            server_cores = (server.cpu_s() - cpu0) / thr.wall_s
        rates[processes] = thr.calls_per_s * CANDIDATES
        busy = thr.client_cores + server_cores
        ctx.record(
            "scaling",
            **{
                f"processes_{processes}_pairs_per_s": rates[processes],
                f"processes_{processes}_client_cores": thr.client_cores,
                f"processes_{processes}_server_cores": server_cores,
            },
        )
        rows.append(
            load_row(
                "scaling",
                f"Score 1 x {CANDIDATES}, {processes} server process(es), under load",
                thr,
                pairs=CANDIDATES,
                note=f"server {server_cores:.2f} cores; machine {busy:.2f} of "
                f"{os.cpu_count()} cores busy",
            )
        )
    ctx.record("scaling", process_speedup=rates[2] / rates[1] if rates[1] else float("nan"))
    return rows


def _latency_fit(ctx: BenchContext) -> list[Row]:
    sizes = [n for n in ctx.config.sizes if f"ours.score_{n}_p50_ms" in ctx.values]
    if len(sizes) < 3:
        return []
    x = np.array(sizes, dtype=float)
    y = np.array([ctx.values[f"ours.score_{n}_p50_ms"] for n in sizes])
    slope, intercept = np.polyfit(x, y, 1)
    fitted = slope * x + intercept
    r2 = 1 - float(np.sum((y - fitted) ** 2) / np.sum((y - y.mean()) ** 2))
    ctx.record("scaling", ms_per_candidate=float(slope), fixed_ms=float(intercept), linear_r2=r2)
    return [
        Row(
            "scaling",
            f"Score p50 = {intercept:.3f} ms + {slope * 1e3:.2f} us x candidates",
            note=f"least squares over {sizes}; R^2 {r2:.4f}",
        )
    ]
