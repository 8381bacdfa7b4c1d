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
from feedback.store import Store
from protos.campaignlift.v1 import experiments_pb2 as pb
from protos.campaignlift.v1 import experiments_pb2_grpc as pb_grpc
from server.app import RunningServer, start
from server.assignment import choose_variant
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
        assert (
            "experiment.variants[0]: policy.epsilon must be in [0, 1], got 2.0"
            in err.value.details()
        )
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
