"""Score without an experiment learns like an experiment variant: a learning default policy
folds its settled decisions into the state of ("", "") and the next decisions follow it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from clients.client import CampaignLiftClient, OutcomeEvent
from feedback.policy_state import get_policy_state
from feedback.store import Store
from server.runtime.app import start
from tests.conftest import promote_new, server_settings
from tests.e2e.helpers import user_request


def test_the_default_score_path_learns_from_feedback(
    store: Store, tmp_path: Path, world, trained_logreg
) -> None:  # type: ignore[no-untyped-def]
    promote_new(store, trained_logreg, tmp_path / "artifacts")
    policy = {"type": "thompson", "draws": 500, "reward": "conversion"}
    server = start(
        server_settings(
            store,
            tmp_path,
            policy=json.dumps(policy),
            attribution_window_s=1.0,
            policy_update_interval_s=0.3,
            policy_update_grace_s=0.5,
            policy_state_refresh_s=0.2,
        )
    )
    best = world.campaigns[-1].campaign_id
    users = np.arange(300)
    try:
        with CampaignLiftClient(f"127.0.0.1:{server.port}") as client:
            first = client.score_batch([user_request(world, int(u)) for u in users])
            assert {r.decision.experiment for r in first} == {""}
            assert {r.decision.propensity_method for r in first} == {"monte_carlo:500"}
            events = [
                OutcomeEvent(f"{r.decision.decision_id}:c", r.decision.decision_id, "conversion")
                for r in first
                if r.decision.campaign_id == best
            ]
            assert events and client.log_outcomes(events)[0] == len(events)
            deadline = time.monotonic() + 60
            while (state := get_policy_state(store, "", "")) is None or state.decisions < 300:
                assert time.monotonic() < deadline, "the default policy never learned"
                time.sleep(0.2)
            assert state.rewards == len(events)
            time.sleep(0.5)  # the scorer re-reads the state
            later = client.score_batch([user_request(world, int(u)) for u in users])
        chosen = [r.decision.campaign_id for r in later]
        assert chosen.count(best) / len(chosen) > 0.9
    finally:
        server.stop()
