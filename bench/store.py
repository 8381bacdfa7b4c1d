"""Store benchmarks (not tests): outcome ingest over real gRPC with acknowledgement after
commit, and A/B report latency at 1M and 10M decisions, on SQLite and PostgreSQL.

    python -m bench.store [--quick] [--postgres URL]

PostgreSQL runs when a server URL is given (or CAMPAIGN_LIFT_BENCH_POSTGRES_URL is set): the
benchmark creates its own databases there (`<db>_ingest`, `<db>_report`) and drops them at
the end. Report data is generated with bulk inserts (COPY on PostgreSQL) straight into the
store's tables. Prints a rich table and returns its rows.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, make_url, text

from common.settings import Settings
from feedback.ab_report import experiment_report
from feedback.decisions import DecisionRecord, write_decisions
from feedback.experiments import Experiment, Variant, save_experiment
from feedback.monitoring import calibration
from feedback.outcomes import Outcome, log_outcomes
from feedback.store import Store, open_store
from protos.campaignlift.v1 import feedback_pb2, feedback_pb2_grpc
from server.runtime.app import start

console = Console()
INGEST_GOAL = {"sqlite": 50_000.0, "postgresql": 20_000.0}
REPORT_GOAL_S = 2.0
BATCH = 5_000  # events per LogOutcomes / StreamOutcomes message


@dataclass(frozen=True, slots=True)
class BenchRow:
    backend: str
    measure: str
    size: int
    value: float
    unit: str
    goal: str
    met: bool | None


# -- ingest --------------------------------------------------------------------------------


def _requests(n: int, prefix: str, batch: int = 0) -> list[feedback_pb2.LogOutcomesRequest]:
    """Pre-built requests, so the client's own work stays out of the server's throughput."""
    batch = batch or BATCH
    now = Timestamp()
    now.FromDatetime(datetime.now(UTC) - timedelta(minutes=1))
    kinds = (feedback_pb2.OUTCOME_TYPE_CLICK, feedback_pb2.OUTCOME_TYPE_CONVERSION)
    requests = []
    for start_at in range(0, n, batch):
        request = feedback_pb2.LogOutcomesRequest()
        for i in range(start_at, min(n, start_at + batch)):
            request.outcomes.add(
                event_id=f"{prefix}-{i}",
                decision_id=f"{prefix}-d{i // 2}",
                type=kinds[i % 2],
                value=1.0,
                occurred_at=now,
            )
        requests.append(request)
    return requests


CONCURRENT_PROCESSES, CONCURRENT_THREADS, CONCURRENT_BATCH = 2, 2, 1_000


def _client_process(target: str, prefix: str, events: int, start_at: float, out: Any) -> None:
    """One client process: CONCURRENT_THREADS threads, each its own channel, sending its
    share of pre-built LogOutcomes requests of CONCURRENT_BATCH events; reports (acked, s)."""
    import threading

    share = events // CONCURRENT_THREADS
    requests = [
        _requests(share, f"{prefix}-t{t}", batch=CONCURRENT_BATCH)
        for t in range(CONCURRENT_THREADS)
    ]
    acked = [0] * CONCURRENT_THREADS

    def send(t: int) -> None:
        with grpc.insecure_channel(target) as channel:
            stub = feedback_pb2_grpc.FeedbackServiceStub(channel)
            stub.LogOutcomes(feedback_pb2.LogOutcomesRequest(), timeout=30)  # connected
            while time.time() < start_at:
                time.sleep(0.001)
            acked[t] = sum(stub.LogOutcomes(r, timeout=120).accepted for r in requests[t])

    threads = [threading.Thread(target=send, args=(t,)) for t in range(CONCURRENT_THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out.put((sum(acked), time.time() - start_at))


def _concurrent_ingest(target: str, events: int) -> float:
    """Events/s acknowledged with CONCURRENT_PROCESSES client processes at once."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 8.0  # every process imported, connected and built its requests
    share = events // CONCURRENT_PROCESSES
    procs = [
        ctx.Process(
            target=_client_process,
            args=(target, f"conc-{time.time_ns()}-{k}", share, start_at, out),
        )
        for k in range(CONCURRENT_PROCESSES)
    ]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    acked = sum(a for a, _ in results)
    if acked != share * CONCURRENT_PROCESSES:
        raise RuntimeError(f"concurrent ingest: {acked} of {share * CONCURRENT_PROCESSES} acked")
    return acked / max(s for _, s in results)


