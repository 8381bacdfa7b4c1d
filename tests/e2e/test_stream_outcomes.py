"""StreamOutcomes over real gRPC: every batch acknowledged in order after its commit; a bad
batch ends the stream with its status and the batches acknowledged before it are stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from clients.client import CampaignLiftClient, OutcomeEvent
from feedback.outcomes import count_outcomes
from feedback.store import Store
from server.runtime.app import RunningServer, start
from tests.conftest import server_settings


@pytest.fixture
def running(store: Store, tmp_path: Path) -> Iterator[RunningServer]:
    server = start(server_settings(store, tmp_path))
    yield server
    server.stop()


def batches(n: int, size: int, *, bad_at: int | None = None) -> Iterator[list[OutcomeEvent]]:
    for b in range(n):
        events = [OutcomeEvent(f"s-{b}-{i}", f"d-{b}-{i}", "click") for i in range(size)]
        if b == bad_at:
            events[3] = OutcomeEvent(f"s-{b}-3", f"d-{b}-3", "revenue", value=-5.0)
        yield events


def test_every_batch_is_acknowledged_after_commit(running: RunningServer, store: Store) -> None:
    with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
        acks = []
        for batch, accepted, duplicates in client.stream_outcomes(batches(20, 50), timeout_s=60):
            # Acknowledged means committed: the store holds every batch up to this one (the server
            # may already be committing the next).
            assert count_outcomes(store) >= (batch + 1) * 50
            acks.append((batch, accepted, duplicates))
        assert acks == [(b, 50, 0) for b in range(20)]
        # Re-sending the stream stores nothing twice.
        assert {a for _, a, _ in client.stream_outcomes(batches(20, 50), timeout_s=60)} == {0}
    assert count_outcomes(store) == 1000


def test_a_bad_batch_ends_the_stream_and_earlier_ones_stay(
    running: RunningServer, store: Store
) -> None:
    acked = []
    with (
        CampaignLiftClient(f"127.0.0.1:{running.port}") as client,
        pytest.raises(grpc.RpcError) as err,
    ):
        for batch, _, _ in client.stream_outcomes(batches(10, 20, bad_at=6), timeout_s=60):
            acked.append(batch)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("batch 6: outcomes[3].value must be finite and >= 0")
    assert acked == list(range(6))
    assert count_outcomes(store) == 6 * 20


def test_duplicates_mixed_into_a_stream_are_stored_once(
    running: RunningServer, store: Store
) -> None:
    rng = np.random.default_rng(4)
    unique = [OutcomeEvent(f"m-{i}", f"d-{i}", "click") for i in range(3000)]
    # Every event once, plus 1500 repeats of earlier ones, shuffled across 45 batches.
    events = unique + [unique[int(i)] for i in rng.integers(0, len(unique), 1500)]
    order = rng.permutation(len(events))
    sent = [events[i] for i in order]
    stream = [sent[i : i + 100] for i in range(0, len(sent), 100)]
    with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
        acks = list(client.stream_outcomes(stream, timeout_s=120))
    assert sum(a for _, a, _ in acks) == len(unique)
    assert sum(d for _, _, d in acks) == len(events) - len(unique)
    assert count_outcomes(store) == len(unique)
