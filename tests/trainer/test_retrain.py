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
from trainer.retrain import RetrainConfig, not_ready_reason, retrain, run_job


def fill_store(store: Store, world, when: datetime, n: int = 3_000, seed: int = 4) -> None:  # type: ignore[no-untyped-def]
    """Randomized decisions from the world, made at `when`, with drawn outcomes."""
    hist = world.history(n, seed=seed)
    user_cols = ["age", "sessions_30d", "past_purchases", "avg_order_value", "gender", "region"]
    camp_cols = ["campaign_type", "discount_pct", "duration_days"]
    records, outcomes = [], []
    for i, row in enumerate(hist.itertuples(index=False)):
        d = row._asdict()
        records.append(
            DecisionRecord(
                decision_id=f"d{seed}-{i}",
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
                outcomes.append(Outcome(f"d{seed}-{i}:{kind}", f"d{seed}-{i}", kind, 1.0, when))
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
    fill_store(store, world, first.created_at + timedelta(microseconds=1))
    config = RetrainConfig(
        artifact_dir=tmp_path / "artifacts",
        family="logreg",
        attribution_window_s=0,
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
    assert version.lineage["code_version"].startswith("campaign-lift ")
    start, end = version.lineage["data_window"]
    assert start <= end and start.startswith(str(first.created_at.year))
    gate = version.lineage["gate"]
    assert gate["production_version"] == first.version
    assert gate["holdout_rows"] == 750  # a quarter of the rows, all newer than production
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


def test_gate_refuses_to_compare_on_rows_production_trained_on(
    store: Store, tmp_path: Path, world, trained_logreg
) -> None:
    first = promote_new(store, trained_logreg, tmp_path / "artifacts")
    fill_store(store, world, first.created_at - timedelta(hours=1))
    config = RetrainConfig(
        artifact_dir=tmp_path / "artifacts", family="logreg", attribution_window_s=0
    )
    with pytest.raises(
        FailedPrecondition, match="only 0 labelled decisions are newer than production"
    ):
        retrain(store, config)
    assert stage_version(store, PRODUCTION) == first.version


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


def test_ready_only_with_enough_unseen_labelled_decisions(
    store: Store, tmp_path: Path, world, trained_logreg
) -> None:
    config = RetrainConfig(artifact_dir=tmp_path, attribution_window_s=0, min_gate_rows=500)
    assert not_ready_reason(store, config) == "no production model to take the schema from"
    first = promote_new(store, trained_logreg, tmp_path / "artifacts")
    fill_store(store, world, first.created_at - timedelta(hours=1), n=1_500)
    assert "only 0 labelled decisions are newer" in (not_ready_reason(store, config) or "")
    fill_store(store, world, first.created_at + timedelta(microseconds=1), n=999, seed=5)
    assert "only 999 labelled decisions" in (not_ready_reason(store, config) or "")
    assert (
        not_ready_reason(store, RetrainConfig(artifact_dir=tmp_path, min_gate_rows=100)) is not None
    )  # window
    assert (
        not_ready_reason(
            store, RetrainConfig(artifact_dir=tmp_path, attribution_window_s=0, min_gate_rows=499)
        )
        is None
    )


def test_targets_named_apart_from_outcome_types_retrain_from_feedback(
    store: Store, tmp_path: Path, world, sim_spec, history
) -> None:
    """Like Hillstrom's `visit`: the target is labelled by click events in the store."""
    import dataclasses

    from trainer.train import train

    spec = dataclasses.replace(
        sim_spec, targets=("visit", "conversion"), outcome_types={"visit": "click"}
    )
    first = promote_new(
        store,
        train(history.rename(columns={"click": "visit"}), spec, family="logreg"),
        tmp_path / "a",
    )
    assert get_version(store, first.version).feature_schema["outcome_types"] == {
        "visit": "click",
        "conversion": "conversion",
    }
    fill_store(store, world, first.created_at + timedelta(microseconds=1))
    config = RetrainConfig(
        artifact_dir=tmp_path / "a",
        family="logreg",
        attribution_window_s=0,
        promotion_tolerance=1.0,
    )
    result = retrain(store, config)
    assert get_version(store, result.version).targets == ["visit", "conversion"]
    assert get_version(store, result.version).metrics["visit"]["auc"] > 0.5
