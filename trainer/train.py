"""Training: clean data → a pipeline per target → one ONNX graph → parity → metrics → registry."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from common.errors import InvalidArgument
from feedback.registry import ModelVersion, register_version
from feedback.store import Store
from trainer.data import CleaningReport, clean
from trainer.evaluate import binary_metrics
from trainer.export import check_parity, compose, output_names, predict_onnx, session_for
from trainer.pipeline import build_pipeline, snap_thresholds_to_float32
from trainer.spec import FeatureSpec
from trainer.tuning import CALIBRATION_METHOD, choose_calibration, search, with_calibration
from trainer.uplift import S_LEARNER, UPLIFT_METHODS, fit_effects

log = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    """A fitted, exported and parity-checked model, not yet registered."""

    spec: FeatureSpec
    family: str
    pipelines: dict[str, Pipeline]
    onnx_bytes: bytes
    parity_max_abs_diff: float
    metrics: dict[str, dict[str, float]]
    cleaning: CleaningReport
    holdout: pd.DataFrame
    training: pd.DataFrame
    extra_lineage: dict[str, Any] = field(default_factory=dict)
    # How `<target>_uplift` is computed in the graph (trainer.uplift.UPLIFT_METHODS), and the
    # effect regressors per target when it is not the S-learner.
    uplift_method: str = S_LEARNER
    effects: dict[str, Pipeline] = field(default_factory=dict)
    # Per revenue column, its regressor on the rows where the hurdle target is 1.
    revenue: dict[str, Pipeline] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.onnx_bytes).hexdigest()

    @property
    def schema(self) -> dict[str, Any]:
        """The feature schema with the campaign categories the model was trained on."""
        return {
            **self.spec.schema(),
            "campaign_categories": campaign_categories(self.spec, self.training),
        }


def train(
    raw: pd.DataFrame,
    spec: FeatureSpec,
    *,
    family: str = "hgb",
    seed: int = 0,
    holdout_fraction: float = 0.25,
    holdout_eligible: pd.Series | None = None,
    uplift_method: str = S_LEARNER,
    tune: bool = False,
    calibrate: bool = False,
) -> TrainedModel:
    """Cleans `raw`, fits one pipeline per target, exports and checks one ONNX graph.

    `holdout_eligible` (a boolean mask over `raw`) restricts which rows may be held out; at
    most half of the eligible rows are, so the newest data still reaches training.
    """
    if uplift_method not in UPLIFT_METHODS:
        raise InvalidArgument(
            f"uplift method must be one of {UPLIFT_METHODS}, got {uplift_method!r}"
        )
    raw = raw.assign(**{ELIGIBLE: True if holdout_eligible is None else holdout_eligible})
    data, report = clean(raw, spec)
    if len(data) < 20:
        raise InvalidArgument(f"too few rows to train ({len(data)} after cleaning)")
    check_control_values(data, spec)
    train_df, holdout = _split(data, holdout_fraction, seed)
    pipelines = {}
    extra: dict[str, Any] = {"tuning": {}, "calibration": {}} if tune or calibrate else {}
    for target in spec.targets:
        y = train_df[target].to_numpy()
        if len(np.unique(y)) < 2:
            raise InvalidArgument(f"target {target!r} has a single class in the training rows")
        fitted = _fit_target(train_df, y, spec, family, seed, tune, calibrate, extra, target)
        pipelines[target] = snap_thresholds_to_float32(fitted)
    effects = fit_effects(train_df, spec, family, seed) if uplift_method != S_LEARNER else {}
    revenue = fit_revenue(train_df, spec, family, seed)
    model = compose(pipelines, spec, effects, revenue)
    onnx_bytes = model.SerializeToString()
    parity = check_parity(onnx_bytes, pipelines, holdout, spec, effects=effects, revenue=revenue)
    metrics = holdout_metrics(onnx_bytes, holdout, spec)
    log.info(
        "trained %s on %d rows; parity %.2g; metrics %s", family, len(train_df), parity, metrics
    )
    return TrainedModel(
        spec=spec,
        family=family,
        pipelines=pipelines,
        onnx_bytes=onnx_bytes,
        parity_max_abs_diff=parity,
        metrics=metrics,
        cleaning=report,
        holdout=holdout,
        training=train_df,
        effects=effects,
        revenue=revenue,
        uplift_method=uplift_method,
        extra_lineage={k: v for k, v in extra.items() if v},
    )


MIN_REVENUE_ROWS = 20


def fit_revenue(
    train_df: pd.DataFrame, spec: FeatureSpec, family: str, seed: int
) -> dict[str, Pipeline]:
    """E[revenue | hurdle target = 1] per revenue column: the second part of the hurdle model."""
    models = {}
    for column, hurdle in spec.revenue.items():
        rows = train_df[train_df[hurdle] == 1]
        if len(rows) < MIN_REVENUE_ROWS:
            raise InvalidArgument(
                f"revenue {column!r} needs at least {MIN_REVENUE_ROWS} training rows with "
                f"{hurdle} = 1, got {len(rows)}"
            )
        fitted = build_pipeline(spec, family, seed, regressor=True).fit(
            rows[list(spec.features)], rows[column].to_numpy(float)
        )
        models[column] = snap_thresholds_to_float32(fitted)
    return models


def _fit_target(
    train_df: pd.DataFrame,
    y: np.ndarray,
    spec: FeatureSpec,
    family: str,
    seed: int,
    tune: bool,
    calibrate: bool,
    extra: dict[str, Any],
    target: str,
) -> Pipeline:
    """One target's pipeline: searched (`tune`), calibrated when that helps (`calibrate`)."""
    x = train_df[list(spec.features)]
    pipeline = build_pipeline(spec, family, seed)
    if tune:
        time = train_df[spec.time] if spec.time else None
        pipeline, extra["tuning"][target] = search(pipeline, family, x, y, time)
    if calibrate:
        keep, losses = choose_calibration(pipeline, x, y, seed)
        extra["calibration"][target] = {"kept": keep, "method": CALIBRATION_METHOD, **losses}
        if keep:
            return with_calibration(pipeline).fit(x, y)
    return pipeline if tune else pipeline.fit(x, y)


