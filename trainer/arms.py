"""The arms of a log: the distinct campaign-feature combinations it holds (the control — the
spec's "no campaign" values — among them), which arm each row got, and the probability the
logging policy gave that arm.

Effect learners that keep a model per arm (T, X, DR) know only these arms: a served campaign
must be one of them (the server refuses others by name), while the S-learner, which takes the
campaign's features as inputs, may score a new combination.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from common.errors import InvalidArgument
from trainer.spec import FeatureSpec

# Inverse-propensity weights are capped at 1 / MIN_PROPENSITY (variance over a little bias).
MIN_PROPENSITY = 0.01


def _normal(value: Any, kind: str) -> Any:
    """A campaign feature value as the graph compares it: float32 numbers, stripped text."""
    if kind == "numeric":
        return float(np.float32(value))
    return str(value).strip()


def _normal_column(values: pd.Series, kind: str) -> np.ndarray:
    """_normal over a column: float32-rounded numbers (missing as NaN), stripped text."""
    if kind == "numeric":
        return values.to_numpy(dtype=np.float32, na_value=np.nan).astype(np.float64)
    return values.astype(str).str.strip().to_numpy(dtype=object)


@dataclass(frozen=True)
class Arms:
    """The arms, in a stable order with the control first, and each row's arm index."""

    spec: FeatureSpec
    features: tuple[dict[str, Any], ...]  # campaign features of each arm
    names: tuple[str, ...]
    index: np.ndarray  # per row: its arm

    control: int = 0

    @property
    def k(self) -> int:
        return len(self.features)

    @property
    def campaigns(self) -> list[int]:
        """The arms that are campaigns (every arm but the control)."""
        return [a for a in range(self.k) if a != self.control]

    def key(self, features: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(_normal(features[c], kind) for c, kind in self.spec.campaign_features.items())

    def locate(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's arm index from its campaign features; -1 for a combination not seen.

        Column by column, without a Python step per row: each value's position among the
        arms' values of that column, the positions combined into one code per row."""
        n = len(frame)
        code = np.zeros(n, dtype=np.int64)
        arm_code = np.zeros(self.k, dtype=np.int64)
        unknown = np.zeros(n, dtype=bool)
        for c, kind in self.spec.campaign_features.items():
            values = _normal_column(frame[c], kind)
            known = pd.Index(sorted({_normal(f[c], kind) for f in self.features}))
            at = known.get_indexer(values)
            unknown |= at < 0
            code = code * len(known) + np.maximum(at, 0)
            arm_code = arm_code * len(known) + known.get_indexer(
                [_normal(f[c], kind) for f in self.features]
            )
        by_code = pd.Index(arm_code)
        located = by_code.get_indexer(code).astype(np.int64)
        located[unknown] = -1
        return located

    def as_schema(self) -> list[dict[str, Any]]:
        """What the registry keeps: each arm's name and campaign features."""
        return [
            {"name": n, "features": dict(f)} for n, f in zip(self.names, self.features, strict=True)
        ]


def arms_of(data: pd.DataFrame, spec: FeatureSpec) -> Arms:
    """The arms of a cleaned frame. Named by the treatment column when the spec has one (its
    first label for each combination), else by the features themselves."""
    if not spec.campaign_features:
        raise InvalidArgument(f"spec {spec.name!r} has no campaign features: no arms to learn")
    control = {c: spec.control[c] for c in spec.campaign_features}
    seen: dict[tuple[Any, ...], tuple[dict[str, Any], str]] = {}
    probe = Arms(spec, (), (), np.zeros(0, dtype=np.int64))
    label = data[spec.treatment].astype(str) if spec.treatment else None
    firsts = data.drop_duplicates(subset=list(spec.campaign_features))
    for i, row in firsts.iterrows():
        features = {c: row[c] for c in spec.campaign_features}
        key = probe.key(features)
        name = str(label.loc[i]) if label is not None else _describe(features)
        seen.setdefault(key, (features, name))
    control_key = probe.key(control)
    if control_key not in seen:
        raise InvalidArgument(
            f"no row of spec {spec.name!r} has the control campaign features {control}: "
            "effects are measured against it"
        )
    ordered = [control_key, *sorted(k for k in seen if k != control_key)]
    arms = Arms(
        spec,
        tuple(seen[k][0] for k in ordered),
        tuple(seen[k][1] for k in ordered),
        np.zeros(0, dtype=np.int64),
    )
    return Arms(spec, arms.features, arms.names, arms.locate(data))


def _describe(features: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in features.items())


def logged_propensity(data: pd.DataFrame, spec: FeatureSpec, arms: Arms) -> np.ndarray:
    """P(the logged arm | user) for every row: the logged propensity column when the spec
    names one (the logging policy's exact probability), else each arm's share of the rows (a
    randomized test's design, estimated by frequency). Floored at MIN_PROPENSITY."""
    if spec.propensity and spec.propensity in data.columns:
        p = pd.to_numeric(data[spec.propensity], errors="coerce").to_numpy(float)
        if not np.all(np.isfinite(p) & (p > 0) & (p <= 1)):
            bad = int(np.argmax(~(np.isfinite(p) & (p > 0) & (p <= 1))))
            raise InvalidArgument(
                f"propensity column {spec.propensity!r} must hold probabilities in (0, 1]; "
                f"row {bad} has {data[spec.propensity].iloc[bad]!r}"
            )
    else:
        shares = np.bincount(arms.index, minlength=arms.k) / len(arms.index)
        p = shares[arms.index]
    return np.maximum(p, MIN_PROPENSITY)
