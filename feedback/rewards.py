"""The one definition of what a decision earned: outcome types and how they label a decision,
the attribution window and late outcomes, the default reward, which outcome type labels a model
target, and the default objective. Training data, policy learning, off-policy evaluation, the
A/B report and calibration all read outcomes through this module.

The rules:
- Outcome types are click and conversion (binary: a decision's label is 1 when any counted
  outcome of that type has a value above 0, else 0) and revenue (the sum of the values).
- An outcome *counts* for its decision unless it is late: it occurred, or (outside imports of
  history) arrived, after the decision's attribution window closed, i.e. after
  decided_at + window, where the window is the decision's experiment's, or the deployment's
  default (`Settings.attribution_window_s`) for decisions made outside any experiment. Late
  outcomes are kept and flagged at ingest (feedback/outcomes.py); an outcome that arrives before
  its decision is stored is judged by when it occurred once the decision is written
  (feedback/decisions.py). Duplicates (same event id) are stored once.
- A decision's *label* of a type (training, reports, calibration) is computed from its counted
  outcomes of that type, 0 when there are none.
- A decision's *reward* of a type (what learning policies learn from and what off-policy
  evaluation estimates) is its label when at least one counted outcome of that type came, else
  the experiment's `default_reward` (0 unless configured). A *raw* reward, on request, counts
  every outcome at any time, late ones included, and 0 when none came.
- A decision is *settled* once its window closed (plus a grace period for the asynchronous
  decision log): only then is its reward final.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, case, func, select

from feedback.models import OutcomeRow

OUTCOME_TYPES = ("click", "conversion", "revenue")
BINARY_TYPES = ("click", "conversion")
REVENUE = "revenue"
DEFAULT_ATTRIBUTION_WINDOW_S = 86_400.0
DEFAULT_OBJECTIVE = "conversion"


@dataclass(frozen=True, slots=True)
class Attribution:
    """How long outcomes count for a decision, and what a decision earned when none came."""

    window_s: float = DEFAULT_ATTRIBUTION_WINDOW_S
    default_reward: float = 0.0

    def deadline(self, decided_at: datetime) -> datetime:
        """When the decision's window closes: outcomes after it are late."""
        return decided_at + timedelta(seconds=self.window_s)

    def settled_before(self, now: datetime, grace_s: float = 0.0) -> datetime:
        """Decisions made before this are settled at `now`."""
        return now - timedelta(seconds=self.window_s + grace_s)


def is_late(
    occurred_at: datetime, received_at: datetime, deadline: datetime, *, backfill: bool = False
) -> bool:
    """An outcome is late when it occurred, or (live ingest) arrived, after the deadline;
    imported history (`backfill`) arrives long after the fact and is judged by occurrence."""
    return occurred_at > deadline or (not backfill and received_at > deadline)


def _value(kind: str, raw: bool) -> Any:
    condition = OutcomeRow.type == kind
    if not raw:
        condition = condition & OutcomeRow.late.is_(False)
    return case((condition, OutcomeRow.value), else_=None)


def outcome_labels(
    decision_ids: Iterable[str] | Select[Any] | None = None, *, raw: bool = False
) -> Subquery:
    """Per decision with outcomes: `outcomes` (counted outcome rows), and for each outcome type
    t the label `t` (NULL when no counted outcome of t came) — max for binary types, sum for
    revenue — and `has_t` (how many counted outcomes of t came). With `raw`, late outcomes
    count too. Restricted to `decision_ids` when given (an IN list: keep it short; or a
    SELECT of decision ids)."""
    counted = OutcomeRow.late.is_(False)
    columns: list[Any] = [
        OutcomeRow.decision_id,
        func.count().label("outcomes")
        if raw
        else func.sum(case((counted, 1), else_=0)).label("outcomes"),
    ]
    for kind in OUTCOME_TYPES:
        value = _value(kind, raw)
        columns.append((func.sum if kind == REVENUE else func.max)(value).label(kind))
        columns.append(func.count(value).label(f"has_{kind}"))
    stmt = select(*columns).group_by(OutcomeRow.decision_id)
    if isinstance(decision_ids, Select):
        stmt = stmt.where(OutcomeRow.decision_id.in_(decision_ids))
    elif decision_ids is not None:
        stmt = stmt.where(OutcomeRow.decision_id.in_(list(decision_ids)))
    return stmt.subquery()


def labels_one(kind: str) -> ColumnElement[bool]:
    """The condition on an outcome row that makes its decision's binary label of `kind` 1: a
    counted outcome of that type with a value above 0 (for queries that start from outcomes)."""
    return (OutcomeRow.type == kind) & (OutcomeRow.value > 0) & OutcomeRow.late.is_(False)


def label_column(labels: Subquery, kind: str) -> ColumnElement[float]:
    """A decision's label of `kind` from `outcome_labels` joined to it: 0 without outcomes."""
    return func.coalesce(labels.c[kind], 0.0)


def label_of(row: Any, kind: str) -> float:
    """The label of `kind` of a decision row read with outcome_labels' columns (None: none)."""
    value = getattr(row, kind, None)
    if value is None:
        return 0.0
    return float(value) if kind == REVENUE else (1.0 if float(value) > 0 else 0.0)


def reward_of(row: Any, kind: str, default_reward: float = 0.0) -> float:
    """The reward of `kind` of a decision row read with outcome_labels' columns: its label when
    a counted outcome of `kind` came, else `default_reward`."""
    if not getattr(row, f"has_{kind}", 0):
        return default_reward
    return label_of(row, kind)


def outcome_type(schema: Mapping[str, Any], objective: str) -> str:
    """The outcome type that labels a model's objective: a revenue output is rewarded by
    revenue outcomes; a target by the type its spec's [outcome_types] names (a target named
    like an outcome type needs no entry)."""
    if objective in schema.get("revenue", {}):
        return REVENUE
    return str(schema.get("outcome_types", {}).get(objective, objective))


# Targets named like a binary outcome type are labelled by it when a model says nothing else.
DEFAULT_TARGET_LABELS = {kind: kind for kind in BINARY_TYPES}


def target_labels(schema: Mapping[str, Any], targets: Sequence[str]) -> dict[str, str]:
    """Each model target with the outcome type that labels it."""
    return {t: outcome_type(schema, t) for t in targets}


def default_objective(objectives: Sequence[str], configured: str = DEFAULT_OBJECTIVE) -> str:
    """The objective a policy without one maximizes: the deployment's when the model has it
    (a target or a revenue output), else the model's first target."""
    if not objectives:
        raise ValueError("a model has at least one target")
    return configured if configured in objectives else objectives[0]
