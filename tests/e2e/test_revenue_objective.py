"""A model with a revenue output served over real gRPC: every candidate carries its expected
value and uplift, and a policy can maximize revenue instead of a rate."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from clients.client import CampaignLiftClient, UserRequest
from feedback.experiments import Experiment, Variant, save_experiment
from feedback.store import Store
from server.runtime.app import start
from tests.conftest import promote_new, server_settings
from tests.trainer.test_revenue import REVENUE_SPEC, with_spend
from trainer.train import train


def request(tier: str, experiment: str) -> UserRequest:
    return UserRequest(
        unit_id=f"user-{tier}",
        user_features={"age": 40.0, "spend": 0.9, "tier": tier},
        candidates=[("coupon", {"offer": "coupon"})],
        experiment=experiment,
    )


def test_policies_can_maximize_expected_revenue(sqlite_store: Store, tmp_path: Path) -> None:
    model = train(with_spend(6_000, seed=8), REVENUE_SPEC, family="hgb")
    promote_new(sqlite_store, model, tmp_path / "artifacts")
    greedy = {"type": "epsilon_greedy", "epsilon": 0.0}
    save_experiment(
        sqlite_store,
        Experiment(
            "revenue",
            "revenue",
            (Variant("greedy", 1.0, {**greedy, "objective": "spend_after"}),),
        ),
    )
    save_experiment(
        sqlite_store,
        Experiment("typo", "typo", (Variant("greedy", 1.0, {**greedy, "objective": "spnd"}),)),
    )
    server = start(server_settings(sqlite_store, tmp_path))
    try:
        with CampaignLiftClient(f"127.0.0.1:{server.port}") as client:
            gold, bronze = (client.score(request(t, "revenue")) for t in ("gold", "bronze"))
            with pytest.raises(grpc.RpcError) as err:
                client.score(request("gold", "typo"))
    finally:
        server.stop()
    for result in (gold, bronze):
        (candidate,) = result.candidates
        assert set(candidate.expected) == {"spend_after"} == set(candidate.expected_uplift)
        assert candidate.expected["spend_after"] > 0
        assert set(candidate.control_probability) == {"conversion"}
        # Greedy on expected revenue uplift: the coupon exactly when it adds revenue.
        adds = candidate.expected_uplift["spend_after"] > 0
        assert (result.decision.campaign_id == "coupon") == adds
    # The synthetic truth: the coupon adds far more revenue for gold shoppers than for bronze.
    gain = {
        t: r.candidates[0].expected_uplift["spend_after"]
        for t, r in (("gold", gold), ("bronze", bronze))
    }
    assert gain["gold"] > gain["bronze"] + 5, gain
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "objective 'spnd' is not an output of model version" in err.value.details()
