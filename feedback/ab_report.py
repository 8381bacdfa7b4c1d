"""The A/B report of an experiment from the store: per variant, units, decisions, outcomes,
rates and revenue per unit, each variant against control (feedback/stats.py: Welch t-test and,
for rates, the two-proportion z-test; flat-prior Bayesian chance to beat control; CUPED when
the experiment names a pre-period covariate), per campaign, cumulative over days, and the
sample-ratio check. Control is the first variant; sums come from feedback/report_data.py.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from common.errors import FailedPrecondition
from feedback.experiments import Experiment, Variant, get_experiment
from feedback.monitoring import CalibrationRow, calibration
from feedback.registry import StageEvent, stage_history
from feedback.report_data import (
    BINARY,
    METRICS,
    CampaignSums,
    ChoiceSums,
    UnitSums,
    campaign_sums,
    choice_sums,
    unit_sums,
)
from feedback.report_summary import summarized
from feedback.stats import (
    Comparison,
    CovariateStats,
    MetricStats,
    as_mean_metric,
    bayesian_relative,
    compare,
    cuped_adjusted,
    cuped_theta,
    sample_ratio_mismatch,
    two_proportion_ztest,
)
from feedback.store import Store

SRM_THRESHOLD = 0.001  # gbstats' default warning level
Z_TEST = "two_proportion_z"
WELCH = "welch_t"
# The report's calibration looks at recent decisions: real-time monitoring, not history.
CALIBRATION_WINDOW = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Test:
    """The headline test of a metric against control: the two-proportion z-test for rates,
    Welch's t-test for revenue; both on the absolute difference of means per unit."""

    name: str
    statistic: float
    p: float


@dataclass(frozen=True, slots=True)
class Cuped:
    """A metric adjusted by CUPED: theta, the variant's adjusted mean, the adjusted absolute
    difference against control (Welch), and by how much the difference's variance shrank."""

    theta: float
    adjusted_mean: float
    absolute: float
    absolute_ci: tuple[float, float]
    p: float
    variance_reduction: float


@dataclass(frozen=True, slots=True)
class VariantSummary:
    name: str
    weight: float
    units: int
    decisions: int
    means: dict[str, float]  # per unit: click and conversion rates, revenue per unit
    versus_control: dict[str, Comparison] = field(default_factory=dict)
    outcomes: int = 0
    tests: dict[str, Test] = field(default_factory=dict)
    # Posterior of the relative lift (flat prior): Normal(mean, sd) per metric.
    posterior: dict[str, tuple[float, float]] = field(default_factory=dict)
    cuped: dict[str, Cuped] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    """Per variant and chosen campaign (None: no campaign); rates per decision."""

    variant: str
    campaign_id: str | None
    units: int
    decisions: int
    outcomes: int
    means: dict[str, float]


@dataclass(frozen=True, slots=True)
class DailyPoint:
    """Cumulative to the end of `day` over units whose first decision came by then."""

    day: str
    variant: str
    units: int
    means: dict[str, float]
    relative_lift: dict[str, float]  # against control's cumulative mean; NaN for control


@dataclass(frozen=True, slots=True)
class Versus:
    """A variant's mean per decision against the best single campaign's estimate."""

    variant: str
    mean: float
    difference: float
    ci: tuple[float, float]


@dataclass(frozen=True, slots=True)
class BestSingle:
    """Per metric: the one campaign (None: no campaign) best for everyone, by inverse
    propensity scoring over all the experiment's decisions with their logged propensities
    (V_c = (1/N) sum_i 1[a_i = c] r_i / p_i: what a plain A/B test would conclude, estimated
    from these logs), and every variant against it, per decision."""

    metric: str
    campaign_id: str | None
    value: float
    ci: tuple[float, float]
    decisions: int
    versus: list[Versus]


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    experiment: str
    control: str
    variants: list[VariantSummary]
    srm_chi2: float
    srm_p: float
    covariate: str = ""
    campaigns: list[CampaignSummary] = field(default_factory=list)
    daily: list[DailyPoint] = field(default_factory=list)
    timeline: list[StageEvent] = field(default_factory=list)
    calibration: list[CalibrationRow] = field(default_factory=list)
    best_single: list[BestSingle] = field(default_factory=list)

    @property
    def srm_warning(self) -> bool:
        return self.srm_p < SRM_THRESHOLD


