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
