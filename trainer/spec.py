"""Feature specs: user features, campaign features with their control values, and targets."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import InvalidArgument

KINDS = ("numeric", "categorical")
# Outcome types whose events label a binary target (feedback/outcomes.py BINARY_TYPES).
LABEL_TYPES = ("click", "conversion")


@dataclass(frozen=True)
class FeatureSpec:
    """A data set's columns, declared as data so a new data set needs a spec, not code.

    `control` holds the campaign-feature values meaning "no campaign": the model's uplift is
    its prediction with a campaign minus its prediction with these values.
    """

    name: str
    user_features: dict[str, str]
    campaign_features: dict[str, str]
    control: dict[str, Any]
    targets: tuple[str, ...]
    treatment: str | None = None
    unit_id: str | None = None
    # Unique id of a logged row (e.g. a decision id): rows repeating it are duplicates.
    row_id: str | None = None
    # Which outcome type (click, conversion) labels each target in the store's feedback;
    # a target named like an outcome type needs no entry.
    outcome_types: dict[str, str] = field(default_factory=dict)
    # Column holding the logging policy's probability of the logged arm, when assignment was
    # not uniform; without it the arms' frequencies are used (a randomized test).
    propensity: str | None = None
    # Column of event times: cross-validation folds then train on the past, validate on later.
    time: str | None = None
    # Revenue columns (e.g. spend) and the binary target each is conditional on (a purchase):
    # the graph outputs the hurdle P(target) x E[revenue | target] with and without campaign.
    revenue: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for group in (self.user_features, self.campaign_features):
            for col, kind in group.items():
                if kind not in KINDS:
                    raise InvalidArgument(
                        f"feature {col!r} kind must be one of {KINDS}, got {kind!r}"
                    )
        overlap = set(self.user_features) & set(self.campaign_features)
        if overlap:
            raise InvalidArgument(f"columns {sorted(overlap)} are both user and campaign features")
        missing = set(self.campaign_features) - set(self.control)
        if missing:
            raise InvalidArgument(f"control value missing for campaign features {sorted(missing)}")
        if not self.targets:
            raise InvalidArgument("a spec needs at least one target")
        for column, hurdle in self.revenue.items():
            if hurdle not in self.targets:
                raise InvalidArgument(
                    f"revenue {column!r} needs a binary target from {list(self.targets)} to be "
                    f"conditional on, got {hurdle!r}"
                )
            if column in self.targets or column in self.features:
                raise InvalidArgument(f"revenue {column!r} is already a target or a feature")
        for target in self.targets:
            kind = self.outcome_type(target)
            if kind not in LABEL_TYPES:
                raise InvalidArgument(
                    f"target {target!r} needs an outcome type in [outcome_types], one of "
                    f"{LABEL_TYPES}; got {kind!r}"
                )

    def outcome_type(self, target: str) -> str:
        return self.outcome_types.get(target, target)

    @property
    def features(self) -> dict[str, str]:
        return {**self.user_features, **self.campaign_features}

    def schema(self) -> dict[str, Any]:
        """The feature schema stored with a model version (the ONNX graph's inputs)."""
        return {
            "user": dict(self.user_features),
            "campaign": dict(self.campaign_features),
            "control": dict(self.control),
            "outcome_types": {t: self.outcome_type(t) for t in self.targets},
            "revenue": dict(self.revenue),
        }

    @classmethod
    def from_schema(cls, schema: dict[str, Any], targets: list[str], name: str) -> FeatureSpec:
        return cls(
            name=name,
            user_features=dict(schema["user"]),
            campaign_features=dict(schema["campaign"]),
            control=dict(schema["control"]),
            targets=tuple(targets),
            outcome_types=dict(schema.get("outcome_types", {})),
            unit_id="unit_id",
            row_id="decision_id",
        )

    @classmethod
    def load(cls, path: str | Path) -> FeatureSpec:
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise InvalidArgument(f"spec {path}: cannot read it: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise InvalidArgument(f"spec {path}: invalid TOML: {exc}") from exc
        try:
            return cls(
                name=data["name"],
                user_features=dict(data["user_features"]),
                campaign_features=dict(data["campaign_features"]),
                control=dict(data["control"]),
                targets=tuple(data["targets"]),
                treatment=data.get("treatment"),
                unit_id=data.get("unit_id"),
                row_id=data.get("row_id"),
                outcome_types=dict(data.get("outcome_types", {})),
                propensity=data.get("propensity"),
                time=data.get("time"),
                revenue=dict(data.get("revenue", {})),
            )
        except KeyError as exc:
            raise InvalidArgument(f"spec {path}: missing key {exc.args[0]!r}") from exc


def user_only(spec: FeatureSpec) -> FeatureSpec:
    """The spec's user features alone: what per-arm models read."""
    from dataclasses import replace

    return replace(spec, campaign_features={}, control={}, revenue={})
