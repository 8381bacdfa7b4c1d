"""Writing decisions to the store in batches (the server's decision log calls this)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from feedback.models import DecisionRow
from feedback.store import Store, insert_ignoring_duplicates

CHUNK = 500


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    decision_id: str
    unit_id: str
    experiment: str
    variant: str
    policy: str
    model_version: str
    campaign_id: str | None
    propensity: float
    user_features: dict[str, Any]
    candidates: list[dict[str, Any]]
    chosen_features: dict[str, Any]
    created_at: datetime


FIELDS = tuple(f.name for f in fields(DecisionRecord))


def write_decisions(store: Store, records: Sequence[DecisionRecord]) -> int:
    """Inserts decisions in one transaction; a decision id already stored is skipped, so a
    batch retried after an ambiguous failure is written once. Returns how many were new."""
    # Shallow: asdict would deep-copy every candidate's features only for the JSON encoder.
    rows = [{name: getattr(r, name) for name in FIELDS} for r in records]
    stmt = insert_ignoring_duplicates(store.dialect, DecisionRow, "decision_id")
    written = 0
    with store.transaction() as session:
        for start in range(0, len(rows), CHUNK):
            written += len(session.execute(stmt.values(rows[start : start + CHUNK])).all())
    return written


def count_decisions(
    store: Store, *, after: datetime | None = None, before: datetime | None = None
) -> int:
    """Decisions made strictly between `after` and `before` (either bound optional)."""
    stmt = select(func.count()).select_from(DecisionRow)
    if after is not None:
        stmt = stmt.where(DecisionRow.created_at > after)
    if before is not None:
        stmt = stmt.where(DecisionRow.created_at < before)
    with store.transaction() as session:
        return session.scalar(stmt) or 0


def get_decision(store: Store, decision_id: str) -> DecisionRow | None:
    with store.transaction() as session:
        return session.get(DecisionRow, decision_id)
