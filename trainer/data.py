"""Loading training data (CSV, Parquet, the store) and cleaning it with a counted report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import InvalidArgument
from trainer.spec import FeatureSpec


@dataclass
class CleaningReport:
    """What cleaning changed, counted; nothing is dropped silently."""

    rows_in: int = 0
    rows_out: int = 0
    duplicate_rows_dropped: int = 0
    bad_target_rows_dropped: int = 0
    # Per column: values that were missing (left for the pipeline's imputer).
    missing_values: dict[str, int] = field(default_factory=dict)
    # Per column: values that were not numbers or not finite (made missing, then imputed).
    invalid_values: dict[str, int] = field(default_factory=dict)
    # Rows per value of the treatment column (the arms of a logged experiment).
    arms: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise InvalidArgument(f"data file {str(path)!r} does not exist")
    if path.suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix in (".csv", ".gz"):
        return pd.read_csv(path)
    raise InvalidArgument(f"data file {str(path)!r}: expected .csv or .parquet")


def _check_columns(df: pd.DataFrame, spec: FeatureSpec) -> None:
    optional = [c for c in (spec.propensity, spec.time) if c] + list(spec.revenue)
    needed = [*spec.features, *spec.targets, *optional]
    absent = [c for c in needed if c not in df.columns]
    if absent:
        raise InvalidArgument(f"data for spec {spec.name!r} lacks columns {absent}")


def _label_arms(out: pd.DataFrame, spec: FeatureSpec, report: CleaningReport) -> None:
    """Makes the treatment column string labels (in place) and counts the rows per arm."""
    if not spec.treatment:
        return
    if spec.treatment not in out.columns:
        raise InvalidArgument(f"treatment column {spec.treatment!r} is not in the data")
    # Arms are labels: a missing one is the empty label, not a dropped row.
    out[spec.treatment] = out[spec.treatment].astype("string").fillna("").astype(object)
    counts = out[spec.treatment].value_counts()
    report.arms = {str(k): int(v) for k, v in counts.items()}


def _drop_duplicates(out: pd.DataFrame, spec: FeatureSpec, report: CleaningReport) -> pd.DataFrame:
    """Drops rows whose row id repeats an earlier row's."""
    if not (spec.row_id and spec.row_id in out.columns):
        report.notes.append("no row id column: duplicates not checked (identical rows may be real)")
        return out
    ids = out[spec.row_id].astype("string").fillna("").str.strip()
    # Rows without an id cannot be duplicates of each other: they are kept and counted.
    duplicate = (ids != "") & ids.duplicated(keep="first")
    out = out[~duplicate]
    report.duplicate_rows_dropped = int(duplicate.sum())
    without_id = int((ids == "").sum())
    if without_id:
        report.notes.append(f"{without_id} rows have no {spec.row_id}: kept, not deduplicated")
    return out


def _coerce_numeric(raw: pd.Series, missing: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The column as float32 with invalid values made missing, and the mask of invalid values."""
    num = pd.to_numeric(raw, errors="coerce").astype(float)
    # Beyond float32's range a value would become inf in the model: invalid too.
    too_big = num.abs() > np.finfo(np.float32).max
    invalid = (~missing & num.isna()) | np.isinf(num.fillna(0.0)) | too_big
    num[invalid] = np.nan
    return num.astype(np.float32), invalid


def _coerce_features(out: pd.DataFrame, spec: FeatureSpec, report: CleaningReport) -> None:
    """Types every feature column (in place), counting missing and invalid values."""
    for col, kind in spec.features.items():
        raw = out[col]
        missing = raw.isna()
        if kind == "numeric":
            out[col], invalid = _coerce_numeric(raw, missing)
            report.invalid_values[col] = int(invalid.sum())
        else:
            text = raw.astype("string").fillna("").str.strip()
            missing = missing | (text == "")
            out[col] = text.astype(object)
        report.missing_values[col] = int(missing.sum())


def _parse_time(out: pd.DataFrame, spec: FeatureSpec, report: CleaningReport) -> None:
    if not spec.time:
        return
    parsed = pd.to_datetime(out[spec.time], errors="coerce", utc=True)
    report.invalid_values[spec.time] = int((parsed.isna() & out[spec.time].notna()).sum())
    out[spec.time] = parsed


def _drop_bad_targets(out: pd.DataFrame, spec: FeatureSpec, report: CleaningReport) -> pd.DataFrame:
    """Drops rows whose target is not 0/1 or whose revenue is not a finite amount >= 0."""
    bad = pd.Series(False, index=out.index)
    for target in spec.targets:
        y = pd.to_numeric(out[target], errors="coerce")
        bad |= ~y.isin([0, 1])
        out[target] = y
    for column in spec.revenue:
        value = pd.to_numeric(out[column], errors="coerce")
        bad |= ~np.isfinite(value) | (value < 0)
        out[column] = value.astype(float)
    report.bad_target_rows_dropped = int(bad.sum())
    out = out[~bad]
    for target in spec.targets:
        out[target] = out[target].astype(np.int64)
    return out


def clean(df: pd.DataFrame, spec: FeatureSpec) -> tuple[pd.DataFrame, CleaningReport]:
    """Types every declared column, counts and handles missing/invalid values and bad rows.

    Numeric features become float32 so that scikit-learn and onnxruntime see identical values;
    categorical features become strings with "" for missing (the pipeline imputes it).
    """
    report = CleaningReport(rows_in=len(df))
    _check_columns(df, spec)
    out = df.copy()
    _label_arms(out, spec, report)
    out = _drop_duplicates(out, spec, report)
    _coerce_features(out, spec, report)
    _parse_time(out, spec, report)
    out = _drop_bad_targets(out, spec, report)
    report.rows_out = len(out)
    if report.rows_out == 0:
        raise InvalidArgument(f"no usable rows left after cleaning data for spec {spec.name!r}")
    return out.reset_index(drop=True), report


def with_control(df: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The same rows with every campaign feature set to its "no campaign" value."""
    ctrl = df.copy()
    for col, kind in spec.campaign_features.items():
        value = spec.control[col]
        ctrl[col] = np.float32(value) if kind == "numeric" else str(value)
    return ctrl
