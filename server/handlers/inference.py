"""The standard inference protocol, transport-free: the served graph's raw predictions for
columns of raw features. No policy and no decision: those stay on ScoringService."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from common.errors import InvalidArgument, NotFound
from common.graph import all_outputs
from feedback.registry import list_versions
from feedback.store import Store
from server.runtime.metrics import ServerMetrics
from server.runtime.model import LoadedModel
from server.runtime.models import ModelManager

MODEL_NAME = "campaign-lift"


class InferenceHandler:
    def __init__(
        self, models: ModelManager, store: Store, metrics: ServerMetrics | None = None
    ) -> None:
        self._models = models
        self._store = store
        self._metrics = metrics

    @property
    def ready(self) -> bool:
        return self._models.current is not None

    def model(self, name: str, version: str) -> LoadedModel:
        if name != MODEL_NAME:
            raise NotFound(f"model {name!r} is not served here; the model is {MODEL_NAME!r}")
        return self._models.get(version)

    def model_ready(self, name: str, version: str) -> bool:
        try:
            self.model(name, version)
        except Exception:  # not loadable, for whatever reason, is "not ready"
            return False
        return True

    def versions(self) -> list[str]:
        return [str(v.version) for v in list_versions(self._store) if v.archived_at is None]

    def infer(
        self, model: LoadedModel, feeds: dict[str, np.ndarray], outputs: Sequence[str]
    ) -> list[tuple[str, np.ndarray]]:
        """Runs the graph on whole input columns; `outputs` empty means all of them."""
        kinds = model.feature_kinds
        missing = [n for n in kinds if n not in feeds]
        if missing:
            raise InvalidArgument(f"inputs lack {missing}")
        if len({len(v) for v in feeds.values()}) != 1:
            raise InvalidArgument("inputs must all have the same number of rows")
        available = all_outputs(model.targets)
        names = list(outputs) or available
        unknown = [n for n in names if n not in available]
        if unknown:
            raise InvalidArgument(f"outputs {unknown} do not exist; outputs: {available}")
        began = time.perf_counter()
        values = model.run(names, feeds)
        if self._metrics is not None:
            self._metrics.model_seconds.labels(model.version).observe(time.perf_counter() - began)
            self._metrics.pairs.labels(model.version).inc(len(next(iter(feeds.values()))))
        return list(zip(names, values, strict=True))
