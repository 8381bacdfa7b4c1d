"""Uplift methods: the S-learner (the response model itself, scored with and without the
campaign) and the transformed outcome (a regressor fitted to an unbiased per-row effect),
with the arm propensities both need from the logs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from common.errors import InvalidArgument
from trainer.pipeline import EFFECT_FAMILIES, build_pipeline, snap_thresholds_to_float32
from trainer.spec import FeatureSpec

S_LEARNER = "s-learner"
TRANSFORMED_OUTCOME = "transformed-outcome"
UPLIFT_METHODS = (S_LEARNER, TRANSFORMED_OUTCOME)


def campaign_arms(
    data: pd.DataFrame, spec: FeatureSpec
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Each arm of the treatment column with its campaign features, and the control arm's name
    (the arm whose campaign features are the spec's control values; None if there is none)."""
    if not spec.treatment:
        return {}, None
    arms: dict[str, dict[str, Any]] = {}
    for value, rows in data.groupby(spec.treatment, sort=True):
        first = rows.iloc[0]
        arms[str(value)] = {c: first[c] for c in spec.campaign_features}
    control = [
        a
        for a, feats in arms.items()
        if all(str(feats[c]) == str(spec.control[c]) for c in spec.campaign_features)
    ]
    return arms, (control[0] if control else None)


def arm_propensities(data: pd.DataFrame, spec: FeatureSpec, arms: list[str]) -> np.ndarray:
    """P(arm | user) for every row and arm, shape [rows, arms].

    When the spec names a logged propensity column, assignment was not uniform: the
    probabilities come from a multinomial logistic regression of the logged arm on the user
    features (one-hot categorical), fitted on these logs. Otherwise the data is a randomized
    test and each arm's share of the rows is its probability for everyone.
    """
    arm = data[spec.treatment].astype(str)
    if not spec.propensity:
        shares = arm.value_counts(normalize=True)
        return np.tile([shares.get(a, 0.0) for a in arms], (len(data), 1))
    x = pd.get_dummies(
        data[list(spec.user_features)].astype(
            {c: str for c, k in spec.user_features.items() if k == "categorical"}
        )
    ).astype(float)
    x = (x - x.mean()) / x.std(ddof=0).replace(0.0, 1.0)
    model = LogisticRegression(max_iter=1000).fit(x.fillna(0.0), arm)
    probs = model.predict_proba(x.fillna(0.0))
    by_class = dict(zip(model.classes_.tolist(), probs.T, strict=True))
    return np.column_stack([by_class.get(a, np.zeros(len(data))) for a in arms])


MIN_PROPENSITY = 0.01


def transformed_outcome_rows(
    data: pd.DataFrame, spec: FeatureSpec, target: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows and per-row effects Z a regressor of the effect is fitted to.

    For campaign k against control 0 with propensities e_k(x), e_0(x), every treated row of k
    gives Z = (e_k + e_0) Y / e_k with its features, and every control row gives
    Z = -(e_k + e_0) Y / e_0 with k's campaign features; the least-squares fit at (x, k) is
    then (e_k mu_k / e_k - e_0 mu_0 / e_0) (e_k + e_0) / (e_k + e_0) = mu_k(x) - mu_0(x), the
    effect (Athey and Imbens, "Recursive partitioning for heterogeneous causal effects", PNAS
    2016, section 2.4, for one campaign: Z = Y (T - e) / (e (1 - e)), pooled here over
    campaigns). Control rows with their own features and Z = 0 anchor the fit at the control.
    """
    arms, control = campaign_arms(data, spec)
    if control is None or len(arms) < 2:
        raise InvalidArgument(
            f"{TRANSFORMED_OUTCOME} needs a treatment column with a control arm and a campaign; "
            f"spec {spec.name!r} has treatment {spec.treatment!r} and arms {sorted(arms)}"
        )
    names = list(arms)
    e = np.clip(arm_propensities(data, spec, names), MIN_PROPENSITY, 1.0)
    arm = data[spec.treatment].astype(str).to_numpy()
    y = data[target].to_numpy(float)
    is_control = arm == control
    e0 = e[:, names.index(control)]
    frames, effects = [data[is_control]], [np.zeros(int(is_control.sum()))]
    for k, campaign in enumerate(names):
        if campaign == control:
            continue
        treated = arm == campaign
        frames.append(data[treated])
        effects.append(((e[:, k] + e0) * y / e[:, k])[treated])
        frames.append(data[is_control].assign(**arms[campaign]))
        effects.append((-(e[:, k] + e0) * y / e0)[is_control])
    return pd.concat(frames, ignore_index=True), np.concatenate(effects)


def fit_effect(
    data: pd.DataFrame, spec: FeatureSpec, target: str, family: str, seed: int = 0
) -> Pipeline:
    """The transformed-outcome effect regressor of one target (trees, forests, HGB or MLP)."""
    if family not in EFFECT_FAMILIES:
        raise InvalidArgument(
            f"uplift method {TRANSFORMED_OUTCOME!r} needs a family in {EFFECT_FAMILIES} "
            f"(its effect must vary with the user), got {family!r}"
        )
    rows, z = transformed_outcome_rows(data, spec, target)
    fitted = build_pipeline(spec, family, seed, regressor=True).fit(rows[list(spec.features)], z)
    return snap_thresholds_to_float32(fitted)


def fit_effects(
    data: pd.DataFrame, spec: FeatureSpec, family: str, seed: int = 0
) -> dict[str, Pipeline]:
    """One transformed-outcome effect regressor per target."""
    return {t: fit_effect(data, spec, t, family, seed) for t in spec.targets}
