"""The store: outcome ingest over real gRPC (acknowledged after commit) and A/B report latency
on bulk-generated decisions, on SQLite and, when a PostgreSQL server is reachable, PostgreSQL
(bench/store.py; it creates and drops its own databases). Here the report runs at 1M decisions
(--quick: 100k); the 10M run takes a quarter of an hour on 2 cores and is its own command:
`python -m bench.store` (1M and 10M)."""

from __future__ import annotations

import os

from sqlalchemy import create_engine, make_url, text

from bench.context import BenchContext, Row

# The benchmark creates (and drops) <database>_ingest and <database>_report on this server.
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/campaign_lift_bench"


def _postgres_url() -> str:
    url = os.environ.get("CAMPAIGN_LIFT_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    if not url:
        return ""
    try:
        engine = create_engine(make_url(url).set(database="postgres"))
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:
        return ""
    return url


def run(ctx: BenchContext) -> list[Row]:
    from bench import store

    url = _postgres_url()
    rows = []
    sizes = [100_000] if ctx.config.quick else [1_000_000]
    for r in store.run(quick=ctx.config.quick, postgres_url=url, sizes=sizes):
        met = "" if r.met is None else ("met" if r.met else "MISSED")
        note = f"goal {r.goal}: {met}" if r.goal else ""
        key = f"{r.backend}_{r.measure}_{r.size}".replace(" ", "_")
        if r.unit == "s":
            rows.append(
                Row(
                    "store",
                    f"{r.backend}: {r.measure}, {r.size:,} decisions",
                    p50_ms=r.value * 1000,
                    note=note,
                    values={key: r.value},
                )
            )
        else:
            rows.append(
                Row(
                    "store",
                    f"{r.backend}: {r.measure}, {r.size:,} events",
                    throughput=r.value,
                    unit=r.unit,
                    note=note,
                    values={key: r.value},
                )
            )
    if not url:
        ctx.skipped["store (postgresql)"] = (
            "no PostgreSQL server reachable (set CAMPAIGN_LIFT_BENCH_POSTGRES_URL)"
        )
    return rows
