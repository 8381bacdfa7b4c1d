"""Response metrics against scikit-learn and hand-computed calibration error; the report."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from trainer.evaluate import binary_metrics, expected_calibration_error
from trainer.report import evaluation_report


def test_expected_calibration_error_by_hand() -> None:
    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.05, 0.15, 0.95, 0.91, 1.0])
    # bin 0: p .05, y 0 -> .05; bin 1: p .15, y 1 -> .85; bin 9: p .953.., y 2/3 -> .2866..
    expected = (0.05 + 0.85 + 3 * abs(2 / 3 - (0.95 + 0.91 + 1.0) / 3)) / 5
    assert expected_calibration_error(y, p) == pytest.approx(expected)
    assert expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0])) == 0.0


def test_binary_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(size=500)
    y = (rng.uniform(size=500) < p).astype(int)
    m = binary_metrics(y, p, threshold=0.4)
    assert m["auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, p))
    assert m["f1"] == pytest.approx(f1_score(y, p >= 0.4))
    assert m["recall"] == pytest.approx(y[p >= 0.4].sum() / y.sum())
    assert "f1" not in binary_metrics(y, p)


def test_report_on_simulated_history(trained_logreg) -> None:  # type: ignore[no-untyped-def]
    report = evaluation_report(trained_logreg)
    assert report["uplift_method"] == "s-learner"
    assert report["control_arm"] == ""  # the simulator logs no campaign id for "none"
    holdout = trained_logreg.holdout
    # "Everyone gets X" by IPS with frequency propensities is X's observed held-out rate.
    for campaign in ("coupon-10", "newsletter"):
        rows = holdout["campaign_id"] == campaign
        observed = holdout.loc[rows, "conversion"].mean()
        value = report["policy"]["conversion"][f"everyone: {campaign}"]["value"]
        assert value == pytest.approx(observed)
        m = report["uplift"][campaign]["conversion"]
        assert set(m) >= {"qini", "auuc", "uplift_at_10", "uplift_at_30"}
    assert report["policy"]["conversion"]["no campaign"]["value"] == pytest.approx(
        holdout.loc[holdout["campaign_id"] == "", "conversion"].mean()
    )
    assert set(report["importance"]) == {"click", "conversion"}
    assert report["segments"]["coupon-10"]["conversion"][0]["rows"] > 0


def test_report_sets_the_learned_policy_against_the_best_single_choice(  # type: ignore[no-untyped-def]
    trained_logreg,
) -> None:
    """The paired difference is the learned policy's IPS value minus the best fixed choice's,
    and its interval holds it; the Markdown says which choice that was."""
    from trainer.report_text import render_markdown

    report = evaluation_report(trained_logreg, explain=False)
    values = report["policy"]["conversion"]
    versus = report["vs_best_single"]["conversion"]
    fixed = {k: v["value"] for k, v in values.items() if k != "learned"}
    assert versus["best_single"] == max(fixed, key=fixed.__getitem__)
    assert versus["best_single_value"] == pytest.approx(max(fixed.values()))
    difference = values["learned"]["value"] - versus["best_single_value"]
    assert versus["difference"] == pytest.approx(difference)
    assert versus["low"] < versus["difference"] < versus["high"]
    text = render_markdown(report)
    assert f"learned - best single ({versus['best_single']})" in text
    assert "Against the best single choice for everyone" in text


def test_report_lists_the_recipe_selection_candidates() -> None:
    """A model trained with the defaults carries its selection table into the report."""
    from tests.trainer.test_learners import SPEC, synthetic
    from trainer.report_text import render_markdown
    from trainer.train import train

    model = train(synthetic(6_000, seed=5), SPEC, family="auto", uplift_method="auto")
    report = evaluation_report(model, explain=False)
    selection = report["selection"]
    assert selection["best_single"] in selection["single_arms"]
    text = render_markdown(report)
    assert "## Recipe selection" in text
    assert "(chosen)" in text
    for c in selection["candidates"]:
        name = " + ".join(f"{f} {lr}" for f, lr in c["members"]) or f"{c['family']} {c['learner']}"
        assert f"| {name}" in text
