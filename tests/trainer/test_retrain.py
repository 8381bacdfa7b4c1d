"""The retrain job on a real store: trains on joined decisions and outcomes, gates, promotes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from common.errors import FailedPrecondition
from feedback.decisions import DecisionRecord, write_decisions
from feedback.outcomes import Outcome, log_outcomes
from feedback.registry import CANDIDATE, PRODUCTION, get_version, stage_history, stage_version
from feedback.store import Store
from feedback.trigger import claim_retrain, list_jobs
from tests.conftest import promote_new
from trainer.retrain import RetrainConfig, retrain, run_job


def fill_store(store: Store, world, n: int = 3_000, seed: int = 4) -> None:  # type: ignore[no-untyped-def]
    """Randomized decisions from the world, an hour old, with drawn outcomes."""
    hist = world.history(n, seed=seed)
    when = datetime.now(UTC) - timedelta(hours=1)
    user_cols = ["age", "sessions_30d", "past_purchases", "avg_order_value", "gender", "region"]
    camp_cols = ["campaign_type", "discount_pct", "duration_days"]
    records, outcomes = [], []
    for i, row in enumerate(hist.itertuples(index=False)):
        d = row._asdict()
        records.append(
            DecisionRecord(
                decision_id=f"d{i}",
                unit_id=d["unit_id"],
                experiment="",
                variant="",
                policy="uniform_random",
                model_version="1",
                campaign_id=d["campaign_id"] or None,
                propensity=float(d["propensity"]),
                user_features={c: d[c] for c in user_cols},
                candidates=[],
                chosen_features={c: d[c] for c in camp_cols},
                created_at=when,
            )
        )
        for kind in ("click", "conversion"):
            if d[kind]:
                outcomes.append(Outcome(f"d{i}:{kind}", f"d{i}", kind, 1.0, when))
    write_decisions(store, records)
    log_outcomes(store, outcomes)


def test_retrain_needs_production(store: Store, tmp_path: Path) -> None:
    with pytest.raises(FailedPrecondition, match="needs a production model"):
        retrain(store, RetrainConfig(artifact_dir=tmp_path))


@pytest.mark.parametrize(("tolerance", "promoted"), [(1.0, True), (-1.0, False)])
def test_gate_promotes_only_when_not_worse(
    store: Store, tmp_path: Path, world, trained_logreg, tolerance: float, promoted: bool
) -> None:
    first = promote_new(store, trained_logreg, tmp_path / "artifacts")
    fill_store(store, world)
    config = RetrainConfig(
        artifact_dir=tmp_path / "artifacts",
        family="logreg",
        attribution_window_s=60,
        promotion_tolerance=tolerance,
    )
    job = claim_retrain(store, min_new_outcomes=100)
    assert job is not None
    result = run_job(store, job, config)
    assert result is not None and result.promoted is promoted
    assert result.rows == 3_000
    version = get_version(store, result.version)
    assert version.parent_version == first.version
    assert version.lineage["source"] == "store"
    assert version.lineage["gate"]["production_version"] == first.version
    assert stage_version(store, CANDIDATE) == result.version
    assert stage_version(store, PRODUCTION) == (result.version if promoted else first.version)
    (done,) = list_jobs(store)
    assert (
        done.status == "succeeded"
        and done.promoted is promoted
        and done.result_version == result.version
    )
    if promoted:
        assert stage_history(store, PRODUCTION)[-1].actor == f"retrain-job-{job.id}"
    assert np.isfinite(result.candidate_log_loss)


def test_failed_job_is_recorded_not_raised(store: Store, tmp_path: Path, trained_logreg) -> None:
    promote_new(store, trained_logreg, tmp_path / "artifacts")
    log_outcomes(
        store, [Outcome(f"e{i}", f"missing-{i}", "click", 1.0, datetime.now(UTC)) for i in range(5)]
    )
    job = claim_retrain(store, min_new_outcomes=5)
    assert job is not None
    assert run_job(store, job, RetrainConfig(artifact_dir=tmp_path)) is None
    (failed,) = list_jobs(store)
    assert failed.status == "failed"
    assert "no labelled decisions" in failed.message
