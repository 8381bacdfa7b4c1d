"""Model versions (immutable records) and stage pointers (movable, every move recorded)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from common.errors import NotFound
from feedback.models import ModelVersionRow, StageEventRow, StageRow, utcnow
from feedback.store import Store

PRODUCTION = "production"
CANDIDATE = "candidate"


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


def set_stage(store: Store, stage: str, version: int, *, actor: str, reason: str = "") -> None:
    """Moves a stage pointer and records the move in the same transaction."""
    with store.transaction() as session:
        if session.get(ModelVersionRow, version) is None:
            raise NotFound(f"model_version {version!r} is not registered")
        row = session.get(StageRow, stage, with_for_update=True)
        previous = None if row is None else row.version
        if row is None:
            session.add(StageRow(stage=stage, version=version, updated_at=utcnow()))
        else:
            row.version = version
            row.updated_at = utcnow()
        session.add(
            StageEventRow(
                stage=stage,
                from_version=previous,
                to_version=version,
                actor=actor,
                reason=reason,
                at=utcnow(),
            )
        )


def stage_history(store: Store, stage: str) -> list[StageEventRow]:
    with store.transaction() as session:
        stmt = select(StageEventRow).where(StageEventRow.stage == stage).order_by(StageEventRow.id)
        return list(session.scalars(stmt))
