"""The database drops every connection (what a PostgreSQL restart does to its clients) while a
real server is under load: the server reconnects by itself, every acknowledged outcome is
stored, and the only errors callers ever see are UNAVAILABLE (retry later)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import create_engine, text

from clients.client import CampaignLiftClient, OutcomeEvent
from feedback.outcomes import count_outcomes
from feedback.store import Store
from server.runtime.app import start
from tests.conftest import _postgres_store, promote_new, server_settings
from tests.e2e.helpers import user_request


@pytest.fixture
def pg_store() -> Iterator[Store]:
    store = _postgres_store()
    yield store
    store.dispose()


def drop_connections(url: str) -> int:
    """Terminates every other session on the database, as a restart would."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).all()
            )
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_server_survives_dropped_connections_under_load(
    pg_store: Store, tmp_path: Path, world, trained_logreg
) -> None:  # type: ignore[no-untyped-def]
    promote_new(pg_store, trained_logreg, tmp_path / "artifacts")
    server = start(server_settings(pg_store, tmp_path, model_poll_interval_s=0.2))
    acknowledged: set[str] = set()
    errors: list[grpc.StatusCode] = []
    stop = threading.Event()

    def writer(w: int) -> None:
        with CampaignLiftClient(f"127.0.0.1:{server.port}") as client:
            i = 0
            while not stop.is_set():
                events = [OutcomeEvent(f"w{w}-{i}-{k}", f"d-{w}-{i}", "click") for k in range(20)]
                try:
                    client.log_outcomes(events)
                    acknowledged.update(e.event_id for e in events)
                except grpc.RpcError as exc:
                    errors.append(exc.code())
                i += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.5)
        dropped = 0
        for _ in range(3):
            dropped += drop_connections(pg_store.url)
            time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(30)
        assert dropped > 0  # the server's pooled connections really were cut
        # Without any operator action the server answers again, reads and writes.
        with CampaignLiftClient(f"127.0.0.1:{server.port}") as client:
            result = client.score(user_request(world, 1))
            assert result.decision.decision_id
            assert client.log_outcomes([OutcomeEvent("after", "d-after", "click")]) == (1, 0)
            acknowledged.add("after")
    finally:
        stop.set()
        server.stop()
    assert set(errors) <= {grpc.StatusCode.UNAVAILABLE}, errors
    with pg_store.transaction() as session:
        stored = {row[0] for row in session.execute(text("SELECT event_id FROM outcomes")).all()}
    assert acknowledged <= stored  # nothing acknowledged is lost
    assert count_outcomes(pg_store) == len(stored)
