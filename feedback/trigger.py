"""The retrain trigger: rules say when production should be retrained, and one replica
atomically claims the job.

Rules (each off at 0), any of which fires a retrain once there is something new to learn from
(at least one outcome since the last job):
- count: at least `min_new_outcomes` outcomes arrived since the last job;
- age: the production version was trained more than `max_production_age_s` ago;
- drift: over the decisions production made in a recent window whose outcomes had time to
  arrive, some campaign's observed rate is off its predicted rate by more than
  `drift_tolerance` (relative), on at least `drift_min_decisions` decisions
  (feedback/monitoring.py's calibration).
A claim inserts the job row keyed by the outcome window it starts from: two workers racing for
the same window both try the same key and exactly one commits. The worker that holds a job
stamps a heartbeat while it runs; a running job whose heartbeat is older than a timeout (its
worker was killed) is marked abandoned, and its window's outcomes count for the next claim.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from feedback.models import ModelVersionRow, OutcomeRow, RetrainJobRow, StageRow, utcnow
from feedback.rewards import target_labels
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
    worker: str = ""
    heartbeat_at: datetime | None = None

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
            worker=row.worker,
            heartbeat_at=row.heartbeat_at,
        )


# Abandoned jobs learned nothing: their window is open to the next claim.
_COUNTED = ("running", "succeeded", "failed")


def new_outcomes_since_last_job(store: Store) -> tuple[int, int, int]:
    """(watermark, newest outcome seq, outcomes after the watermark)."""
    with store.transaction() as session:
        watermark = (
            session.scalar(
                select(func.max(RetrainJobRow.outcome_seq_to)).where(
                    RetrainJobRow.status.in_(_COUNTED)
                )
            )
            or 0
        )
        newest = session.scalar(select(func.max(OutcomeRow.seq))) or 0
        fresh = session.scalar(select(func.count()).where(OutcomeRow.seq > watermark)) or 0
    return watermark, newest, fresh


@dataclass(frozen=True, slots=True)
class TriggerRules:
    min_new_outcomes: int = 0
    max_production_age_s: float = 0.0
    drift_tolerance: float = 0.0
    drift_window_s: float = 86_400.0
    # The newest decisions' outcomes may still come: the drift window ends this long ago.
    drift_lag_s: float = 86_400.0
    drift_min_decisions: int = 500

    @property
    def enabled(self) -> bool:
        return (
            self.min_new_outcomes > 0 or self.max_production_age_s > 0 or self.drift_tolerance > 0
        )


def _production(store: Store) -> ModelVersionRow | None:
    with store.transaction() as session:
        stage = session.get(StageRow, "production")
        return None if stage is None else session.get(ModelVersionRow, stage.version)


def retrain_reasons(
    store: Store, rules: TriggerRules, *, fresh: int, now: datetime | None = None
) -> list[str]:
    """Why production should be retrained now (empty: it should not)."""
    if fresh <= 0:
        return []  # nothing new to learn from
    now = now or utcnow()
    reasons = []
    if rules.min_new_outcomes > 0 and fresh >= rules.min_new_outcomes:
        reasons.append(f"{fresh} new outcomes (trigger at {rules.min_new_outcomes})")
    if rules.max_production_age_s <= 0 and rules.drift_tolerance <= 0:
        return reasons
    production = _production(store)
    if production is None:
        return reasons
    age = (now - production.created_at).total_seconds()
    if 0 < rules.max_production_age_s < age:
        reasons.append(
            f"production v{production.version} is {age / 3600:.1f} h old "
            f"(trigger at {rules.max_production_age_s / 3600:.1f} h)"
        )
    if rules.drift_tolerance > 0:
        from feedback.monitoring import calibration

        labels = target_labels(production.feature_schema, production.targets)
        rows = calibration(
            store,
            timedelta(seconds=rules.drift_window_s),
            now=now - timedelta(seconds=rules.drift_lag_s),
            labels=labels,
        )
        for r in rows:
            if r.model_version != str(production.version) or r.count < rules.drift_min_decisions:
                continue
            if math.isfinite(r.ratio) and abs(r.ratio - 1.0) > rules.drift_tolerance:
                reasons.append(
                    f"calibration drift on {r.campaign_id or 'no campaign'} ({r.target}): "
                    f"observed {r.observed:.4f} vs predicted {r.predicted:.4f} over "
                    f"{r.count} decisions (tolerance {rules.drift_tolerance:.0%})"
                )
    return reasons


def claim_retrain(
    store: Store,
    *,
    min_new_outcomes: int = 0,
    rules: TriggerRules | None = None,
    now: datetime | None = None,
    worker: str = "",
    not_ready: Callable[[], str | None] | None = None,
) -> RetrainJob | None:
    """Claims a retrain job for `worker` when a rule fires, else None (`min_new_outcomes`
    alone is the count rule).

    Two workers racing for the same window insert the same outcome_seq_from; the unique
    constraint lets exactly one of them commit. An abandoned job's row keeps its key, so a
    window claimed again takes the next free key. `not_ready`, asked only once a rule fired,
    says why a job could not run yet (a claim consumes its window of outcomes).
    """
    rules = rules or TriggerRules(min_new_outcomes=min_new_outcomes)
    if not rules.enabled:
        return None
    watermark, newest, fresh = new_outcomes_since_last_job(store)
    reasons = retrain_reasons(store, rules, fresh=fresh, now=now)
    if not reasons:
        return None
    if not_ready is not None and (why := not_ready()) is not None:
        log.info("retrain due (%s) but not ready: %s", "; ".join(reasons), why)
        return None
    started = utcnow()
    row = RetrainJobRow(
        outcome_seq_from=_free_key(store, watermark),
        outcome_seq_to=newest,
        status="running",
        reason="; ".join(reasons),
        created_at=started,
        worker=worker[:128],
        heartbeat_at=started,
    )
    try:
        with store.transaction() as session:
            session.add(row)
            session.flush()
            job = RetrainJob.from_row(row)
    except IntegrityError:
        log.info("retrain window after seq %d already claimed by another worker", watermark)
        return None
    log.info("claimed retrain job %d: %s", job.id, row.reason)
    return job


def _free_key(store: Store, watermark: int) -> int:
    """The claim key of the window after `watermark`: the watermark itself, unless abandoned
    jobs already used it (then the largest abandoned key past it, plus one)."""
    with store.transaction() as session:
        used = session.scalar(
            select(func.max(RetrainJobRow.outcome_seq_from)).where(
                RetrainJobRow.outcome_seq_from >= watermark, RetrainJobRow.status == "abandoned"
            )
        )
    return watermark if used is None else int(used) + 1


def heartbeat(store: Store, job_id: int, *, now: datetime | None = None) -> None:
    """The worker running `job_id` is alive."""
    with store.transaction() as session:
        session.execute(
            update(RetrainJobRow)
            .where(RetrainJobRow.id == job_id, RetrainJobRow.status == "running")
            .values(heartbeat_at=now or utcnow())
        )


def abandon_stale_jobs(store: Store, *, timeout_s: float, now: datetime | None = None) -> list[int]:
    """Marks abandoned the running jobs whose worker has not sent a heartbeat for `timeout_s`
    (it was killed or lost the store); returns their ids."""
    cutoff = (now or utcnow()) - timedelta(seconds=timeout_s)
    stale = (
        RetrainJobRow.status == "running",
        or_(
            RetrainJobRow.heartbeat_at < cutoff,
            RetrainJobRow.heartbeat_at.is_(None) & (RetrainJobRow.created_at < cutoff),
        ),
    )
    with store.transaction() as session:
        ids = list(session.scalars(select(RetrainJobRow.id).where(*stale)))
        if ids:
            session.execute(
                update(RetrainJobRow)
                .where(RetrainJobRow.id.in_(ids), RetrainJobRow.status == "running")
                .values(
                    status="abandoned",
                    finished_at=utcnow(),
                    message=f"no heartbeat for {timeout_s:g} s: its worker stopped",
                )
            )
    for job_id in ids:
        log.warning("retrain job %d abandoned: its worker stopped sending heartbeats", job_id)
    return ids


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
