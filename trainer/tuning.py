"""Hyperparameter search by cross-validation (time-ordered folds when the data has a time
column) and sigmoid calibration kept only when it lowers log loss on rows it did not see."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, StratifiedKFold, TimeSeriesSplit
from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

CV_FOLDS = 3
# Small on purpose: two or four candidates per family keep a search to seconds.
GRIDS: dict[str, dict[str, list[Any]]] = {
    "logreg": {"model__C": [0.1, 1.0]},
    "tree": {"model__max_depth": [4, 6], "model__min_samples_leaf": [50, 200]},
    "forest": {"model__max_depth": [6, 8]},
    "hgb": {"model__learning_rate": [0.05, 0.1], "model__max_leaf_nodes": [7, 15]},
    "mlp": {"model__alpha": [1e-4, 1e-2]},
}
# skl2onnx 1.20's isotonic calibration disagrees with scikit-learn by up to 0.24 (measured on
# the simulator's history), so only the sigmoid (Platt) method passes the parity check.
CALIBRATION_METHOD = "sigmoid"
CALIBRATION_FRACTION = 0.2


def folds(x: pd.DataFrame, time: pd.Series | None) -> Any:
    """Time-ordered folds (train on the past, validate on the next block) when `time` is given;
    stratified shuffled folds otherwise."""
    if time is not None:
        return TimeSeriesSplit(n_splits=CV_FOLDS)
    return StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=0)


def search(
    pipeline: Pipeline, family: str, x: pd.DataFrame, y: np.ndarray, time: pd.Series | None
) -> tuple[Pipeline, dict[str, Any]]:
    """Grid search of the family's small grid by cross-validated log loss; refit on all rows.

    With `time`, rows are put in time order first so each fold validates on later rows.
    """
    if time is not None:
        order = np.argsort(time.to_numpy(), kind="stable")
        x, y = x.iloc[order], y[order]
    grid = GridSearchCV(
        pipeline, GRIDS[family], scoring="neg_log_loss", cv=folds(x, time), n_jobs=1
    ).fit(x, y)
    summary = {
        "best_params": {k.removeprefix("model__"): v for k, v in grid.best_params_.items()},
        "cv_log_loss": float(-grid.best_score_),
        "candidates": len(grid.cv_results_["params"]),
        "folds": "time-ordered" if time is not None else "stratified",
    }
    return grid.best_estimator_, summary


def with_calibration(pipeline: Pipeline) -> Pipeline:
    """The same (unfitted) pipeline with its model wrapped in sigmoid calibration."""
    calibrated = clone(pipeline)
    model = calibrated.steps[-1][1]
    calibrated.steps[-1] = (
        "model",
        CalibratedClassifierCV(model, method=CALIBRATION_METHOD, cv=CV_FOLDS, ensemble=False),
    )
    return calibrated


def choose_calibration(
    pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray, seed: int = 0
) -> tuple[bool, dict[str, float]]:
    """Fits the pipeline with and without calibration on 80% of the training rows and keeps
    calibration only when it lowers log loss on the other 20%."""
    rng = np.random.default_rng(seed)
    held = rng.uniform(size=len(y)) < CALIBRATION_FRACTION
    if len(np.unique(y[held])) < 2 or len(np.unique(y[~held])) < 2:
        return False, {}
    losses = {}
    for name, candidate in (("raw", clone(pipeline)), ("calibrated", with_calibration(pipeline))):
        candidate.fit(x[~held], y[~held])
        p = candidate.predict_proba(x[held])[:, 1]
        losses[name] = float(log_loss(y[held], np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]))
    keep = losses["calibrated"] < losses["raw"]
    log.info("calibration %s: validation log loss %s", "kept" if keep else "dropped", losses)
    return keep, {f"{k}_log_loss": v for k, v in losses.items()}
