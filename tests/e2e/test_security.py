"""Who may do what (tokens per role, rotation with two valid tokens), SQL injection strings stored
literally through every RPC that writes or reads the store, and secrets never in logs or error
details of a real server process at DEBUG level."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import inspect, make_url, select

from clients.client import CampaignLiftClient, ExternalDecision, OutcomeEvent, wait_serving
from feedback.models import DecisionRow, OutcomeRow
from feedback.store import Store
from protos.campaignlift.v1 import (
    admin_pb2,
    evaluation_pb2,
    experiments_pb2,
)
from server.runtime.app import RunningServer, start
from tests.conftest import ROOT, promote_new, server_settings
from tests.e2e.fuzzing import all_rpcs, call
from tests.e2e.helpers import user_request
from tests.e2e.test_restart import _free_port

RPC = {r.name: r for r in all_rpcs()}
DENIED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
TOKENS = {
    "admin_token": "admin-new",
    "admin_previous_token": "admin-old",
    "scoring_token": "scorer",
    "feedback_token": "writer",
    "reader_token": "reader",
}


@pytest.fixture
def guarded(sqlite_store: Store, tmp_path: Path, trained_logreg) -> Iterator[RunningServer]:  # type: ignore[no-untyped-def]
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    server = start(server_settings(sqlite_store, tmp_path, **TOKENS))
    yield server
    server.stop()


def _bearer(token: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token is not None else ()


# RPC -> the tokens that may call it; every other token (and none) is refused.
ALLOWED = {
    "Score": {"scorer"},
    "ScoreBatch": {"scorer"},
    "ModelInfer": {"scorer"},
    "LogOutcomes": {"writer"},
    "LogDecisions": {"writer"},
    "ListExperiments": {"reader", "admin-new", "admin-old"},
    "GetReport": {"reader", "admin-new", "admin-old"},
    "GetPolicyState": {"reader", "admin-new", "admin-old"},
    "EvaluatePolicy": {"reader", "admin-new", "admin-old"},
    "SaveExperiment": {"admin-new", "admin-old"},
    "SetExperimentStatus": {"admin-new", "admin-old"},
    "ListVersions": {"reader", "admin-new", "admin-old"},
    "Promote": {"admin-new", "admin-old"},
}
CANDIDATES = ["scorer", "writer", "reader", "admin-new", "admin-old", "guess", None]


def test_each_role_reaches_only_its_calls(guarded: RunningServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{guarded.port}") as channel:
        for name, allowed in ALLOWED.items():
            for token in CANDIDATES:
                # An empty request: enough to tell "let in" (any other status) from "refused".
                answer = call(channel, RPC[name], [b""], _bearer(token))
                if token in allowed:
                    assert answer.code not in DENIED, (name, token, answer)
                else:
                    assert answer.code == grpc.StatusCode.UNAUTHENTICATED, (name, token, answer)
                    assert answer.details == "missing or wrong bearer token"
        # Health and reflection stay open for load balancers and tools.
        status = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
        assert status.status == health_pb2.HealthCheckResponse.SERVING


def test_token_rotation_needs_no_downtime(sqlite_store: Store, tmp_path: Path) -> None:
    """Rotation: serve with new + previous, move clients to the new one, then drop the previous."""
    steps = [
        ({"admin_token": "old"}, {"old": True, "new": False}),
        ({"admin_token": "new", "admin_previous_token": "old"}, {"old": True, "new": True}),
        ({"admin_token": "new"}, {"old": False, "new": True}),
    ]
    for config, expected in steps:
        server = start(server_settings(sqlite_store, tmp_path, **config))
        try:
            with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                for token, ok in expected.items():
                    answer = call(channel, RPC["ListVersions"], [b""], _bearer(token))
                    assert (answer.code == grpc.StatusCode.OK) == ok, (config, token, answer)
        finally:
            server.stop()


INJECTIONS = [
    "x'; DROP TABLE decisions; --",
    '"; DELETE FROM outcomes; --',
    "' OR '1'='1",
    "Robert'); DROP TABLE experiments;--",
    "%(decision_id)s %s {0} $1",
    "\\'; UPDATE stages SET version = 0; --",
    "$$; DROP TABLE model_versions; $$",
]


def _save_injected_experiment(channel: grpc.Channel, admin) -> None:  # type: ignore[no-untyped-def]
    name, v1, v2, _, _, feature, _ = INJECTIONS
    definition = experiments_pb2.ExperimentDefinition(
        name=name,
        salt=v2,
        variants=[
            experiments_pb2.VariantDefinition(
                name=v1, weight=1, policy_json='{"type": "uniform_random"}'
            ),
            experiments_pb2.VariantDefinition(
                name=v2, weight=1, policy_json='{"type": "no_campaign"}'
            ),
        ],
        eligibility=[
            experiments_pb2.Condition(feature="region", op="ne", value_json=json.dumps(feature))
        ],
    )
    answer = call(
        channel,
        RPC["SaveExperiment"],
        [experiments_pb2.SaveExperimentRequest(experiment=definition).SerializeToString()],
        admin,
    )
    assert answer.code == grpc.StatusCode.OK, answer
    saved = channel.unary_unary(
        RPC["GetExperiment"].path,
        request_serializer=experiments_pb2.GetExperimentRequest.SerializeToString,
        response_deserializer=experiments_pb2.ExperimentDefinition.FromString,
    )(experiments_pb2.GetExperimentRequest(name=name), timeout=10)
    assert (saved.name, saved.salt) == (name, v2)
    assert [v.name for v in saved.variants] == [v1, v2]
    assert json.loads(saved.eligibility[0].value_json) == feature


def _decide_and_log_injected(port: int, world) -> str:  # type: ignore[no-untyped-def]
    """A scored decision with an injected unit id and outcome event id, and an external
    decision with injected ids and features; returns the scored decision's id."""
    name, v1, v2, unit, event, feature, _ = INJECTIONS
    with CampaignLiftClient(f"127.0.0.1:{port}") as client:
        request = replace(user_request(world, 3, experiment=name), unit_id=unit)
        result = client.score(request)
        assert result.decision.experiment == name
        assert result.decision.variant in (v1, v2)
        decision_id = result.decision.decision_id
        assert client.log_outcomes([OutcomeEvent(event, decision_id, "click")]) == (1, 0)
        external = ExternalDecision(
            decision_id=f"ext-{INJECTIONS[0]}",
            unit_id=unit,
            campaign_id=INJECTIONS[4],
            propensity=0.5,
            experiment=name,
            variant=v1,
            user_features={feature: feature, **world.user_features(3)},
            campaign_features={feature: INJECTIONS[1]},
        )
        assert client.log_decisions([external]) == (1, 0)
    return decision_id


