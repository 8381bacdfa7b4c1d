"""Privacy of the store: unit ids kept as keyed hashes, and retention (purging old rows).

With a key configured, a unit id is stored as HMAC-SHA256(key, unit id): the same unit always
maps to the same stored id, so reports still count units, but the raw id cannot be recovered
or confirmed without the key. Assignment hashes the raw id before this (feedback/assignment.py),
and outcomes join by decision id, so neither changes.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, delete, select

from common.errors import InvalidArgument
from feedback import report_summary
from feedback.models import DecisionRow, DeferredDecisionRow, OutcomeRow, ShadowPredictionRow
from feedback.store import Store

HASH_PREFIX = "hmac-sha256:"


def stored_unit_id(unit_id: str, key: bytes) -> str:
    """The unit id as the store keeps it: unchanged without a key, else its keyed hash."""
    if not key:
        return unit_id
    return HASH_PREFIX + hmac.new(key, unit_id.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class PurgeResult:
    cutoff: datetime
    decisions: int
    outcomes: int
    shadow_predictions: int
    # Deferred decisions never activated (and activations never matched) from before then.
    deferred: int = 0


def purge(store: Store, older_than: timedelta, *, now: datetime | None = None) -> PurgeResult:
    """Deletes, in one transaction, the decisions made before now - older_than with their
    outcomes and shadow predictions, and outcomes received before then whose decision is
    gone or unknown. What remains is whole: every remaining outcome's decision is kept or was
    never stored, so reports on the remaining decisions are as if only they had been logged."""
    if not older_than > timedelta(0):
        raise InvalidArgument(f"older_than must be positive, got {older_than}")
    cutoff = (now or datetime.now(UTC)) - older_than
    old = select(DecisionRow.decision_id).where(DecisionRow.created_at < cutoff)
    kept = select(DecisionRow.decision_id).where(DecisionRow.created_at >= cutoff)
    with store.transaction() as session:

        def deleted(stmt: Delete) -> int:
            return int(cast(CursorResult[Any], session.execute(stmt)).rowcount)

        shadows = deleted(
            delete(ShadowPredictionRow).where(ShadowPredictionRow.decision_id.in_(old))
        )
        outcomes = deleted(delete(OutcomeRow).where(OutcomeRow.decision_id.in_(old)))
        # Outcomes as old as the cutoff without a remaining decision (e.g. of decisions purged
        # earlier, or never logged): nothing can report them any more.
        outcomes += deleted(
            delete(OutcomeRow).where(
                OutcomeRow.received_at < cutoff, OutcomeRow.decision_id.not_in(kept)
            )
        )
        decisions = deleted(delete(DecisionRow).where(DecisionRow.created_at < cutoff))
        deferred = deleted(
            delete(DeferredDecisionRow).where(DeferredDecisionRow.created_at < cutoff)
        )
        report_summary.invalidate(session)  # summaries are rebuilt from what remains
    return PurgeResult(cutoff, decisions, outcomes, shadows, deferred)
