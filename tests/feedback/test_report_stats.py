"""The report's added statistics equal scipy.stats on fixed inputs: the two-proportion z-test
(Pearson's chi-square of the 2x2 table), Welch's t-test on revenue, CUPED's theta and adjusted
t-test, and the sample-ratio check; through the store on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats as sps

from feedback.ab_report import WELCH, Z_TEST, experiment_report
from feedback.decisions import DecisionRecord, write_decisions
from feedback.experiments import Experiment, Variant, save_experiment
from feedback.outcomes import Outcome, log_outcomes
from feedback.stats import (
    CovariateStats,
    MetricStats,
    cuped_adjusted,
    cuped_theta,
    sample_ratio_mismatch,
    two_proportion_ztest,
)
from feedback.store import Store


def _stats(y: np.ndarray, binary: bool = False) -> MetricStats:
    return MetricStats(len(y), float(y.sum()), float((y * y).sum()), binary=binary)


def _cov(x: np.ndarray, y: np.ndarray) -> CovariateStats:
    return CovariateStats(len(x), float(x.sum()), float((x * x).sum()), float((x * y).sum()))


@pytest.mark.parametrize(("na", "xa", "nb", "xb"), [(1000, 100, 1200, 150), (5000, 41, 5100, 60)])
def test_two_proportion_z_equals_pearson_chi_square(na: int, xa: int, nb: int, xb: int) -> None:
    result = two_proportion_ztest(MetricStats.proportion(na, xa), MetricStats.proportion(nb, xb))
    table = np.array([[xa, na - xa], [xb, nb - xb]])
    chi2 = sps.chi2_contingency(table, correction=False)
    assert result.p == pytest.approx(chi2.pvalue, rel=1e-9, abs=1e-12)
    assert result.z**2 == pytest.approx(chi2.statistic, rel=1e-9)
    pa, pb = xa / na, xb / nb
    se = np.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
    q = sps.norm.ppf(0.975)
    assert result.ci == pytest.approx((pb - pa - q * se, pb - pa + q * se), abs=1e-12)


def test_cuped_theta_and_adjusted_welch_equal_scipy() -> None:
    rng = np.random.default_rng(7)
    xa, xb = rng.gamma(2.0, 50.0, 800), rng.gamma(2.0, 50.0, 900)
    ya = 0.3 * xa + rng.normal(0, 20, 800)
    yb = 0.3 * xb + 5 + rng.normal(0, 20, 900)
    groups = [(_stats(ya), _cov(xa, ya)), (_stats(yb), _cov(xb, yb))]
    theta, mean_x = cuped_theta(groups)
    x, y = np.concatenate([xa, xb]), np.concatenate([ya, yb])
    assert theta == pytest.approx(np.cov(y, x)[0, 1] / np.var(x, ddof=1), rel=1e-9)
    assert mean_x == pytest.approx(x.mean(), rel=1e-12)
    adj_a = cuped_adjusted(*groups[0], theta, mean_x)
    adj_b = cuped_adjusted(*groups[1], theta, mean_x)
    ra, rb = ya - theta * (xa - x.mean()), yb - theta * (xb - x.mean())
    assert adj_a.mean == pytest.approx(ra.mean(), rel=1e-9)
    assert adj_b.variance == pytest.approx(rb.var(ddof=1), rel=1e-9)
    assert adj_b.variance < _stats(yb).variance / 2  # the covariate explains most of y


def test_sample_ratio_mismatch_flags_52_48_on_100k_units() -> None:
    chi2, p = sample_ratio_mismatch([52_000, 48_000], [1.0, 1.0])
    expected = sps.chisquare([52_000, 48_000], [50_000, 50_000])
    assert chi2 == pytest.approx(expected.statistic, rel=1e-12) and chi2 == pytest.approx(160.0)
    assert p == pytest.approx(expected.pvalue, rel=1e-9) and p < 0.001
    assert sample_ratio_mismatch([50_100, 49_900], [1.0, 1.0])[1] > 0.001


def _plant(store: Store) -> dict[str, dict[str, np.ndarray]]:
    """Two variants, one decision per unit over three days, conversions, revenue and a
    covariate `history` correlated with revenue; returns each unit's values for scipy."""
    rng = np.random.default_rng(11)
    save_experiment(
        store, Experiment("ab", "s", (Variant("a", 1.0), Variant("b", 1.0)), covariate="history")
    )
    start = datetime(2026, 11, 1, 12, tzinfo=UTC)
    truth: dict[str, dict[str, np.ndarray]] = {}
    records, outcomes = [], []
    for variant, n, rate, uplift in (("a", 600, 0.1, 0.0), ("b", 640, 0.16, 4.0)):
        history = rng.gamma(2.0, 40.0, n).round(2)
        converted = rng.random(n) < rate
        revenue = np.where(converted, (0.2 * history + uplift + rng.gamma(2.0, 5.0, n)), 0.0)
        revenue = revenue.round(2)
        truth[variant] = {"x": history, "conversion": converted.astype(float), "revenue": revenue}
        for u in range(n):
            did = f"{variant}-{u}"
            records.append(
                DecisionRecord(
                    did,
                    f"{variant}{u}",
                    "ab",
                    variant,
                    "p",
                    "1",
                    f"c{u % 2}",
                    0.5,
                    {"history": float(history[u])},
                    [],
                    {},
                    start + timedelta(days=u % 3),
                )
            )
            if converted[u]:
                outcomes.append(Outcome(f"k-{did}", did, "conversion", 1.0, start))
                outcomes.append(Outcome(f"r-{did}", did, "revenue", float(revenue[u]), start))
    write_decisions(store, records)
    log_outcomes(store, outcomes, backfill=True)  # history: decisions long past, outcomes now
    return truth


