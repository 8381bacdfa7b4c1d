"""The evaluation report of a trained model on its held-out rows: response metrics per target,
uplift metrics per campaign against the control, the IPS value of the learned targeting policy
next to fixed policies, and the explanations a marketer reads (what drives each target, where
each campaign helps or hurts, which campaign to send to whom)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from common.graph import output_names, revenue_output_names
from trainer.evaluate import binary_metrics
from trainer.explain import permutation_importances, uplift_segments
from trainer.export import predict_onnx, session_for
from trainer.learners import ServedClassifier
from trainer.spec import FeatureSpec
from trainer.uplift import campaign_arms
from trainer.uplift_metrics import auuc, ips_value, qini_coefficient, uplift_at_k

TOP_SHARES = (0.1, 0.2, 0.3)
NO_CAMPAIGN = "no campaign"


def predicted_uplifts(
    onnx_bytes: bytes, rows: pd.DataFrame, spec: FeatureSpec, arms: dict[str, dict[str, Any]]
) -> dict[str, dict[str, np.ndarray]]:
    """Per arm, per target: the served graph's uplift of every row if it got that arm."""
    session = session_for(onnx_bytes)
    out: dict[str, dict[str, np.ndarray]] = {}
    for arm, feats in arms.items():
        as_arm = rows.assign(**feats)
        pred = predict_onnx(session, as_arm, spec)
        out[arm] = {t: pred[output_names(t)[2]] for t in spec.targets}
        out[arm].update({r: pred[revenue_output_names(r)[2]] for r in spec.revenue})
    return out


