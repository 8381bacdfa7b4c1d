"""Uplift methods on a seeded synthetic set whose true effects are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from common.errors import InvalidArgument
from common.graph import output_names
from trainer.export import predict_onnx, session_for
from trainer.spec import FeatureSpec
from trainer.train import train
from trainer.uplift import arm_propensities, campaign_arms

SPEC = FeatureSpec(
    name="synthetic-uplift",
    user_features={"age": "numeric", "spend": "numeric", "tier": "categorical"},
    campaign_features={"offer": "categorical"},
    control={"offer": "none"},
    targets=("conversion",),
    outcome_types={"conversion": "conversion"},
    treatment="offer",
)


def true_effect(frame: pd.DataFrame) -> np.ndarray:
    """Gold users gain +20 points from the offer, rising with spend; bronze users lose 8."""
    gold = (frame["tier"] == "gold").to_numpy()
    spend = frame["spend"].to_numpy(float)
    return np.where(gold, 0.10 + 0.2 * spend, np.where(frame["tier"] == "bronze", -0.08, 0.02))


def synthetic(n: int, seed: int, targeted: bool = False) -> pd.DataFrame:
    """Randomized offers (with `targeted`, gold users get the offer 80% of the time and the
    logged propensity column says so)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 70, n).astype(float),
            "spend": rng.uniform(0, 1, n),
            "tier": rng.choice(["gold", "silver", "bronze"], n),
        }
    )
    p_offer = np.where(targeted & (frame["tier"] == "gold"), 0.8, 0.5)
    offered = rng.uniform(size=n) < p_offer
    frame["offer"] = np.where(offered, "coupon", "none")
    frame["propensity"] = np.where(offered, p_offer, 1 - p_offer)
    base = 0.15 + 0.2 * frame["spend"].to_numpy() + 0.1 * (frame["tier"] == "gold")
    p = np.clip(base + offered * true_effect(frame), 0, 1)
    frame["conversion"] = (rng.uniform(size=n) < p).astype(int)
    return frame


def _ranking_quality(model, rows: pd.DataFrame) -> tuple[float, pd.Series]:  # type: ignore[no-untyped-def]
    scored = predict_onnx(session_for(model.onnx_bytes), rows.assign(offer="coupon"), SPEC)
    uplift = scored[output_names("conversion")[2]]
    rho = spearmanr(uplift, true_effect(rows)).statistic
    by_tier = pd.Series(uplift).groupby(rows["tier"].to_numpy()).mean()
    return float(rho), by_tier.sort_values(ascending=False)


@pytest.mark.parametrize("method", ["s-learner", "transformed-outcome"])
def test_uplift_ranks_like_the_truth_and_the_positive_segment_first(method: str) -> None:
    model = train(synthetic(12_000, seed=1), SPEC, family="hgb", uplift_method=method)
    assert model.uplift_method == method
    assert model.parity_max_abs_diff <= 1e-5
    rho, by_tier = _ranking_quality(model, model.holdout)
    assert rho >= 0.8, (method, rho)
    assert list(by_tier.index) == ["gold", "silver", "bronze"], by_tier
    assert by_tier["bronze"] < 0 < by_tier["gold"]


def test_transformed_outcome_uses_logged_propensities_when_assignment_is_not_uniform() -> None:
    import dataclasses

    logged = dataclasses.replace(SPEC, propensity="propensity")
    data = synthetic(12_000, seed=2, targeted=True)
    arms, control = campaign_arms(data, logged)
    assert control == "none" and list(arms) == ["coupon", "none"]
    e = arm_propensities(data, logged, list(arms))
    gold = (data["tier"] == "gold").to_numpy()
    assert e[gold, 0].mean() == pytest.approx(0.8, abs=0.02)
    assert e[~gold, 0].mean() == pytest.approx(0.5, abs=0.02)
    model = train(data, logged, family="hgb", uplift_method="transformed-outcome")
    rho, by_tier = _ranking_quality(model, model.holdout)
    assert rho >= 0.8 and by_tier.index[0] == "gold", (rho, by_tier)
    truth = true_effect(model.holdout)[(model.holdout["tier"] == "gold").to_numpy()].mean()
    assert by_tier["gold"] == pytest.approx(truth, abs=0.1)
    # Taking the targeted assignment for a uniform one overstates gold's effect (measured 0.52).
    naive = train(data, SPEC, family="hgb", uplift_method="transformed-outcome")
    assert _ranking_quality(naive, naive.holdout)[1]["gold"] > truth + 0.2


def test_transformed_outcome_refuses_a_linear_family_and_unknown_methods() -> None:
    data = synthetic(600, seed=3)
    with pytest.raises(InvalidArgument, match="needs a family in"):
        train(data, SPEC, family="logreg", uplift_method="transformed-outcome")
    with pytest.raises(InvalidArgument, match="uplift method must be one of"):
        train(data, SPEC, family="hgb", uplift_method="y-learner")