def _read_with_injections(channel: grpc.Channel, admin) -> None:  # type: ignore[no-untyped-def]
    """Reports, policy state, OPE, status change and promotion with injected strings answer
    with a status, never INTERNAL or UNKNOWN."""
    name, v1, v2, _, _, feature, reason = INJECTIONS
    for method, msg in (
        ("GetReport", experiments_pb2.GetReportRequest(experiment=name, covariate=feature)),
        ("GetPolicyState", experiments_pb2.GetPolicyStateRequest(experiment=name, variant=v1)),
        (
            "EvaluatePolicy",
            evaluation_pb2.EvaluatePolicyRequest(
                experiment=name,
                model_version="1",
                policy_json='{"type": "no_campaign"}',
                variant=v2,
                objective=feature,
                reward=feature,
            ),
        ),
        (
            "SetExperimentStatus",
            experiments_pb2.SetExperimentStatusRequest(name=name, status="stopped", release=v2),
        ),
        ("Promote", admin_pb2.PromoteRequest(version=1, reason=reason)),
    ):
        answer = call(channel, RPC[method], [msg.SerializeToString()], admin)
        assert answer.code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (
            method,
            answer,
        )


def test_injection_strings_are_stored_literally_and_harm_nothing(
    store: Store, tmp_path: Path, trained_logreg, world
) -> None:  # type: ignore[no-untyped-def]
    promote_new(store, trained_logreg, tmp_path / "artifacts")
    tables = set(inspect(store.engine).get_table_names())
    server = start(server_settings(store, tmp_path, admin_token="adm"))
    admin = _bearer("adm")
    name, _, _, unit, event, feature, _ = INJECTIONS
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            _save_injected_experiment(channel, admin)
            decision_id = _decide_and_log_injected(server.port, world)
            assert server.decisions.flush(timeout_s=30)
            _read_with_injections(channel, admin)
    finally:
        server.stop()
    assert set(inspect(store.engine).get_table_names()) == tables  # nothing dropped
    with store.transaction() as s:
        decisions = {r.decision_id: r for r in s.scalars(select(DecisionRow))}
        assert decisions[decision_id].unit_id == unit
        assert decisions[decision_id].experiment == name
        ext = decisions[f"ext-{INJECTIONS[0]}"]
        assert ext.campaign_id == INJECTIONS[4]
        assert ext.user_features[feature] == feature
        assert (
            s.scalar(select(OutcomeRow.event_id).where(OutcomeRow.decision_id == decision_id))
            == event
        )