def _metric(rows: list[UnitSums], m: str) -> MetricStats:
    n = sum(r.units for r in rows)
    return MetricStats(
        n, sum(r.sums[m] for r in rows), sum(r.squares[m] for r in rows), m in BINARY
    )


def _covariate(rows: list[UnitSums], m: str) -> CovariateStats:
    return CovariateStats(
        n=sum(r.units for r in rows),
        sum_x=sum(r.sum_x for r in rows),
        sum_x2=sum(r.sum_x2 for r in rows),
        sum_xy=sum((r.sum_xy or {}).get(m, 0.0) for r in rows),
    )


def _test(control: MetricStats, variant: MetricStats, c: Comparison) -> Test:
    if control.binary:
        z = two_proportion_ztest(control, variant)
        return Test(Z_TEST, z.z, z.p)
    se = math.sqrt(control.variance / control.n + variant.variance / variant.n)
    return Test(WELCH, c.absolute / se if se > 0 else 0.0, c.absolute_p)


def _cuped(
    stats: dict[str, MetricStats], cov: dict[str, CovariateStats], control: str, name: str
) -> Cuped:
    theta, mean_x = cuped_theta([(stats[v], cov[v]) for v in stats])
    a = cuped_adjusted(as_mean_metric(stats[control]), cov[control], theta, mean_x)
    b = cuped_adjusted(as_mean_metric(stats[name]), cov[name], theta, mean_x)
    raw_a, raw_b = as_mean_metric(stats[control]), as_mean_metric(stats[name])
    before = raw_a.variance / raw_a.n + raw_b.variance / raw_b.n
    after = a.variance / a.n + b.variance / b.n
    c = compare(a, b)
    return Cuped(
        theta=theta,
        adjusted_mean=b.mean,
        absolute=c.absolute,
        absolute_ci=c.absolute_ci,
        p=c.absolute_p,
        variance_reduction=1 - after / before if before > 0 else 0.0,
    )


def _daily(rows: list[UnitSums], names: list[str], control: str) -> list[DailyPoint]:
    by_day: dict[str, dict[str, UnitSums]] = defaultdict(dict)
    for r in rows:
        by_day[r.day][r.variant] = r
    totals = {v: {"units": 0.0, **dict.fromkeys(METRICS, 0.0)} for v in names}
    points = []
    for day in sorted(by_day):
        for v, r in by_day[day].items():
            if v in totals:
                totals[v]["units"] += r.units
                for m in METRICS:
                    totals[v][m] += r.sums[m]
        means = {
            v: {m: t[m] / t["units"] if t["units"] else math.nan for m in METRICS}
            for v, t in totals.items()
        }
        for v in names:
            lift = {
                m: means[v][m] / means[control][m] - 1
                if v != control and means[control][m] > 0
                else math.nan
                for m in METRICS
            }
            points.append(DailyPoint(day, v, int(totals[v]["units"]), means[v], lift))
    return points


def _sums(
    store: Store, experiment: Experiment, name: str, covariate: str
) -> tuple[list[UnitSums], list[CampaignSums], list[ChoiceSums]]:
    """Per-unit, per-campaign and choice sums; from the refreshed summary when it has this
    covariate."""
    if covariate == experiment.covariate:
        summary = summarized(store, name, covariate)
        rows, campaigns, choices = summary.units, summary.campaigns, summary.choices
    else:  # another covariate than the summary's: straight from the decisions
        rows, campaigns = unit_sums(store, name, covariate), campaign_sums(store, name)
        choices = choice_sums(store, name)
    if not rows:
        raise FailedPrecondition(f"experiment {name!r} has no logged decisions yet")
    return rows, campaigns, choices


