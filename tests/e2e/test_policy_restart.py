"""A learning policy survives a crash: after SIGKILL a new server process reads the same
Thompson posterior from the store, chooses by it, and assigns every unit the same variant."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import grpc

from clients.client import CampaignLiftClient, OutcomeEvent
from feedback.experiments import Experiment, Variant, save_experiment
from feedback.store import Store
from protos.campaignlift.v1 import experiments_pb2 as pb
from protos.campaignlift.v1 import experiments_pb2_grpc as pb_grpc
from tests.conftest import promote_new
from tests.e2e.helpers import user_request
from tests.e2e.test_restart import _free_port, server_process
from tests.e2e.test_shared_policy import FAST

USERS = range(300)


def _state(port: int) -> pb.PolicyStateResponse:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.ExperimentServiceStub(channel)
        return stub.GetPolicyState(pb.GetPolicyStateRequest(experiment="ts-exp", variant="ts"))


def _arms(state: pb.PolicyStateResponse) -> dict[str, tuple[float, float]]:
    return {a.arm: (a.successes, a.failures) for a in state.arms}


def test_posterior_and_assignments_survive_sigkill(
    sqlite_store: Store, tmp_path: Path, world, trained_logreg
) -> None:  # type: ignore[no-untyped-def]
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    save_experiment(
        sqlite_store,
        Experiment(
            "ts-exp",
            "ts-exp",
            (
                Variant("control", 1.0, {"type": "no_campaign"}),
                Variant("ts", 3.0, {"type": "thompson", "draws": 500, "reward": "conversion"}),
            ),
            attribution_window_s=2.0,
        ),
    )
    best = world.campaigns[0].campaign_id
    port = _free_port()
    requests = [user_request(world, u, experiment="ts-exp") for u in USERS]
    with server_process(sqlite_store, tmp_path, port, FAST) as proc:
        with CampaignLiftClient(f"127.0.0.1:{port}") as client:
            first = client.score_batch(requests)
            ts = [r for r in first if r.decision.variant == "ts"]
            events = [
                OutcomeEvent(f"{r.decision.decision_id}:c", r.decision.decision_id, "conversion")
                for r in ts
                if r.decision.campaign_id == best
            ]
            assert events and client.log_outcomes(events)[0] == len(events)
        deadline = time.monotonic() + 60
        while _state(port).decisions < len(ts):  # the window closes, the updater folds them in
            assert time.monotonic() < deadline, "the posterior never caught up"
            time.sleep(0.2)
        before = _state(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert before.decisions == len(ts) and before.rewards == len(events)
    assert _arms(before)[best] == (len(events), 0)

    with server_process(sqlite_store, tmp_path, port, FAST):
        after = _state(port)
        with CampaignLiftClient(f"127.0.0.1:{port}") as client:
            again = client.score_batch(requests)
    assert (after.decisions, after.rewards, _arms(after)) == (
        before.decisions,
        before.rewards,
        _arms(before),
    )
    assert [r.decision.variant for r in again] == [r.decision.variant for r in first]
    # The restarted server chooses by the posterior it read: `best` nearly always.
    chosen = [r.decision.campaign_id for r in again if r.decision.variant == "ts"]
    assert chosen.count(best) / len(chosen) > 0.9
