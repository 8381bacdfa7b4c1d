"""A/B statistics over per-unit sufficient statistics, compatible with GrowthBook's gbstats.

Conventions (the same as gbstats 0.8, checked against its published values in
tests/feedback/test_stats.py):
- a metric of a variant is summarized by n, sum and sum of squares over units; a rate (0/1 per
  unit) has variance p(1 - p), a mean metric the sample variance (n - 1);
- the frequentist test is Welch's unpooled t-test, on the absolute difference and on the relative
  lift (variance by the delta method); for rates it is the unpooled two-proportion z-test up to
  the t distribution's degrees of freedom;
- the Bayesian result is a Gaussian posterior on the relative lift under a flat prior;
- sample-ratio mismatch is Pearson's chi-square of units per variant against configured weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as sps

from common.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class MetricStats:
    """Sufficient statistics of one metric over the units of one variant."""

    n: int
    sum: float
    sum_squares: float
    binary: bool = False

    def __post_init__(self) -> None:
        if self.n < 0 or not math.isfinite(self.sum) or not math.isfinite(self.sum_squares):
            raise InvalidArgument(f"metric statistics must be finite with n >= 0, got {self}")

    @classmethod
    def proportion(cls, n: int, successes: float) -> MetricStats:
        return cls(n=n, sum=successes, sum_squares=successes, binary=True)

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        if self.binary:
            return self.mean * (1.0 - self.mean)
        if self.n < 2:
            return math.nan
        return (self.sum_squares - self.sum * self.sum / self.n) / (self.n - 1)


@dataclass(frozen=True, slots=True)
class Comparison:
    """A variant against control: differences with intervals, p-values, chance to beat it."""

    control_mean: float
    variant_mean: float
    absolute: float
    absolute_ci: tuple[float, float]
    absolute_p: float
    relative: float
    relative_ci: tuple[float, float]
    relative_p: float
    chance_to_beat_control: float


def _welch_df(a: MetricStats, b: MetricStats) -> float:
    va, vb = a.variance / a.n, b.variance / b.n
    denominator = va * va / (a.n - 1) + vb * vb / (b.n - 1)
    return (va + vb) ** 2 / denominator if denominator > 0 else math.inf


def _relative_variance(control: MetricStats, variant: MetricStats) -> float:
    ma, mb = control.mean, variant.mean
    return variant.variance / (variant.n * ma**2) + control.variance * mb**2 / (control.n * ma**4)


def bayesian_relative(
    control: MetricStats, variant: MetricStats, *, alpha: float = 0.05
) -> tuple[float, tuple[float, float], float]:
    """(expected relative lift, credible interval, chance to win) under a flat prior: the
    posterior of the relative lift is Normal(r, Var(r)) with the delta-method variance."""
    relative = variant.mean / control.mean - 1
    sd = math.sqrt(_relative_variance(control, variant))
    if sd == 0:
        return relative, (relative, relative), float(relative > 0) if relative else 0.5
    z = sps.norm.ppf(1 - alpha / 2)
    return relative, (relative - z * sd, relative + z * sd), float(sps.norm.cdf(relative / sd))


def compare(control: MetricStats, variant: MetricStats, *, alpha: float = 0.05) -> Comparison:
    """Welch t-test on the absolute and the relative difference, and the flat-prior Bayesian
    chance that the variant's mean exceeds control's.

    Relative lift r = m_b / m_a - 1 with delta-method variance
    Var(r) = s_b^2 / (n_b m_a^2) + s_a^2 m_b^2 / (n_a m_a^4)  (as gbstats).
    """
    if control.n < 2 or variant.n < 2:
        raise InvalidArgument("each variant needs at least two units to compare")
    df = _welch_df(control, variant)
    dist = sps.t(df) if math.isfinite(df) else sps.norm()
    q = dist.ppf(1 - alpha / 2)

    def test(point: float, variance: float) -> tuple[tuple[float, float], float]:
        if not variance > 0:
            return (point, point), 1.0 if point == 0 else 0.0
        se = math.sqrt(variance)
        return (point - q * se, point + q * se), float(2 * dist.sf(abs(point / se)))

    absolute = variant.mean - control.mean
    abs_ci, abs_p = test(absolute, control.variance / control.n + variant.variance / variant.n)
    if control.mean == 0:
        relative, rel_ci, rel_p, chance = math.nan, (math.nan, math.nan), math.nan, math.nan
    else:
        relative = variant.mean / control.mean - 1
        rel_ci, rel_p = test(relative, _relative_variance(control, variant))
        chance = bayesian_relative(control, variant, alpha=alpha)[2]
    return Comparison(
        control_mean=control.mean,
        variant_mean=variant.mean,
        absolute=absolute,
        absolute_ci=abs_ci,
        absolute_p=abs_p,
        relative=relative,
        relative_ci=rel_ci,
        relative_p=rel_p,
        chance_to_beat_control=chance,
    )


def sample_ratio_mismatch(units: Sequence[int], weights: Sequence[float]) -> tuple[float, float]:
    """(chi-square, p-value) of units per variant against the configured weights; a small p
    (gbstats warns below 0.001) means assignment or logging is broken, not that a variant won."""
    if len(units) != len(weights) or len(units) < 2:
        raise InvalidArgument("sample-ratio check needs one weight per variant and two variants")
    total, weight = float(sum(units)), float(sum(weights))
    if total <= 0 or weight <= 0:
        return 0.0, 1.0
    chi2 = sum(
        (u - total * w / weight) ** 2 / (total * w / weight)
        for u, w in zip(units, weights, strict=True)
        if w > 0
    )
    return float(chi2), float(sps.chi2.sf(chi2, len(units) - 1))


@dataclass(frozen=True, slots=True)
class ProportionTest:
    """Two-proportion z-test of p_b - p_a: pooled standard error under H0 for the statistic,
    unpooled (Wald) for the interval of the difference."""

    difference: float
    z: float
    p: float
    ci: tuple[float, float]


def two_proportion_ztest(
    control: MetricStats, variant: MetricStats, *, alpha: float = 0.05
) -> ProportionTest:
    """z = (p_b - p_a) / sqrt(p (1 - p) (1/n_a + 1/n_b)) with the pooled p = (x_a + x_b) /
    (n_a + n_b); two-sided p = 2 (1 - Phi(|z|)). The same p as Pearson's chi-square of the 2x2
    table without continuity correction (z^2 = chi^2)."""
    if not (control.binary and variant.binary):
        raise InvalidArgument("the two-proportion z-test needs rates (0/1 per unit)")
    if control.n < 1 or variant.n < 1:
        raise InvalidArgument("each variant needs at least one unit for the z-test")
    pa, pb = control.mean, variant.mean
    pooled = (control.sum + variant.sum) / (control.n + variant.n)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / variant.n))
    se = math.sqrt(pa * (1 - pa) / control.n + pb * (1 - pb) / variant.n)
    diff = pb - pa
    q = float(sps.norm.ppf(1 - alpha / 2))
    if se0 == 0:
        return ProportionTest(diff, 0.0, 1.0, (diff, diff))
    z = diff / se0
    return ProportionTest(diff, z, float(2 * sps.norm.sf(abs(z))), (diff - q * se, diff + q * se))


@dataclass(frozen=True, slots=True)
class CovariateStats:
    """Sums over one variant's units of a pre-period covariate x and of x times the metric y:
    with the metric's MetricStats, the sufficient statistics of CUPED."""

    n: int
    sum_x: float
    sum_x2: float
    sum_xy: float