def _variant_summary(
    v: Variant,
    rows: list[UnitSums],
    stats: dict[str, dict[str, MetricStats]],
    cov: dict[str, dict[str, CovariateStats]],
    control: str,
    covariate: str,
) -> VariantSummary:
    """One variant's means and, for a variant other than control, each metric against it."""
    n = stats["click"][v.name].n
    comparisons, tests, posterior, cuped = {}, {}, {}, {}
    if v.name != control and n >= 2 and stats["click"][control].n >= 2:
        for m in METRICS:
            a, b = stats[m][control], stats[m][v.name]
            comparisons[m] = c = compare(a, b)
            tests[m] = _test(a, b, c)
            if a.mean > 0:
                mean, (low, high), _ = bayesian_relative(a, b)
                posterior[m] = (mean, (high - low) / (2 * 1.959963984540054))
            if covariate:
                cuped[m] = _cuped(stats[m], cov[m], control, v.name)
    return VariantSummary(
        name=v.name,
        weight=v.weight,
        units=n,
        decisions=sum(r.decisions for r in rows),
        means={m: stats[m][v.name].mean for m in METRICS},
        versus_control=comparisons,
        outcomes=sum(r.outcomes for r in rows),
        tests=tests,
        posterior=posterior,
        cuped=cuped,
    )


def experiment_report(
    store: Store,
    name: str,
    covariate: str | None = None,
    calibration_window: timedelta | None = None,
) -> ExperimentReport:
    """`covariate` overrides the experiment's CUPED covariate ("" turns CUPED off); calibration
    covers the decisions of the last `calibration_window` (None: CALIBRATION_WINDOW)."""
    experiment = get_experiment(store, name)
    covariate = experiment.covariate if covariate is None else covariate
    rows, campaigns, choices = _sums(store, experiment, name, covariate)
    names = [v.name for v in experiment.variants]
    control = names[0]
    per = {v: [r for r in rows if r.variant == v] for v in names}
    stats = {m: {v: _metric(per[v], m) for v in names} for m in METRICS}
    cov = {m: {v: _covariate(per[v], m) for v in names} for m in METRICS}
    variants = [
        _variant_summary(v, per[v.name], stats, cov, control, covariate)
        for v in experiment.variants
    ]
    chi2, p = sample_ratio_mismatch([s.units for s in variants], [s.weight for s in variants])
    return ExperimentReport(
        experiment=name,
        control=control,
        variants=variants,
        srm_chi2=chi2,
        srm_p=p,
        covariate=covariate,
        campaigns=[_campaign(c) for c in campaigns],
        daily=_daily(rows, names, control),
        timeline=stage_history(store),
        calibration=calibration(store, calibration_window or CALIBRATION_WINDOW, experiment=name),
        best_single=best_single(choices, names),
    )


Z95 = 1.959963984540054


def _mean_se(n: int, total: float, squares: float) -> tuple[float, float]:
    """Mean and its standard error from a count, a sum and a sum of squares."""
    if n == 0:
        return math.nan, math.nan
    mean = total / n
    if n < 2:
        return mean, math.nan
    var = max(squares / n - mean * mean, 0.0) * n / (n - 1)
    return mean, math.sqrt(var / n)


def best_single(cells: list[ChoiceSums], variants: list[str]) -> list[BestSingle]:
    """Per metric, the campaign of highest IPS value for everyone, and each variant's mean
    per decision against it (normal interval; the two estimates' variances added)."""
    total = sum(c.decisions for c in cells)
    if total < 2:
        return []
    out = []
    for m in METRICS:
        by_campaign: dict[str | None, tuple[float, float]] = defaultdict(lambda: (0.0, 0.0))
        for c in cells:
            s, q = by_campaign[c.campaign_id]
            by_campaign[c.campaign_id] = (s + c.ips[m], q + c.ips_squares[m])
        campaign = max(by_campaign, key=lambda k: by_campaign[k][0])
        value, se = _mean_se(total, *by_campaign[campaign])
        versus = []
        for v in variants:
            mine = [c for c in cells if c.variant == v]
            n = sum(c.decisions for c in mine)
            if n < 2:
                continue
            mean, se_v = _mean_se(n, sum(c.sums[m] for c in mine), sum(c.squares[m] for c in mine))
            half = Z95 * math.sqrt(se_v * se_v + se * se)
            diff = mean - value
            versus.append(Versus(v, mean, diff, (diff - half, diff + half)))
        out.append(
            BestSingle(m, campaign, value, (value - Z95 * se, value + Z95 * se), total, versus)
        )
    return out


def _campaign(c: CampaignSums) -> CampaignSummary:
    means = {m: c.sums[m] / c.decisions if c.decisions else math.nan for m in METRICS}
    return CampaignSummary(c.variant, c.campaign_id, c.units, c.decisions, c.outcomes, means)