def ingest(store: Store, tmp: Path, events: int) -> list[BenchRow]:
    """Events per second acknowledged (committed) by a real server, unary and streaming."""
    settings = Settings(
        database_url=store.url,
        artifact_dir=tmp / "artifacts",
        port=0,
        metrics_port=-1,
        calibration_refresh_s=0,
        max_outcomes=BATCH,
    )
    running = start(settings)
    rows = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = feedback_pb2_grpc.FeedbackServiceStub(channel)
            for mode in ("LogOutcomes", "StreamOutcomes"):
                requests = _requests(events, f"{mode}-{time.time_ns()}")
                began = time.perf_counter()
                if mode == "LogOutcomes":
                    acked = sum(stub.LogOutcomes(r, timeout=120).accepted for r in requests)
                else:
                    acked = sum(
                        a.accepted for a in stub.StreamOutcomes(iter(requests), timeout=600)
                    )
                elapsed = time.perf_counter() - began
                if acked != events:
                    raise RuntimeError(f"{mode}: {acked} of {events} events acknowledged")
                rate = events / elapsed
                goal = INGEST_GOAL[store.dialect]
                rows.append(
                    BenchRow(
                        store.dialect,
                        f"ingest {mode}",
                        events,
                        rate,
                        "events/s",
                        f">= {goal:,.0f}",
                        rate >= goal,
                    )
                )
        running.runtime.outcomes.commits = running.runtime.outcomes.calls = 0
        rate = _concurrent_ingest(f"127.0.0.1:{running.port}", events)
        goal = INGEST_GOAL[store.dialect]
        rows.append(
            BenchRow(
                store.dialect,
                f"ingest LogOutcomes {CONCURRENT_PROCESSES}x{CONCURRENT_THREADS} clients, "
                f"{CONCURRENT_BATCH:,}/call, "
                f"{running.runtime.outcomes.calls / max(1, running.runtime.outcomes.commits):.1f}"
                " calls/commit",
                events,
                rate,
                "events/s",
                f">= {goal:,.0f}",
                rate >= goal,
            )
        )
    finally:
        running.stop()
    return rows


# -- report --------------------------------------------------------------------------------

DECISION_COLUMNS = (
    "decision_id",
    "unit_id",
    "experiment",
    "variant",
    "policy",
    "model_version",
    "campaign_id",
    "propensity",
    "user_features",
    "candidates",
    "chosen_features",
    "chosen_prediction",
    "created_at",
)
OUTCOME_COLUMNS = ("event_id", "decision_id", "type", "value", "occurred_at", "received_at")
CHUNK = 200_000


def _chunks(
    n: int, seed: int
) -> Iterator[tuple[list[tuple[object, ...]], list[tuple[object, ...]]]]:
    """Decisions of 2 per unit in 2 variants over 14 days, 10% converting (a third with
    revenue), each chunk as (decision rows, outcome rows)."""
    rng = np.random.default_rng(seed)
    start_at = datetime(2026, 10, 1, tzinfo=UTC)
    for first in range(0, n, CHUNK):
        size = min(CHUNK, n - first)
        ids = np.arange(first, first + size)
        minutes = rng.integers(0, 14 * 24 * 60, size)
        converts = rng.random(size) < 0.10
        revenue = rng.gamma(2.0, 20.0, size).round(2)
        decisions: list[tuple[object, ...]] = []
        outcomes: list[tuple[object, ...]] = []
        for i, m, c, r in zip(
            ids.tolist(), minutes.tolist(), converts, revenue.tolist(), strict=True
        ):
            unit = i // 2
            at = start_at + timedelta(minutes=m)
            did = f"d{i}"
            decisions.append(
                (
                    did,
                    f"u{unit}",
                    "bench",
                    "ab"[unit % 2],
                    "bench",
                    "1",
                    f"c{i % 4}",
                    0.25,
                    f'{{"history": {unit % 500}}}',
                    "[]",
                    "{}",
                    f'{{"probability": {{"conversion": {0.05 + (i % 10) / 100}}}}}',
                    at,
                )
            )
            if c:
                outcomes.append((f"{did}:c", did, "conversion", 1.0, at, at))
                if i % 3 == 0:
                    outcomes.append((f"{did}:r", did, "revenue", r, at, at))
        yield decisions, outcomes


