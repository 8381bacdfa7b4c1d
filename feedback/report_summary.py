"""The A/B report's summary: what keeps a report fast at 10M decisions.

A report needs, per variant and day, sums over units (a unit's conversion is the max over its
decisions, so the sums are not additive over decisions), and per variant and campaign, sums
over decisions and distinct units. The summary keeps one row per unit, variant and campaign
(`report_units`) and additive cells (`report_cells`) derived from them. A refresh, run by every
report, recomputes from the base tables only the units touched since the last one:

- units with decisions created since `decided_until - MARGIN` (the decision log writes within
  milliseconds of the decision; `write_decisions` invalidates the summary when it writes
  decisions older than MARGIN / 2, as an import of old logs does);
- units with outcomes of seq above `outcome_seq`, or received since the last refresh minus
  RECEIPT_MARGIN (concurrent transactions commit out of seq order; log_outcomes stamps
  received_at just before its insert and commit).

Recomputing a unit is idempotent (its old rows' contributions are subtracted from the cells and
the new ones added), so the margins only cost time. The first report of an experiment, a
changed covariate, more than MAX_INCREMENTAL_UNITS touched units, or a purge rebuild it in SQL.
Assumes server clocks agree within MARGIN / 2.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Float,
    Select,
    String,
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
    DecisionRow,
    OutcomeRow,
    ReportCellRow,
    ReportSummaryRow,
    ReportUnitRow,
    utcnow,
)
from feedback.report_data import METRICS, CampaignSums, UnitSums
from feedback.rewards import label_of, outcome_labels
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

# The additive sums of a report cell, one column each (feedback.models.ReportCellRow). Unit
# cells (per variant and day of a unit's first decision) use all of them; campaign cells (per
# variant and campaign, over decisions) the first six.
CELL_FIELDS = (
    "units",
    "decisions",
    "outcomes",
    *(f"sum_{m}" for m in METRICS),
    *(f"sq_{m}" for m in METRICS),
    "sum_x",
    "sum_x2",
    *(f"xy_{m}" for m in METRICS),
)
Cell = dict[str, float]

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
)


def _covariate(name: str) -> Any:
    if not name:
        return literal(0.0, Float)
    return func.coalesce(DecisionRow.user_features[name].as_float(), 0.0)


def _unit_rows(experiment: str, covariate: str) -> Select:
    """Per unit, variant and campaign, from the base tables, in one statement (rebuilds)."""
    labels = outcome_labels()
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
        )
        .outerjoin(labels, labels.c.decision_id == DecisionRow.decision_id)
        .where(DecisionRow.experiment == experiment)
        .group_by(DecisionRow.unit_id, DecisionRow.variant, campaign)
    )


def _recompute(
    session: Session, experiment: str, covariate: str, unit_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """Rows of `unit_ids` as _unit_rows computes them, by two indexed look-ups (their
    decisions, then those decisions' outcomes) instead of one join the planner may scan for."""
    decisions = session.execute(
        select(
            DecisionRow.decision_id,
            DecisionRow.unit_id,
            DecisionRow.variant,
            func.coalesce(DecisionRow.campaign_id, ""),
            _covariate(covariate),
            cast(func.date(DecisionRow.created_at), String(10)),
        ).where(DecisionRow.experiment == experiment, DecisionRow.unit_id.in_(unit_ids))
    ).all()
    ids = [d[0] for d in decisions]
    labels: dict[str, Any] = {}
    for start in range(0, len(ids), CHUNK):
        stmt = select(outcome_labels(ids[start : start + CHUNK]))
        labels.update({r.decision_id: r for r in session.execute(stmt)})
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for decision_id, unit, variant, campaign, x, day in decisions:
        label = labels.get(decision_id)
        click, conversion, revenue = (label_of(label, m) for m in METRICS)
        r = rows.get((unit, variant, campaign))
        if r is None:
            r = rows[(unit, variant, campaign)] = {
                "experiment": experiment, "unit_id": unit, "variant": variant,
                "campaign_id": campaign, "decisions": 0, "outcomes": 0, "click_any": 0.0,
                "conversion_any": 0.0, "click": 0.0, "conversion": 0.0, "revenue": 0.0,
                "x": float(x), "first_day": str(day),
            }  # fmt: skip
        r["decisions"] += 1
        r["outcomes"] += int(label.outcomes) if label is not None else 0
        r["click_any"] = max(r["click_any"], click)
        r["conversion_any"] = max(r["conversion_any"], conversion)
        r["click"] += click
        r["conversion"] += conversion
        r["revenue"] += revenue
        r["x"] = max(r["x"], float(x))
        r["first_day"] = min(r["first_day"], str(day))
    return list(rows.values())


def _unit_cell(rows: Iterable[dict[str, Any]]) -> Cell:
    """One unit's contribution to its day cell: its metrics (any click or conversion, summed
    revenue), their squares, its covariate and the cross products."""
    rows = list(rows)
    y = {
        "click": max(r["click_any"] for r in rows),
        "conversion": max(r["conversion_any"] for r in rows),
        "revenue": sum(r["revenue"] for r in rows),
    }
    x = max(r["x"] for r in rows)
    cell = {
        "units": 1.0,
        "decisions": float(sum(r["decisions"] for r in rows)),
        "outcomes": float(sum(r["outcomes"] for r in rows)),
        "sum_x": x,
        "sum_x2": x * x,
    }
    for m in METRICS:
        cell.update({f"sum_{m}": y[m], f"sq_{m}": y[m] * y[m], f"xy_{m}": x * y[m]})
    return cell


def _campaign_cell(r: dict[str, Any]) -> Cell:
    """One unit's decisions of one campaign: their count, outcomes and summed metrics."""
    cell = {"units": 1.0, "decisions": float(r["decisions"]), "outcomes": float(r["outcomes"])}
    cell.update({f"sum_{m}": float(r[m]) for m in METRICS})
    return cell


def _contributions(rows: Sequence[dict[str, Any]], sign: float) -> dict[tuple[str, str], Cell]:
    deltas: dict[tuple[str, str], Cell] = {}
    by_unit: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_unit[(r["unit_id"], r["variant"])].append(r)
        _add(deltas, (r["variant"], CAMPAIGN + r["campaign_id"]), _campaign_cell(r), sign)
    for (_, variant), unit in by_unit.items():
        key = (variant, DAY + min(r["first_day"] for r in unit))
        _add(deltas, key, _unit_cell(unit), sign)
    return deltas


def _add(deltas: dict[tuple[str, str], Cell], key: tuple[str, str], cell: Cell, s: float) -> None:
    total = deltas.setdefault(key, dict.fromkeys(CELL_FIELDS, 0.0))
    for name, value in cell.items():
        total[name] += s * value


def _as_dicts(session: Session, stmt: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(stmt).mappings()]


def _rebuild(session: Session, experiment: str, covariate: str) -> None:
    session.execute(delete(ReportUnitRow).where(ReportUnitRow.experiment == experiment))
    session.execute(delete(ReportCellRow).where(ReportCellRow.experiment == experiment))
    columns = ["experiment", "unit_id", "variant", "campaign_id", *UNIT_FIELDS]
    session.execute(insert(ReportUnitRow).from_select(columns, _unit_rows(experiment, covariate)))
    u = ReportUnitRow
    units = (
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
        .where(u.experiment == experiment)
        .group_by(u.unit_id, u.variant)
        .subquery()
    )
    x = units.c.x
    day_cells = select(
        units.c.variant,
        units.c.day.label("cell"),
        func.count().label("units"),
        func.sum(units.c.decisions).label("decisions"),
        func.sum(units.c.outcomes).label("outcomes"),
        *[func.sum(units.c[m]).label(f"sum_{m}") for m in METRICS],
        *[func.sum(units.c[m] * units.c[m]).label(f"sq_{m}") for m in METRICS],
        func.sum(x).label("sum_x"),
        func.sum(x * x).label("sum_x2"),
        *[func.sum(x * units.c[m]).label(f"xy_{m}") for m in METRICS],
    ).group_by(units.c.variant, units.c.day)
    campaign_cells = (
        select(
            u.variant,
            u.campaign_id.label("cell"),
            func.count().label("units"),
            func.sum(u.decisions).label("decisions"),
            func.sum(u.outcomes).label("outcomes"),
            *[func.sum(getattr(u, m)).label(f"sum_{m}") for m in METRICS],
        )
        .where(u.experiment == experiment)
        .group_by(u.variant, u.campaign_id)
    )
    cells = [
        _cell_row(experiment, prefix, r)
        for prefix, stmt in ((DAY, day_cells), (CAMPAIGN, campaign_cells))
        for r in session.execute(stmt).mappings()
    ]
    if cells:
        session.execute(insert(ReportCellRow), cells)


def _cell_row(experiment: str, prefix: str, r: Any) -> dict[str, Any]:
    """A report_cells row from a rebuild's aggregate (absent sums are 0)."""
    return {
        "experiment": experiment,
        "variant": r["variant"],
        "cell": prefix + str(r["cell"]),
        **{name: float(r.get(name) or 0.0) for name in CELL_FIELDS},
    }


def _touched_units(session: Session, experiment: str, state: ReportSummaryRow) -> set[str]:
    recent = select(DecisionRow.unit_id).where(
        DecisionRow.experiment == experiment,
        DecisionRow.created_at >= state.decided_until - MARGIN,
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
    return set(session.scalars(recent.union(labelled)))


def _update(session: Session, experiment: str, covariate: str, units: set[str]) -> None:
    ids = sorted(units)
    old, new = [], []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        old += _as_dicts(
            session,
            select(ReportUnitRow.__table__).where(
                ReportUnitRow.experiment == experiment, ReportUnitRow.unit_id.in_(chunk)
            ),
        )
        new += _recompute(session, experiment, covariate, chunk)
    deltas = _contributions(old, -1.0)
    for key, v in _contributions(new, 1.0).items():
        _add(deltas, key, v, 1.0)
    for (variant, cell), delta in deltas.items():
        row = session.get(ReportCellRow, (experiment, variant, cell))
        if row is None:
            session.add(ReportCellRow(experiment=experiment, variant=variant, cell=cell, **delta))
        elif row.units + delta["units"] <= 0:  # no unit left in the cell
            session.delete(row)
        else:
            for name, value in delta.items():
                setattr(row, name, getattr(row, name) + value)
    for start in range(0, len(ids), CHUNK):
        session.execute(
            delete(ReportUnitRow).where(
                ReportUnitRow.experiment == experiment,
                ReportUnitRow.unit_id.in_(ids[start : start + CHUNK]),
            )
        )
    for start in range(0, len(new), CHUNK):
        session.execute(insert(ReportUnitRow), new[start : start + CHUNK])


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
            units = _touched_units(session, experiment, state)
            if len(units) > MAX_INCREMENTAL_UNITS:
                _rebuild(session, experiment, covariate)
            elif units:
                _update(session, experiment, covariate, units)
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


def summarized(
    store: Store, experiment: str, covariate: str
) -> tuple[list[UnitSums], list[CampaignSums]]:
    """The report's sums from the refreshed summary: the same as report_data's queries."""
    refresh(store, experiment, covariate)
    with store.transaction() as session:
        cells = session.scalars(
            select(ReportCellRow).where(ReportCellRow.experiment == experiment)
        ).all()
    days, campaigns = [], []
    for c in cells:
        if c.cell.startswith(DAY):
            days.append(_unit_sums(c, c.cell[len(DAY) :], bool(covariate)))
        else:
            campaigns.append(_campaign_sums(c, c.cell[len(CAMPAIGN) :] or None))
    days.sort(key=lambda r: (r.day, r.variant))
    campaigns.sort(key=lambda r: (r.variant, r.campaign_id or ""))
    return days, campaigns


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
