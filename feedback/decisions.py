"""Writing decisions to the store in batches (the server's decision log calls this)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select

from feedback.models import DecisionRow
from feedback.store import Store

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


def write_decisions(store: Store, records: Sequence[DecisionRecord]) -> None:
    """Inserts decisions in one transaction (decision ids are server-made uuids)."""
    rows = [asdict(r) for r in records]
    with store.transaction() as session:
        for start in range(0, len(rows), CHUNK):
            session.execute(insert(DecisionRow), rows[start : start + CHUNK])


def count_decisions(store: Store) -> int:
    with store.transaction() as session:
        return session.scalar(select(func.count()).select_from(DecisionRow)) or 0


def get_decision(store: Store, decision_id: str) -> DecisionRow | None:
    with store.transaction() as session:
        return session.get(DecisionRow, decision_id)
