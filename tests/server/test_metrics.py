"""The Prometheus endpoint of a real server reports requests, errors, latency, model versions."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import grpc
import pytest

from clients.admin import AdminClient
from clients.client import CampaignLiftClient
from feedback.store import Store
from server.runtime.app import start
from tests.conftest import promote_new, server_settings
from tests.e2e.helpers import user_request


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return reply.read().decode()


def test_metrics_count_requests_errors_versions_and_loads(
    sqlite_store: Store, tmp_path: Path, world, trained_logreg
) -> None:  # type: ignore[no-untyped-def]
    version = promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    running = start(server_settings(sqlite_store, tmp_path, admin_token="t"))
    try:
        assert running.metrics_port
        with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
            client.score_batch([user_request(world, i) for i in range(7)])
            bad = user_request(world, 0, experiment="nope")
            with pytest.raises(grpc.RpcError):
                client.score(bad)
        with (
            AdminClient(f"127.0.0.1:{running.port}", "wrong") as admin,
            pytest.raises(grpc.RpcError),
        ):
            admin.list_versions()
        text = scrape(running.metrics_port)
    finally:
        running.stop()
    v = version.version
    assert 'campaign_lift_requests_total{code="OK",method="ScoreBatch"} 1.0' in text
    assert 'campaign_lift_requests_total{code="NOT_FOUND",method="Score"} 1.0' in text
    assert 'campaign_lift_requests_total{code="UNAUTHENTICATED",method="ListVersions"} 1.0' in text
    assert 'campaign_lift_request_seconds_count{method="ScoreBatch"} 1.0' in text
    assert (
        f'campaign_lift_scored_pairs_total{{model_version="{v}"}} {7.0 * len(world.campaigns)}'
        in text
    )
    assert f'campaign_lift_model_run_seconds_count{{model_version="{v}"}} 1.0' in text
    assert 'campaign_lift_model_loads_total{result="loaded",stage="production"} 1.0' in text
    assert f'campaign_lift_serving_version{{stage="production"}} {float(v)}' in text
    assert "campaign_lift_decision_queue " in text


def test_metrics_can_be_turned_off(sqlite_store: Store, tmp_path: Path) -> None:
    running = start(server_settings(sqlite_store, tmp_path, metrics_port=-1))
    try:
        assert running.metrics_port is None
    finally:
        running.stop()
