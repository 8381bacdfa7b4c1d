"""Off-policy evaluation over real gRPC: decisions the server made and logged, outcomes drawn
from the simulator's known truth, EvaluatePolicy and the CLI against a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import numpy as np
import pytest

from clients.client import CampaignLiftClient, ScoreResult
from clients.evaluation import evaluation_request
from feedback.decisions import DecisionRecord, count_decisions, write_decisions
from feedback.store import Store
from protos.campaignlift.v1 import evaluation_pb2_grpc
from protos.campaignlift.v1 import experiments_pb2 as xpb
from protos.campaignlift.v1 import experiments_pb2_grpc as xpb_grpc
from server.runtime.app import RunningServer, start
from tests.clients.test_cli import run_cli
from tests.conftest import promote_new, server_settings
from tests.e2e.helpers import outcomes_for, user_request

USERS = 900
LOGGING = {"type": "epsilon_greedy", "epsilon": 0.5}


@dataclass
class Logged:
    server: RunningServer
    version: str
    users: np.ndarray
    results: list[ScoreResult]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"


@pytest.fixture
def logged(store: Store, tmp_path: Path, world, trained_logreg) -> Iterator[Logged]:  # type: ignore[no-untyped-def]
    """An experiment whose one variant explores a lot (ε = 0.5), scored and answered."""
    version = promote_new(store, trained_logreg, tmp_path / "artifacts")
    server = start(server_settings(store, tmp_path, admin_token="tok"))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            xpb_grpc.ExperimentServiceStub(channel).SaveExperiment(
                xpb.SaveExperimentRequest(
                    experiment=xpb.ExperimentDefinition(
                        name="explore",
                        variants=[
                            xpb.VariantDefinition(
                                name="eps", weight=1, policy_json=json.dumps(LOGGING)
                            )
                        ],
                    )
                ),
                timeout=10,
                metadata=(("authorization", "Bearer tok"),),
            )
        users = np.arange(USERS)
        rng = np.random.default_rng(4)
        results: list[ScoreResult] = []
        with CampaignLiftClient(f"127.0.0.1:{server.port}", timeout_s=30) as client:
            for start_at in range(0, USERS, 300):
                batch = client.score_batch(
                    [
                        user_request(world, int(i), experiment="explore")
                        for i in users[start_at : start_at + 300]
                    ]
                )
                client.log_outcomes(
                    outcomes_for(world, users[start_at : start_at + 300], batch, rng)
                )
                results.extend(batch)
        assert server.decisions.flush()
        assert count_decisions(store) == USERS
        yield Logged(server, str(version.version), users, results)
    finally:
        server.stop()


def test_the_logging_policy_is_valued_at_what_it_earned(logged: Logged) -> None:
    with CampaignLiftClient(logged.target, timeout_s=60) as client:
        result = client.evaluate_policy("explore", logged.version, LOGGING)
    assert result.decisions == USERS and result.policy == "epsilon_greedy"
    assert result.objective == "conversion" and result.reward == "conversion"
    assert set(result.estimates) == {"ips", "snips", "dm", "dr"}
    # The server logged exact propensities and the evaluation recomputes the same policy on
    # the same model: every weight is 1.
    for name in ("ips", "snips"):
        assert result.estimates[name].value == pytest.approx(result.logged_mean_reward, abs=1e-9)
        assert result.estimates[name].effective_sample_size == pytest.approx(USERS)


def test_greedy_is_valued_near_its_true_conversion_rate(logged: Logged, world) -> None:  # type: ignore[no-untyped-def]
    greedy = {"type": "epsilon_greedy", "epsilon": 0.0}
    with CampaignLiftClient(logged.target, timeout_s=60) as client:
        result = client.evaluate_policy("explore", logged.version, greedy)
        boot = client.evaluate_policy(
            "explore", logged.version, greedy, bootstrap_samples=300, seed=3
        )
    # The world's truth for the action greedy takes for each logged user.
    actions = np.array(
        [
            np.argmax(np.append([c.uplift["conversion"] for c in r.candidates], 0.0))
            for r in logged.results
        ]
    )
    truth = float(world.truth("conversion", logged.users, actions).mean())
    for name in ("ips", "snips", "dr"):
        e = result.estimates[name]
        assert abs(e.value - truth) < 3 * e.std_error, (name, e, truth)
        assert e.effective_sample_size < USERS  # greedy agrees with only part of the log
    assert all(e.interval == "bootstrap" for e in boot.estimates.values())
    assert boot.estimates["ips"].value == result.estimates["ips"].value
    assert (
        boot.estimates["ips"].ci_low < boot.estimates["ips"].value < boot.estimates["ips"].ci_high
    )


def call(logged: Logged, **kwargs) -> grpc.RpcError:  # type: ignore[no-untyped-def]
    args = {"experiment": "explore", "model_version": logged.version, "policy": LOGGING}
    args.update(kwargs)
    request = evaluation_request(
        args.pop("experiment"), args.pop("model_version"), args.pop("policy"), **args
    )
    with grpc.insecure_channel(logged.target) as channel, pytest.raises(grpc.RpcError) as err:
        evaluation_pb2_grpc.EvaluationServiceStub(channel).EvaluatePolicy(request, timeout=30)
    return err.value


def test_errors_carry_their_status(logged: Logged, store: Store) -> None:
    err = call(logged, experiment="nope")
    assert err.code() == grpc.StatusCode.NOT_FOUND and "experiment 'nope'" in err.details()
    err = call(logged, model_version="42")
    assert err.code() == grpc.StatusCode.NOT_FOUND and "model_version" in err.details()
    err = call(logged, policy={"type": "greedy"})
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "policy.type" in err.details()
    err = call(logged, objective="visit")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "'visit'" in err.details()
    err = call(logged, decided_after=datetime.now(UTC) + timedelta(days=1))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no logged decisions" in err.details()
    # A decision logged with a zero propensity makes the logs unusable: named, not averaged.
    write_decisions(
        store,
        [
            DecisionRecord(
                decision_id="zero-propensity",
                unit_id="u",
                experiment="explore",
                variant="eps",
                policy="epsilon_greedy",
                model_version=logged.version,
                campaign_id=None,
                propensity=0.0,
                user_features={},
                candidates=[],
                chosen_features={},
                created_at=datetime.now(UTC),
            )
        ],
    )
    err = call(logged)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "decision 'zero-propensity'" in err.details() and "got 0.0" in err.details()


def test_cli_prints_the_estimates(logged: Logged) -> None:
    args = ["experiments", "evaluate", "explore", "--model-version", logged.version]
    table = run_cli(
        *args, "--policy", '{"type": "epsilon_greedy", "epsilon": 0.0}', "--target", logged.target
    )
    as_json = run_cli(*args, "--json", "--policy", json.dumps(LOGGING), "--target", logged.target)
    bad = run_cli(*args, "--policy", '{"type": "nope"}', "--target", logged.target)
    assert table.returncode == 0, table.stdout + table.stderr
    for label in (
        "IPS (inverse propensity)",
        "SNIPS",
        "DM (direct method)",
        "DR (doubly robust)",
        "logged policy (observed)",
    ):
        assert label in table.stdout, table.stdout
    data = json.loads(as_json.stdout)
    assert data["decisions"] == USERS
    ips = next(e for e in data["estimates"] if e["estimator"] == "ips")
    assert ips["value"] == pytest.approx(data["logged_mean_reward"], abs=1e-9)
    assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stdout and "policy.type" in bad.stdout


def test_client_sends_the_reader_token_when_reads_need_one(
    logged: Logged, store: Store, tmp_path: Path
) -> None:
    guarded = start(server_settings(store, tmp_path, admin_token="tok", reader_token="rd"))
    try:
        target = f"127.0.0.1:{guarded.port}"
        with CampaignLiftClient(target) as anonymous:
            with pytest.raises(grpc.RpcError) as err:
                anonymous.evaluate_policy("explore", logged.version, LOGGING)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with CampaignLiftClient(target, reader_token="rd", timeout_s=60) as reader:
            result = reader.evaluate_policy("explore", logged.version, LOGGING)
        assert result.decisions == USERS
    finally:
        guarded.stop()