def cuped_theta(groups: Sequence[tuple[MetricStats, CovariateStats]]) -> tuple[float, float]:
    """(theta, mean of x) pooled over all units of all variants: theta = cov(Y, X) / var(X)
    (Deng, Xu, Kohavi, Walker 2013, "Improving the sensitivity of online controlled experiments
    by utilizing pre-experiment data"; gbstats pools theta over the variants the same way).
    theta is 0 when X does not vary."""
    n = sum(c.n for _, c in groups)
    if n < 2:
        return 0.0, 0.0
    sx = sum(c.sum_x for _, c in groups)
    sy = sum(y.sum for y, _ in groups)
    var_x = (sum(c.sum_x2 for _, c in groups) - sx * sx / n) / (n - 1)
    cov = (sum(c.sum_xy for _, c in groups) - sx * sy / n) / (n - 1)
    return (cov / var_x if var_x > 0 else 0.0), sx / n


def cuped_adjusted(y: MetricStats, x: CovariateStats, theta: float, mean_x: float) -> MetricStats:
    """Statistics of y' = y - theta (x - mean_x) per unit: same expected difference between
    variants, variance var(y) - 2 theta cov(y, x) + theta^2 var(x)."""
    shift = theta * mean_x
    total = y.sum - theta * x.sum_x + shift * y.n
    squares = (
        y.sum_squares
        + theta * theta * x.sum_x2
        + shift * shift * y.n
        - 2 * theta * x.sum_xy
        + 2 * shift * y.sum
        - 2 * theta * shift * x.sum_x
    )
    return MetricStats(n=y.n, sum=total, sum_squares=squares)


def as_mean_metric(y: MetricStats) -> MetricStats:
    """A rate's statistics seen as a mean metric (sample variance), for CUPED comparisons."""
    return MetricStats(n=y.n, sum=y.sum, sum_squares=y.sum_squares)
