"""Request items → the model's raw input columns, validated field by field."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from common.errors import InvalidArgument, ResourceExhausted
from feedback.models import ID_LENGTH as MAX_ID_LENGTH
from server.runtime.model import LoadedModel

FeatureMap = Mapping[str, float | str | None]


@dataclass(frozen=True, slots=True)
class Candidate:
    campaign_id: str
    features: FeatureMap


@dataclass(frozen=True, slots=True)
class ScoreItem:
    """One user's scoring request, transport-free."""

    unit_id: str
    user_features: FeatureMap
    candidates: Sequence[Candidate]
    experiment: str = ""
    model_version: str = ""
    where: str = field(default="", compare=False)  # field path prefix for error messages


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _value(features: FeatureMap, name: str, kind: str, where: str) -> float | str:
    if name not in features:
        raise InvalidArgument(f"{where}[{name!r}] is missing (the model needs it)")
    value = features[name]
    if kind == "numeric":
        if not isinstance(value, float):
            raise InvalidArgument(f"{where}[{name!r}] must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InvalidArgument(f"{where}[{name!r}] must be finite, got {value!r}")
        if abs(value) > FLOAT32_MAX:  # the model computes in float32: it would become inf
            raise InvalidArgument(f"{where}[{name!r}] is out of the float32 range, got {value!r}")
        return value
    if not isinstance(value, str):
        raise InvalidArgument(f"{where}[{name!r}] must be text, got {value!r}")
    return value


def validate_item(item: ScoreItem, max_candidates: int) -> None:
    p = item.where
    if not item.unit_id:
        raise InvalidArgument(f"{p}unit_id must not be empty")
    if len(item.unit_id) > MAX_ID_LENGTH:
        raise InvalidArgument(f"{p}unit_id is longer than {MAX_ID_LENGTH} characters")
    if not item.candidates:
        raise InvalidArgument(f"{p}candidates must not be empty")
    if len(item.candidates) > max_candidates:
        raise ResourceExhausted(
            f"{p}candidates has {len(item.candidates)} entries; the limit is {max_candidates}"
        )
    seen: set[str] = set()
    for j, c in enumerate(item.candidates):
        if not c.campaign_id:
            raise InvalidArgument(f"{p}candidates[{j}].campaign_id must not be empty")
        if len(c.campaign_id) > MAX_ID_LENGTH:
            raise InvalidArgument(
                f"{p}candidates[{j}].campaign_id is longer than {MAX_ID_LENGTH} characters"
            )
        if c.campaign_id in seen:
            raise InvalidArgument(
                f"{p}candidates[{j}].campaign_id {c.campaign_id!r} is a duplicate"
            )
        seen.add(c.campaign_id)


def build_feeds(items: Sequence[ScoreItem], model: LoadedModel) -> dict[str, np.ndarray]:
    """One row per (item, candidate), in order: user columns repeat over the item's candidates."""
    columns: dict[str, list[float | str]] = {
        c: [] for c in (*model.user_features, *model.campaign_features)
    }
    for item in items:
        n = len(item.candidates)
        for name, kind in model.user_features.items():
            v = _value(item.user_features, name, kind, f"{item.where}user_features")
            columns[name].extend([v] * n)
        for j, cand in enumerate(item.candidates):
            where = f"{item.where}candidates[{j}].features"
            for name, kind in model.campaign_features.items():
                value = _value(cand.features, name, kind, where)
                known = model.campaign_categories.get(name)
                if known is not None and value not in known:
                    raise InvalidArgument(
                        f"{where}[{name!r}] {value!r} is a campaign the model was not trained "
                        f"on; known: {sorted(known)}"
                    )
                columns[name].append(value)
            if model.arms:
                model.check_arms(cand.features, where)
    kinds = {**model.user_features, **model.campaign_features}
    return {
        name: np.asarray(values, dtype=np.float32 if kinds[name] == "numeric" else object).reshape(
            -1, 1
        )
        for name, values in columns.items()
    }
