"""Model administration, transport-free: list, inspect, compare, promote, roll back, canary,
archive, and the audit trail of every pointer move."""

from __future__ import annotations

import math
from dataclasses import dataclass

from common.errors import FailedPrecondition, InvalidArgument
from feedback import registry
from feedback.registry import CANARY, PRODUCTION, SHADOW, ModelVersion, StageEvent, StagePointer
from feedback.shadow import ShadowReport, shadow_report
from feedback.store import Store
from feedback.trigger import RetrainJob, list_jobs


@dataclass(frozen=True, slots=True)
class VersionView:
    version: ModelVersion
    stages: list[str]
    canary_percent: float

    @property
    def flat_metrics(self) -> dict[str, float]:
        return {
            f"{target}.{name}": float(value)
            for target, values in self.version.metrics.items()
            for name, value in values.items()
        }


@dataclass(frozen=True, slots=True)
class MetricDelta:
    metric: str
    base: float
    other: float
    in_both: bool

    @property
    def difference(self) -> float:
        return self.other - self.base if self.in_both else math.nan


@dataclass(frozen=True, slots=True)
class StageChange:
    stage: str
    from_version: int | None
    to_version: int | None
    traffic_percent: float = 100.0


class ModelAdmin:
    def __init__(self, store: Store, objective: str = "conversion") -> None:
        self._store = store
        self._objective = objective

    def _view(self, version: ModelVersion, pointers: dict[str, StagePointer]) -> VersionView:
        on = sorted(s for s, p in pointers.items() if p.version == version.version)
        canary = pointers.get(CANARY)
        percent = canary.traffic_percent if canary and canary.version == version.version else 0.0
        return VersionView(version, on, percent)

    def list_versions(self, *, include_archived: bool = False) -> list[VersionView]:
        pointers = registry.stages(self._store)
        return [
            self._view(v, pointers)
            for v in registry.list_versions(self._store)
            if include_archived or v.archived_at is None
        ]

    def get(self, version: int) -> VersionView:
        return self._view(registry.get_version(self._store, version), registry.stages(self._store))

    def compare(self, base: int, other: int) -> tuple[VersionView, VersionView, list[MetricDelta]]:
        a, b = self.get(base), self.get(other)
        ma, mb = a.flat_metrics, b.flat_metrics
        deltas = [
            MetricDelta(m, ma.get(m, math.nan), mb.get(m, math.nan), m in ma and m in mb)
            for m in sorted(ma.keys() | mb.keys())
        ]
        return a, b, deltas

    def _servable(self, version: int, *, same_inputs_as_production: bool) -> None:
        """Refuses, before any pointer moves, a version servers would refuse to load, and (for
        canary and shadow, which get production's requests) one that needs other inputs."""
        target = registry.get_version(self._store, version)
        registry.verify_artifact(target)
        prod = registry.stage_version(self._store, PRODUCTION)
        if same_inputs_as_production and prod is not None:
            current = registry.get_version(self._store, prod).feature_schema
            inputs = ("user", "campaign")
            if any(target.feature_schema[k] != current[k] for k in inputs):
                raise FailedPrecondition(
                    f"model_version {version} takes other features than production version "
                    f"{prod}: it cannot receive production's requests"
                )

    def promote(self, version: int, *, actor: str, reason: str = "") -> StageChange:
        self._servable(version, same_inputs_as_production=False)
        before = registry.stage_version(self._store, PRODUCTION)
        registry.set_stage(
            self._store, PRODUCTION, version, actor=actor, reason=reason or "promote"
        )
        return StageChange(PRODUCTION, before, version)

    def rollback(self, *, actor: str, reason: str = "") -> StageChange:
        rolled_from, to = registry.rollback(self._store, actor=actor, reason=reason)
        return StageChange(PRODUCTION, rolled_from, to)

    def _point(
        self, stage: str, version: int, *, percent: float, actor: str, reason: str
    ) -> StageChange:
        """Points canary or shadow at a version; both get production's requests."""
        before = registry.stage_version(self._store, stage)
        registry.set_stage(
            self._store,
            stage,
            version,
            actor=actor,
            reason=reason or stage,
            traffic_percent=percent,
        )
        return StageChange(stage, before, version, percent)

    def _clear(self, stage: str, *, actor: str, reason: str) -> StageChange:
        before = registry.clear_stage(
            self._store, stage, actor=actor, reason=reason or f"end {stage}"
        )
        return StageChange(stage, before, None, 0.0)

    def set_canary(
        self, version: int, percent: float, *, actor: str, reason: str = ""
    ) -> StageChange:
        if not math.isfinite(percent) or not 0.0 <= percent <= 100.0:
            raise InvalidArgument(f"percent must be in [0, 100], got {percent}")
        if percent == 0.0:
            return self._clear(CANARY, actor=actor, reason=reason)
        self._servable(version, same_inputs_as_production=True)
        return self._point(CANARY, version, percent=percent, actor=actor, reason=reason)

    def set_shadow(self, version: int, *, actor: str, reason: str = "") -> StageChange:
        if version == 0:
            return self._clear(SHADOW, actor=actor, reason=reason)
        self._servable(version, same_inputs_as_production=True)
        return self._point(SHADOW, version, percent=100.0, actor=actor, reason=reason)

    def shadow_report(self, version: int = 0, target: str = "") -> ShadowReport:
        if version == 0:
            current = registry.stage_version(self._store, SHADOW)
            if current is None:
                raise FailedPrecondition("no shadow version is set; name one")
            version = current
        shadow = registry.get_version(self._store, version)
        target = target or (
            self._objective if self._objective in shadow.targets else shadow.targets[0]
        )
        if target not in shadow.targets:
            raise InvalidArgument(f"target must be one of {shadow.targets}, got {target!r}")
        label = shadow.feature_schema.get("outcome_types", {}).get(target, target)
        return shadow_report(self._store, version, target, label)

    def archive(self, version: int, *, actor: str, reason: str = "") -> StageChange:
        registry.archive(self._store, version, actor=actor, reason=reason)
        return StageChange(registry.ARCHIVED, None, version)

    def jobs(self) -> list[RetrainJob]:
        return list_jobs(self._store)

    def events(self, stage: str = "") -> list[StageEvent]:
        return registry.stage_history(self._store, stage or None)
