"""Recording outcomes idempotently: acknowledged only after commit; an event id counts once."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from common.errors import InvalidArgument
from feedback.models import ID_LENGTH as MAX_ID_LENGTH
from feedback.models import DecisionRow, ExperimentRow, OutcomeRow
from feedback.rewards import (
    BINARY_TYPES,
    DEFAULT_ATTRIBUTION_WINDOW_S,
    OUTCOME_TYPES,
    Attribution,
    is_late,
)
from feedback.store import Store, among, id_chunks, insert_new

# Outcomes stamped later than now plus this are refused: a clock that far off is a bug.
MAX_CLOCK_SKEW = timedelta(hours=1)
# Rows per INSERT statement: keeps far below SQLite's bound-parameter limit.


@dataclass(frozen=True, slots=True)
class Outcome:
    event_id: str
    decision_id: str
    type: str
    value: float
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class LogResult:
    accepted: int
    duplicates: int


def validate_outcome(o: Outcome, where: str) -> None:
    """Raises InvalidArgument naming `where.field` and the bad value."""
    for name in ("event_id", "decision_id"):
        value = getattr(o, name)
        if not value:
            raise InvalidArgument(f"{where}.{name} must not be empty")
        if len(value) > MAX_ID_LENGTH:
            raise InvalidArgument(f"{where}.{name} is longer than {MAX_ID_LENGTH} characters")
        if "\x00" in value:  # PostgreSQL text cannot hold NUL
            raise InvalidArgument(f"{where}.{name} must not contain NUL characters")
    if o.type not in OUTCOME_TYPES:
        raise InvalidArgument(f"{where}.type must be one of {OUTCOME_TYPES}, got {o.type!r}")
    if not math.isfinite(o.value) or o.value < 0:
        raise InvalidArgument(f"{where}.value must be finite and >= 0, got {o.value!r}")
    if o.type in BINARY_TYPES and o.value not in (0.0, 1.0):
        raise InvalidArgument(f"{where}.value of a {o.type} must be 0 or 1, got {o.value!r}")
    if o.occurred_at.tzinfo is None:
        raise InvalidArgument(f"{where}.occurred_at must be timezone-aware, got {o.occurred_at}")
    if o.occurred_at > datetime.now(UTC) + MAX_CLOCK_SKEW:
        raise InvalidArgument(f"{where}.occurred_at is in the future: {o.occurred_at.isoformat()}")


def log_outcomes(
    store: Store,
    outcomes: Sequence[Outcome],
    *,
    backfill: bool = False,
    default_window_s: float = DEFAULT_ATTRIBUTION_WINDOW_S,
) -> LogResult:
    """Stores new outcomes in one transaction; returns only after the commit.

    An outcome is flagged late (feedback/rewards.py) when it occurred, or arrived, after its
    decision's attribution window closed: its experiment's window, or `default_window_s` for
    decisions made outside any experiment. `backfill` (imported history, where decisions and
    outcomes arrive together long after the fact) judges only when the outcome occurred."""
    (result,) = log_outcome_groups(
        store, [outcomes], backfill=backfill, default_window_s=default_window_s
    )
    return result


def log_outcome_groups(
    store: Store,
    groups: Sequence[Sequence[Outcome]],
    *,
    backfill: bool = False,
    default_window_s: float = DEFAULT_ATTRIBUTION_WINDOW_S,
    validated: bool = False,
) -> list[LogResult]:
    """Several callers' outcomes in ONE transaction (group commit), each caller's counts
    apart: an event id counts for the first group (and its first occurrence) that holds it,
    a duplicate everywhere else, as if the groups had been logged one after the other.
    `validated`: the caller has checked every outcome (validate_outcome) already."""
    for g, outcomes in enumerate([] if validated else groups):
        for i, o in enumerate(outcomes):
            validate_outcome(
                o, f"outcomes[{i}]" if len(groups) == 1 else f"group {g} outcomes[{i}]"
            )
    owner: dict[str, int] = {}  # event id -> the group it counts for
    unique: dict[str, Outcome] = {}
    for g, outcomes in enumerate(groups):
        for o in outcomes:
            if o.event_id not in unique:
                unique[o.event_id] = o
                owner[o.event_id] = g
    now = datetime.now(UTC)
    with store.transaction() as session:
        deadlines = attribution_deadlines(
            session, {o.decision_id for o in unique.values()}, default_window_s
        )
        rows = [
            {
                "event_id": o.event_id,
                "decision_id": o.decision_id,
                "type": o.type,
                "value": float(o.value),
                "occurred_at": o.occurred_at,
                "received_at": now,
                "late": o.decision_id in deadlines
                and is_late(o.occurred_at, now, deadlines[o.decision_id], backfill=backfill),
            }
            for o in unique.values()
        ]
        inserted = insert_new(session, store.dialect, OutcomeRow, "event_id", rows)
    accepted = [0] * len(groups)
    for event_id in inserted:
        accepted[owner[event_id]] += 1
    return [
        LogResult(accepted=a, duplicates=len(outcomes) - a)
        for a, outcomes in zip(accepted, groups, strict=True)
    ]


def attribution_deadlines(
    session: Session, decision_ids: set[str], default_window_s: float
) -> dict[str, datetime]:
    """When each known decision's attribution window closes (its experiment's window, else
    `default_window_s`). Outcomes for decisions not stored (yet) are not late here: the
    decision log is asynchronous and imported outcomes may come first; they are judged when
    their decision is written (feedback/decisions.py)."""
    deadlines: dict[str, datetime] = {}
    dialect = session.get_bind().dialect.name
    for chunk in id_chunks(sorted(decision_ids), dialect):
        stmt = (
            select(
                DecisionRow.decision_id, DecisionRow.created_at, ExperimentRow.attribution_window_s
            )
            .outerjoin(ExperimentRow, ExperimentRow.name == DecisionRow.experiment)
            .where(among(DecisionRow.decision_id, chunk, dialect))
        )
        for decision_id, created_at, window in session.execute(stmt):
            seconds = default_window_s if window is None else window
            deadlines[decision_id] = Attribution(seconds).deadline(created_at)
    return deadlines


def count_late(store: Store) -> int:
    with store.transaction() as session:
        return session.scalar(select(func.count()).where(OutcomeRow.late.is_(True))) or 0


def count_outcomes(store: Store, *, after_seq: int = 0) -> int:
    with store.transaction() as session:
        return session.scalar(select(func.count()).where(OutcomeRow.seq > after_seq)) or 0


def max_outcome_seq(store: Store) -> int:
    with store.transaction() as session:
        return session.scalar(select(func.max(OutcomeRow.seq))) or 0
