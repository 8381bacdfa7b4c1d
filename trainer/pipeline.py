"""Model families: one scikit-learn pipeline (imputation, one-hot, scaling, model) per target."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    KBinsDiscretizer,
    OneHotEncoder,
    PolynomialFeatures,
    StandardScaler,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from common.errors import InvalidArgument
from trainer.spec import FeatureSpec

MISSING_CATEGORY = "(missing)"


def _estimator(family: str, seed: int) -> Any:
    match family:
        case "logreg" | "gam":
            return LogisticRegression(max_iter=1000, C=1.0)
        case "tree":
            return DecisionTreeClassifier(max_depth=6, min_samples_leaf=50, random_state=seed)
        case "forest":
            return RandomForestClassifier(
                n_estimators=60, max_depth=8, min_samples_leaf=20, random_state=seed, n_jobs=1
            )
        case "hgb":
            # Early stopping on a validation share always (scikit-learn's "auto" waits for
            # 10,000 rows): per-arm models often see a thousand rows, where 150 unchecked
            # rounds overfit (held-out AUC 0.56 against logistic regression's 0.60, measured
            # on the simulator with 8,000 rows over six arms).
            return HistGradientBoostingClassifier(
                max_iter=300,
                learning_rate=0.06,
                max_leaf_nodes=15,
                min_samples_leaf=40,
                l2_regularization=1.0,
                early_stopping=True,
                validation_fraction=0.15,
                n_iter_no_change=15,
                random_state=seed,
            )
        case "mlp":
            return MLPClassifier(
                hidden_layer_sizes=(32, 16), max_iter=300, early_stopping=True, random_state=seed
            )
    raise InvalidArgument(f"model family must be one of {FAMILIES}, got {family!r}")


FAMILIES = ("logreg", "gam", "tree", "forest", "hgb", "mlp")
# Families that can regress an effect varying with the user features and the campaign together
# (an additive linear model cannot: its uplift would be one constant per campaign).
EFFECT_FAMILIES = ("tree", "forest", "hgb", "mlp")


def _regressor(family: str, seed: int) -> Any:
    match family:
        case "logreg" | "gam":  # the linear families' regressor
            return Ridge(alpha=1.0)
        case "tree":
            return DecisionTreeRegressor(max_depth=5, min_samples_leaf=200, random_state=seed)
        case "forest":
            return RandomForestRegressor(
                n_estimators=60, max_depth=6, min_samples_leaf=100, random_state=seed, n_jobs=1
            )
        case "hgb":
            return HistGradientBoostingRegressor(
                max_iter=100,
                learning_rate=0.05,
                max_leaf_nodes=7,
                min_samples_leaf=200,
                l2_regularization=1.0,
                random_state=seed,
            )
        case "mlp":
            # Amounts (revenue) are far from unit scale: a larger step reaches them in time.
            return MLPRegressor(
                hidden_layer_sizes=(16,),
                learning_rate_init=0.01,
                max_iter=1000,
                early_stopping=True,
                random_state=seed,
            )
    raise InvalidArgument(f"model family must be one of {FAMILIES}, got {family!r}")


SCALED_FAMILIES = ("logreg", "gam", "mlp")
# The additive family's numeric features also enter as quantile bins (one-hot): a logistic
# model with a step function of each numeric feature beside its linear term.
GAM_BINS = 6


def snap_thresholds_to_float32(pipeline: Pipeline) -> Pipeline:
    """Makes a fitted histogram gradient boosting model exportable without parity loss.

    Its split thresholds are float64 midpoints between float32 data values; onnxruntime
    compares float32 inputs against float32(threshold), which may round *up* to the next data
    value and send it the other way. Replacing each threshold t by the largest float32 <= t
    changes no scikit-learn prediction on float32-valued inputs (no such value lies between
    the two) and makes the exported threshold exact. Other families are returned unchanged.
    """
    for bins in _bin_discretizers(pipeline):
        _snap_edges(bins)
    model = pipeline.steps[-1][1]
    if isinstance(model, CalibratedClassifierCV):
        for calibrated in model.calibrated_classifiers_:
            _snap(calibrated.estimator)
    else:
        _snap(model)
    return pipeline


def _bin_discretizers(step: Any) -> list[KBinsDiscretizer]:
    """Every fitted KBinsDiscretizer inside a pipeline (and its column transformers)."""
    if isinstance(step, KBinsDiscretizer):
        return [step]
    if isinstance(step, Pipeline):
        return [b for _, sub in step.steps for b in _bin_discretizers(sub)]
    if isinstance(step, ColumnTransformer) and hasattr(step, "transformers_"):
        return [b for _, sub, _ in step.transformers_ for b in _bin_discretizers(sub)]
    return []


def _snap_edges(bins: KBinsDiscretizer) -> None:
    """A float32 input x falls at or above edge e exactly when it is at or above the smallest
    float32 >= e: edges moved there bin every float32 value as before, in both runtimes."""
    snapped = []
    for edges in bins.bin_edges_:
        e32 = edges.astype(np.float32)
        down = e32.astype(np.float64) < edges
        e32[down] = np.nextafter(e32[down], np.float32(np.inf))
        snapped.append(e32.astype(np.float64))
    bins.bin_edges_ = np.asarray(snapped, dtype=object)


def _snap(model: Any) -> None:
    if not isinstance(model, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        return
    for predictors in model._predictors:
        for predictor in predictors:
            nodes = predictor.nodes
            splits = (nodes["is_leaf"] == 0) & (nodes["is_categorical"] == 0)
            t64 = nodes["num_threshold"][splits]
            t32 = t64.astype(np.float32)
            up = t32.astype(np.float64) > t64
            t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
            nodes["num_threshold"][splits] = t32.astype(np.float64)


def build_pipeline(
    spec: FeatureSpec,
    family: str,
    seed: int = 0,
    *,
    regressor: bool = False,
    interactions: bool = False,
) -> Pipeline:
    """Preprocessing and estimator (a classifier, or with `regressor` an effect regressor) in
    one pipeline, so one ONNX graph can carry both. `interactions` adds the pairwise products
    of the preprocessed features before the estimator: what lets a linear S-learner's campaign
    effect differ by user (its additive form gives one constant uplift per campaign)."""
    numeric = [c for c, k in spec.features.items() if k == "numeric"]
    categorical = [c for c, k in spec.features.items() if k == "categorical"]
    transformers = []
    if numeric:
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        # Trees need no scaling, and a scaled float32 value can fall on the other side of a split
        # threshold in onnxruntime than in scikit-learn's float64: scale only where it matters.
        if family in SCALED_FAMILIES:
            steps.append(("scale", StandardScaler()))
        transformers.append(("numeric", Pipeline(steps), numeric))
        if family == "gam":
            bins = KBinsDiscretizer(
                n_bins=GAM_BINS,
                encode="onehot-dense",
                strategy="quantile",
                quantile_method="averaged_inverted_cdf",
            )
            impute = SimpleImputer(strategy="median")
            transformers.append(("bins", Pipeline([("impute", impute), ("bins", bins)]), numeric))
    if categorical:
        # The converter imputes string columns only when missing is a string: "" here.
        impute = SimpleImputer(missing_values="", strategy="constant", fill_value=MISSING_CATEGORY)
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        transformers.append(
            ("categorical", Pipeline([("impute", impute), ("onehot", onehot)]), categorical)
        )
    pre = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    model = _regressor(family, seed) if regressor else _estimator(family, seed)
    stages: list[tuple[str, Any]] = [("preprocess", pre)]
    if interactions:
        stages.append(
            (
                "interactions",
                PolynomialFeatures(degree=2, interaction_only=True, include_bias=False),
            )
        )
    return Pipeline([*stages, ("model", model)])
