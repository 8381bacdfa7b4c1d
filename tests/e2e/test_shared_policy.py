"""Two real server processes on one PostgreSQL store share a Thompson-sampling posterior:
outcomes sent to one replica change what the other one chooses, and decisions made by both are
folded in exactly once although both run the updater."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from clients.client import CampaignLiftClient, OutcomeEvent
from feedback.experiments import Experiment, Variant, save_experiment
from feedback.store import Store
from protos.campaignlift.v1 import experiments_pb2 as pb
from protos.campaignlift.v1 import experiments_pb2_grpc as pb_grpc
from tests.conftest import _postgres_store, promote_new
from tests.e2e.helpers import user_request
from tests.e2e.test_restart import _free_port, server_process

WINDOW_S = 4.0
FAST = {
    "CAMPAIGN_LIFT_POLICY_UPDATE_INTERVAL_S": "0.3",
    "CAMPAIGN_LIFT_POLICY_UPDATE_GRACE_S": "0.5",
    "CAMPAIGN_LIFT_POLICY_STATE_REFRESH_S": "0.2",
}


@pytest.fixture
def pg_store() -> Iterator[Store]:
    """Several replicas share a store on PostgreSQL only (required in CI)."""
    store = _postgres_store()
    yield store
    store.dispose()


@pytest.mark.postgres
def test_two_processes_share_the_posterior_on_postgresql(
    pg_store: Store, tmp_path: Path, world, trained_logreg
) -> None:  # type: ignore[no-untyped-def]
    store = pg_store
    promote_new(store, trained_logreg, tmp_path / "artifacts")
    save_experiment(
        store,
        Experiment(
            "shared-ts",
            "shared-ts",
            (Variant("ts", 1.0, {"type": "thompson", "draws": 500, "reward": "conversion"}),),
            attribution_window_s=WINDOW_S,
        ),
    )
    best = world.campaigns[0].campaign_id
    ports = [_free_port(), _free_port()]
    users = np.arange(300)
    with (
        server_process(store, tmp_path, ports[0], FAST),
        server_process(store, tmp_path, ports[1], FAST),
        CampaignLiftClient(f"127.0.0.1:{ports[0]}") as a,
        CampaignLiftClient(f"127.0.0.1:{ports[1]}") as b,
    ):
        # Both replicas decide; every outcome goes to replica A only: `best` always converts.
        first = a.score_batch([user_request(world, int(u), experiment="shared-ts") for u in users])
        first += b.score_batch([user_request(world, int(u), experiment="shared-ts") for u in users])
        assert {r.decision.propensity_method for r in first} == {"monte_carlo:500"}
        before = np.mean([r.decision.propensity for r in first if r.decision.campaign_id == best])
        events = [
            OutcomeEvent(f"{r.decision.decision_id}:c", r.decision.decision_id, "conversion")
            for r in first
            if r.decision.campaign_id == best
        ]
        assert events and a.log_outcomes(events)[0] == len(events)

        # Both updaters run; the window closes; the store folds each decision in once.
        with grpc.insecure_channel(f"127.0.0.1:{ports[1]}") as channel:
            stub = pb_grpc.ExperimentServiceStub(channel)
            request = pb.GetPolicyStateRequest(experiment="shared-ts", variant="ts")
            deadline = time.monotonic() + 60
            while stub.GetPolicyState(request, timeout=5).decisions < len(first):
                assert time.monotonic() < deadline, "the posterior never caught up"
                time.sleep(0.2)
            time.sleep(1.0)  # another pass by each replica must not apply anything twice
            state = stub.GetPolicyState(request, timeout=5)
        assert state.decisions == len(first) and state.rewards == len(events)
        arms = {arm.arm: arm for arm in state.arms}
        assert arms[best].successes == len(events) and arms[best].failures == 0
        time.sleep(0.5)  # both replicas re-read the state

        # Replica B never saw an outcome, yet now chooses `best` almost always.
        later = b.score_batch([user_request(world, int(u), experiment="shared-ts") for u in users])
        chosen = [r.decision.campaign_id for r in later]
        assert chosen.count(best) / len(chosen) > 0.9
        assert np.mean([r.decision.propensity for r in later]) > max(0.9, before)
