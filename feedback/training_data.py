"""Joining outcomes to decisions: one labelled row per decision, for training and reports."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import pandas as pd
from sqlalchemy import Select, Text, cast, select

from feedback.models import DecisionRow
from feedback.rewards import OUTCOME_TYPES, label_column, outcome_labels
from feedback.store import Store

# Columns read as they are; the feature documents and the decision time are read as text and
# parsed here in bulk (a retrain reads every labelled decision: per-row type processing in the
# driver layer cost more than the fit at 1M rows).
_PLAIN = (
    "decision_id",
    "unit_id",
    "campaign_id",
    "propensity",
    "policy",
    "experiment",
    "variant",
    "model_version",
)


@contextmanager
def _bulk() -> Iterator[None]:
    """The cyclic collector paused while millions of acyclic rows are allocated: its passes
    over a growing heap made a 1M-row read a third slower (measured: 14.6 s against 10.9 s),
    and nothing here is cyclic."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
            *[getattr(DecisionRow, c) for c in _PLAIN],
            cast(DecisionRow.user_features, Text).label("user_features"),
            cast(DecisionRow.chosen_features, Text).label("chosen_features"),
            cast(DecisionRow.created_at, Text).label("created_at"),
            *[label_column(labels, t).label(t) for t in OUTCOME_TYPES],
        )
        .outerjoin(labels, labels.c.decision_id == DecisionRow.decision_id)
        .where(DecisionRow.created_at < cutoff)
        .order_by(DecisionRow.created_at, DecisionRow.decision_id)
    )
    with _bulk():
        return _read(store, stmt)


def _read(store: Store, stmt: Select[Any]) -> pd.DataFrame:
    with store.transaction() as session:
        rows = session.connection().execute(stmt).all()
    if not rows:
        return pd.DataFrame()
    columns = dict(zip(rows[0]._fields, zip(*rows, strict=True), strict=True))
    loads = orjson.loads
    # A chosen campaign feature named like a user feature wins, as the served row has it.
    frame = pd.DataFrame.from_records(
        [
            {**loads(u), **loads(c)}
            for u, c in zip(columns["user_features"], columns["chosen_features"], strict=True)
        ]
    )
    for name in _PLAIN:
        frame[name] = list(columns[name])
    # SQLite keeps UTC without an offset, PostgreSQL writes one: both parse to aware UTC.
    decided_at = pd.to_datetime(pd.Series(columns["created_at"]), utc=True, format="ISO8601")
    frame["decided_at"] = decided_at.dt.as_unit("us").array
    for t in OUTCOME_TYPES:
        frame[t] = pd.to_numeric(pd.Series(columns[t]), errors="raise").fillna(0.0).to_numpy(float)
    return frame
