"""The retrain job on a real store: trains on joined decisions and outcomes, gates, promotes."""

from __future__ import annotations

import dataclasses
import time
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
from trainer.retrain import RetrainConfig, _recipe, not_ready_reason, retrain, run_job


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


@pytest.mark.parametrize(("margin", "promoted"), [(1.0, True), (-1.0, False)])
def test_gate_promotes_only_when_not_worse(
    store: Store, tmp_path: Path, world, trained_logreg, margin: float, promoted: bool
) -> None:
    """A margin of 1 conversion per decision passes anything; one of -1 asks the impossible
    (better by a whole conversion per decision, with confidence)."""
    first = promote_new(store, trained_logreg, tmp_path / "artifacts")
    fill_store(store, world, first.created_at + timedelta(microseconds=1))
    config = RetrainConfig(
        artifact_dir=tmp_path / "artifacts",
        attribution_window_s=0,
        promotion_margin=margin,
        log_loss_guard=10.0,
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
    assert gate["rows"] == 750  # a quarter of the rows, none of them production's
    assert gate["promote"] is promoted
    assert version.lineage["recipe"]["family"] == "logreg"  # production's recipe, reused
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
    assert "decisions neither trained on" in done.message


def test_the_gate_never_evaluates_production_on_its_own_training_rows(
    store: Store, tmp_path: Path, world, history, sim_spec
) -> None:
    """The README's order: train on a file, then import the file into the store. The imported
    decisions are production's training rows: known by its fingerprint (their contents, the
    file having no row ids here), they are trained on but never held out for the gate."""
    import dataclasses

    from feedback.importer import LogMapping, import_logged
    from feedback.training_data import labelled_decisions
    from trainer.fingerprint import Fingerprint, content_hashes, fingerprint_path, id_hashes
    from trainer.train import train

    no_ids = dataclasses.replace(sim_spec, row_id=None)
    file_rows = history.drop(columns=["decision_id"])
    production = train(file_rows, no_ids, family="logreg")
    first = promote_new(store, production, tmp_path / "artifacts")
    import_logged(
        store,
        file_rows,
        LogMapping(
            row_id=None,
            campaign_id="campaign_id",
            no_campaign="",
            propensity="propensity",
            user_features=list(sim_spec.user_features),
            campaign_features=list(sim_spec.campaign_features),
            outcomes={"click": "click", "conversion": "conversion"},
            unit_id="unit_id",
            policy="uniform_random",
        ),
        decided_at=datetime.now(UTC),  # imported after training: newer than production
    )
    fill_store(store, world, datetime.now(UTC), n=2_000, seed=8)
    time.sleep(0.01)  # both are settled by now (a window of 0 s)
    config = RetrainConfig(
        artifact_dir=tmp_path / "artifacts",
        attribution_window_s=0,
        promotion_margin=1.0,
        log_loss_guard=10.0,
    )
    result = retrain(store, config)
    # Every imported row production trained on is recognized as seen; the gate holds out
    # half of the rest (its own holdout's rows and the new decisions), a quarter at most.
    data = labelled_decisions(store)
    fingerprint = Fingerprint.load(fingerprint_path(Path(first.artifact_path)))
    seen = fingerprint.seen(id_hashes(data["decision_id"].tolist()), content_hashes(data, no_ids))
    trained_rows = content_hashes(production.training, no_ids)
    assert np.isin(trained_rows, content_hashes(data[seen], no_ids)).all()
    assert seen.sum() >= len(production.training)
    gate = get_version(store, result.version).lineage["gate"]
    assert gate["rows"] == min(int(0.25 * len(data)), int((~seen).sum()) // 2)


def test_the_gate_refuses_a_worse_policy_even_with_a_better_log_loss(tmp_path: Path) -> None:
    """Production: weak response models, right effects. The candidate: better response
    models (lower log loss), effects turned around. The gate looks at decisions."""
    from tests.trainer.test_learners import SPEC, synthetic
    from trainer.arms import arms_of
    from trainer.export import compose_fitted
    from trainer.gate import compare
    from trainer.learners import PerArmFit
    from trainer.selection import Objective
    from trainer.train import train

    log, rows = synthetic(12_000, seed=4), synthetic(4_000, seed=5)
    good = train(log, SPEC, family="logreg", uplift_method="dr-learner")
    weak = train(log.head(600), SPEC, family="logreg", uplift_method="dr-learner")
    g, w = good.fitted["conversion"], weak.fitted["conversion"]
    assert isinstance(g, PerArmFit) and isinstance(w, PerArmFit)
    turned = PerArmFit(
        SPEC, "logreg", "dr-learner", g.arms, g.outcomes,
        [[(-weight, r) for weight, r in terms] for terms in g.effects],
    )  # fmt: skip
    right = PerArmFit(SPEC, "logreg", "dr-learner", g.arms, w.outcomes, g.effects)
    graph = {
        name: compose_fitted({"conversion": fit}, SPEC).SerializeToString()
        for name, fit in (("candidate", turned), ("production", right))
    }
    arms = arms_of(rows, SPEC)
    known = good.schema["arms"]
    result = compare(
        (graph["candidate"], [a["features"] for a in known]),
        (graph["production"], [a["features"] for a in known]),
        rows,
        SPEC,
        arms,
        Objective("conversion"),
    )
    assert result.candidate_log_loss < result.production_log_loss
    assert result.difference < 0 and result.difference_ci[1] < 0
    assert not result.promote and "worth less" in result.reason


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
    assert "only 0 labelled decisions are newer than production version" in (
        not_ready_reason(store, config) or ""
    )
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
        attribution_window_s=0,
        promotion_margin=1.0,
        log_loss_guard=10.0,
    )
    result = retrain(store, config)
    assert get_version(store, result.version).targets == ["visit", "conversion"]
    assert get_version(store, result.version).metrics["visit"]["auc"] > 0.5


def test_adaptive_recipe_reselects_only_once_the_rows_have_doubled(
    store: Store, tmp_path: Path, trained_logreg
) -> None:
    """'production' reuses the recipe, 'auto' always selects again, 'adaptive' selects again
    when the rows have grown twofold since the recipe was selected and otherwise carries the
    selection's row count forward, so that the next retrain measures growth from it; a recipe
    pinned by explicit flags (never selected) stays pinned."""
    prod = promote_new(store, trained_logreg, tmp_path / "artifacts")
    selected = dataclasses.replace(prod, lineage={**prod.lineage, "selected_on_rows": 2_000})

    def recipe(version, mode: str, rows: int):  # type: ignore[no-untyped-def]
        return _recipe(version, RetrainConfig(artifact_dir=tmp_path, recipe=mode), rows)

    kept, since = recipe(selected, "production", 10_000)
    assert (kept.family, since) == ("logreg", 2_000)
    assert recipe(selected, "auto", 100)[0].automatic
    kept, since = recipe(selected, "adaptive", 3_999)
    assert (kept.family, kept.automatic, since) == ("logreg", False, 2_000)
    again, since = recipe(selected, "adaptive", 4_000)
    assert again.automatic and since is None
    pinned, since = recipe(prod, "adaptive", 100_000)  # pinned by flags, never selected
    assert (pinned.family, pinned.automatic, since) == ("logreg", False, None)


@pytest.mark.parametrize(
    ("gate_max_rows", "held", "refit"), [(10_000, 750, True), (120, 120, False)]
)
def test_the_gate_holds_out_at_most_gate_max_rows_and_refits_only_above_a_small_share(
    store: Store,
    tmp_path: Path,
    world,
    trained_logreg,
    gate_max_rows: int,
    held: int,
    refit: bool,
) -> None:
    """A quarter of the rows while that is under `gate_max_rows`, else `gate_max_rows`; when
    the held-out rows are a small share (120 of 3,000 = 4% ≤ 5%), the fit the gate judged is
    the one registered, without a second fit on every row."""
    first = promote_new(store, trained_logreg, tmp_path / "artifacts")
    fill_store(store, world, first.created_at + timedelta(microseconds=1))
    config = RetrainConfig(
        artifact_dir=tmp_path / "artifacts",
        attribution_window_s=0,
        min_gate_rows=50,
        gate_max_rows=gate_max_rows,
        promotion_margin=1.0,
        log_loss_guard=10.0,
    )
    result = retrain(store, config)
    gate = get_version(store, result.version).lineage["gate"]
    assert gate["rows"] == held
    assert gate["registered_fit_rows"] == (3_000 if refit else 3_000 - held)
