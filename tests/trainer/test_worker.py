"""The retrain worker on a real store: it claims a due job and runs it with a heartbeat,
waits while the gate cannot compare, and takes over the window of a job whose worker died."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from feedback.models import RetrainJobRow, utcnow
from feedback.registry import PRODUCTION, stage_version
from feedback.store import Store
from feedback.trigger import claim_retrain, list_jobs
from tests.conftest import promote_new, server_settings
from tests.trainer.test_retrain import fill_store
from trainer.worker import RetrainWorker


def _worker(store: Store, tmp_path: Path, **overrides: object) -> RetrainWorker:
    settings = server_settings(
        store,
        tmp_path,
        retrain_after_outcomes=100,
        attribution_window_s=0.0,
        model_family="logreg",
        promotion_margin=1.0,  # the worker's mechanics are followed here, not the gate's
        gate_min_rows=50,
        **overrides,
    )
    return RetrainWorker(store, settings, name="test-worker")


def test_worker_claims_a_due_job_and_promotes(
    store: Store, tmp_path: Path, world, trained_logreg
) -> None:
    first = promote_new(store, trained_logreg, tmp_path / "artifacts")
    worker = _worker(store, tmp_path)
    assert worker.run_once() is None  # nothing new to learn from
    fill_store(store, world, first.created_at + timedelta(microseconds=1))

    result = worker.run_once()

    assert result is not None and result.promoted
    assert stage_version(store, PRODUCTION) == result.version
    (job,) = list_jobs(store)
    assert job.status == "succeeded" and job.worker == "test-worker"
    assert job.heartbeat_at is not None
    assert worker.run_once() is None  # the window is consumed


def test_worker_waits_while_the_gate_cannot_compare(
    store: Store, tmp_path: Path, world, trained_logreg
) -> None:
    first = promote_new(store, trained_logreg, tmp_path / "artifacts")
    fill_store(store, world, first.created_at - timedelta(hours=1), n=500)
    worker = _worker(store, tmp_path)

    assert worker.run_once() is None

    assert list_jobs(store) == []  # no claim: the window stays open for a fair gate later


@pytest.mark.parametrize("beat_age_s", [30.0, 600.0])
def test_a_dead_workers_job_is_abandoned_and_its_window_claimed_again(
    store: Store, tmp_path: Path, world, trained_logreg, beat_age_s: float
) -> None:
    first = promote_new(store, trained_logreg, tmp_path / "artifacts")
    fill_store(store, world, first.created_at + timedelta(microseconds=1))
    dead = claim_retrain(store, min_new_outcomes=100, worker="killed-worker")
    assert dead is not None
    with store.transaction() as session:  # its worker's last heartbeat, beat_age_s ago
        row = session.get(RetrainJobRow, dead.id)
        assert row is not None
        row.heartbeat_at = utcnow() - timedelta(seconds=beat_age_s)
    worker = _worker(store, tmp_path, retrain_job_timeout_s=120.0)

    result = worker.run_once()

    jobs = {j.id: j for j in list_jobs(store)}
    if beat_age_s < 120:  # alive as far as anyone can tell: its window stays claimed
        assert result is None and jobs[dead.id].status == "running" and len(jobs) == 1
        return
    assert jobs[dead.id].status == "abandoned"
    assert "no heartbeat" in jobs[dead.id].message
    assert result is not None
    (retried,) = [j for j in jobs.values() if j.id != dead.id]
    assert retried.status == "succeeded" and retried.worker == "test-worker"
    assert retried.outcome_seq_to == dead.outcome_seq_to  # the same outcomes, learned once
