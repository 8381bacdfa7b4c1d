"""The A/B report's summary: what keeps a report fast at 10M decisions.

A report needs, per variant and day, sums over units (a unit's conversion is the max over its
decisions, so the sums are not additive over decisions), and per variant and campaign, sums
over decisions and distinct units, and the "everyone gets one campaign" sums (reward, its
square, inverse-propensity terms: feedback.report_data.ChoiceSums). The summary keeps one row
per unit, variant and campaign (`report_units`) and additive cells (`report_cells`) derived
from them. A refresh, run by every
report, recomputes from the base tables only the units touched since the last one:

- units with decisions logged (written: `DecisionRow.logged_at`) since `decided_until -
  MARGIN`, however old the decisions themselves are (an import of old logs is caught like new
  traffic: nothing invalidates the summary on write);
- units with outcomes of seq above `outcome_seq`, or received since the last refresh minus
  RECEIPT_MARGIN (concurrent transactions commit out of seq order; log_outcomes stamps
  received_at just before its insert and commit).

Recomputing a unit is idempotent (its old rows' contributions are subtracted from the cells and
the new ones added), so the margins only cost time. The first report of an experiment, a
changed covariate, more than MAX_INCREMENTAL_UNITS touched units, or a purge rebuild it in SQL.
Assumes server clocks agree, and a decision batch commits, within MARGIN / 2 of its stamp.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    MetaData,
    Select,
    String,
    Table,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.orm import Session

from feedback.models import (
    ID_LENGTH,
    DecisionRow,
    OutcomeRow,
    ReportCellRow,
    ReportSummaryRow,
    ReportUnitRow,
    utcnow,
)
from feedback.report_data import METRICS, CampaignSums, ChoiceSums, UnitSums
from feedback.rewards import outcome_labels
from feedback.store import Store

MARGIN = timedelta(minutes=1)
# Outcomes committed after a refresh with a seq below its watermark (concurrent transactions
# commit out of seq order) are caught by their receipt time.
RECEIPT_MARGIN = timedelta(seconds=30)
MAX_INCREMENTAL_UNITS = 100_000
CHUNK = 2_000  # ids per IN list: far below SQLite's bound-parameter limit
DAY, CAMPAIGN = "day:", "campaign:"
# Serializes refreshes of one experiment across replicas (PostgreSQL).
LOCK_BASE = 0x52455054

# Over a unit's decisions (of one campaign) with a propensity p > 0: how many, and per metric
# the sums of r, r², r / p and (r / p)² (report_data.choice_sums, summarized).
CHOICE_KINDS = ("sum", "sq", "ips", "ips_sq")
CHOICE_FIELDS = ("chosen", *(f"ch_{k}_{m}" for k in CHOICE_KINDS for m in METRICS))
# The additive sums of a report cell, one column each (feedback.models.ReportCellRow). Unit
# cells (per variant and day of a unit's first decision) use the first fourteen; campaign cells
# (per variant and campaign, over decisions) the first six and the choice sums.
CELL_FIELDS = (
    "units",
    "decisions",
    "outcomes",
    *(f"sum_{m}" for m in METRICS),
    *(f"sq_{m}" for m in METRICS),
    "sum_x",
    "sum_x2",
    *(f"xy_{m}" for m in METRICS),
    *CHOICE_FIELDS,
)
Cell = dict[str, float]
Key = tuple[str, str]  # (variant, cell)

UNIT_FIELDS = (
    "decisions",
    "outcomes",
    "click_any",
    "conversion_any",
    "click",
    "conversion",
    "revenue",
    "x",
    "first_day",
    *CHOICE_FIELDS,
)


def _covariate(name: str) -> Any:
    if not name:
        return literal(0.0, Float)
    return func.coalesce(DecisionRow.user_features[name].as_float(), 0.0)


def _choice_columns(labels: Any) -> list[Any]:
    """The choice sums of _unit_rows: over decisions with p > 0 only."""
    p = cast(DecisionRow.propensity, Float)
    logged = DecisionRow.propensity > 0

    def when(value: Any) -> Any:
        return func.sum(case((logged, value), else_=0.0))

    columns = [when(literal(1.0, Float)).label("chosen")]
    for kind in CHOICE_KINDS:
        for m in METRICS:
            r = func.coalesce(labels.c[m], 0.0)
            value = {"sum": r, "sq": r * r, "ips": r / p, "ips_sq": r * r / (p * p)}[kind]
            columns.append(when(value).label(f"ch_{kind}_{m}"))
    return columns


def _unit_rows(experiment: str, covariate: str, units: Select | None = None) -> Select:
    """Per unit, variant and campaign, from the base tables, in one statement: every unit of
    the experiment (rebuilds), or the `units` selected (refreshes)."""
    mine = DecisionRow.experiment == experiment
    if units is None:
        labels = outcome_labels()
    else:
        mine = mine & DecisionRow.unit_id.in_(units)
        labels = outcome_labels(select(DecisionRow.decision_id).where(mine))
    campaign = func.coalesce(DecisionRow.campaign_id, "")
    return (
        select(
            literal(experiment, String(128)).label("experiment"),
            DecisionRow.unit_id,
            DecisionRow.variant,
            campaign.label("campaign_id"),
            func.count().label("decisions"),
            func.coalesce(func.sum(labels.c.outcomes), 0).label("outcomes"),
            func.max(func.coalesce(labels.c.click, 0.0)).label("click_any"),
            func.max(func.coalesce(labels.c.conversion, 0.0)).label("conversion_any"),
            func.sum(func.coalesce(labels.c.click, 0.0)).label("click"),
            func.sum(func.coalesce(labels.c.conversion, 0.0)).label("conversion"),
            func.sum(func.coalesce(labels.c.revenue, 0.0)).label("revenue"),
            func.max(_covariate(covariate)).label("x"),
            func.min(cast(func.date(DecisionRow.created_at), String(10))).label("first_day"),
            *_choice_columns(labels),
        )
        .outerjoin(labels, labels.c.decision_id == DecisionRow.decision_id)
        .where(mine)
        .group_by(DecisionRow.unit_id, DecisionRow.variant, campaign)
    )


def _add(deltas: dict[Key, Cell], key: Key, cell: Cell, s: float) -> None:
    total = deltas.setdefault(key, dict.fromkeys(CELL_FIELDS, 0.0))
    for name, value in cell.items():
        total[name] += s * value


def _cell_sums(session: Session, experiment: str, units: Select | None = None) -> dict[Key, Cell]:
    """The cells' sums over the experiment's unit rows (of the `units` selected only, for a
    refresh's before and after), aggregated in the database: day cells per variant and day of a
    unit's first decision, campaign cells per variant and campaign."""
    u = ReportUnitRow
    mine = u.experiment == experiment
    if units is not None:
        mine = mine & u.unit_id.in_(units)
    per_unit = (
        select(
            u.variant,
            func.min(u.first_day).label("day"),
            func.sum(u.decisions).label("decisions"),
            func.sum(u.outcomes).label("outcomes"),
            func.max(u.click_any).label("click"),
            func.max(u.conversion_any).label("conversion"),
            func.sum(u.revenue).label("revenue"),
            func.max(u.x).label("x"),
        )
        .where(mine)
        .group_by(u.unit_id, u.variant)
        .subquery()
    )
    x = per_unit.c.x
    day_cells = select(
        per_unit.c.variant,
        per_unit.c.day.label("cell"),
        func.count().label("units"),
        func.sum(per_unit.c.decisions).label("decisions"),
        func.sum(per_unit.c.outcomes).label("outcomes"),
        *[func.sum(per_unit.c[m]).label(f"sum_{m}") for m in METRICS],
        *[func.sum(per_unit.c[m] * per_unit.c[m]).label(f"sq_{m}") for m in METRICS],
        func.sum(x).label("sum_x"),
        func.sum(x * x).label("sum_x2"),
        *[func.sum(x * per_unit.c[m]).label(f"xy_{m}") for m in METRICS],
    ).group_by(per_unit.c.variant, per_unit.c.day)
    campaign_cells = (
        select(
            u.variant,
            u.campaign_id.label("cell"),
            func.count().label("units"),
            func.sum(u.decisions).label("decisions"),
            func.sum(u.outcomes).label("outcomes"),
            *[func.sum(getattr(u, m)).label(f"sum_{m}") for m in METRICS],
            *[func.sum(getattr(u, name)).label(name) for name in CHOICE_FIELDS],
        )
        .where(mine)
        .group_by(u.variant, u.campaign_id)
    )
    return {
        (r["variant"], prefix + str(r["cell"])): {
            name: float(r.get(name) or 0.0) for name in CELL_FIELDS
        }
        for prefix, stmt in ((DAY, day_cells), (CAMPAIGN, campaign_cells))
        for r in session.execute(stmt).mappings()
    }


def _rebuild(session: Session, experiment: str, covariate: str) -> None:
    session.execute(delete(ReportUnitRow).where(ReportUnitRow.experiment == experiment))
    session.execute(delete(ReportCellRow).where(ReportCellRow.experiment == experiment))
    columns = ["experiment", "unit_id", "variant", "campaign_id", *UNIT_FIELDS]
    session.execute(insert(ReportUnitRow).from_select(columns, _unit_rows(experiment, covariate)))
    if session.get_bind().dialect.name == "postgresql":
        # Without statistics on the rows just written, PostgreSQL's planner reads every unit
        # of the experiment for each refresh's lookup by unit (0.7 s instead of 0.02 s per
        # 2,000 units at 1M decisions) until autovacuum gets to the table.
        session.execute(text("ANALYZE report_units"))
    cells = [
        {"experiment": experiment, "variant": variant, "cell": cell, **sums}
        for (variant, cell), sums in _cell_sums(session, experiment).items()
    ]
    if cells:
        session.execute(insert(ReportCellRow), cells)


# The units a refresh recomputes, in the database (a temporary table of the connection): the
# recomputation, the old rows' removal and the new rows' insert are set-based statements
# joined to it, with no id list sent back and forth.
TOUCHED = Table(
    "report_touched",
    MetaData(),
    Column("unit_id", String(ID_LENGTH), primary_key=True),
    prefixes=["TEMPORARY"],
)


def _touch(session: Session, experiment: str, state: ReportSummaryRow) -> int:
    """Fills TOUCHED with the units to recompute (see the module docstring); their number."""
    postgres = session.get_bind().dialect.name == "postgresql"
    ddl = f"CREATE TEMPORARY TABLE IF NOT EXISTS report_touched (unit_id VARCHAR({ID_LENGTH}) "
    ddl += "PRIMARY KEY)" + (" ON COMMIT DELETE ROWS" if postgres else "")
    session.execute(text(ddl))
    session.execute(delete(TOUCHED))
    recent = select(DecisionRow.unit_id).where(
        DecisionRow.experiment == experiment,
        DecisionRow.logged_at >= state.decided_until - MARGIN,
    )
    # Two index range scans (seq, received_at) rather than one OR the planner may not split.
    newer = select(OutcomeRow.decision_id).where(OutcomeRow.seq > state.outcome_seq)
    late = select(OutcomeRow.decision_id).where(
        OutcomeRow.received_at >= state.refreshed_at - RECEIPT_MARGIN
    )
    labelled = select(DecisionRow.unit_id).where(
        DecisionRow.experiment == experiment,
        DecisionRow.decision_id.in_(newer.union(late)),
    )
    session.execute(insert(TOUCHED).from_select(["unit_id"], recent.union(labelled)))
    if postgres:
        session.execute(text("ANALYZE report_touched"))  # a temporary table has no statistics
    return int(session.scalar(select(func.count()).select_from(TOUCHED)) or 0)


def _update(session: Session, experiment: str, covariate: str) -> None:
    """Recomputes the TOUCHED units' rows and moves the cells by their difference."""
    if session.get_bind().dialect.name == "postgresql":
        # At the default random_page_cost (4, for spinning disks) the planner hashes TOUCHED
        # and scans every decision and unit row of the experiment (0.67 s per statement at
        # 1M decisions, growing with the store); priced as the cached or SSD pages they are,
        # index look-ups per touched unit win (~0.09 s, flat). For this transaction only.
        session.execute(text("SET LOCAL random_page_cost = 1.1"))
    units = select(TOUCHED.c.unit_id)
    mine = (ReportUnitRow.experiment == experiment) & ReportUnitRow.unit_id.in_(units)
    # The touched units' share of each cell before and after: only the changed cells come back.
    deltas: dict[Key, Cell] = {}
    for key, sums in _cell_sums(session, experiment, units).items():
        _add(deltas, key, sums, -1.0)
    session.execute(delete(ReportUnitRow).where(mine))
    columns = ["experiment", "unit_id", "variant", "campaign_id", *UNIT_FIELDS]
    session.execute(
        insert(ReportUnitRow).from_select(columns, _unit_rows(experiment, covariate, units))
    )
    for key, sums in _cell_sums(session, experiment, units).items():
        _add(deltas, key, sums, 1.0)
    for (variant, cell), delta in deltas.items():
        row = session.get(ReportCellRow, (experiment, variant, cell))
        if row is None:
            session.add(ReportCellRow(experiment=experiment, variant=variant, cell=cell, **delta))
        elif row.units + delta["units"] <= 0:  # no unit left in the cell
            session.delete(row)
        else:
            for name, value in delta.items():
                setattr(row, name, getattr(row, name) + value)


def refresh(store: Store, experiment: str, covariate: str) -> None:
    """Brings the experiment's summary up to date (see the module docstring)."""
    with store.transaction() as session:
        if store.dialect == "postgresql":
            # A stable hash (str hashes differ between processes): one key on every replica.
            key = LOCK_BASE ^ zlib.crc32(experiment.encode("utf-8"))
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        now = utcnow()
        top_seq = session.scalar(select(func.max(OutcomeRow.seq))) or 0
        state = session.get(ReportSummaryRow, experiment)
        if state is None or state.covariate != covariate:
            _rebuild(session, experiment, covariate)
        else:
            touched = _touch(session, experiment, state)
            if touched > MAX_INCREMENTAL_UNITS:
                _rebuild(session, experiment, covariate)
            elif touched:
                _update(session, experiment, covariate)
        if state is None:
            state = ReportSummaryRow(experiment=experiment)
            session.add(state)
        state.covariate = covariate
        state.decided_until = now
        state.outcome_seq = top_seq
        state.refreshed_at = now


def invalidate(session: Session, experiments: Iterable[str] | None = None) -> None:
    """The next report of these experiments (None: all) rebuilds its summary."""
    stmt = delete(ReportSummaryRow)
    if experiments is not None:
        stmt = stmt.where(ReportSummaryRow.experiment.in_(list(experiments)))
    session.execute(stmt)


@dataclass(frozen=True, slots=True)
class Summary:
    """The report's sums from the summary: the same as report_data's queries."""

    units: list[UnitSums]  # unit_sums
    campaigns: list[CampaignSums]  # campaign_sums
    choices: list[ChoiceSums]  # choice_sums


def summarized(store: Store, experiment: str, covariate: str) -> Summary:
    """Refreshes the experiment's summary and reads its sums."""
    refresh(store, experiment, covariate)
    with store.transaction() as session:
        cells = session.scalars(
            select(ReportCellRow).where(ReportCellRow.experiment == experiment)
        ).all()
    days, campaigns, choices = [], [], []
    for c in cells:
        if c.cell.startswith(DAY):
            days.append(_unit_sums(c, c.cell[len(DAY) :], bool(covariate)))
        else:
            campaign_id = c.cell[len(CAMPAIGN) :] or None
            campaigns.append(_campaign_sums(c, campaign_id))
            if round(c.chosen) > 0:
                choices.append(_choice_sums(c, campaign_id))
    days.sort(key=lambda r: (r.day, r.variant))
    campaigns.sort(key=lambda r: (r.variant, r.campaign_id or ""))
    choices.sort(key=lambda r: (r.variant, r.campaign_id or ""))
    return Summary(days, campaigns, choices)


def _choice_sums(c: ReportCellRow, campaign_id: str | None) -> ChoiceSums:
    return ChoiceSums(
        variant=c.variant,
        campaign_id=campaign_id,
        decisions=round(c.chosen),
        sums=_per_metric(c, "ch_sum"),
        squares=_per_metric(c, "ch_sq"),
        ips=_per_metric(c, "ch_ips"),
        ips_squares=_per_metric(c, "ch_ips_sq"),
    )


def _per_metric(c: ReportCellRow, prefix: str) -> dict[str, float]:
    return {m: float(getattr(c, f"{prefix}_{m}")) for m in METRICS}


def _unit_sums(c: ReportCellRow, day: str, covariate: bool) -> UnitSums:
    return UnitSums(
        variant=c.variant,
        day=day,
        units=round(c.units),
        decisions=round(c.decisions),
        outcomes=round(c.outcomes),
        sums=_per_metric(c, "sum"),
        squares=_per_metric(c, "sq"),
        sum_x=float(c.sum_x),
        sum_x2=float(c.sum_x2),
        sum_xy=_per_metric(c, "xy") if covariate else None,
    )


def _campaign_sums(c: ReportCellRow, campaign_id: str | None) -> CampaignSums:
    return CampaignSums(
        variant=c.variant,
        campaign_id=campaign_id,
        units=round(c.units),
        decisions=round(c.decisions),
        outcomes=round(c.outcomes),
        sums=_per_metric(c, "sum"),
    )
