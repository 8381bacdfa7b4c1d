"""Which model serves: the production pointer, watched and hot-swapped; pinned versions cached.

A pointer change is noticed within `poll_interval_s`. The new version is loaded and verified in
full before it replaces the old one; requests already running keep their reference to the old
session, which is freed when the last of them finishes. A version that fails to load is refused
(logged, counted) and the current one keeps serving.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from common.errors import CampaignLiftError, FailedPrecondition, NotFound
from feedback.registry import PRODUCTION, get_version, stage_version
from feedback.store import Store
from server.model import LoadedModel, load_model

log = logging.getLogger(__name__)

PINNED_CACHE_SIZE = 4


class ModelManager:
    def __init__(
        self,
        store: Store,
        *,
        poll_interval_s: float = 1.0,
        on_change: Callable[[LoadedModel | None], None] | None = None,
    ) -> None:
        self._store = store
        self._poll_interval_s = poll_interval_s
        self._on_change = on_change
        self._current: LoadedModel | None = None
        self._refused: int | None = None
        self._pinned: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.swaps = 0
        self.load_failures = 0

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._poll, name="model-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def current(self) -> LoadedModel | None:
        """The production model now serving, if any."""
        return self._current

    def production(self) -> LoadedModel:
        model = self._current
        if model is None:
            raise FailedPrecondition("no production model is loaded yet: train and promote one")
        return model

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
        if not version.isdigit():
            raise NotFound(f"model_version {version!r} is not registered")
        model = load_model(get_version(self._store, int(version)))
        with self._lock:
            self._pinned[version] = model
            while len(self._pinned) > PINNED_CACHE_SIZE:
                self._pinned.popitem(last=False)
        return model

    def refresh(self) -> bool:
        """Loads the production version if its pointer moved; True when a swap happened."""
        target = stage_version(self._store, PRODUCTION)
        current = self._current
        if target is None or (current is not None and current.version == str(target)):
            return False
        if target == self._refused:
            return False
        try:
            model = load_model(get_version(self._store, target))
        except CampaignLiftError as exc:
            self.load_failures += 1
            self._refused = target
            log.error(
                "refused production version %s, keeping %s: %s",
                target,
                current.version if current else "none",
                exc.message,
            )
            return False
        self._current = model
        self._refused = None
        self.swaps += 1
        log.info(
            "production model is now version %s (was %s)",
            model.version,
            current.version if current else "none",
        )
        if self._on_change is not None:
            self._on_change(model)
        return True

    def _poll(self) -> None:
        while not self._stop.wait(self._poll_interval_s):
            try:
                self.refresh()
            except CampaignLiftError as exc:
                log.warning("model pointer check failed: %s", exc.message)
            except Exception:
                log.exception("model pointer check crashed; will retry")
