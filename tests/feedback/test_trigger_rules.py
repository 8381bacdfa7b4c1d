"""Retrain trigger rules beyond the outcome count: production's age and calibration drift;
and a claim raced by two real processes yields exactly one job."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import timedelta

from feedback.models import ModelVersionRow
from feedback.outcomes import Outcome, log_outcomes
from feedback.registry import PRODUCTION, ModelVersion, register_version, set_stage
from feedback.store import Store
from feedback.trigger import TriggerRules, claim_retrain, list_jobs, retrain_reasons
from tests.conftest import ROOT


def production(store: Store, age: timedelta) -> ModelVersion:
    version = register_version(
        store,
        artifact_path="/nowhere.onnx",
        sha256="a" * 64,
        family="logreg",
        feature_schema={"outcome_types": {"conversion": "conversion"}},
        targets=["conversion"],
        metrics={},
        lineage={},
    )
    set_stage(store, PRODUCTION, version.version, actor="test")
    with store.transaction() as session:
        row = session.get(ModelVersionRow, version.version)
        assert row is not None
        row.created_at = row.created_at - age
    return version


def outcomes(store: Store, n: int, prefix: str) -> None:
    from datetime import UTC, datetime

    log_outcomes(
        store,
        [Outcome(f"{prefix}-{i}", f"d-{i}", "click", 1.0, datetime.now(UTC)) for i in range(n)],
    )


def test_age_rule_fires_for_old_production_with_new_outcomes(store: Store) -> None:
    rules = TriggerRules(max_production_age_s=3600)
    production(store, timedelta(hours=2))
    assert claim_retrain(store, rules=rules) is None  # nothing new to learn from
    outcomes(store, 3, "a")
    job = claim_retrain(store, rules=rules)
    assert job is not None and "production v1 is 2.0 h old" in job.reason
    assert claim_retrain(store, rules=rules) is None  # the window is claimed


def test_age_rule_is_quiet_for_young_production(store: Store) -> None:
    production(store, timedelta(minutes=10))
    outcomes(store, 3, "a")
    assert retrain_reasons(store, TriggerRules(max_production_age_s=3600), fresh=3) == []


def test_two_processes_racing_claim_exactly_one_job(store: Store) -> None:
    outcomes(store, 5, "race")
    start_at = time.time() + 3.0  # both processes claim at this moment
    code = (
        "import json, sys, time;"
        "from feedback.store import Store;"
        "from feedback.trigger import claim_retrain;"
        "s = Store(sys.argv[1]);"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()));"
        "job = claim_retrain(s, min_new_outcomes=5);"
        "print(json.dumps(None if job is None else job.id))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, store.url, str(start_at)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    answers = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert sum(a is not None for a in answers) == 1, answers
    assert len(list_jobs(store)) == 1


def _decisions_with_outcomes(store: Store, version: int, converted_share: float) -> None:
    from datetime import UTC, datetime

    from feedback.decisions import DecisionRecord, write_decisions

    decided = datetime.now(UTC) - timedelta(hours=3)
    n = 400
    write_decisions(
        store,
        [
            DecisionRecord(
                decision_id=f"drift-{i}",
                unit_id=f"u-{i}",
                experiment="",
                variant="",
                policy="epsilon_greedy",
                model_version=str(version),
                campaign_id="c-1",
                propensity=0.9,
                user_features={},
                candidates=[
                    {
                        "campaign_id": "c-1",
                        "features": {},
                        "probability": {"conversion": 0.2},
                        "uplift": {"conversion": 0.05},
                        "propensity": 0.9,
                    }
                ],
                chosen_features={},
                created_at=decided,
            )
            for i in range(n)
        ],
    )
    log_outcomes(
        store,
        [
            Outcome(f"drift-e-{i}", f"drift-{i}", "conversion", 1.0, decided)
            for i in range(int(n * converted_share))
        ],
        backfill=True,
    )


def test_drift_rule_fires_when_observed_rates_leave_the_predictions(store: Store) -> None:
    version = production(store, timedelta(minutes=5))
    rules = TriggerRules(
        drift_tolerance=0.25, drift_window_s=6 * 3600, drift_lag_s=3600, drift_min_decisions=300
    )
    _decisions_with_outcomes(store, version.version, converted_share=0.05)  # predicted 0.2
    reasons = retrain_reasons(store, rules, fresh=20)
    assert len(reasons) == 1 and "calibration drift on c-1 (conversion)" in reasons[0]
    assert "observed 0.0500 vs predicted 0.2000 over 400 decisions" in reasons[0]
    # Too few decisions to judge: quiet.
    strict = TriggerRules(drift_tolerance=0.25, drift_lag_s=3600, drift_min_decisions=1000)
    assert retrain_reasons(store, strict, fresh=20) == []


def test_drift_rule_is_quiet_when_predictions_hold(store: Store) -> None:
    version = production(store, timedelta(minutes=5))
    rules = TriggerRules(drift_tolerance=0.25, drift_lag_s=3600, drift_min_decisions=300)
    _decisions_with_outcomes(store, version.version, converted_share=0.21)
    assert retrain_reasons(store, rules, fresh=80) == []
