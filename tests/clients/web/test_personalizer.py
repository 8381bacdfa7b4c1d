"""The Personalizer-compatible REST API driven by Microsoft's own Python client
(azure-cognitiveservices-personalizer, unchanged) against a real gRPC server and store: rank,
reward and activate land as decisions and outcomes the experiment report and off-policy
evaluation count; bad input gets a 400 naming the field, never a 500; 200 concurrent ranks
all answer."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import requests
from azure.cognitiveservices.personalizer import PersonalizerClient
from azure.cognitiveservices.personalizer.models import (
    ErrorResponseException,
    RankableAction,
    RankRequest,
)
from msrest.authentication import CognitiveServicesCredentials
from msrest.exceptions import HttpOperationError
from sqlalchemy import select

from clients.client import CampaignLiftClient
from clients.simulator import World
from clients.web.personalizer import flatten
from feedback.models import DecisionRow, DeferredDecisionRow, OutcomeRow
from feedback.store import Store
from protos.campaignlift.v1 import experiments_pb2 as xpb
from protos.campaignlift.v1 import experiments_pb2_grpc as xpb_grpc
from server.runtime.app import RunningServer, start
from tests.clients.web.serving import http_side
from tests.conftest import promote_new, server_settings

KEY = "personalizer-key"  # one key for both roles, as a Personalizer resource has
EXPLORE = {"type": "epsilon_greedy", "epsilon": 0.5}


@dataclass
class Deployment:
    server: RunningServer
    url: str
    store: Store
    version: str

    def client(self, key: str = KEY) -> PersonalizerClient:
        return PersonalizerClient(self.url, CognitiveServicesCredentials(key))


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    trained_logreg,  # type: ignore[no-untyped-def]
) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("personalizer")
    store = Store(f"sqlite:///{tmp / 'store.db'}")
    store.create_schema()
    version = promote_new(store, trained_logreg, tmp / "artifacts")
    settings = server_settings(
        store,
        tmp,
        admin_token="admin",
        scoring_token=KEY,
        feedback_token=KEY,
        reader_token="reader",
        decision_flush_interval_s=0.05,
        personalizer_experiment="migrated",
    )
    server = start(settings)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            xpb_grpc.ExperimentServiceStub(channel).SaveExperiment(
                xpb.SaveExperimentRequest(
                    experiment=xpb.ExperimentDefinition(
                        name="migrated",
                        variants=[
                            xpb.VariantDefinition(
                                name=name, weight=1, policy_json=json.dumps(EXPLORE)
                            )
                            for name in ("control", "explore")
                        ],
                    )
                ),
                timeout=10,
                metadata=(("authorization", "Bearer admin"),),
            )
        with http_side(settings, server.port) as url:
            yield Deployment(server, url, store, str(version.version))
    finally:
        server.stop()
        store.dispose()


def _plain(features: Any) -> dict[str, Any]:
    """JSON values (msrest writes a numpy float as a string, as it would any unknown type)."""
    return {k: v.item() if hasattr(v, "item") else v for k, v in dict(features).items()}


def _context(world: World, i: int) -> list[dict[str, Any]]:
    """The unit id flat, the user's features nested (their last names reach the model)."""
    return [{"unit_id": f"user-{i}"}, {"profile": _plain(world.user_features(i))}]


def _actions(world: World) -> list[RankableAction]:
    return [
        RankableAction(id=c.campaign_id, features=[_plain(c.features())]) for c in world.campaigns
    ]


def _decision(store: Store, decision_id: str) -> DecisionRow | None:
    with store.transaction() as session:
        row = session.get(DecisionRow, decision_id)
        if row is not None:
            session.expunge(row)
        return row


