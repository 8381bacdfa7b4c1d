"""Joining outcomes to decisions: one labelled row per decision, for training and reports."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import select

from feedback.models import DecisionRow
from feedback.rewards import OUTCOME_TYPES, label_column, outcome_labels
from feedback.store import Store


def labelled_decisions(store: Store, *, decided_before: datetime | None = None) -> pd.DataFrame:
    """Decisions made before `decided_before`, each with its user and chosen campaign features
    and its labels click, conversion (0/1) and revenue (a sum) from its counted outcomes
    (feedback/rewards.py: late outcomes do not count; no outcome is a 0).

    Decisions without outcomes are negatives, which is why callers pass a cutoff that leaves
    the attribution window of recent decisions out.
    """
    cutoff = decided_before or datetime.now(UTC)
    labels = outcome_labels()
    stmt = (
        select(
            DecisionRow.decision_id,
            DecisionRow.unit_id,
            DecisionRow.campaign_id,
            DecisionRow.propensity,
            DecisionRow.policy,
            DecisionRow.experiment,
            DecisionRow.variant,
            DecisionRow.model_version,
            DecisionRow.user_features,
            DecisionRow.chosen_features,
            DecisionRow.created_at,
            *[label_column(labels, t).label(t) for t in OUTCOME_TYPES],
        )
        .outerjoin(labels, labels.c.decision_id == DecisionRow.decision_id)
        .where(DecisionRow.created_at < cutoff)
        .order_by(DecisionRow.created_at, DecisionRow.decision_id)
    )
    with store.transaction() as session:
        rows = session.execute(stmt).all()
    records = []
    for r in rows:
        rec = {**r.user_features, **r.chosen_features}
        rec.update(
            decision_id=r.decision_id,
            unit_id=r.unit_id,
            campaign_id=r.campaign_id,
            propensity=r.propensity,
            policy=r.policy,
            experiment=r.experiment,
            variant=r.variant,
            model_version=r.model_version,
            decided_at=r.created_at,
        )
        for t in OUTCOME_TYPES:
            rec[t] = float(getattr(r, t) or 0.0)
        records.append(rec)
    return pd.DataFrame.from_records(records)
