"""Revenue as a hurdle model inside the same graph: P(buy) x E[spend | buy], with uplift."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from common.errors import InvalidArgument
from common.graph import output_names, revenue_output_names
from tests.trainer.test_uplift import SPEC, synthetic
from trainer.export import predict_onnx, session_for
from trainer.pipeline import FAMILIES
from trainer.train import train

REVENUE_SPEC = dataclasses.replace(SPEC, revenue={"spend_after": "conversion"})


def with_spend(n: int, seed: int):  # type: ignore[no-untyped-def]
    """Buyers spend 40 + 80 x spend (plus noise); gold buyers with the coupon 20 more."""
    frame = synthetic(n, seed)
    rng = np.random.default_rng(seed + 100)
    amount = 40 + 80 * frame["spend"] + rng.normal(0, 5, n)
    amount += 20 * ((frame["tier"] == "gold") & (frame["offer"] == "coupon"))
    return frame.assign(spend_after=np.where(frame["conversion"] == 1, amount.clip(1), 0.0))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_carries_a_hurdle_revenue_output_with_parity(family: str) -> None:
    model = train(with_spend(3_000, seed=4), REVENUE_SPEC, family=family)
    assert model.parity_max_abs_diff <= 1e-5
    out = predict_onnx(session_for(model.onnx_bytes), model.holdout, REVENUE_SPEC)
    expected, control, uplift = revenue_output_names("spend_after")
    p = output_names("conversion")[0]
    conditional, _ = model.revenue["spend_after"].served(model.holdout)
    np.testing.assert_allclose(out[expected], out[p] * conditional, rtol=1e-4)
    np.testing.assert_allclose(out[uplift], out[expected] - out[control], atol=1e-4)
    assert np.all(out[control] >= 0) or family == "logreg"  # a linear spend model may go below 0


def test_hurdle_revenue_matches_the_held_out_mean_and_ranks_gold_first() -> None:
    model = train(with_spend(12_000, seed=5), REVENUE_SPEC, family="hgb")
    holdout = model.holdout
    out = predict_onnx(session_for(model.onnx_bytes), holdout.assign(offer="coupon"), REVENUE_SPEC)
    expected, _, uplift = revenue_output_names("spend_after")
    observed = holdout["spend_after"][holdout["offer"] == "coupon"].mean()
    assert out[expected][(holdout["offer"] == "coupon").to_numpy()].mean() == pytest.approx(
        observed, rel=0.1
    )
    by_tier = {t: out[uplift][(holdout["tier"] == t).to_numpy()].mean() for t in ("gold", "bronze")}
    assert by_tier["gold"] > 0 > by_tier["bronze"], by_tier


def test_revenue_must_hang_on_a_binary_target() -> None:
    with pytest.raises(InvalidArgument, match="needs a binary target"):
        dataclasses.replace(SPEC, revenue={"spend_after": "purchase"})
    with pytest.raises(InvalidArgument, match="already a target or a feature"):
        dataclasses.replace(SPEC, revenue={"conversion": "conversion"})


@pytest.mark.parametrize("learner", ["t-learner", "dr-learner"])
def test_per_arm_learners_carry_a_per_arm_amount_model(learner: str) -> None:
    """With a model per arm the amount also has a regressor per arm: the coupon's +20 for gold
    buyers shows in its revenue uplift, and the graph agrees with scikit-learn."""
    model = train(with_spend(12_000, seed=6), REVENUE_SPEC, family="hgb", uplift_method=learner)
    assert model.parity_max_abs_diff <= 1e-5
    holdout = model.holdout
    out = predict_onnx(session_for(model.onnx_bytes), holdout.assign(offer="coupon"), REVENUE_SPEC)
    _, _, uplift = revenue_output_names("spend_after")
    by_tier = {t: out[uplift][(holdout["tier"] == t).to_numpy()].mean() for t in ("gold", "bronze")}
    assert by_tier["gold"] > 0 > by_tier["bronze"], by_tier


def test_an_ensembles_revenue_averages_its_members_hurdle_models() -> None:
    from trainer.recipe import Recipe

    recipe = Recipe(
        family="ensemble",
        learner="ensemble",
        members=(("hgb", "t-learner"), ("hgb", "s-learner")),
    )
    model = train(with_spend(8_000, seed=7), REVENUE_SPEC, recipe=recipe)
    assert model.parity_max_abs_diff <= 1e-5
    holdout = model.holdout
    out = predict_onnx(session_for(model.onnx_bytes), holdout.assign(offer="coupon"), REVENUE_SPEC)
    _, _, uplift = revenue_output_names("spend_after")
    by_tier = {t: out[uplift][(holdout["tier"] == t).to_numpy()].mean() for t in ("gold", "bronze")}
    assert by_tier["gold"] > 0 > by_tier["bronze"], by_tier