def test_rank_reward_reach_the_report_and_evaluation(deployment: Deployment, world: World) -> None:
    client = deployment.client()
    chosen: dict[str, str | None] = {}
    for i in range(120):
        reply = client.rank(
            RankRequest(actions=_actions(world), context_features=_context(world, i))
        )
        ranking = [(r.id, r.probability) for r in reply.ranking]
        assert {a for a, _ in ranking} == {c.campaign_id for c in world.campaigns}
        total = sum(p for _, p in ranking)
        assert 0 < total <= 1 + 1e-9  # the rest is the policy's chance of no campaign
        if reply.reward_action_id is not None:
            assert ranking[0][0] == reply.reward_action_id
        chosen[reply.event_id] = reply.reward_action_id
        if i % 2 == 0:
            client.events.reward(reply.event_id, value=1.0)
    assert deployment.server.decisions.flush()
    # Each event is a decision under its event id, with the exact propensity the ranking gave.
    some = next(e for e, a in chosen.items() if a is not None)
    row = _decision(deployment.store, some)
    assert row is not None and row.experiment == "migrated" and row.campaign_id == chosen[some]
    assert row.unit_id.startswith("user-")
    # Rewarded events: 60 conversion outcomes, counted by the report and by OPE.
    with grpc.insecure_channel(f"127.0.0.1:{deployment.server.port}") as channel:
        report = xpb_grpc.ExperimentServiceStub(channel).GetReport(
            xpb.GetReportRequest(experiment="migrated"),
            timeout=30,
            metadata=(("authorization", "Bearer reader"),),
        )
    assert [v.name for v in report.variants] == ["control", "explore"]
    assert sum(v.decisions for v in report.variants) == 120
    assert sum(v.outcomes for v in report.variants) == 60
    rates = [
        (v.units, next(m.mean for m in v.metrics if m.metric == "conversion"))
        for v in report.variants
    ]
    assert sum(n * rate for n, rate in rates) == pytest.approx(60)
    with CampaignLiftClient(
        f"127.0.0.1:{deployment.server.port}", reader_token="reader", timeout_s=60
    ) as grpc_client:
        evaluation = grpc_client.evaluate_policy("migrated", deployment.version, EXPLORE)
    assert evaluation.decisions == 120
    assert evaluation.logged_mean_reward == pytest.approx(0.5)
    assert evaluation.estimates["ips"].value == pytest.approx(0.5, abs=1e-9)


def test_a_reward_counts_once(deployment: Deployment, world: World) -> None:
    client = deployment.client()
    reply = client.rank(RankRequest(actions=_actions(world), context_features=_context(world, 1)))
    client.events.reward(reply.event_id, value=0.7)
    client.events.reward(reply.event_id, value=0.7)  # a retry: earliest reward counts
    with deployment.store.transaction() as session:
        values = session.scalars(
            select(OutcomeRow.value).where(OutcomeRow.decision_id == reply.event_id)
        ).all()
    assert values == [1.0]  # conversion: a reward above 0 is a conversion


def test_deferred_events_count_only_after_activate(deployment: Deployment, world: World) -> None:
    client = deployment.client()
    reply = client.rank(
        RankRequest(
            actions=_actions(world),
            context_features=_context(world, 2),
            event_id="deferred-event-1",
            defer_activation=True,
        )
    )
    assert reply.event_id == "deferred-event-1"
    assert deployment.server.decisions.flush()
    assert _decision(deployment.store, "deferred-event-1") is None
    with deployment.store.transaction() as session:
        assert session.get(DeferredDecisionRow, "deferred-event-1") is not None
    client.events.activate("deferred-event-1")
    row = _decision(deployment.store, "deferred-event-1")
    assert row is not None and row.campaign_id == reply.reward_action_id


def test_excluded_actions_rank_last_with_probability_zero(
    deployment: Deployment, world: World
) -> None:
    first = world.campaigns[0].campaign_id
    reply = deployment.client().rank(
        RankRequest(
            actions=_actions(world), context_features=_context(world, 3), excluded_actions=[first]
        )
    )
    assert reply.ranking[-1].id == first and reply.ranking[-1].probability == 0.0
    assert reply.reward_action_id != first


def _error(call: Any) -> HttpOperationError:
    with pytest.raises(HttpOperationError) as caught:
        call()
    return caught.value


def test_a_wrong_key_is_401(deployment: Deployment, world: World) -> None:
    err = _error(
        lambda: deployment.client("wrong").rank(
            RankRequest(actions=_actions(world), context_features=_context(world, 4))
        )
    )
    assert err.response.status_code == 401
    assert err.response.json()["error"]["code"] == "Unauthorized"


