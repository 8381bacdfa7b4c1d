"""A/B statistics against GrowthBook gbstats 0.8's published values (shared reference vectors)."""

from __future__ import annotations

import math

import pytest

from common.errors import InvalidArgument
from feedback.stats import MetricStats, bayesian_relative, compare, sample_ratio_mismatch


def test_sample_ratio_mismatch_matches_gbstats() -> None:
    chi2, p = sample_ratio_mismatch([1000, 1100], [0.5, 0.5])
    assert chi2 == pytest.approx(4.762, abs=5e-4)
    assert p == pytest.approx(0.0291, abs=5e-5)
    assert sample_ratio_mismatch([1000, 1000], [1, 1]) == (0.0, 1.0)
    # Weights need not sum to one.
    assert sample_ratio_mismatch([250, 750], [1, 3])[1] == pytest.approx(1.0)


def test_welch_t_test_matches_gbstats() -> None:
    a = MetricStats(n=3407, sum=1396.87, sum_squares=52377.9767)
    b = MetricStats(n=3461, sum=2422.7, sum_squares=134698.29)
    result = compare(a, b)
    assert result.absolute_p == pytest.approx(0.02016, abs=5e-6)
    assert result.relative_p == pytest.approx(0.06191, abs=5e-6)
    low, high = result.absolute_ci
    assert low < result.absolute < high and low > 0  # significant at 5% on the absolute scale


def test_bayesian_relative_effect_matches_gbstats() -> None:
    control, variant = MetricStats.proportion(100, 49), MetricStats.proportion(100, 51)
    expected, (low, high), chance = bayesian_relative(control, variant)
    assert chance == pytest.approx(0.60918, abs=5e-6)
    assert expected == pytest.approx(0.04082, abs=5e-6)
    assert (low, high) == (pytest.approx(-0.24779, abs=5e-6), pytest.approx(0.32943, abs=5e-6))
    assert compare(control, variant).chance_to_beat_control == pytest.approx(chance)


def test_identical_variants_show_no_effect() -> None:
    a = MetricStats.proportion(5000, 500)
    result = compare(a, a)
    assert result.absolute == 0 and result.absolute_p == pytest.approx(1.0)
    assert result.chance_to_beat_control == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1, "sum": 0.0, "sum_squares": 0.0}, "n >= 0"),
        ({"n": 10, "sum": math.nan, "sum_squares": 0.0}, "finite"),
    ],
)
def test_invalid_statistics_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        MetricStats(**kwargs)  # type: ignore[arg-type]


def test_too_few_units_or_weights_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="at least two units"):
        compare(MetricStats.proportion(1, 1), MetricStats.proportion(10, 1))
    with pytest.raises(InvalidArgument, match="one weight per variant"):
        sample_ratio_mismatch([10, 20], [1.0])
