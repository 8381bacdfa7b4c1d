"""Real-time calibration: what the served models predicted for the actions they chose against
what was observed, per campaign, model version and target, over a sliding window of decisions.

A ratio observed / predicted far from 1 means the model no longer describes the traffic
(calibration drift): the server exports these rows as Prometheus gauges, the A/B report shows
them, and a retrain trigger can compare `ratio` with a tolerance.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select

from feedback.models import DecisionRow, OutcomeRow
from feedback.store import Store

# Targets labelled by the outcome type of the same name unless `labels` says otherwise.
DEFAULT_LABELS = {"click": "click", "conversion": "conversion"}


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    """Decisions of one campaign (None: no campaign) by one model version in the window.

    predicted: mean predicted probability of `target` for the chosen action (the control
    probability for "no campaign"); observed: share of those decisions with a `target` outcome;
    ratio: observed / predicted (NaN when predicted is 0).
    """

    campaign_id: str | None
    model_version: str
    target: str
    count: int
    predicted: float
    observed: float
    ratio: float


def _predicted(candidates: list[dict[str, Any]], campaign_id: str | None, target: str) -> float:
    """The model's probability of `target` for the action taken; NaN when it was not scored."""
    for c in candidates:
        probability = c.get("probability", {}).get(target)
        if probability is None:
            return math.nan
        if campaign_id is None:  # control probability: the same for every candidate
            control = c.get("control", {}).get(target)
            if control is not None:
                return float(control)
            return float(probability) - float(c.get("uplift", {}).get(target, 0.0))
        if c.get("campaign_id") == campaign_id:
            return float(probability)
    return math.nan


def calibration(
    store: Store,
    window: timedelta,
    *,
    now: datetime | None = None,
    labels: Mapping[str, str] | None = None,
    experiment: str | None = None,
) -> list[CalibrationRow]:
    """Calibration of the decisions made in [now - window, now) by a served model.

    `labels` maps a model target to the outcome type that labels it (default: click and
    conversion label themselves; e.g. {"visit": "click"} for Hillstrom's models). A decision
    without that outcome counts as not converted, so the newest decisions, whose outcomes may
    still come, pull `observed` down: choose a window well longer than the usual outcome delay.
    `experiment` keeps only that experiment's decisions. Rows are sorted by campaign, model
    version and target.
    """
    labels = dict(DEFAULT_LABELS if labels is None else labels)
    end = now or datetime.now(UTC)
    types = sorted(set(labels.values()))
    observed = (
        select(
            OutcomeRow.decision_id,
            *[
                func.max(case((OutcomeRow.type == t, OutcomeRow.value), else_=0.0)).label(t)
                for t in types
            ],
        )
        .group_by(OutcomeRow.decision_id)
        .subquery()
    )
    stmt = (
        select(
            DecisionRow.campaign_id,
            DecisionRow.model_version,
            DecisionRow.candidates,
            *[func.coalesce(observed.c[t], 0.0).label(t) for t in types],
        )
        .outerjoin(observed, observed.c.decision_id == DecisionRow.decision_id)
        .where(DecisionRow.created_at >= end - window, DecisionRow.created_at < end)
        .where(DecisionRow.model_version != "")
    )
    if experiment is not None:
        stmt = stmt.where(DecisionRow.experiment == experiment)
    sums: dict[tuple[str | None, str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    with store.transaction() as session:
        for row in session.execute(stmt).mappings():
            for target, outcome in labels.items():
                p = _predicted(row["candidates"], row["campaign_id"], target)
                if math.isnan(p):
                    continue
                s = sums[(row["campaign_id"], row["model_version"], target)]
                s[0] += 1
                s[1] += p
                s[2] += float(row[outcome])
    result = []
    for (campaign, version, target), (n, p, y) in sums.items():
        predicted, rate = p / n, y / n
        ratio = rate / predicted if predicted > 0 else math.nan
        result.append(CalibrationRow(campaign, version, target, int(n), predicted, rate, ratio))
    return sorted(result, key=lambda r: (r.campaign_id or "", r.model_version, r.target))