def _propensities(holdout: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """The logged propensity column when the spec names one; else each arm's share of the
    held-out rows (randomized assignment, the design's probability estimated by frequency)."""
    if spec.propensity:
        return holdout[spec.propensity].to_numpy(float)
    arm = holdout[spec.treatment].astype(str)
    return arm.map(arm.value_counts(normalize=True)).to_numpy(float)


def uplift_section(
    holdout: pd.DataFrame,
    spec: FeatureSpec,
    uplifts: dict[str, dict[str, np.ndarray]],
    control: str,
) -> dict[str, Any]:
    """Per campaign vs control, per target: Qini coefficient, AUUC (and random's), uplift@k."""
    arm = holdout[spec.treatment].astype(str).to_numpy()
    section: dict[str, Any] = {}
    for campaign, per_target in uplifts.items():
        if campaign == control:
            continue
        rows = (arm == campaign) | (arm == control)
        treated = arm[rows] == campaign
        section[campaign] = {}
        for target, score in per_target.items():
            y = holdout[target].to_numpy()[rows]
            s = score[rows]
            ate = float(y[treated].mean() - y[~treated].mean())
            section[campaign][target] = {
                "rows": int(rows.sum()),
                "observed_uplift": ate,
                "qini": qini_coefficient(y, treated, s),
                "auuc": auuc(y, treated, s),
                "auuc_random": ate / 2.0,
                **{
                    f"uplift_at_{round(k * 100)}": uplift_at_k(y, treated, s, k) for k in TOP_SHARES
                },
            }
    return section


def learned_policy(uplifts: dict[str, dict[str, np.ndarray]], target: str, control: str) -> Any:
    """Each row gets the campaign of highest predicted uplift on `target`, or the control arm
    when no campaign's predicted uplift is positive."""
    campaigns = [a for a in uplifts if a != control]
    stacked = np.column_stack([uplifts[a][target] for a in campaigns])
    best = stacked.argmax(axis=1)
    chosen = np.asarray(campaigns, dtype=object)[best]
    chosen[stacked.max(axis=1) <= 0] = control
    return chosen


def policy_section(
    holdout: pd.DataFrame,
    spec: FeatureSpec,
    uplifts: dict[str, dict[str, np.ndarray]],
    control: str,
) -> dict[str, Any]:
    """Per target: IPS value (with a 95% interval) of the learned policy, of every fixed arm and
    of "nobody gets a campaign", on the held-out randomized rows."""
    logged = holdout[spec.treatment].astype(str).to_numpy(dtype=object)
    propensity = _propensities(holdout, spec)
    section: dict[str, Any] = {}
    for target in [*spec.targets, *spec.revenue]:
        reward = holdout[target].to_numpy(float)
        chosen = learned_policy(uplifts, target, control)
        learned: dict[str, Any] = dict(ips_value(reward, logged, propensity, chosen).as_dict())
        learned["share_targeted"] = float(np.mean(chosen != control))
        learned["shares"] = {a: float(np.mean(chosen == a)) for a in uplifts}
        values: dict[str, Any] = {"learned": learned}
        for arm in uplifts:
            name = NO_CAMPAIGN if arm == control else f"everyone: {arm}"
            fixed = np.full(len(logged), arm, dtype=object)
            values[name] = ips_value(reward, logged, propensity, fixed).as_dict()
        section[target] = values
    return section


def vs_best_single(
    holdout: pd.DataFrame,
    spec: FeatureSpec,
    uplifts: dict[str, dict[str, np.ndarray]],
    control: str,
    policy: dict[str, Any],
) -> dict[str, Any]:
    """Per target: the learned policy against the best single choice for everyone (what a
    plain A/B test concludes; "no campaign" counts), by IPS on the held-out rows, paired per
    row so the 95% interval is of the difference itself."""
    logged = holdout[spec.treatment].astype(str).to_numpy(dtype=object)
    propensity = _propensities(holdout, spec)
    out: dict[str, Any] = {}
    for target, values in policy.items():
        fixed = {k: v for k, v in values.items() if k != "learned"}
        best = max(fixed, key=lambda k: fixed[k]["value"])
        arm = control if best == NO_CAMPAIGN else best.removeprefix("everyone: ")
        reward = holdout[target].to_numpy(float)
        chosen = learned_policy(uplifts, target, control)
        terms = ((logged == chosen).astype(float) - (logged == arm)) * reward / propensity
        n = len(terms)
        diff = float(terms.mean())
        se = float(terms.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
        single = float(fixed[best]["value"])
        out[target] = {
            "best_single": best,
            "best_single_value": single,
            "difference": diff,
            "low": diff - 1.96 * se,
            "high": diff + 1.96 * se,
            "relative": diff / single if single else None,
        }
    return out


def revenue_metrics(
    holdout: pd.DataFrame, spec: FeatureSpec, predictions: dict[str, np.ndarray]
) -> dict[str, dict[str, Any]]:
    """Per revenue column: the hurdle model's expected value against the held-out actuals."""
    out = {}
    for column, hurdle in spec.revenue.items():
        actual = holdout[column].to_numpy(float)
        predicted = predictions[revenue_output_names(column)[0]].astype(float)
        error = predicted - actual
        out[column] = {
            "hurdle": hurdle,
            "mean_actual": float(actual.mean()),
            "mean_predicted": float(predicted.mean()),
            "mae": float(np.abs(error).mean()),
            "rmse": float(np.sqrt((error**2).mean())),
            "rmse_of_the_mean": float(np.sqrt(((actual - actual.mean()) ** 2).mean())),
        }
    return out


def evaluation_report(
    trained: Any, *, threshold: float | None = None, explain: bool = True
) -> dict[str, Any]:
    """The whole report of a `trainer.train.TrainedModel` as JSON-ready data.

    Threshold metrics use `threshold`, or by default each target's base rate in the training
    rows (a row is called positive when it is likelier than average).
    """
    spec: FeatureSpec = trained.spec
    holdout: pd.DataFrame = trained.holdout
    # The fit the held-out rows did not see (a refit for serving has seen them).
    graph = trained.evaluated.onnx_bytes
    predictions = predict_onnx(session_for(graph), holdout, spec)
    response = {}
    for t in spec.targets:
        cut = float(trained.training[t].mean()) if threshold is None else threshold
        response[t] = binary_metrics(holdout[t].to_numpy(), predictions[output_names(t)[0]], cut)
    report: dict[str, Any] = {
        "data_set": spec.name,
        "family": trained.family,
        "uplift_method": trained.uplift_method,
        "rows_train": len(trained.training),
        "refit_on_all_rows": trained.refit,
        "rows_holdout": len(holdout),
        "parity_max_abs_diff": trained.parity_max_abs_diff,
        "response": response,
    }
    report.update(
        {
            k: v
            for k, v in trained.extra_lineage.items()
            if k in ("tuning", "calibration", "selection")
        }
    )
    if spec.revenue:
        report["revenue"] = revenue_metrics(holdout, spec, predictions)
    arms, control = campaign_arms(trained.training, spec)
    if arms and control is not None:
        uplifts = predicted_uplifts(graph, holdout, spec, arms)
        report["control_arm"] = control
        report["uplift"] = uplift_section(holdout, spec, uplifts, control)
        report["policy"] = policy_section(holdout, spec, uplifts, control)
        report["vs_best_single"] = vs_best_single(holdout, spec, uplifts, control, report["policy"])
        if explain:
            report["segments"] = uplift_segments(holdout, spec, uplifts, control)
    if explain:
        estimators = {
            t: ServedClassifier(fit, t).fit(None, None)
            for t, fit in trained.evaluated.fitted.items()
        }
        report["importance"] = permutation_importances(estimators, holdout, spec)
    return report
