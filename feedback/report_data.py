"""The store queries behind the A/B report: sufficient statistics aggregated in the database
(never one Python row per unit), per variant and day of a unit's first decision, and per
variant and campaign.

The analysis unit is the assignment unit (user): a unit's click or conversion is 1 when any of
its decisions is labelled 1 (feedback/rewards.py: counted outcomes only), its revenue the sum
over its decisions, its covariate the largest value of the covariate user feature over its
decisions (0 when absent).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Float, cast, func, literal, select

from feedback.models import DecisionRow
from feedback.rewards import BINARY_TYPES as BINARY
from feedback.rewards import OUTCOME_TYPES as METRICS
from feedback.rewards import outcome_labels
from feedback.store import Store


@dataclass(frozen=True, slots=True)
class UnitSums:
    """Sums over the units of one variant whose first decision fell on one day."""

    variant: str
    day: str
    units: int
    decisions: int
    outcomes: int
    sums: dict[str, float]  # per metric
    squares: dict[str, float]  # per metric, sum of squares
    sum_x: float = 0.0
    sum_x2: float = 0.0
    sum_xy: dict[str, float] | None = None  # per metric, sum of covariate times metric


@dataclass(frozen=True, slots=True)
class CampaignSums:
    """Decisions of one variant that chose one campaign (None: no campaign)."""

    variant: str
    campaign_id: str | None
    units: int
    decisions: int
    outcomes: int
    sums: dict[str, float]  # per metric, over decisions


def _covariate(name: str) -> ColumnElement[float]:
    if not name:
        return literal(0.0, Float)
    return func.coalesce(DecisionRow.user_features[name].as_float(), 0.0)


def unit_sums(store: Store, experiment: str, covariate: str = "") -> list[UnitSums]:
    labels = outcome_labels()
    units = (
        select(
            DecisionRow.variant,
            func.count().label("decisions"),
            func.coalesce(func.sum(labels.c.outcomes), 0).label("outcomes"),
            func.min(DecisionRow.created_at).label("first_at"),
            func.max(_covariate(covariate)).label("x"),
            *[
                (func.max if m in BINARY else func.sum)(func.coalesce(labels.c[m], 0.0)).label(m)
                for m in METRICS
            ],
        )
        .outerjoin(labels, labels.c.decision_id == DecisionRow.decision_id)
        .where(DecisionRow.experiment == experiment)
        .group_by(DecisionRow.unit_id, DecisionRow.variant)
        .subquery()
    )
    x = cast(units.c.x, Float)
    columns = [
        units.c.variant,
        func.date(units.c.first_at).label("day"),
        func.count().label("units"),
        func.sum(units.c.decisions).label("decisions"),
        func.sum(units.c.outcomes).label("outcomes"),
        *[func.sum(units.c[m]).label(f"s_{m}") for m in METRICS],
        *[func.sum(units.c[m] * units.c[m]).label(f"q_{m}") for m in METRICS],
    ]
    if covariate:
        columns += [func.sum(x).label("sx"), func.sum(x * x).label("sx2")]
        columns += [func.sum(x * units.c[m]).label(f"xy_{m}") for m in METRICS]
    stmt = select(*columns).group_by(units.c.variant, "day").order_by("day")
    with store.transaction() as session:
        rows = session.execute(stmt).mappings().all()
    return [
        UnitSums(
            variant=r["variant"],
            day=str(r["day"]),
            units=int(r["units"]),
            decisions=int(r["decisions"]),
            outcomes=int(r["outcomes"] or 0),
            sums={m: float(r[f"s_{m}"] or 0.0) for m in METRICS},
            squares={m: float(r[f"q_{m}"] or 0.0) for m in METRICS},
            sum_x=float(r["sx"] or 0.0) if covariate else 0.0,
            sum_x2=float(r["sx2"] or 0.0) if covariate else 0.0,
            sum_xy={m: float(r[f"xy_{m}"] or 0.0) for m in METRICS} if covariate else None,
        )
        for r in rows
    ]


def campaign_sums(store: Store, experiment: str) -> list[CampaignSums]:
    labels = outcome_labels()
    stmt = (
        select(
            DecisionRow.variant,
            DecisionRow.campaign_id,
            func.count(func.distinct(DecisionRow.unit_id)).label("units"),
            func.count().label("decisions"),
            func.coalesce(func.sum(labels.c.outcomes), 0).label("outcomes"),
            *[func.sum(func.coalesce(labels.c[m], 0.0)).label(m) for m in METRICS],
        )
        .outerjoin(labels, labels.c.decision_id == DecisionRow.decision_id)
        .where(DecisionRow.experiment == experiment)
        .group_by(DecisionRow.variant, DecisionRow.campaign_id)
        .order_by(DecisionRow.variant, DecisionRow.campaign_id)
    )
    with store.transaction() as session:
        rows = session.execute(stmt).mappings().all()
    return [
        CampaignSums(
            variant=r["variant"],
            campaign_id=r["campaign_id"],
            units=int(r["units"]),
            decisions=int(r["decisions"]),
            outcomes=int(r["outcomes"] or 0),
            sums={m: float(r[m] or 0.0) for m in METRICS},
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class ChoiceSums:
    """Decisions of one variant that chose one campaign (None: no campaign), with what the
    "everyone gets one campaign" estimates need: per metric the sums of the reward r and r²,
    and of the inverse-propensity terms r / p and (r / p)² (p: the logged propensity of the
    chosen action, > 0)."""

    variant: str
    campaign_id: str | None
    decisions: int
    sums: dict[str, float]
    squares: dict[str, float]
    ips: dict[str, float]
    ips_squares: dict[str, float]


def choice_sums(store: Store, experiment: str) -> list[ChoiceSums]:
    labels = outcome_labels()
    p = cast(DecisionRow.propensity, Float)
    columns = []
    for m in METRICS:
        r = func.coalesce(labels.c[m], 0.0)
        columns += [
            func.sum(r).label(f"{m}_sum"),
            func.sum(r * r).label(f"{m}_sq"),
            func.sum(r / p).label(f"{m}_ips"),
            func.sum(r * r / (p * p)).label(f"{m}_ips_sq"),
        ]
    stmt = (
        select(
            DecisionRow.variant,
            DecisionRow.campaign_id,
            func.count().label("decisions"),
            *columns,
        )
        .outerjoin(labels, labels.c.decision_id == DecisionRow.decision_id)
        .where(DecisionRow.experiment == experiment, DecisionRow.propensity > 0)
        .group_by(DecisionRow.variant, DecisionRow.campaign_id)
        .order_by(DecisionRow.variant, DecisionRow.campaign_id)
    )
    with store.transaction() as session:
        rows = session.execute(stmt).mappings().all()

    def per(r: dict[str, object], suffix: str) -> dict[str, float]:
        return {m: float(r[f"{m}_{suffix}"] or 0.0) for m in METRICS}  # type: ignore[arg-type]

    return [
        ChoiceSums(
            variant=r["variant"],
            campaign_id=r["campaign_id"],
            decisions=int(r["decisions"]),
            sums=per(r, "sum"),
            squares=per(r, "sq"),
            ips=per(r, "ips"),
            ips_squares=per(r, "ips_sq"),
        )
        for r in (dict(x) for x in rows)
    ]
