"""Model versions (immutable records) and stage pointers (movable, every move recorded)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from feedback.models import ModelVersionRow, StageEventRow, StageRow, utcnow
from feedback.store import Store

PRODUCTION = "production"
CANDIDATE = "candidate"
CANARY = "canary"
SHADOW = "shadow"
ARCHIVED = "archived"  # recorded in the history; not a pointer
STAGES = (PRODUCTION, CANDIDATE, CANARY, SHADOW)


@dataclass(frozen=True, slots=True)
class StagePointer:
    stage: str
    version: int
    traffic_percent: float
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class StageEvent:
    id: int
    stage: str
    from_version: int | None
    to_version: int | None
    traffic_percent: float | None
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ModelVersion:
    version: int
    artifact_path: str
    sha256: str
    family: str
    feature_schema: dict[str, Any]
    targets: list[str]
    metrics: dict[str, Any]
    lineage: dict[str, Any]
    parent_version: int | None
    created_at: datetime
    archived_at: datetime | None = None

    @classmethod
    def from_row(cls, row: ModelVersionRow) -> ModelVersion:
        return cls(
            version=row.version,
            artifact_path=row.artifact_path,
            sha256=row.sha256,
            family=row.family,
            feature_schema=row.feature_schema,
            targets=list(row.targets),
            metrics=row.metrics,
            lineage=row.lineage,
            parent_version=row.parent_version,
            created_at=row.created_at,
            archived_at=row.archived_at,
        )


def register_version(
    store: Store,
    *,
    artifact_path: str,
    sha256: str,
    family: str,
    feature_schema: dict[str, Any],
    targets: list[str],
    metrics: dict[str, Any],
    lineage: dict[str, Any],
    parent_version: int | None = None,
) -> ModelVersion:
    row = ModelVersionRow(
        artifact_path=artifact_path,
        sha256=sha256,
        family=family,
        feature_schema=feature_schema,
        targets=targets,
        metrics=metrics,
        lineage=lineage,
        parent_version=parent_version,
        created_at=utcnow(),
    )
    with store.transaction() as session:
        session.add(row)
        session.flush()
        return ModelVersion.from_row(row)


def get_version(store: Store, version: int) -> ModelVersion:
    with store.transaction() as session:
        row = session.get(ModelVersionRow, version)
        if row is None:
            raise NotFound(f"model_version {version!r} is not registered")
        return ModelVersion.from_row(row)


def list_versions(store: Store) -> list[ModelVersion]:
    with store.transaction() as session:
        rows = session.scalars(select(ModelVersionRow).order_by(ModelVersionRow.version))
        return [ModelVersion.from_row(r) for r in rows]


def stage_version(store: Store, stage: str) -> int | None:
    """The version a stage points at, or None when the stage is unset."""
    with store.transaction() as session:
        row = session.get(StageRow, stage)
        return None if row is None else row.version


def archived_versions(store: Store) -> set[int]:
    with store.transaction() as session:
        stmt = select(ModelVersionRow.version).where(ModelVersionRow.archived_at.is_not(None))
        return set(session.scalars(stmt))


def verify_artifact(version: ModelVersion) -> None:
    """The artifact exists and still has its registered checksum (before a pointer moves)."""
    try:
        digest = hashlib.sha256(Path(version.artifact_path).read_bytes()).hexdigest()
    except OSError as exc:
        raise FailedPrecondition(
            f"model_version {version.version}: artifact {version.artifact_path} is unreadable: "
            f"{exc.strerror}"
        ) from exc
    if digest != version.sha256:
        raise FailedPrecondition(
            f"model_version {version.version}: artifact {version.artifact_path} no longer has its "
            "registered sha256 (corrupted or replaced): refused"
        )


def stages(store: Store) -> dict[str, StagePointer]:
    """Every set stage pointer, read in one query (what servers poll)."""
    with store.transaction() as session:
        return {
            r.stage: StagePointer(r.stage, r.version, r.traffic_percent, r.updated_at)
            for r in session.scalars(select(StageRow))
        }


def _record(
    session: Session,
    stage: str,
    before: int | None,
    after: int | None,
    actor: str,
    reason: str,
    traffic_percent: float | None = None,
) -> None:
    session.add(
        StageEventRow(
            stage=stage,
            from_version=before,
            to_version=after,
            traffic_percent=traffic_percent,
            actor=actor,
            reason=reason,
            at=utcnow(),
        )
    )


def set_stage(
    store: Store,
    stage: str,
    version: int,
    *,
    actor: str,
    reason: str = "",
    traffic_percent: float = 100.0,
) -> None:
    """Moves a stage pointer and records the move in the same transaction."""
    if stage not in STAGES:
        raise InvalidArgument(f"stage must be one of {STAGES}, got {stage!r}")
    if not 0.0 < traffic_percent <= 100.0:
        raise InvalidArgument(f"traffic_percent must be in (0, 100], got {traffic_percent}")
    with store.transaction() as session:
        # Locks the version row too, so a concurrent archive cannot slip in between.
        target = session.get(ModelVersionRow, version, with_for_update=True)
        if target is None:
            raise NotFound(f"model_version {version!r} is not registered")
        if target.archived_at is not None:
            raise FailedPrecondition(f"model_version {version} is archived; it cannot be {stage}")
        row = session.get(StageRow, stage, with_for_update=True)
        previous = None if row is None else row.version
        if row is not None and previous == version and row.traffic_percent == traffic_percent:
            return  # already so: no move, nothing to record (a rollback target stays meaningful)
        if row is None:
            session.add(
                StageRow(
                    stage=stage,
                    version=version,
                    traffic_percent=traffic_percent,
                    updated_at=utcnow(),
                )
            )
        else:
            row.version = version
            row.traffic_percent = traffic_percent
            row.updated_at = utcnow()
        percent = traffic_percent if stage == CANARY else None
        _record(session, stage, previous, version, actor, reason, percent)


def clear_stage(store: Store, stage: str, *, actor: str, reason: str = "") -> int | None:
    """Unsets a stage pointer (e.g. ends a canary); returns the version it pointed at."""
    with store.transaction() as session:
        row = session.get(StageRow, stage, with_for_update=True)
        if row is None:
            return None
        previous = row.version
        session.delete(row)
        _record(session, stage, previous, None, actor, reason)
        return previous


def rollback(store: Store, *, actor: str, reason: str = "") -> tuple[int, int]:
    """Points production back at the version the current one replaced; (from, to)."""
    with store.transaction() as session:
        current = session.get(StageRow, PRODUCTION, with_for_update=True)
        if current is None:
            raise FailedPrecondition("no production version to roll back")
        last = session.scalars(
            select(StageEventRow)
            .where(
                StageEventRow.stage == PRODUCTION,
                StageEventRow.to_version == current.version,
                StageEventRow.from_version != current.version,
            )
            .order_by(StageEventRow.id.desc())
            .limit(1)
        ).first()
        previous = None if last is None else last.from_version
        if previous is None:
            raise FailedPrecondition(
                f"production version {current.version} replaced no earlier version: "
                "nothing to roll back to"
            )
        target = session.get(ModelVersionRow, previous)
        if target is None or target.archived_at is not None:
            raise FailedPrecondition(f"the previous production version {previous} is archived")
        rolled_from = current.version
        current.version = previous
        current.updated_at = utcnow()
        _record(session, PRODUCTION, rolled_from, previous, actor, reason or "rollback")
        return rolled_from, previous


def archive(store: Store, version: int, *, actor: str, reason: str = "") -> None:
    """Retires a version no stage points at; it stays readable, but can no longer serve."""
    with store.transaction() as session:
        row = session.get(ModelVersionRow, version, with_for_update=True)
        if row is None:
            raise NotFound(f"model_version {version!r} is not registered")
        pointing = session.scalars(select(StageRow.stage).where(StageRow.version == version)).all()
        if pointing:
            raise FailedPrecondition(
                f"model_version {version} is {', '.join(pointing)}: move those stages first"
            )
        if row.archived_at is None:
            row.archived_at = utcnow()
            _record(session, ARCHIVED, None, version, actor, reason)


def stage_history(store: Store, stage: str | None = None) -> list[StageEvent]:
    """Every recorded move, oldest first; all stages when `stage` is None."""
    stmt = select(StageEventRow).order_by(StageEventRow.id)
    if stage is not None:
        stmt = stmt.where(StageEventRow.stage == stage)
    with store.transaction() as session:
        return [
            StageEvent(
                r.id,
                r.stage,
                r.from_version,
                r.to_version,
                r.traffic_percent,
                r.actor,
                r.reason,
                r.at,
            )
            for r in session.scalars(stmt)
        ]