def _fill_postgres(store: Store, n: int) -> None:
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        for decisions, outcomes in _chunks(n, seed=1):
            with cur.copy(f"COPY decisions ({', '.join(DECISION_COLUMNS)}) FROM STDIN") as copy:
                for row in decisions:
                    copy.write_row(row)
            with cur.copy(f"COPY outcomes ({', '.join(OUTCOME_COLUMNS)}) FROM STDIN") as copy:
                for row in outcomes:
                    copy.write_row(row)
        raw.commit()
        cur.execute("ANALYZE decisions")
        cur.execute("ANALYZE outcomes")
        raw.commit()
    finally:
        raw.close()


def _fill_sqlite(path: Path, n: int) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    marks = ", ".join("?" * len(DECISION_COLUMNS))
    d = f"INSERT INTO decisions ({', '.join(DECISION_COLUMNS)}) VALUES ({marks})"
    o = f"INSERT INTO outcomes ({', '.join(OUTCOME_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)"

    def naive(at: object) -> str:  # as UTCDateTime stores it on SQLite
        assert isinstance(at, datetime)
        return at.replace(tzinfo=None).isoformat(sep=" ")

    for decisions, outcomes in _chunks(n, seed=1):
        con.executemany(d, [(*r[:-1], naive(r[-1])) for r in decisions])
        con.executemany(o, [(*r[:4], naive(r[4]), naive(r[5])) for r in outcomes])
        con.commit()
    con.execute("ANALYZE")
    con.commit()
    con.close()


def report_latency(store: Store, n: int, sqlite_path: Path | None) -> list[BenchRow]:
    save_experiment(
        store,
        Experiment("bench", "s", (Variant("a", 1.0), Variant("b", 1.0)), covariate="history"),
    )
    began = time.perf_counter()
    if sqlite_path is not None:
        _fill_sqlite(sqlite_path, n)
    else:
        _fill_postgres(store, n)
    fill = time.perf_counter() - began
    rows = [BenchRow(store.dialect, "generate decisions (bulk)", n, n / fill, "rows/s", "", None)]

    def timed(measure: str, covariate: str | None = None) -> None:
        began = time.perf_counter()
        report = experiment_report(store, "bench", covariate=covariate)
        elapsed = time.perf_counter() - began
        if sum(v.decisions for v in report.variants) < n:
            raise RuntimeError("the report does not cover every generated decision")
        met = elapsed <= REPORT_GOAL_S if n >= 10_000_000 and "build" not in measure else None
        goal = "" if "build" in measure else f"<= {REPORT_GOAL_S:g} s at 10M"
        rows.append(BenchRow(store.dialect, measure, n, elapsed, "s", goal, met))

    timed("report, first (builds the summary)")
    timed("report (summary up to date)")
    _new_traffic(store, n)
    timed("report after 10k new decisions + outcomes")
    if n <= 1_000_000:  # another covariate than the summary's reads every decision
        timed("report, uncached (other covariate)", covariate="")
    rows += calibration_cost(store, n)
    return rows


