"""A saturated server refuses at once (RESOURCE_EXHAUSTED) instead of queueing without bound, and
a call whose deadline passed while it waited does no work: no model run, no decision written.

Saturation is made deterministic, not timed: open StreamOutcomes calls whose producer holds the
stream open after its first acknowledged batch each occupy a worker thread and a call slot."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import func, select

from clients.client import score_request as request_message
from feedback.models import DecisionRow
from feedback.store import Store
from protos.campaignlift.v1 import (
    feedback_pb2,
    feedback_pb2_grpc,
    scoring_pb2,
    scoring_pb2_grpc,
)
from server.runtime.app import RunningServer, start
from tests.conftest import promote_new, server_settings
from tests.e2e.helpers import user_request

WORKERS = 2
SLOTS = 3  # two held streams and one queued call


@pytest.fixture
def running(sqlite_store: Store, tmp_path: Path, trained_logreg) -> Iterator[RunningServer]:  # type: ignore[no-untyped-def]
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    server = start(
        server_settings(sqlite_store, tmp_path, grpc_workers=WORKERS, max_concurrent_rpcs=SLOTS)
    )
    yield server
    server.stop()


class HeldStream:
    """A StreamOutcomes call that sent one batch, got its acknowledgement, and stays open."""

    def __init__(self, stub: feedback_pb2_grpc.FeedbackServiceStub, name: str) -> None:
        self.release = threading.Event()

        def batches() -> Iterator[feedback_pb2.LogOutcomesRequest]:
            yield feedback_pb2.LogOutcomesRequest(
                outcomes=[feedback_pb2.Outcome(event_id=name, decision_id="d", type=1, value=1)]
            )
            self.release.wait(120)

        self.replies = stub.StreamOutcomes(batches(), timeout=120)
        assert next(self.replies).accepted == 1  # the handler runs on a worker now

    def close(self) -> None:
        self.release.set()
        assert list(self.replies) == []


def score_request(world, i: int) -> scoring_pb2.ScoreRequest:  # type: ignore[no-untyped-def]
    request = request_message(user_request(world, i))
    request.unit_id = f"overload-{i}"
    return request


def decisions_of(store: Store, unit_id: str) -> int:
    with store.transaction() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(DecisionRow).where(DecisionRow.unit_id == unit_id)
            )
            or 0
        )


def test_saturated_server_refuses_fast_and_drops_expired_work(
    running: RunningServer, sqlite_store: Store, world
) -> None:  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        scoring = scoring_pb2_grpc.ScoringServiceStub(channel)
        feedback = feedback_pb2_grpc.FeedbackServiceStub(channel)
        assert scoring.Score(score_request(world, 0), timeout=30).decision.decision_id
        held = [HeldStream(feedback, f"held-{k}") for k in range(WORKERS)]
        # Every worker is busy: one call may wait in the bounded queue, the rest are refused.
        calls = [scoring.Score.future(score_request(world, i), timeout=3) for i in range(1, 21)]
        codes = []
        for f in calls:
            try:
                f.result()
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as err:
                codes.append(err.code())
        refused = [c for c in codes if c == grpc.StatusCode.RESOURCE_EXHAUSTED]
        expired = [
            i for i, c in enumerate(codes, start=1) if c == grpc.StatusCode.DEADLINE_EXCEEDED
        ]
        assert len(refused) == 20 - (SLOTS - WORKERS), codes
        assert len(expired) == SLOTS - WORKERS, codes
        assert grpc.StatusCode.OK not in codes
        for stream in held:
            stream.close()
        # The queued call's client is gone: the server runs no model and logs no decision for it.
        assert scoring.Score(score_request(world, 99), timeout=30).decision.decision_id
        assert running.decisions.flush(timeout_s=30)
        assert decisions_of(sqlite_store, "overload-99") == 1
        assert decisions_of(sqlite_store, f"overload-{expired[0]}") == 0
        assert all(decisions_of(sqlite_store, f"overload-{i}") == 0 for i in range(1, 21))
        # And the server serves normally again.
        reply = scoring.ScoreBatch(
            scoring_pb2.ScoreBatchRequest(requests=[score_request(world, 100)] * 3), timeout=30
        )
        assert len(reply.responses) == 3
