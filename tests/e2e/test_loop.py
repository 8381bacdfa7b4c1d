"""The whole loop over real gRPC: train → register → serve → Score → LogOutcomes → retrain →
the new version is served without a restart — on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from clients.client import CampaignLiftClient
from feedback.assignment import choose_variant
from feedback.decisions import count_decisions, get_decision
from feedback.experiments import Experiment, Variant, save_experiment
from feedback.outcomes import count_outcomes
from feedback.registry import PRODUCTION, set_stage, stage_version
from feedback.store import Store
from feedback.trigger import list_jobs
from server.runtime.app import start
from tests.conftest import promote_new, retrain_worker_process, server_settings
from tests.e2e.helpers import outcomes_for, user_request
from trainer.train import register


def test_closed_loop_retrains_and_serves_the_new_version(
    store: Store, tmp_path: Path, world, trained_logreg
) -> None:
    first = promote_new(store, trained_logreg, tmp_path / "artifacts")
    settings = server_settings(
        store,
        tmp_path,
        retrain_after_outcomes=300,
        attribution_window_s=0.0,
        model_family="logreg",
        promotion_margin=1.0,  # promotion itself is what this test follows
        gate_min_rows=50,
    )
    running = start(settings)
    rng = np.random.default_rng(0)
    target = f"127.0.0.1:{running.port}"
    try:
        with (
            retrain_worker_process(settings, tmp_path / "worker.log"),
            CampaignLiftClient(target) as client,
        ):
            result = client.score(user_request(world, 0))
            assert result.decision.model_version == str(first.version)
            assert len(result.candidates) == len(world.campaigns)
            total = (
                sum(c.propensity for c in result.candidates)
                + result.decision.no_campaign_propensity
            )
            assert total == pytest.approx(1.0)
            for c in result.candidates:
                assert set(c.probability) == set(c.uplift) == {"click", "conversion"}
                assert 0.0 <= c.probability["conversion"] <= 1.0

            accepted_total, decisions_made = 0, 1
            served_versions: set[str] = set()
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                users = rng.integers(0, len(world.users), 200)
                results = client.score_batch([user_request(world, int(u)) for u in users])
                decisions_made += len(results)
                served_versions |= {r.decision.model_version for r in results}
                accepted, duplicates = client.log_outcomes(outcomes_for(world, users, results, rng))
                accepted_total += accepted
                assert duplicates == 0
                if len(served_versions) > 1:
                    break
            assert len(served_versions) > 1, "no retrained version was served"
        # The worker may have promoted yet another version after the last call: what was
        # served beyond the first is what its jobs promoted.
        new_version = stage_version(store, PRODUCTION)
        assert new_version is not None and new_version != first.version
        jobs = list_jobs(store)
        promoted = {str(j.result_version) for j in jobs if j.status == "succeeded" and j.promoted}
        assert served_versions - {str(first.version)} <= promoted, jobs
        assert all(j.worker for j in jobs), jobs
        assert running.decisions.flush()
        assert count_decisions(store) == decisions_made
        assert count_outcomes(store) == accepted_total
        logged = get_decision(store, result.decision.decision_id)
        assert logged is not None
        assert logged.propensity == pytest.approx(result.decision.propensity)
        assert logged.model_version == str(first.version)
    finally:
        running.stop()


def test_hot_swap_fails_no_request(
    sqlite_store: Store, tmp_path: Path, world, trained_logreg, history, sim_spec
) -> None:
    from trainer.train import train

    first = promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    second = register(
        sqlite_store, train(history, sim_spec, family="tree"), tmp_path / "artifacts", source="test"
    )
    running = start(server_settings(sqlite_store, tmp_path))
    errors: list[grpc.RpcError] = []
    versions: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
            while not stop.is_set():
                try:
                    versions.append(
                        client.score(
                            user_request(world, len(versions) % 100)
                        ).decision.model_version
                    )
                except grpc.RpcError as exc:
                    errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    try:
        for t in threads:
            t.start()
        time.sleep(0.5)
        set_stage(sqlite_store, PRODUCTION, second.version, actor="test")
        deadline = time.monotonic() + 10
        while str(second.version) not in versions[-5:] and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
        running.stop()
    assert not errors, errors[:3]
    assert str(first.version) in versions and versions[-1] == str(second.version)
    assert running.models.swaps == 2  # the first load and the swap


def test_experiment_assignment_is_deterministic_and_logged(
    sqlite_store: Store, tmp_path: Path, world, trained_logreg
) -> None:
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    experiment = Experiment(
        "exp1",
        "salt-1",
        (
            Variant("control", 1.0, {"type": "no_campaign"}),
            Variant("explore", 3.0, {"type": "uniform_random"}),
        ),
    )
    save_experiment(sqlite_store, experiment)
    running = start(server_settings(sqlite_store, tmp_path))
    try:
        with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
            results = client.score_batch(
                [user_request(world, i, experiment="exp1") for i in range(200)]
            )
    finally:
        running.stop()
    for i, r in enumerate(results):
        expected = experiment.variants[
            choose_variant("salt-1", world.users.unit_id.iat[i], [1.0, 3.0])
        ]
        assert r.decision.variant == expected.name
        if expected.name == "control":
            assert r.decision.campaign_id is None and r.decision.propensity == 1.0
            assert r.decision.policy == "no_campaign"
        else:
            assert r.decision.propensity == pytest.approx(1 / (len(world.campaigns) + 1))
    assert {r.decision.variant for r in results} == {"control", "explore"}
