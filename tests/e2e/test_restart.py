"""Durability across restarts of a real server process: acknowledged outcomes survive SIGKILL,
decisions are all written on SIGTERM, and assignments are the same after a restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import numpy as np

from clients.client import CampaignLiftClient, wait_serving
from feedback.decisions import count_decisions
from feedback.experiments import Experiment, Variant, save_experiment
from feedback.outcomes import count_outcomes
from feedback.store import Store
from tests.conftest import ROOT, promote_new
from tests.e2e.helpers import outcomes_for, user_request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server_process(
    store: Store, tmp_path: Path, port: int, extra_env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "CAMPAIGN_LIFT_DATABASE_URL": store.url,
        "CAMPAIGN_LIFT_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "CAMPAIGN_LIFT_PORT": str(port),
        "CAMPAIGN_LIFT_HTTP_PORT": "-1",  # no console: it would want port 8080
        "CAMPAIGN_LIFT_METRICS_PORT": "-1",
        **(extra_env or {}),
    }
    log = (tmp_path / f"server-{port}.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "clients.cli", "serve"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    try:
        wait_serving(f"127.0.0.1:{port}", timeout_s=60)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        log.close()


def test_acknowledged_outcomes_survive_sigkill_and_decisions_survive_sigterm(
    sqlite_store: Store, tmp_path: Path, world, trained_logreg
) -> None:
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    save_experiment(
        sqlite_store,
        Experiment(
            "ab",
            "s",
            (
                Variant("a", 1.0, {"type": "uniform_random"}),
                Variant("b", 1.0, {"type": "epsilon_greedy"}),
            ),
        ),
    )
    rng = np.random.default_rng(1)
    port = _free_port()
    users = rng.integers(0, len(world.users), 300)
    acknowledged = 0
    with server_process(sqlite_store, tmp_path, port) as proc:
        with CampaignLiftClient(f"127.0.0.1:{port}") as client:
            results = client.score_batch(
                [user_request(world, int(u), experiment="ab") for u in users]
            )
            events = outcomes_for(world, users, results, rng)
            for start in range(0, len(events), 25):
                accepted, _ = client.log_outcomes(events[start : start + 25])
                acknowledged += accepted
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert acknowledged == len(events) > 0
    assert count_outcomes(sqlite_store) == acknowledged
    variants_before = [r.decision.variant for r in results]

    with server_process(sqlite_store, tmp_path, port) as proc:
        with CampaignLiftClient(f"127.0.0.1:{port}") as client:
            # Re-sending acknowledged events after the restart stores nothing twice.
            accepted, duplicates = client.log_outcomes(events[:50])
            assert (accepted, duplicates) == (0, min(50, len(events)))
            again = client.score_batch(
                [user_request(world, int(u), experiment="ab") for u in users]
            )
        decisions_before_stop = count_decisions(sqlite_store)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert [r.decision.variant for r in again] == variants_before
    # Graceful stop wrote every decision of the second run.
    assert count_decisions(sqlite_store) >= decisions_before_stop
    decided = {r.decision.decision_id for r in again}
    with sqlite_store.transaction() as session:
        from sqlalchemy import select

        from feedback.models import DecisionRow

        stored = set(
            session.scalars(
                select(DecisionRow.decision_id).where(DecisionRow.decision_id.in_(decided))
            )
        )
    assert stored == decided


def test_sigkill_mid_stream_keeps_every_acknowledged_batch(
    store: Store, tmp_path: Path, trained_logreg
) -> None:  # type: ignore[no-untyped-def]
    """StreamOutcomes into a real server process killed with SIGKILL after some acks: every
    acknowledged batch is in the store (counted event by event), on SQLite and PostgreSQL."""
    from clients.client import OutcomeEvent

    promote_new(store, trained_logreg, tmp_path / "artifacts")  # the server waits for a model
    port = _free_port()
    size = 50

    def batches() -> Iterator[list[OutcomeEvent]]:
        for b in range(10_000):  # far more than will be sent before the kill
            yield [OutcomeEvent(f"k-{b}-{i}", f"d-{b}-{i}", "click") for i in range(size)]

    acknowledged: list[int] = []
    with server_process(store, tmp_path, port) as proc:
        with CampaignLiftClient(f"127.0.0.1:{port}") as client:
            try:
                for batch, accepted, _ in client.stream_outcomes(batches(), timeout_s=120):
                    acknowledged.append(batch)
                    assert accepted == size
                    if len(acknowledged) == 40:
                        proc.send_signal(signal.SIGKILL)  # mid-stream, more batches in flight
            except grpc.RpcError as exc:
                assert exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        proc.wait(10)
    assert len(acknowledged) >= 40 and acknowledged == list(range(len(acknowledged)))
    with store.transaction() as session:
        from sqlalchemy import select

        from feedback.models import OutcomeRow

        stored = set(session.scalars(select(OutcomeRow.event_id)))
    expected = {f"k-{b}-{i}" for b in acknowledged for i in range(size)}
    assert expected <= stored  # nothing acknowledged is lost
    # Whatever was committed but not acknowledged before the kill is whole batches only.
    assert len(stored) % size == 0
