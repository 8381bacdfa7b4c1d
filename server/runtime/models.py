"""Which model serves: the production and canary pointers, watched and hot-swapped; pinned
versions cached.

A pointer change is noticed within `poll_interval_s`. The new version is loaded and verified in
full before it replaces the old one; requests already running keep their reference to the old
session, which is freed when the last of them finishes. A version that fails to load is refused
(logged, counted) and the current one keeps serving. Canary traffic is chosen by hashing the
unit id, so a unit stays on the canary while its share only grows.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from common.errors import CampaignLiftError, FailedPrecondition, NotFound
from feedback.assignment import bucket
from feedback.registry import (
    CANARY,
    PRODUCTION,
    SHADOW,
    StagePointer,
    archived_versions,
    get_version,
    stages,
)
from feedback.store import Store
from server.runtime.metrics import ServerMetrics
from server.runtime.model import LoadedModel, load_model
from server.runtime.worker import BackgroundWorker

log = logging.getLogger(__name__)

PINNED_CACHE_SIZE = 4
VERSION_PATTERN = re.compile(r"[0-9]{1,18}")  # ASCII digits that fit a 64-bit id


class ModelManager:
    def __init__(
        self,
        store: Store,
        *,
        poll_interval_s: float = 1.0,
        on_change: Callable[[LoadedModel | None], None] | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._store = store
        self._poll_interval_s = poll_interval_s
        self._on_change = on_change
        self._current: LoadedModel | None = None
        self._canary: tuple[LoadedModel, float] | None = None
        self._shadow: LoadedModel | None = None
        # stage -> (version, pointer time) refused: retried when the pointer is set again.
        self._refused: dict[str, tuple[int, datetime]] = {}
        self._pinned: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()  # the poll thread and callers may both refresh
        self._poller = _PointerPoll(self, poll_interval_s)
        self.swaps = 0
        self.load_failures = 0

    def start(self) -> None:
        self.refresh()
        self._poller.start()

    def stop(self) -> None:
        self._poller.stop(5)

    @property
    def shadow(self) -> LoadedModel | None:
        """The shadow version, scored off the hot path and never returned, if any."""
        return self._shadow

    @property
    def current(self) -> LoadedModel | None:
        """The production model now serving, if any."""
        return self._current

    def loaded(self) -> list[LoadedModel]:
        """Every model serving traffic now: production and the canary."""
        canary = self._canary
        return [m for m in (self._current, canary[0] if canary else None) if m is not None]

    def production(self) -> LoadedModel:
        model = self._current
        if model is None:
            raise FailedPrecondition("no production model is loaded yet: train and promote one")
        return model

    def for_unit(self, unit_id: str) -> LoadedModel:
        """The canary for its share of units (by hash), production for the rest."""
        canary = self._canary
        if canary is not None:
            model, percent = canary
            if bucket(f"canary-{model.version}", unit_id) * 100.0 < percent:
                return model
        return self.production()

    def get(self, version: str) -> LoadedModel:
        """The pinned version, loaded on first use; "" means production."""
        if not version:
            return self.production()
        current = self._current
        if current is not None and current.version == version:
            return current
        with self._lock:
            if version in self._pinned:
                self._pinned.move_to_end(version)
                return self._pinned[version]
        if not VERSION_PATTERN.fullmatch(version):
            raise NotFound(f"model_version {version!r} is not registered")
        registered = get_version(self._store, int(version))
        if registered.archived_at is not None:
            raise NotFound(f"model_version {version} is archived")
        model = load_model(registered)
        with self._lock:
            self._pinned[version] = model
            while len(self._pinned) > PINNED_CACHE_SIZE:
                self._pinned.popitem(last=False)
        return model

    def refresh(self) -> bool:
        """Follows the production and canary pointers; True when production was swapped."""
        with self._refresh_lock:
            pointers = stages(self._store)
            self._evict_archived()
            swapped = self._follow_production(pointers.get(PRODUCTION))
            self._follow_canary(pointers.get(CANARY))
            self._follow_shadow(pointers.get(SHADOW))
            return swapped

    def _evict_archived(self) -> None:
        """Pinned requests stop reaching a version within one poll of its archiving."""
        with self._lock:
            cached = list(self._pinned)
        if not cached:
            return
        archived = {str(v) for v in archived_versions(self._store)}
        with self._lock:
            for version in archived & set(self._pinned):
                del self._pinned[version]

    def _load(self, stage: str, pointer: StagePointer) -> LoadedModel | None:
        """Loads the version a pointer names, or None (logged) when it must be refused."""
        if self._refused.get(stage) == (pointer.version, pointer.updated_at):
            return None
        try:
            model = load_model(get_version(self._store, pointer.version))
        except CampaignLiftError as exc:
            self.load_failures += 1
            self._refused[stage] = (pointer.version, pointer.updated_at)
            log.error("refused %s version %s: %s", stage, pointer.version, exc.message)
            if self._metrics is not None:
                self._metrics.model_loads.labels(stage, "refused").inc()
            return None
        self._refused.pop(stage, None)
        if self._metrics is not None:
            self._metrics.model_loads.labels(stage, "loaded").inc()
            self._metrics.serving_version.labels(stage).set(pointer.version)
        return model

    def _follow_production(self, pointer: StagePointer | None) -> bool:
        current = self._current
        if pointer is None or (current is not None and current.version == str(pointer.version)):
            return False
        model = self._load(PRODUCTION, pointer)
        if model is None:
            return False
        self._current = model
        self.swaps += 1
        log.info(
            "production model is now version %s (was %s)",
            model.version,
            current.version if current else "none",
        )
        if self._on_change is not None:
            self._on_change(model)
        return True

    def _follow_canary(self, pointer: StagePointer | None) -> None:
        canary = self._canary
        if pointer is None:
            if canary is not None:
                log.info("canary of version %s ended", canary[0].version)
                if self._metrics is not None:
                    self._metrics.serving_version.labels(CANARY).set(0)
            self._canary = None
            return
        if canary is not None and canary[0].version == str(pointer.version):
            if canary[1] != pointer.traffic_percent:
                self._canary = (canary[0], pointer.traffic_percent)
            return
        model = self._load(CANARY, pointer)
        if model is not None:
            self._canary = (model, pointer.traffic_percent)
            log.info(
                "canary: version %s takes %.1f%% of units", model.version, pointer.traffic_percent
            )

    def _follow_shadow(self, pointer: StagePointer | None) -> None:
        shadow = self._shadow
        if pointer is None:
            if shadow is not None:
                log.info("shadow of version %s ended", shadow.version)
                if self._metrics is not None:
                    self._metrics.serving_version.labels(SHADOW).set(0)
            self._shadow = None
        elif shadow is None or shadow.version != str(pointer.version):
            self._shadow = self._load(SHADOW, pointer)
            if self._shadow is not None:
                log.info("shadow: version %s scores production's traffic", self._shadow.version)


class _PointerPoll(BackgroundWorker):
    """Follows the stage pointers every poll interval; a failed check keeps the current model."""

    def __init__(self, models: ModelManager, interval_s: float) -> None:
        super().__init__("model-poll", interval_s)
        self._models = models

    def step(self) -> None:
        self._models.refresh()