def test_report_equals_scipy_on_both_backends(store: Store) -> None:
    truth = _plant(store)
    report = experiment_report(store, "ab")
    a, b = report.variants
    ta, tb = truth["a"], truth["b"]
    assert (a.units, b.units, a.decisions) == (600, 640, 600)
    assert a.outcomes == 2 * int(ta["conversion"].sum())
    # Rates: the two-proportion z-test.
    conv = b.tests["conversion"]
    table = [[tb["conversion"].sum(), 640 - tb["conversion"].sum()]]
    table.append([ta["conversion"].sum(), 600 - ta["conversion"].sum()])
    assert conv.name == Z_TEST
    assert conv.p == pytest.approx(sps.chi2_contingency(table, correction=False).pvalue, rel=1e-9)
    # Revenue: Welch's t-test.
    rev = b.tests["revenue"]
    welch = sps.ttest_ind(tb["revenue"], ta["revenue"], equal_var=False)
    assert rev.name == WELCH
    assert rev.p == pytest.approx(welch.pvalue, rel=1e-9)
    assert rev.statistic == pytest.approx(welch.statistic, rel=1e-9)
    assert b.means["revenue"] == pytest.approx(tb["revenue"].mean(), rel=1e-12)
    # CUPED on revenue with `history` as covariate.
    x = np.concatenate([ta["x"], tb["x"]])
    y = np.concatenate([ta["revenue"], tb["revenue"]])
    theta = np.cov(y, x)[0, 1] / np.var(x, ddof=1)
    adj = {k: t["revenue"] - theta * (t["x"] - x.mean()) for k, t in truth.items()}
    cuped = b.cuped["revenue"]
    assert report.covariate == "history"
    assert cuped.theta == pytest.approx(theta, rel=1e-9)
    assert cuped.adjusted_mean == pytest.approx(adj["b"].mean(), rel=1e-9)
    adjusted_welch = sps.ttest_ind(adj["b"], adj["a"], equal_var=False)
    assert cuped.p == pytest.approx(adjusted_welch.pvalue, rel=1e-9)
    before = ta["revenue"].var(ddof=1) / 600 + tb["revenue"].var(ddof=1) / 640
    after = adj["a"].var(ddof=1) / 600 + adj["b"].var(ddof=1) / 640
    assert cuped.variance_reduction == pytest.approx(1 - after / before, rel=1e-9)
    assert cuped.variance_reduction > 0  # history explains part of revenue
    # Per campaign: decisions of b that chose c0.
    c0 = next(c for c in report.campaigns if (c.variant, c.campaign_id) == ("b", "c0"))
    assert c0.decisions == 320 == c0.units
    assert c0.means["conversion"] == pytest.approx(tb["conversion"][::2].mean(), rel=1e-12)
    # Cumulative by day: the last day covers everything.
    days = sorted({d.day for d in report.daily})
    assert days == ["2026-11-01", "2026-11-02", "2026-11-03"]
    first = next(d for d in report.daily if (d.day, d.variant) == (days[0], "b"))
    assert first.units == len(tb["x"][::3])
    assert first.means["conversion"] == pytest.approx(tb["conversion"][::3].mean(), rel=1e-12)
    last = next(d for d in report.daily if (d.day, d.variant) == (days[-1], "b"))
    assert last.relative_lift["conversion"] == pytest.approx(
        b.versus_control["conversion"].relative
    )
    # No covariate: no CUPED.
    assert experiment_report(store, "ab", covariate="").variants[1].cuped == {}
