"""One reward definition: on a seeded store with late, duplicate, early and missing outcomes,
training data, policy learning, off-policy evaluation, the A/B report and calibration agree
decision by decision with the rules of feedback/rewards.py, computed here independently."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from feedback.decisions import DecisionRecord, write_decisions
from feedback.experiments import Experiment, Variant, get_experiment, save_experiment
from feedback.logged import logged_decisions
from feedback.models import ReportUnitRow
from feedback.monitoring import calibration
from feedback.outcomes import Outcome, log_outcomes
from feedback.policies import build_policy
from feedback.policy_state import settle
from feedback.report_data import unit_sums
from feedback.report_summary import refresh
from feedback.rewards import OUTCOME_TYPES, outcome_type
from feedback.store import Store
from feedback.training_data import labelled_decisions

WINDOW = timedelta(hours=1)
DEFAULT_REWARD = 0.25
POLICY = {"type": "thompson", "reward": "conversion"}
CAMPAIGNS = ("c-1", "c-2", None)


@dataclass
class Planted:
    """What was logged, and the labels the rules give, computed without the store."""

    decisions: list[DecisionRecord] = field(default_factory=list)
    # decision id -> outcome type -> counted values (late ones left out)
    counted: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # decision id -> outcome type -> every value (the raw reward)
    every: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def label(self, decision_id: str, kind: str, *, raw: bool = False) -> float:
        values = (self.every if raw else self.counted).get(decision_id, {}).get(kind, [])
        if not values:
            return 0.0
        return float(sum(values)) if kind == "revenue" else float(max(values) > 0)

    def reward(self, decision_id: str, kind: str) -> float:
        if not self.counted.get(decision_id, {}).get(kind):
            return DEFAULT_REWARD
        return self.label(decision_id, kind)


def _decision(i: int, at: datetime, campaign: str | None) -> DecisionRecord:
    p = 0.1 + 0.05 * (i % 5)
    return DecisionRecord(
        decision_id=f"d-{i:03d}",
        unit_id=f"u-{i:03d}",  # one decision per unit: the report's units are decisions
        experiment="exp",
        variant="ts",
        policy="thompson",
        model_version="1",
        campaign_id=campaign,
        propensity=1 / 3,
        user_features={"x": float(i % 7)},
        candidates=[
            {
                "campaign_id": c,
                "features": {},
                "probability": {"conversion": p, "click": 2 * p},
                "uplift": {"conversion": 0.01, "click": 0.02},
                "control": {"conversion": p - 0.01, "click": 2 * p - 0.02},
                "propensity": 1 / 3,
            }
            for c in ("c-1", "c-2")
        ],
        chosen_features={},
        created_at=at,
    )


def _plant(store: Store, seed: int) -> Planted:
    """Decisions within the last 3 hours, and for each a random mix of outcome events: in the
    window, after it (judged on occurrence when imported, on receipt when live), repeated
    event ids, second events of a type, zero values, and outcomes sent before the decision."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    planted = Planted()
    live: list[Outcome] = []
    backfill: list[Outcome] = []
    early: list[Outcome] = []
    for i in range(160):
        at = now - timedelta(minutes=float(rng.uniform(5, 175))) + timedelta(microseconds=i)
        d = _decision(i, at, CAMPAIGNS[i % 3])
        planted.decisions.append(d)
        deadline = at + WINDOW
        for k in range(int(rng.integers(0, 4))):
            kind = str(rng.choice(OUTCOME_TYPES))
            value = float(rng.integers(0, 2)) if kind != "revenue" else float(rng.gamma(2, 10))
            mode = str(rng.choice(["live", "backfill", "early"]))
            occurred = at + timedelta(minutes=float(rng.uniform(0, 100)))
            occurred = min(occurred, now)
            # Live outcomes are received now; imported history and early outcomes are judged
            # by when they occurred.
            late = occurred > deadline or (mode == "live" and now > deadline)
            event = Outcome(f"{d.decision_id}:{k}", d.decision_id, kind, value, occurred)
            {"live": live, "backfill": backfill, "early": early}[mode].append(event)
            planted.every.setdefault(d.decision_id, {}).setdefault(kind, []).append(value)
            if not late:
                planted.counted.setdefault(d.decision_id, {}).setdefault(kind, []).append(value)
    save_experiment(
        store,
        Experiment(
            "exp",
            "exp",
            (Variant("ts", 1.0, POLICY),),
            attribution_window_s=WINDOW.total_seconds(),
            default_reward=DEFAULT_REWARD,
        ),
    )
    log_outcomes(store, early)  # before their decisions exist: judged when those are written
    write_decisions(store, planted.decisions)
    log_outcomes(store, backfill, backfill=True)
    log_outcomes(store, live)
    # Duplicates: the same events again, and once more in one call; each counts once.
    log_outcomes(store, live[:20] + live[:20])
    log_outcomes(store, backfill[:20], backfill=True)
    return planted


