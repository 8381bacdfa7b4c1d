"""Explanations: permutation importance per target, and segments (the leaves of a small tree
fitted to predicted uplift) where each campaign helps most and where it helps least or hurts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.tree import DecisionTreeRegressor

from trainer.spec import FeatureSpec

IMPORTANCE_ROWS = 4_000
IMPORTANCE_REPEATS = 3
SEGMENT_DEPTH = 2


def permutation_importances(
    pipelines: Mapping[str, Any], holdout: pd.DataFrame, spec: FeatureSpec, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Per target, per feature: the drop of held-out AUC when that column is shuffled (Breiman,
    "Random Forests", 2001, section 10), on up to IMPORTANCE_ROWS rows; largest first."""
    rows = holdout.sample(min(IMPORTANCE_ROWS, len(holdout)), random_state=seed)
    x = rows[list(spec.features)]
    out = {}
    for target, pipeline in pipelines.items():
        y = rows[target].to_numpy()
        if len(np.unique(y)) < 2:
            continue
        result = permutation_importance(
            pipeline, x, y, scoring="roc_auc", n_repeats=IMPORTANCE_REPEATS, random_state=seed
        )
        means = dict(zip(x.columns, result.importances_mean.tolist(), strict=True))
        out[target] = dict(sorted(means.items(), key=lambda kv: -kv[1]))
    return out


def _user_matrix(rows: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    parts = []
    for col, kind in spec.user_features.items():
        if kind == "numeric":
            values = rows[col].astype(float)
            parts.append(values.fillna(values.median()).rename(col))
        else:
            parts.append(
                pd.get_dummies(rows[col].astype(str), prefix=col, prefix_sep="=").astype(float)
            )
    return pd.concat(parts, axis=1)


def _leaf_rules(
    tree: DecisionTreeRegressor, columns: list[str], spec: FeatureSpec
) -> dict[int, str]:
    t = tree.tree_
    rules: dict[int, str] = {}

    def walk(node: int, conditions: list[str]) -> None:
        if t.children_left[node] == t.children_right[node]:
            rules[node] = " and ".join(conditions) or "everyone"
            return
        name, cut = columns[t.feature[node]], t.threshold[node]
        if "=" in name and name.split("=", 1)[0] in spec.user_features:
            col, value = name.split("=", 1)
            left, right = f"{col} is not {value!r}", f"{col} is {value!r}"
        else:
            left, right = f"{name} <= {cut:.4g}", f"{name} > {cut:.4g}"
        walk(t.children_left[node], [*conditions, left])
        walk(t.children_right[node], [*conditions, right])

    walk(0, [])
    return rules


def uplift_segments(
    holdout: pd.DataFrame,
    spec: FeatureSpec,
    uplifts: Mapping[str, Mapping[str, np.ndarray]],
    control: str,
    seed: int = 0,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Per campaign, per target: the leaves of a depth-2 tree on the user features fitted to
    the predicted uplift, best first, each with its rows, mean predicted uplift and the uplift
    observed in it (campaign rate minus control rate among its held-out rows of those arms)."""
    x = _user_matrix(holdout, spec)
    arm = holdout[spec.treatment].astype(str).to_numpy()
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for campaign, per_target in uplifts.items():
        if campaign == control:
            continue
        out[campaign] = {}
        for target, predicted in per_target.items():
            tree = DecisionTreeRegressor(
                max_depth=SEGMENT_DEPTH, min_samples_leaf=max(20, len(x) // 20), random_state=seed
            ).fit(x, predicted)
            leaves = tree.apply(x)
            rules = _leaf_rules(tree, list(x.columns), spec)
            y = holdout[target].to_numpy(float)
            segments = []
            for leaf, rule in rules.items():
                in_leaf = leaves == leaf
                treated, ctrl = in_leaf & (arm == campaign), in_leaf & (arm == control)
                observed = (
                    float(y[treated].mean() - y[ctrl].mean())
                    if treated.any() and ctrl.any()
                    else None
                )
                segments.append(
                    {
                        "segment": rule,
                        "rows": int(in_leaf.sum()),
                        "predicted_uplift": float(predicted[in_leaf].mean()),
                        "observed_uplift": observed,
                    }
                )
            out[campaign][target] = sorted(segments, key=lambda s: -s["predicted_uplift"])
    return out
