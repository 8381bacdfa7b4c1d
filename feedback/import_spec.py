"""Mapping specs for `campaign-lift feedback import`: a TOML file says which columns of a logged
table are ids, campaign, variant, propensity, features and outcomes."""

from __future__ import annotations

import contextlib
import tomllib
from datetime import datetime
from pathlib import Path

import pandas as pd

from common.errors import InvalidArgument, NotFound
from feedback.experiments import Experiment, Variant, get_experiment, save_experiment
from feedback.importer import LogMapping, import_logged
from feedback.store import Store


def load_mapping(path: str | Path) -> tuple[LogMapping, str | None, dict[str, float]]:
    """The mapping, which variant is control (listed first), and the design's variant weights
    (`[variant_weights]`; equal when absent) that the sample-ratio check tests against."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidArgument(f"mapping {path}: {exc}") from exc
    try:
        mapping = LogMapping(
            row_id=data.get("row_id"),
            unit_id=data.get("unit_id"),
            campaign_id=data["campaign_id"],
            propensity=data["propensity"],
            user_features=list(data.get("user_features", [])),
            campaign_features=list(data.get("campaign_features", [])),
            outcomes=dict(data["outcomes"]),
            policy=data.get("policy", "logged"),
            experiment=data.get("experiment", ""),
            variant=data.get("variant"),
            variant_value=data.get("variant_value"),
            no_campaign=data.get("no_campaign", ""),
            covariate=data.get("cuped_covariate", ""),
        )
    except KeyError as exc:
        raise InvalidArgument(f"mapping {path}: missing key {exc.args[0]!r}") from exc
    unknown = set(mapping.outcomes) - {"click", "conversion", "revenue"}
    if unknown:
        raise InvalidArgument(
            f"mapping {path}: outcome types must be click, conversion, revenue; "
            f"got {sorted(unknown)}"
        )
    if mapping.covariate and mapping.covariate not in mapping.user_features:
        raise InvalidArgument(
            f"mapping {path}: cuped_covariate {mapping.covariate!r} must be one of user_features"
        )
    weights = {str(k): float(v) for k, v in data.get("variant_weights", {}).items()}
    return mapping, data.get("control_variant"), weights


def import_table(
    store: Store,
    frame: pd.DataFrame,
    mapping: LogMapping,
    control: str | None,
    decided_at: datetime,
    weights: dict[str, float] | None = None,
    unit_key: bytes = b"",
) -> tuple[int, int]:
    """Imports the rows; for an experiment, first records it with one variant per value seen,
    control first, weighted as designed (never by the observed shares: that would hide a
    sample-ratio mismatch)."""
    if mapping.experiment and (mapping.variant or mapping.variant_value):
        if mapping.variant_value is not None:
            in_file = {mapping.variant_value}
        elif mapping.variant in frame.columns:
            in_file = set(frame[mapping.variant].astype(str))
        else:
            raise InvalidArgument(f"variant column {mapping.variant!r} is not in the table")
        # Variants recorded by an earlier file of the same experiment keep their policy; the
        # design may name variants whose logs come in another file.
        policies: dict[str, dict[str, object]] = {}
        with contextlib.suppress(NotFound):
            policies = {
                v.name: v.policy for v in get_experiment(store, mapping.experiment).variants
            }
        policies.update({n: {"type": mapping.policy} for n in in_file})
        weights = weights or {}
        names = sorted(set(policies) | set(weights), key=lambda n: (n != control, n))
        variants = tuple(Variant(n, weights.get(n, 1.0), policies.get(n, {})) for n in names)
        save_experiment(
            store,
            Experiment(
                mapping.experiment,
                f"imported:{mapping.experiment}",
                variants,
                covariate=mapping.covariate,
            ),
        )
    return import_logged(store, frame, mapping, decided_at=decided_at, unit_key=unit_key)