@pytest.mark.parametrize("seed", [1, 2])
def test_every_consumer_agrees_with_the_rules_decision_by_decision(store: Store, seed: int) -> None:
    planted = _plant(store, seed)
    ids = [d.decision_id for d in planted.decisions]

    # Training data: labels of every outcome type.
    training = labelled_decisions(store).set_index("decision_id")
    for kind in OUTCOME_TYPES:
        expected = [planted.label(i, kind) for i in ids]
        assert training.loc[ids, kind].tolist() == pytest.approx(expected), kind

    # Policy learning: the reward of the policy's type, default reward when none came.
    policy = build_policy(POLICY)
    experiment = get_experiment(store, "exp")
    observations = settle(
        store,
        experiment,
        "ts",
        policy,
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime.now(UTC) + timedelta(minutes=1),
    )
    by_time = sorted(planted.decisions, key=lambda d: d.created_at)
    assert [o.reward for o in observations] == pytest.approx(
        [planted.reward(d.decision_id, "conversion") for d in by_time]
    )

    # Off-policy evaluation: the same reward by default, the raw one on request.
    for kind in OUTCOME_TYPES:
        logged = {
            d.decision_id: d.reward
            for d in logged_decisions(store, "exp", kind, default_reward=DEFAULT_REWARD)
        }
        assert [logged[i] for i in ids] == pytest.approx([planted.reward(i, kind) for i in ids])
        raw = {d.decision_id: d.reward for d in logged_decisions(store, "exp", kind, raw=True)}
        assert [raw[i] for i in ids] == pytest.approx(
            [planted.label(i, kind, raw=True) for i in ids]
        )

    # The A/B report: per unit (one decision each) in the summary, and its day totals.
    refresh(store, "exp", "")
    with store.transaction() as session:
        units = {r.unit_id: r for r in session.scalars(select(ReportUnitRow))}
    for d in planted.decisions:
        row = units[d.unit_id]
        assert row.conversion_any == planted.label(d.decision_id, "conversion")
        assert row.click_any == planted.label(d.decision_id, "click")
        assert row.revenue == pytest.approx(planted.label(d.decision_id, "revenue"))
    totals = unit_sums(store, "exp")
    for kind in OUTCOME_TYPES:
        assert sum(s.sums[kind] for s in totals) == pytest.approx(
            sum(planted.label(i, kind) for i in ids)
        )

    # Calibration: the observed side counts decisions labelled 1, per campaign.
    rows = calibration(
        store,
        timedelta(hours=4),
        labels={"conversion": "conversion", "visit": "click"},
    )
    for r in rows:
        kind = "click" if r.target == "visit" else "conversion"
        chosen = [d for d in planted.decisions if d.campaign_id == r.campaign_id]
        assert r.count == len(chosen)
        assert r.observed * r.count == pytest.approx(
            sum(planted.label(d.decision_id, kind) for d in chosen)
        )


def test_a_target_or_revenue_output_is_labelled_by_its_outcome_type() -> None:
    schema = {"outcome_types": {"visit": "click"}, "revenue": {"spend": "conversion"}}
    assert outcome_type(schema, "visit") == "click"
    assert outcome_type(schema, "conversion") == "conversion"
    assert outcome_type(schema, "spend") == "revenue"
