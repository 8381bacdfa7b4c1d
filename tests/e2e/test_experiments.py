"""Experiments over real gRPC: saved with the admin token, policies checked at save time,
scoring follows the saved variants; the CLI round trip."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from clients.client import CampaignLiftClient
from feedback.assignment import choose_variant
from feedback.store import Store
from protos.campaignlift.v1 import experiments_pb2 as pb
from protos.campaignlift.v1 import experiments_pb2_grpc as pb_grpc
from server.runtime.app import RunningServer, start
from tests.clients.test_cli import run_cli
from tests.conftest import promote_new, server_settings
from tests.e2e.helpers import user_request

AUTH = (("authorization", "Bearer tok"),)


@pytest.fixture
def running(sqlite_store: Store, tmp_path: Path, trained_logreg) -> Iterator[RunningServer]:  # type: ignore[no-untyped-def]
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    server = start(server_settings(sqlite_store, tmp_path, admin_token="tok"))
    yield server
    server.stop()


def definition(
    *variants: tuple[str, float, str], name: str = "promo", salt: str = ""
) -> pb.SaveExperimentRequest:
    return pb.SaveExperimentRequest(
        experiment=pb.ExperimentDefinition(
            name=name,
            salt=salt,
            variants=[
                pb.VariantDefinition(name=n, weight=w, policy_json=p) for n, w, p in variants
            ],
        )
    )


def test_save_get_and_score_with_a_saved_experiment(running: RunningServer, world) -> None:  # type: ignore[no-untyped-def]
    request = definition(
        ("control", 1, '{"type": "no_campaign"}'),
        ("greedy", 3, '{"type": "epsilon_greedy", "epsilon": 0.0}'),
    )
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = pb_grpc.ExperimentServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.SaveExperiment(request, timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        saved = stub.SaveExperiment(request, timeout=5, metadata=AUTH)
        assert saved.salt == "promo" and [v.name for v in saved.variants] == ["control", "greedy"]
        assert stub.GetExperiment(pb.GetExperimentRequest(name="promo"), timeout=5) == saved
        bad = definition(("a", 1, '{"type": "epsilon_greedy", "epsilon": 2}'))
        with pytest.raises(grpc.RpcError) as err:
            stub.SaveExperiment(bad, timeout=5, metadata=AUTH)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "experiment.variants[0]: policy.epsilon must be <= 1.0, got 2" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:
            stub.SaveExperiment(definition(("a", 1, "{nope")), timeout=5, metadata=AUTH)
        assert "variants[0].policy_json is not JSON" in err.value.details()
        with pytest.raises(grpc.RpcError) as err:
            stub.GetExperiment(pb.GetExperimentRequest(name="nope"), timeout=5)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
        results = client.score_batch(
            [user_request(world, i, experiment="promo") for i in range(100)]
        )
    for i, r in enumerate(results):
        expected = ["control", "greedy"][
            choose_variant("promo", world.users.unit_id.iat[i], [1, 3])
        ]
        assert r.decision.variant == expected
        assert r.decision.policy == ("no_campaign" if expected == "control" else "epsilon_greedy")


def test_cli_save_and_show(running: RunningServer) -> None:
    target = f"127.0.0.1:{running.port}"
    os.environ["CAMPAIGN_LIFT_ADMIN_TOKEN"] = "tok"
    try:
        saved = run_cli(
            "experiments",
            "save",
            "cli-exp",
            "--target",
            target,
            "--variant",
            'control:1:{"type": "no_campaign"}',
            "--variant",
            'explore:1:{"type": "uniform_random"}',
            "--json",
        )
        malformed = run_cli(
            "experiments", "save", "x", "--target", target, "--variant", "control-1"
        )
    finally:
        del os.environ["CAMPAIGN_LIFT_ADMIN_TOKEN"]
    shown = run_cli("experiments", "show", "cli-exp", "--target", target)
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert [v["name"] for v in json.loads(saved.stdout)["variants"]] == ["control", "explore"]
    assert malformed.returncode == 2 and "must be NAME:WEIGHT:POLICY_JSON" in malformed.stdout
    assert shown.returncode == 0 and "50.0%" in shown.stdout and "uniform_random" in shown.stdout


def test_lifecycle_eligibility_and_policy_state_over_grpc(running: RunningServer, world) -> None:  # type: ignore[no-untyped-def]
    request = definition(
        ("control", 1, '{"type": "no_campaign"}'),
        ("ts", 1, '{"type": "thompson", "draws": 200}'),
        name="life",
    )
    request.experiment.eligibility.add(feature="age", op="gte", value_json="30")
    request.experiment.attribution_window_s = 60
    ages = [world.user_features(i)["age"] for i in range(200)]
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = pb_grpc.ExperimentServiceStub(channel)
        saved = stub.SaveExperiment(request, timeout=5, metadata=AUTH)
        assert saved.status == "running" and saved.attribution_window_s == 60
        assert saved.eligibility[0].value_json == "30"
        listed = stub.ListExperiments(pb.ListExperimentsRequest(), timeout=5)
        assert [e.name for e in listed.experiments] == ["life"]

        with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
            results = client.score_batch(
                [user_request(world, i, experiment="life") for i in range(200)]
            )
        for age, r in zip(ages, results, strict=True):
            if age >= 30:
                assert r.decision.experiment == "life" and r.decision.variant in {"control", "ts"}
            else:  # not eligible: the first variant's policy, outside the experiment
                assert (r.decision.experiment, r.decision.variant) == ("", "")
                assert r.decision.policy == "no_campaign"
        ts = [r for r in results if r.decision.variant == "ts"]
        assert ts and {r.decision.propensity_method for r in ts} == {"monte_carlo:200"}
        assert all(
            sum(c.propensity for c in r.candidates) + r.decision.no_campaign_propensity
            == pytest.approx(1.0)
            for r in ts
        )

        state = stub.GetPolicyState(pb.GetPolicyStateRequest(experiment="life", variant="ts"))
        assert state.policy == "thompson" and state.decisions == 0  # window still open
        for variant, code in (
            ("control", grpc.StatusCode.FAILED_PRECONDITION),
            ("nope", grpc.StatusCode.NOT_FOUND),
        ):
            with pytest.raises(grpc.RpcError) as err:
                stub.GetPolicyState(pb.GetPolicyStateRequest(experiment="life", variant=variant))
            assert err.value.code() == code

        stop = pb.SetExperimentStatusRequest(name="life", status="stopped", release="ts")
        with pytest.raises(grpc.RpcError) as err:
            stub.SetExperimentStatus(stop, timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        stopped = stub.SetExperimentStatus(stop, timeout=5, metadata=AUTH)
        assert (stopped.status, stopped.release) == ("stopped", "ts")
        bad = pb.SetExperimentStatusRequest(name="life", status="paused")
        with pytest.raises(grpc.RpcError) as err:
            stub.SetExperimentStatus(bad, timeout=5, metadata=AUTH)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "'paused'" in err.value.details()

    import time

    time.sleep(2.1)  # the server caches experiments for 2 s
    with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
        after = client.score_batch([user_request(world, i, experiment="life") for i in range(50)])
    assert {(r.decision.experiment, r.decision.variant) for r in after} == {("", "")}
    assert {r.decision.policy for r in after} == {"thompson"}  # everyone gets the release


def test_cli_lifecycle_commands(running: RunningServer) -> None:
    target = f"127.0.0.1:{running.port}"
    os.environ["CAMPAIGN_LIFT_ADMIN_TOKEN"] = "tok"
    try:
        saved = run_cli(
            "experiments",
            "save",
            "cli-life",
            "--target",
            target,
            "--variant",
            'control:1:{"type": "no_campaign"}',
            "--variant",
            'ts:1:{"type": "thompson"}',
            "--namespace",
            "home:0:0.5",
            "--eligible",
            "age gte 18",
            "--attribution-window",
            "600",
            "--coverage",
            "0.8",
        )
        stopped = run_cli("experiments", "stop", "cli-life", "--release", "ts", "--target", target)
        restarted = run_cli("experiments", "start", "cli-life", "--target", target, "--json")
    finally:
        del os.environ["CAMPAIGN_LIFT_ADMIN_TOKEN"]
    listed = run_cli("experiments", "list", "--target", target)
    state = run_cli("experiments", "policy-state", "cli-life", "ts", "--target", target)
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert "namespace home [0, 0.5)" in saved.stdout and "age gte 18" in saved.stdout
    assert "coverage 80%" in saved.stdout and "attribution window 600 s" in saved.stdout
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert json.loads(restarted.stdout)["status"] == "running"
    assert listed.returncode == 0 and "cli-life" in listed.stdout and "running" in listed.stdout
    assert state.returncode == 0 and "thompson" in state.stdout


def test_report_options_over_grpc(running: RunningServer, world) -> None:  # type: ignore[no-untyped-def]
    """A saved covariate reaches the report (CUPED), a request can turn it off, and a bad
    calibration window is INVALID_ARGUMENT naming the field."""
    request = definition(
        ("control", 1, '{"type": "no_campaign"}'),
        ("explore", 1, '{"type": "uniform_random"}'),
        name="cov",
    )
    request.experiment.covariate = "age"
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = pb_grpc.ExperimentServiceStub(channel)
        assert stub.SaveExperiment(request, timeout=5, metadata=AUTH).covariate == "age"
        with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
            client.score_batch([user_request(world, i, experiment="cov") for i in range(80)])
        assert running.decisions.flush()
        report = stub.GetReport(pb.GetReportRequest(experiment="cov"), timeout=30)
        plain = stub.GetReport(pb.GetReportRequest(experiment="cov", covariate=""), timeout=30)
        with pytest.raises(grpc.RpcError) as err:
            stub.GetReport(
                pb.GetReportRequest(experiment="cov", calibration_window_s=-1), timeout=30
            )
    assert report.covariate == "age" and plain.covariate == ""
    explore = report.variants[1]
    assert [m.cuped for m in explore.metrics] == [True, True, True]
    assert not any(m.cuped for m in plain.variants[1].metrics)
    assert sum(v.units for v in report.variants) == 80
    # Decisions by a served model: the report's calibration has them.
    assert sum(c.count for c in report.calibration if c.target == "conversion") == 80
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "calibration_window_s must be >= 0, got -1" in (err.value.details() or "")
