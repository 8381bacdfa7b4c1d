"""Importing logged decisions and their outcomes from a table (e.g. a randomized history)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from common.errors import InvalidArgument
from feedback.decisions import DecisionRecord, write_decisions
from feedback.outcomes import Outcome, log_outcomes
from feedback.privacy import stored_unit_id
from feedback.store import Store


@dataclass(frozen=True)
class LogMapping:
    """Which columns of a logged table hold what. `outcomes` maps an outcome type (click,
    conversion, revenue) to the column holding its value; zero means "did not happen"."""

    row_id: str | None  # None: rows are numbered (prefixed by the experiment)
    unit_id: str | None  # None: each row is its own unit
    campaign_id: str  # "" or missing: no campaign
    propensity: str | float  # a column, or the constant of a uniform randomized test
    user_features: Sequence[str]
    campaign_features: Sequence[str]
    outcomes: Mapping[str, str]
    policy: str = "logged"
    # For a logged A/B test: the experiment's name and the column holding each row's variant.
    experiment: str = ""
    variant: str | None = None
    # A constant variant for every row (one file per logged policy, e.g. the Open Bandit Dataset).
    variant_value: str | None = None
    # The campaign value that means "no campaign" (e.g. Hillstrom's "No E-Mail").
    no_campaign: str = ""
    # A user feature measured before the experiment (e.g. past spend): the report's CUPED covariate.
    covariate: str = ""


def _plain(value: Any) -> Any:
    """JSON-safe scalars: numpy numbers become Python floats, missing values None."""
    if isinstance(value, str):
        return value
    if value is None or pd.isna(value):
        return None
    return float(value)


@dataclass(frozen=True)
class _Columns:
    """The columns rows are read from, generated ones standing in for the mapping's constants."""

    row_id: str
    unit_id: str
    propensity: str
    variant: str | None


def _prepared(frame: pd.DataFrame, mapping: LogMapping) -> tuple[pd.DataFrame, _Columns]:
    """A copy of the frame with a column for each constant the mapping gives instead of one."""
    frame = frame.copy()
    variant = mapping.variant
    if mapping.variant_value is not None:
        frame["__variant"] = mapping.variant_value
        variant = "__variant"
    if mapping.row_id is None:
        # Numbered within the experiment and variant, so files of several policies do not collide.
        prefix = "-".join(p for p in (mapping.experiment or "row", mapping.variant_value) if p)
        frame["__row_id"] = [f"{prefix}-{i}" for i in range(len(frame))]
    row_id = mapping.row_id or "__row_id"
    propensity = mapping.propensity
    if not isinstance(propensity, str):
        frame["__propensity"] = float(propensity)
        propensity = "__propensity"
    return frame, _Columns(row_id, mapping.unit_id or row_id, propensity, variant)


def _columns_read(frame: pd.DataFrame, mapping: LogMapping, cols: _Columns) -> list[str]:
    """Every column the import reads, each once; raises when the frame lacks any."""
    needed = [
        cols.row_id,
        cols.unit_id,
        mapping.campaign_id,
        cols.propensity,
        *mapping.user_features,
        *mapping.campaign_features,
        *mapping.outcomes.values(),
        *([cols.variant] if cols.variant else []),
    ]
    needed = list(dict.fromkeys(needed))  # a column may serve twice (campaign and variant)
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise InvalidArgument(f"logged table lacks columns {absent}")
    return needed


def _decision(
    row: dict[str, Any],
    mapping: LogMapping,
    cols: _Columns,
    *,
    decided_at: datetime,
    unit_key: bytes,
) -> DecisionRecord:
    campaign = row[mapping.campaign_id]
    campaign = None if campaign == mapping.no_campaign or pd.isna(campaign) else str(campaign)
    return DecisionRecord(
        decision_id=str(row[cols.row_id]),
        unit_id=stored_unit_id(str(row[cols.unit_id]), unit_key),
        experiment=mapping.experiment,
        variant=str(row[cols.variant]) if cols.variant else "",
        policy=mapping.policy,
        model_version="",
        campaign_id=campaign or None,
        propensity=float(row[cols.propensity]),
        user_features={c: _plain(row[c]) for c in mapping.user_features},
        candidates=[],
        chosen_features={c: _plain(row[c]) for c in mapping.campaign_features},
        created_at=decided_at,
    )


def _row_outcomes(
    row: dict[str, Any], mapping: LogMapping, decision_id: str, decided_at: datetime
) -> list[Outcome]:
    """An outcome per outcome column whose value is not zero ("did not happen")."""
    outcomes = []
    for kind, col in mapping.outcomes.items():
        value = float(row[col])
        if value:
            outcomes.append(Outcome(f"{decision_id}:{kind}", decision_id, kind, value, decided_at))
    return outcomes


def import_logged(
    store: Store,
    frame: pd.DataFrame,
    mapping: LogMapping,
    *,
    decided_at: datetime,
    unit_key: bytes = b"",
) -> tuple[int, int]:
    """Writes one decision per row and an outcome per non-zero outcome column; with a
    `unit_key`, unit ids are stored as keyed hashes (feedback/privacy.py).
    Returns (decisions, outcomes accepted); re-importing the same outcomes counts them once."""
    frame, cols = _prepared(frame, mapping)
    needed = _columns_read(frame, mapping, cols)
    decisions, outcomes = [], []
    for row in frame[needed].to_dict("records"):
        decision = _decision(row, mapping, cols, decided_at=decided_at, unit_key=unit_key)
        decisions.append(decision)
        outcomes += _row_outcomes(row, mapping, decision.decision_id, decided_at)
    write_decisions(store, decisions)
    return len(decisions), log_outcomes(store, outcomes, backfill=True).accepted
