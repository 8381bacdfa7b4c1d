"""Joining outcomes to decisions: one labelled row per decision, for training and reports."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import case, func, select

from feedback.models import DecisionRow, OutcomeRow
from feedback.store import Store

# How each outcome type becomes a label of its decision.
LABELS = {"click": "max", "conversion": "max", "revenue": "sum"}


def labelled_decisions(store: Store, *, decided_before: datetime | None = None) -> pd.DataFrame:
    """Decisions made before `decided_before`, each with its user and chosen campaign features
    and the labels click/conversion (0/1) and revenue (sum) from the outcomes joined to it.

    Decisions without outcomes are negatives, which is why callers pass a cutoff that leaves
    the attribution window of recent decisions out.
    """
    cutoff = decided_before or datetime.now(UTC)
    label_cols = [
        (
            func.max(case((OutcomeRow.type == t, OutcomeRow.value), else_=0.0))
            if how == "max"
            else func.sum(case((OutcomeRow.type == t, OutcomeRow.value), else_=0.0))
        ).label(t)
        for t, how in LABELS.items()
    ]
    labels = select(OutcomeRow.decision_id, *label_cols).group_by(OutcomeRow.decision_id).subquery()
    stmt = (
        select(
            DecisionRow.decision_id,
            DecisionRow.unit_id,
            DecisionRow.campaign_id,
            DecisionRow.propensity,
            DecisionRow.policy,
            DecisionRow.variant,
            DecisionRow.model_version,
            DecisionRow.user_features,
            DecisionRow.chosen_features,
            DecisionRow.created_at,
            *[labels.c[t] for t in LABELS],
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
            variant=r.variant,
            model_version=r.model_version,
            decided_at=r.created_at,
        )
        for t in LABELS:
            rec[t] = float(getattr(r, t) or 0.0)
        records.append(rec)
    return pd.DataFrame.from_records(records)
