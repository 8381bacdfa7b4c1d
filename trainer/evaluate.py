"""Held-out metrics of a response model: ranking (AUC, PR-AUC), probabilistic quality (log
loss, Brier, expected calibration error) and decisions at a threshold (accuracy, precision,
recall, F1)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

ECE_BINS = 10


def expected_calibration_error(y_true: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE = sum_b (n_b / N) |mean(y in b) - mean(p in b)| over `bins` equal-width bins of p.

    Naeini, Cooper and Hauskrecht, "Obtaining Well Calibrated Probabilities Using Bayesian
    Binning", AAAI 2015. Bin b holds edges[b] <= p < edges[b + 1]; p = 1 falls in the last bin.
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(p, dtype=float)
    if len(y) == 0:
        return 0.0
    which = np.clip((p * bins).astype(int), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.mean() * abs(y[in_bin].mean() - p[in_bin].mean())
    return float(total)


def binary_metrics(
    y_true: np.ndarray, p: np.ndarray, threshold: float | None = None
) -> dict[str, float]:
    """AUC and PR-AUC are left out when the holdout has a single class (never NaN).

    With a `threshold`, a row is predicted positive when p >= threshold and accuracy, precision,
    recall and F1 of those decisions are added (precision is 0 when nothing is predicted).
    """
    y = np.asarray(y_true).astype(int)
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    out = {
        "n": float(len(y)),
        "base_rate": float(y.mean()) if len(y) else 0.0,
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
    }
    if 0 < y.sum() < len(y):
        out["auc"] = float(roc_auc_score(y, p))
        out["pr_auc"] = float(average_precision_score(y, p))
    if threshold is not None:
        decided = (p >= threshold).astype(int)
        out["threshold"] = float(threshold)
        out["accuracy"] = float(accuracy_score(y, decided))
        out["precision"] = float(precision_score(y, decided, zero_division=0.0))
        out["recall"] = float(recall_score(y, decided, zero_division=0.0))
        out["f1"] = float(f1_score(y, decided, zero_division=0.0))
    return out