def campaign_categories(spec: FeatureSpec, data: pd.DataFrame) -> dict[str, list[str]]:
    """Per categorical campaign feature, the values seen in training (and the control value):
    the server refuses others, since the model cannot say what an unseen campaign does."""
    return {
        col: sorted({*data[col].unique().tolist(), str(spec.control[col])} - {""})
        for col, kind in spec.campaign_features.items()
        if kind == "categorical"
    }


def check_control_values(data: pd.DataFrame, spec: FeatureSpec) -> None:
    """Uplift is measured against the control: a control value the data never shows (a typo in
    the spec) would silently make every uplift meaningless."""
    for col, kind in spec.campaign_features.items():
        if kind != "categorical":
            continue
        control = str(spec.control[col])
        if not (data[col] == control).any():
            seen = sorted(data[col].unique().tolist())[:10]
            raise InvalidArgument(
                f"control value {control!r} of campaign feature {col!r} never occurs in the "
                f"data; values seen: {seen}"
            )


ELIGIBLE = "__holdout_eligible"
MIN_HOLDOUT_ROWS = 10


def _split(data: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    eligible = data.index[data[ELIGIBLE].to_numpy(bool)]
    size = int(fraction * len(data))
    if holdout_limited := size > len(eligible) // 2:
        size = len(eligible) // 2
    if size < MIN_HOLDOUT_ROWS:
        raise InvalidArgument(
            f"only {len(eligible)} rows may be held out; at least {2 * MIN_HOLDOUT_ROWS} needed"
        )
    rng = np.random.default_rng(seed)
    held = rng.choice(eligible, size=size, replace=False)
    mask = data.index.isin(held)
    if holdout_limited:
        log.info("holdout limited to %d of %d eligible rows", size, len(eligible))
    return data[~mask].drop(columns=ELIGIBLE), data[mask].drop(columns=ELIGIBLE)


def holdout_metrics(
    onnx_bytes: bytes, holdout: pd.DataFrame, spec: FeatureSpec
) -> dict[str, dict[str, float]]:
    """Metrics of the exported graph itself (what will be served) on held-out rows."""
    predictions = predict_onnx(session_for(onnx_bytes), holdout, spec)
    return {
        t: binary_metrics(holdout[t].to_numpy(), predictions[output_names(t)[0]])
        for t in spec.targets
    }


def write_artifact(onnx_bytes: bytes, artifact_dir: Path) -> Path:
    """Writes the artifact atomically under its checksum; identical models share one file."""
    artifact_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(onnx_bytes).hexdigest()
    path = artifact_dir / f"model-{digest[:16]}.onnx"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=artifact_dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(onnx_bytes)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # servers may run as another user than the trainer
        os.replace(tmp, path)
    return path


def code_version() -> str:
    """The package version, and the git commit when the code runs from a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = f"campaign-lift {version('campaign-lift')}"
    except PackageNotFoundError:
        text = "campaign-lift (not installed)"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return f"{text} ({commit})" if commit else text


def register(
    store: Store,
    trained: TrainedModel,
    artifact_dir: Path,
    *,
    source: str,
    data: str = "",
    parent_version: int | None = None,
) -> ModelVersion:
    """Writes the artifact and records the version; `source` is "file" or "store"."""
    path = write_artifact(trained.onnx_bytes, artifact_dir)
    lineage = {
        "source": source,
        "data": data,
        "code_version": code_version(),
        "rows_train": len(trained.training),
        "rows_holdout": len(trained.holdout),
        "cleaning": trained.cleaning.as_dict(),
        "parity_max_abs_diff": trained.parity_max_abs_diff,
        "uplift_method": trained.uplift_method,
        **trained.extra_lineage,
    }
    version = register_version(
        store,
        artifact_path=str(path.resolve()),
        sha256=trained.sha256,
        family=trained.family,
        feature_schema=trained.schema,
        targets=list(trained.spec.targets),
        metrics=trained.metrics,
        lineage=lineage,
        parent_version=parent_version,
    )
    log.info("registered model version %d (%s, sha256 %s)", version.version, path, trained.sha256)
    return version
