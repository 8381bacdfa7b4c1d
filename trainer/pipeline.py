"""Model families: one scikit-learn pipeline (imputation, one-hot, scaling, model) per target."""

from __future__ import annotations

from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from common.errors import InvalidArgument
from trainer.spec import FeatureSpec

MISSING_CATEGORY = "(missing)"


def _estimator(family: str, seed: int) -> Any:
    match family:
        case "logreg":
            return LogisticRegression(max_iter=1000, C=1.0)
        case "tree":
            return DecisionTreeClassifier(max_depth=6, min_samples_leaf=50, random_state=seed)
        case "forest":
            return RandomForestClassifier(
                n_estimators=60, max_depth=8, min_samples_leaf=20, random_state=seed, n_jobs=1
            )
        case "hgb":
            return HistGradientBoostingClassifier(
                max_iter=150, learning_rate=0.08, max_leaf_nodes=15, random_state=seed
            )
        case "mlp":
            return MLPClassifier(
                hidden_layer_sizes=(32, 16), max_iter=300, early_stopping=True, random_state=seed
            )
    raise InvalidArgument(f"model family must be one of {FAMILIES}, got {family!r}")


FAMILIES = ("logreg", "tree", "forest", "hgb", "mlp")
SCALED_FAMILIES = ("logreg", "mlp")


def build_pipeline(spec: FeatureSpec, family: str, seed: int = 0) -> Pipeline:
    """Preprocessing and estimator in one pipeline, so one ONNX graph can carry both."""
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
    if categorical:
        # The converter imputes string columns only when missing is a string: "" here.
        impute = SimpleImputer(missing_values="", strategy="constant", fill_value=MISSING_CATEGORY)
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        transformers.append(
            ("categorical", Pipeline([("impute", impute), ("onehot", onehot)]), categorical)
        )
    pre = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    return Pipeline([("preprocess", pre), ("model", _estimator(family, seed))])
