"""The A/B report of an experiment from the store: per variant, units, decisions, rates and
revenue per unit, each variant against control (feedback/stats.py), and the sample-ratio check.

The analysis unit is the assignment unit (user): a unit's click or conversion is 1 when any of
its decisions got one, its revenue the sum over its decisions. Control is the first variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import case, func, select

from common.errors import FailedPrecondition
from feedback.experiments import get_experiment
from feedback.models import DecisionRow, OutcomeRow
from feedback.stats import Comparison, MetricStats, compare, sample_ratio_mismatch
from feedback.store import Store

METRICS = ("click", "conversion", "revenue")
BINARY = ("click", "conversion")
SRM_THRESHOLD = 0.001  # gbstats' default warning level


@dataclass(frozen=True, slots=True)
class VariantSummary:
    name: str
    weight: float
    units: int
    decisions: int
    means: dict[str, float]  # per unit: click and conversion rates, revenue per unit
    versus_control: dict[str, Comparison] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    experiment: str
    control: str
    variants: list[VariantSummary]
    srm_chi2: float
    srm_p: float

    @property
    def srm_warning(self) -> bool:
        return self.srm_p < SRM_THRESHOLD


def _unit_outcomes(store: Store, experiment: str) -> pd.DataFrame:
    labels = (
        select(
            OutcomeRow.decision_id,
            *[
                (func.max if m in BINARY else func.sum)(
                    case((OutcomeRow.type == m, OutcomeRow.value), else_=0.0)
                ).label(m)
                for m in METRICS
            ],
        )
        .group_by(OutcomeRow.decision_id)
        .subquery()
    )
    stmt = (
        select(
            DecisionRow.unit_id,
            DecisionRow.variant,
            func.count().label("decisions"),
            *[
                (func.max if m in BINARY else func.sum)(func.coalesce(labels.c[m], 0.0)).label(m)
                for m in METRICS
            ],
        )
        .outerjoin(labels, labels.c.decision_id == DecisionRow.decision_id)
        .where(DecisionRow.experiment == experiment)
        .group_by(DecisionRow.unit_id, DecisionRow.variant)
    )
    with store.transaction() as session:
        rows = session.execute(stmt).all()
    return pd.DataFrame(rows, columns=["unit_id", "variant", "decisions", *METRICS])


def experiment_report(store: Store, name: str) -> ExperimentReport:
    experiment = get_experiment(store, name)
    units = _unit_outcomes(store, name)
    if units.empty:
        raise FailedPrecondition(f"experiment {name!r} has no logged decisions yet")
    stats: dict[str, dict[str, MetricStats]] = {}
    summaries = []
    for v in experiment.variants:
        rows = units[units["variant"] == v.name]
        n = len(rows)
        stats[v.name] = {
            m: MetricStats(n, float(rows[m].sum()), float((rows[m] ** 2).sum()), binary=m in BINARY)
            for m in METRICS
        }
        summaries.append((v, n, int(rows["decisions"].sum())))
    control = experiment.variants[0].name
    variants = []
    for v, n, decisions in summaries:
        comparisons = {}
        if v.name != control and n >= 2 and stats[control]["click"].n >= 2:
            comparisons = {m: compare(stats[control][m], stats[v.name][m]) for m in METRICS}
        variants.append(
            VariantSummary(
                name=v.name,
                weight=v.weight,
                units=n,
                decisions=decisions,
                means={m: stats[v.name][m].mean for m in METRICS},
                versus_control=comparisons,
            )
        )
    chi2, p = sample_ratio_mismatch([s.units for s in variants], [s.weight for s in variants])
    return ExperimentReport(name, control, variants, chi2, p)