def test_bad_input_is_400_naming_the_field(deployment: Deployment, world: World) -> None:
    client = deployment.client()
    # A numeric user feature given as text: the model's own check, by feature name.
    context = _context(world, 5)
    name = next(k for k, v in context[1]["profile"].items() if isinstance(v, float))
    context[1]["profile"][name] = "lots"
    err = _error(
        lambda: client.rank(RankRequest(actions=_actions(world), context_features=context))
    )
    assert isinstance(err, ErrorResponseException)
    assert err.response.status_code == 400
    assert err.error.error.code == "BadRequest" and name in err.error.error.message
    # An excluded action that is not an action.
    err = _error(
        lambda: client.rank(
            RankRequest(actions=_actions(world), excluded_actions=["nope"], context_features=[])
        )
    )
    assert err.response.status_code == 400 and "excludedActions[0]" in err.response.text
    # Raw bodies the client would not send: each a 400 with the field named.
    headers = {"Ocp-Apim-Subscription-Key": KEY, "Content-Type": "application/json"}
    url = f"{deployment.url}/personalizer/v1.0"
    cases = [
        ("/rank", {"contextFeatures": []}, "actions"),
        ("/rank", {"actions": [{"id": "a"}]}, "actions.0.features"),
        ("/rank", {"actions": [{"id": "", "features": []}]}, "actions.0.id"),
        ("/rank", {"actions": [{"id": "a", "features": []}], "eventId": "e" * 300}, "eventId"),
        ("/events/e1/reward", {"value": "high"}, "value"),
        ("/events/e1/reward", {}, "value"),
    ]
    for path, body, field in cases:
        reply = requests.post(url + path, data=json.dumps(body), headers=headers, timeout=10)
        assert reply.status_code == 400, (path, body, reply.text)
        error = reply.json()["error"]
        assert error["code"] == "BadRequest" and field in error["message"], (body, error)
    reply = requests.post(url + "/rank", data="{not json", headers=headers, timeout=10)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "BadRequest"
    reply = requests.post(
        url + "/events/e1/reward", data='{"value": NaN}', headers=headers, timeout=10
    )
    assert reply.status_code == 400 and "value" in reply.json()["error"]["message"]
    # Unknown catalogue campaigns by id (no features): NOT_FOUND becomes 404.
    reply = requests.post(
        url + "/rank",
        data=json.dumps({"actions": [{"id": "not-in-catalogue", "features": []}]}),
        headers=headers,
        timeout=10,
    )
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "ResourceNotFound"


def test_service_configuration_maps_the_attribution_window(deployment: Deployment) -> None:
    reply = requests.get(
        f"{deployment.url}/personalizer/v1.0/configurations/service",
        headers={"Ocp-Apim-Subscription-Key": KEY},
        timeout=10,
    )
    assert reply.status_code == 200
    assert reply.json() == {
        "rewardWaitTime": "PT24H0M0S",
        "defaultReward": 0.0,
        "rewardAggregation": "earliest",
    }


def test_openapi_describes_the_rest_side(deployment: Deployment) -> None:
    spec = requests.get(f"{deployment.url}/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    rank = paths["/personalizer/v1.0/rank"]["post"]
    assert "201" in rank["responses"] and "400" in rank["responses"]
    assert {
        "/personalizer/v1.0/events/{eventId}/reward",
        "/personalizer/v1.0/events/{eventId}/activate",
    } <= set(paths)
    schemas = spec["components"]["schemas"]
    assert {"contextFeatures", "actions", "excludedActions", "eventId", "deferActivation"} <= set(
        schemas["RankRequest"]["properties"]
    )
    assert set(schemas["RankResponse"]["properties"]) == {"ranking", "eventId", "rewardActionId"}


def test_200_concurrent_ranks_all_answer(deployment: Deployment, world: World) -> None:
    body = json.dumps(
        {
            "contextFeatures": _context(world, 7),
            "actions": [
                {"id": c.campaign_id, "features": [_plain(c.features())]} for c in world.campaigns
            ],
        }
    )
    headers = {"Ocp-Apim-Subscription-Key": KEY, "Content-Type": "application/json"}
    url = f"{deployment.url}/personalizer/v1.0/rank"

    def one(_: int) -> int:
        with requests.Session() as session:
            return session.post(url, data=body, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(200) as pool:
        codes = list(pool.map(one, range(200)))
    assert codes == [201] * 200


def test_flatten_nests_by_dots_and_leaves() -> None:
    flat = flatten(
        [{"a": 1, "user": {"tier": "gold", "ok": True}}, {"tags": ["x", None]}], "contextFeatures"
    )
    assert flat == {
        "a": 1.0,
        "user.tier": "gold",
        "user.ok": 1.0,
        "tags.0": "x",
        "tier": "gold",
        "ok": 1.0,
    }
    assert not any(isinstance(v, float) and math.isnan(v) for v in flat.values())
    with pytest.raises(Exception, match="also given"):
        flatten([{"a": 1}, {"a": 2}], "contextFeatures")