def calibration_cost(store: Store, n: int) -> list[BenchRow]:
    """The server's calibration gauges over a window holding every generated decision: one SQL
    aggregate, so Python's memory stays flat however many decisions the window holds."""
    tracemalloc.start()
    began = time.perf_counter()
    rows = calibration(store, timedelta(days=400), labels={"conversion": "conversion"})
    elapsed = time.perf_counter() - began
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if sum(r.count for r in rows) < n:
        raise RuntimeError("calibration does not cover every generated decision")
    return [
        BenchRow(store.dialect, "calibration gauges (whole window)", n, elapsed, "s", "", None),
        BenchRow(
            store.dialect, "calibration: Python memory peak", n, peak / 2**20, "MiB", "", None
        ),
    ]


def _new_traffic(store: Store, n: int) -> None:
    """10k decisions made now (half of them by units already seen) with their outcomes."""
    now = datetime.now(UTC)
    records, outcomes = [], []
    for k in range(10_000):
        unit = (k * 97) % (n // 2) if k % 2 else n + k
        did = f"new-{k}"
        records.append(
            DecisionRecord(
                did,
                f"u{unit}",
                "bench",
                "ab"[unit % 2],
                "bench",
                "1",
                "c0",
                0.25,
                {"history": float(unit % 500)},
                [],
                {},
                now,
            )
        )
        if k % 10 == 0:
            outcomes.append(Outcome(f"{did}:c", did, "conversion", 1.0, now))
    write_decisions(store, records)
    log_outcomes(store, outcomes)


# -- databases -----------------------------------------------------------------------------


@contextmanager
def _postgres_database(server_url: str, name: str) -> Iterator[str]:
    """A fresh database on the server of `server_url`, dropped afterwards."""
    admin = create_engine(
        make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(
    quick: bool = False,
    postgres_url: str = "",
    only: str = "",
    sizes: list[int] | None = None,
) -> list[BenchRow]:
    events = 20_000 if quick else 200_000
    if sizes is None:
        sizes = [100_000] if quick else [1_000_000, 10_000_000]
    rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp_dir:
        tmp = Path(tmp_dir)
        if only != "report":
            store = open_store(f"sqlite:///{tmp / 'ingest.db'}")
            rows += ingest(store, tmp, events)
            store.dispose()
        for n in sizes if only != "ingest" else []:
            path = tmp / f"report-{n}.db"
            store = open_store(f"sqlite:///{path}")
            rows += report_latency(store, n, path)
            store.dispose()
            path.unlink()
        if postgres_url:
            base = make_url(postgres_url).database or "campaign_lift"
            if only != "report":
                with _postgres_database(postgres_url, f"{base}_ingest") as url:
                    store = open_store(url)
                    rows += ingest(store, tmp, events)
                    store.dispose()
            for n in sizes if only != "ingest" else []:
                with _postgres_database(postgres_url, f"{base}_report") as url:
                    store = open_store(url)
                    rows += report_latency(store, n, None)
                    store.dispose()
    return rows


def render(rows: list[BenchRow]) -> None:
    table = Table(title=f"store benchmarks ({os.cpu_count()} cores, shared)")
    for col in ("backend", "measure", "size", "value", "unit", "goal", "met"):
        table.add_column(col, justify="right")
    for r in rows:
        value = f"{r.value:,.0f}" if r.unit not in ("s", "MiB") else f"{r.value:.3f}"
        met = "" if r.met is None else ("[green]yes[/green]" if r.met else "[red]no[/red]")
        table.add_row(r.backend, r.measure, f"{r.size:,}", value, r.unit, r.goal, met)
    console.print(table)


def main(argv: list[str] | None = None) -> list[BenchRow]:
    parser = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("CAMPAIGN_LIFT_BENCH_POSTGRES_URL", ""),
        help="PostgreSQL server URL; the benchmark creates and drops its own databases there",
    )
    parser.add_argument("--only", choices=["ingest", "report"], default="", help="one part")
    args = parser.parse_args(argv)
    rows = run(quick=args.quick, postgres_url=args.postgres, only=args.only)
    render(rows)
    return rows


if __name__ == "__main__":
    main()