SECRETS = {
    "CAMPAIGN_LIFT_ADMIN_TOKEN": "sekret-admin-7f3a",
    "CAMPAIGN_LIFT_ADMIN_PREVIOUS_TOKEN": "sekret-admin-old-91c2",
    "CAMPAIGN_LIFT_SCORING_TOKEN": "sekret-scorer-5d1e",
    "CAMPAIGN_LIFT_FEEDBACK_TOKEN": "sekret-writer-c0de",
    "CAMPAIGN_LIFT_READER_TOKEN": "sekret-reader-b33f",
    "CAMPAIGN_LIFT_UNIT_ID_HASH_KEY": "sekret-hashkey-a11c",
}
DB_PASSWORD = "sekret-dbpass-e55e"
GUESSED = "sekret-guess-0bad"


def test_secrets_never_reach_logs_or_error_details(
    store: Store, tmp_path: Path, trained_logreg, world
) -> None:  # type: ignore[no-untyped-def]
    promote_new(store, trained_logreg, tmp_path / "artifacts")
    url = store.url
    if store.dialect == "postgresql":  # a password in the URL (trust auth ignores it)
        url = make_url(url).set(password=DB_PASSWORD).render_as_string(hide_password=False)
    port = _free_port()
    env = {
        **os.environ,
        **SECRETS,
        "CAMPAIGN_LIFT_DATABASE_URL": url,
        "CAMPAIGN_LIFT_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "CAMPAIGN_LIFT_PORT": str(port),
        "CAMPAIGN_LIFT_HTTP_PORT": "-1",  # no console: it would want port 8080
        "CAMPAIGN_LIFT_METRICS_PORT": "-1",
    }
    log_path = tmp_path / "server.log"
    details: list[str] = []
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "clients.cli", "serve", "--log-level", "DEBUG"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            target = f"127.0.0.1:{port}"
            wait_serving(target, timeout_s=60)
            with grpc.insecure_channel(target) as channel:
                for rpc in all_rpcs():  # wrong, old-role and missing tokens on every RPC
                    for token in (GUESSED, SECRETS["CAMPAIGN_LIFT_FEEDBACK_TOKEN"], None):
                        details.append(call(channel, rpc, [b""], _bearer(token)).details)
            with CampaignLiftClient(
                target,
                token=SECRETS["CAMPAIGN_LIFT_SCORING_TOKEN"],
                feedback_token=SECRETS["CAMPAIGN_LIFT_FEEDBACK_TOKEN"],
            ) as client:
                decision = client.score(user_request(world, 1)).decision
                client.log_outcomes([OutcomeEvent("e-1", decision.decision_id, "click")])
                bad = user_request(world, 2)
                bad.user_features["age"] = float("nan")
                with pytest.raises(grpc.RpcError) as err:
                    client.score(bad)
                details.append(err.value.details())
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    text = log_path.read_text(errors="replace")
    assert "serving on" in text and "refused a call to" in text  # the log was really captured
    for secret in [*SECRETS.values(), DB_PASSWORD, GUESSED]:
        assert secret not in text, f"{secret} was logged"
        assert not any(secret in d for d in details), f"{secret} in an error detail"
