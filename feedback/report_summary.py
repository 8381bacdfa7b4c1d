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


def _unit_vector(rows: Iterable[dict[str, Any]]) -> list[float]:
    """[units, decisions, outcomes, sums (3), squares (3), sum x, sum x^2, sum x*metric (3)]."""
    rows = list(rows)
    y = {
        "click": max(r["click_any"] for r in rows),
        "conversion": max(r["conversion_any"] for r in rows),
        "revenue": sum(r["revenue"] for r in rows),
    }
    x = max(r["x"] for r in rows)
    return [
        1.0,
        float(sum(r["decisions"] for r in rows)),
        float(sum(r["outcomes"] for r in rows)),
        *[y[m] for m in METRICS],
        *[y[m] * y[m] for m in METRICS],
        x,
        x * x,
        *[x * y[m] for m in METRICS],
    ]


def _campaign_vector(r: dict[str, Any]) -> list[float]:
    """[units, decisions, outcomes, click, conversion, revenue] over decisions."""
    return [1.0, float(r["decisions"]), float(r["outcomes"]), *[float(r[m]) for m in METRICS]]


def _contributions(rows: Sequence[dict[str, Any]], sign: float) -> dict[tuple[str, str], Any]:
    deltas: dict[tuple[str, str], Any] = {}
    by_unit: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_unit[(r["unit_id"], r["variant"])].append(r)
        key = (r["variant"], CAMPAIGN + r["campaign_id"])
        _add(deltas, key, _campaign_vector(r), sign)
    for (_, variant), unit in by_unit.items():
        key = (variant, DAY + min(r["first_day"] for r in unit))
        _add(deltas, key, _unit_vector(unit), sign)
    return deltas


def _add(
    deltas: dict[tuple[str, str], Any], key: tuple[str, str], v: list[float], s: float
) -> None:
    current = deltas.get(key)
    deltas[key] = (
        [s * x for x in v]
        if current is None
        else [a + s * x for a, x in zip(current, v, strict=True)]
    )


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
        units.c.day,
        func.count(),
        func.sum(units.c.decisions),
        func.sum(units.c.outcomes),
        *[func.sum(units.c[m]) for m in METRICS],
        *[func.sum(units.c[m] * units.c[m]) for m in METRICS],
        func.sum(x),
        func.sum(x * x),
        *[func.sum(x * units.c[m]) for m in METRICS],
    ).group_by(units.c.variant, units.c.day)
    campaign_cells = (
        select(
            u.variant,
            u.campaign_id,
            func.count(),
            func.sum(u.decisions),
            func.sum(u.outcomes),
            *[func.sum(getattr(u, m)) for m in METRICS],
        )
        .where(u.experiment == experiment)
        .group_by(u.variant, u.campaign_id)
    )
    cells = [
        {
            "experiment": experiment,
            "variant": r[0],
            "cell": DAY + str(r[1]),
            "sums": [float(v or 0.0) for v in r[2:]],
        }
        for r in session.execute(day_cells)
    ] + [
        {
            "experiment": experiment,
            "variant": r[0],
            "cell": CAMPAIGN + str(r[1]),
            "sums": [float(v or 0.0) for v in r[2:]],
        }
        for r in session.execute(campaign_cells)
    ]
    if cells:
        session.execute(insert(ReportCellRow), cells)


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
            session.add(
                ReportCellRow(experiment=experiment, variant=variant, cell=cell, sums=delta)
            )
            continue
        sums = [a + d for a, d in zip(row.sums, delta, strict=True)]
        if sums[0] <= 0:  # no unit left in the cell
            session.delete(row)
        else:
            row.sums = sums
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
        s = [float(v) for v in c.sums]
        if c.cell.startswith(DAY):
            days.append(
                UnitSums(
                    variant=c.variant,
                    day=c.cell[len(DAY) :],
                    units=round(s[0]),
                    decisions=round(s[1]),
                    outcomes=round(s[2]),
                    sums=dict(zip(METRICS, s[3:6], strict=True)),
                    squares=dict(zip(METRICS, s[6:9], strict=True)),
                    sum_x=s[9],
                    sum_x2=s[10],
                    sum_xy=dict(zip(METRICS, s[11:14], strict=True)) if covariate else None,
                )
            )
        else:
            campaign = c.cell[len(CAMPAIGN) :]
            campaigns.append(
                CampaignSums(
                    variant=c.variant,
                    campaign_id=campaign or None,
                    units=round(s[0]),
                    decisions=round(s[1]),
                    outcomes=round(s[2]),
                    sums=dict(zip(METRICS, s[3:6], strict=True)),
                )
            )
    days.sort(key=lambda r: (r.day, r.variant))
    campaigns.sort(key=lambda r: (r.variant, r.campaign_id or ""))
    return days, campaigns
