"""Writing decisions to the store in batches (the server's decision log calls this)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from feedback import report_summary
from feedback.models import DecisionRow, utcnow
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


def write_decisions(store: Store, records: Sequence[DecisionRecord]) -> int:
    """Inserts decisions in one transaction; a decision id already stored is skipped, so a
    batch retried after an ambiguous failure is written once. Returns how many were new."""
    rows = [asdict(r) for r in records]
    stmt = insert_ignoring_duplicates(store.dialect, DecisionRow, "decision_id")
    written = 0
    # Decisions older than the report summary's margin would escape its incremental refresh.
    old = utcnow() - report_summary.MARGIN / 2
    stale = {r.experiment for r in records if r.created_at < old}
    with store.transaction() as session:
        for start in range(0, len(rows), CHUNK):
            # Parameters, not .values(): compiled once, batched by SQLAlchemy (insertmanyvalues).
            written += len(session.execute(stmt, rows[start : start + CHUNK]).all())
        if stale:
            report_summary.invalidate(session, stale)
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
