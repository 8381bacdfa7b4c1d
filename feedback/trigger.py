"""The retrain trigger: after N new outcomes one replica atomically claims a retrain job."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from feedback.models import OutcomeRow, RetrainJobRow, utcnow
from feedback.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetrainJob:
    id: int
    outcome_seq_from: int
    outcome_seq_to: int
    status: str
    reason: str
    result_version: int | None
    promoted: bool
    message: str
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: RetrainJobRow) -> RetrainJob:
        return cls(
            id=row.id,
            outcome_seq_from=row.outcome_seq_from,
            outcome_seq_to=row.outcome_seq_to,
            status=row.status,
            reason=row.reason,
            result_version=row.result_version,
            promoted=row.promoted,
            message=row.message,
            created_at=row.created_at,
            finished_at=row.finished_at,
        )


def new_outcomes_since_last_job(store: Store) -> tuple[int, int, int]:
    """(watermark, newest outcome seq, outcomes after the watermark)."""
    with store.transaction() as session:
        watermark = session.scalar(select(func.max(RetrainJobRow.outcome_seq_to))) or 0
        newest = session.scalar(select(func.max(OutcomeRow.seq))) or 0
        fresh = session.scalar(select(func.count()).where(OutcomeRow.seq > watermark)) or 0
    return watermark, newest, fresh


def claim_retrain(store: Store, *, min_new_outcomes: int) -> RetrainJob | None:
    """Claims a retrain job when enough outcomes arrived since the last one, else None.

    Two replicas racing for the same window insert the same outcome_seq_from; the unique
    constraint lets exactly one of them commit.
    """
    if min_new_outcomes <= 0:
        return None
    watermark, newest, fresh = new_outcomes_since_last_job(store)
    if fresh < min_new_outcomes:
        return None
    row = RetrainJobRow(
        outcome_seq_from=watermark,
        outcome_seq_to=newest,
        status="running",
        reason=f"{fresh} new outcomes (trigger at {min_new_outcomes})",
        created_at=utcnow(),
    )
    try:
        with store.transaction() as session:
            session.add(row)
            session.flush()
            job = RetrainJob.from_row(row)
    except IntegrityError:
        log.info("retrain window after seq %d already claimed by another replica", watermark)
        return None
    log.info("claimed retrain job %d: %s", job.id, row.reason)
    return job


def finish_job(
    store: Store,
    job_id: int,
    *,
    status: str,
    result_version: int | None = None,
    promoted: bool = False,
    message: str = "",
) -> None:
    with store.transaction() as session:
        row = session.get(RetrainJobRow, job_id)
        if row is None:
            raise KeyError(job_id)
        row.status = status
        row.result_version = result_version
        row.promoted = promoted
        row.message = message
        row.finished_at = utcnow()


def list_jobs(store: Store) -> list[RetrainJob]:
    with store.transaction() as session:
        rows = session.scalars(select(RetrainJobRow).order_by(RetrainJobRow.id))
        return [RetrainJob.from_row(r) for r in rows]
