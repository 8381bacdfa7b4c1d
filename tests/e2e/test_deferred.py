"""Caller-given decision ids and deferred activation over real gRPC: Score with decision_id and
defer_activation, FeedbackService.ActivateDecisions, and the bad inputs refused by field."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from clients.client import CampaignLiftClient
from feedback.decisions import count_decisions
from feedback.store import Store
from server.runtime.app import RunningServer, start
from tests.conftest import promote_new, server_settings
from tests.e2e.helpers import user_request


@pytest.fixture
def served(store: Store, tmp_path: Path, trained_logreg) -> Iterator[RunningServer]:  # type: ignore[no-untyped-def]
    promote_new(store, trained_logreg, tmp_path / "artifacts")
    server = start(server_settings(store, tmp_path, feedback_token="fb"))
    yield server
    server.stop()


def test_deferred_decisions_count_after_activation(
    served: RunningServer, store: Store, world
) -> None:  # type: ignore[no-untyped-def]
    with CampaignLiftClient(f"127.0.0.1:{served.port}", feedback_token="fb") as client:
        now = client.score(replace(user_request(world, 0), decision_id="mine-1"))
        later = client.score(
            replace(user_request(world, 1), decision_id="mine-2", defer_activation=True)
        )
        assert (now.decision.decision_id, later.decision.decision_id) == ("mine-1", "mine-2")
        assert served.decisions.flush()
        assert count_decisions(store) == 1
        assert client.activate(["mine-2", "not-yet"]) == (1, 1)
        assert count_decisions(store) == 2
        assert client.activate(["mine-2"]) == (1, 0)  # idempotent


def test_bad_decision_ids_are_refused_by_field(served: RunningServer, world) -> None:  # type: ignore[no-untyped-def]
    with CampaignLiftClient(f"127.0.0.1:{served.port}", feedback_token="fb") as client:
        with pytest.raises(grpc.RpcError) as err:
            client.score(replace(user_request(world, 0), decision_id="x" * 257))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "decision_id" in (err.value.details() or "")
        twice = replace(user_request(world, 0), decision_id="same")
        with pytest.raises(grpc.RpcError) as err:
            client.score_batch([twice, replace(twice, unit_id="other")])
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "requests[1].decision_id 'same' is a duplicate" in (err.value.details() or "")
        with pytest.raises(grpc.RpcError) as err:
            client.activate([""])
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "decision_ids[0]" in (err.value.details() or "")
    with (
        CampaignLiftClient(f"127.0.0.1:{served.port}", feedback_token="wrong") as client,
        pytest.raises(grpc.RpcError) as err,
    ):
        client.activate(["mine"])
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
