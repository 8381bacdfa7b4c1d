"""Cross-fitted uplift: every row scored by a model that never saw it (K folds), so uplift
metrics can use all rows of a randomized test instead of one small holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd

from common.errors import InvalidArgument
from trainer.data import clean
from trainer.pipeline import build_pipeline
from trainer.spec import FeatureSpec
from trainer.uplift import S_LEARNER, UPLIFT_METHODS, campaign_arms, fit_effects
from trainer.uplift_metrics import qini_coefficient

FOLDS = 4


def cross_fitted_uplift(
    raw: pd.DataFrame,
    spec: FeatureSpec,
    *,
    family: str,
    uplift_method: str = S_LEARNER,
    folds: int = FOLDS,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, dict[str, np.ndarray]], str]:
    """The cleaned rows, per campaign arm and target the out-of-fold predicted uplift of every
    row, and the control arm. Same pipelines as training (scikit-learn side; the ONNX graph
    agrees with them within the parity tolerance)."""
    if uplift_method not in UPLIFT_METHODS:
        raise InvalidArgument(
            f"uplift method must be one of {UPLIFT_METHODS}, got {uplift_method!r}"
        )
    data, _ = clean(raw, spec)
    arms, control = campaign_arms(data, spec)
    if control is None:
        raise InvalidArgument(f"spec {spec.name!r} has no treatment column with a control arm")
    fold = np.random.default_rng(seed).integers(0, folds, len(data))
    x = data[list(spec.features)]
    out = {a: {t: np.zeros(len(data)) for t in spec.targets} for a in arms if a != control}
    for k in range(folds):
        fit_rows, scored = data[fold != k], fold == k
        as_control = x[scored].assign(**arms[control])
        if uplift_method == S_LEARNER:
            models = {
                t: build_pipeline(spec, family, seed).fit(
                    fit_rows[list(spec.features)], fit_rows[t]
                )
                for t in spec.targets
            }
        else:
            models = fit_effects(fit_rows, spec, family, seed)
        for arm in out:
            as_arm = x[scored].assign(**arms[arm])
            for t, model in models.items():
                if uplift_method == S_LEARNER:
                    u = model.predict_proba(as_arm)[:, 1] - model.predict_proba(as_control)[:, 1]
                else:
                    u = model.predict(as_arm) - model.predict(as_control)
                out[arm][t][scored] = u
    return data, out, control


def cross_fitted_qini(
    data: pd.DataFrame,
    uplifts: dict[str, dict[str, np.ndarray]],
    spec: FeatureSpec,
    control: str,
    arm: str,
    target: str,
) -> float:
    """Qini coefficient of `arm` against the control over all their rows."""
    labels = data[spec.treatment].astype(str).to_numpy()
    rows = (labels == arm) | (labels == control)
    return qini_coefficient(
        data[target].to_numpy()[rows], labels[rows] == arm, uplifts[arm][target][rows]
    )
