"""Real-time calibration: what the served models predicted for the actions they chose against
what was observed, per campaign, model version and target, over a sliding window of decisions.

A ratio observed / predicted far from 1 means the model no longer describes the traffic
(calibration drift): the server exports these rows as Prometheus gauges, the A/B report shows
them, and a retrain trigger can compare `ratio` with a tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from feedback.models import DecisionRow, OutcomeRow
from feedback.store import Store

# Targets labelled by the outcome type of the same name unless `labels` says otherwise.
DEFAULT_LABELS = {"click": "click", "conversion": "conversion"}

# Outcomes follow their decisions, so those of the window's decisions were received after the
# window began; this much earlier too, for replicas' clocks and outcomes sent before an
# imported decision was logged.
OUTCOME_SKEW = timedelta(hours=1)


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
    in_window = [
        DecisionRow.created_at >= end - window,
        DecisionRow.created_at < end,
        DecisionRow.model_version != "",
    ]
    if experiment is not None:
        in_window.append(DecisionRow.experiment == experiment)
    group = (DecisionRow.campaign_id, DecisionRow.model_version)
    sums: dict[tuple[str | None, str, str], list[float]] = {}
    with store.transaction() as session:
        for target, outcome in labels.items():
            # NULL when the chosen action has no such prediction (another model, imported
            # logs): such decisions are left out of this target's row (COUNT and SUM skip NULL).
            predicted = DecisionRow.chosen_prediction[("probability", target)].as_float()
            scored = session.execute(
                select(*group, func.count(predicted), func.sum(predicted))
                .where(*in_window)
                .group_by(*group)
            )
            for campaign, version, n, p in scored:
                if n:
                    sums[(campaign, version, target)] = [n, float(p), 0.0]
            # From the outcome side: far fewer rows than decisions, found by receipt time.
            labelled = (
                select(OutcomeRow.decision_id, func.max(OutcomeRow.value).label("value"))
                .where(
                    OutcomeRow.type == outcome,
                    OutcomeRow.received_at >= end - window - OUTCOME_SKEW,
                )
                .group_by(OutcomeRow.decision_id)
                .subquery()
            )
            observed = session.execute(
                select(*group, func.sum(labelled.c.value))
                .join(labelled, labelled.c.decision_id == DecisionRow.decision_id)
                .where(*in_window, predicted.is_not(None))
                .group_by(*group)
            )
            for campaign, version, y in observed:
                # Absent when its first decision was written between the two reads (SQLite
                # reads outside a write transaction see no single snapshot): next refresh.
                if (row := sums.get((campaign, version, target))) is not None:
                    row[2] = float(y)
    result = []
    for (campaign, version, target), (n, p, y) in sums.items():
        predicted_mean, rate = p / n, y / n
        ratio = rate / predicted_mean if predicted_mean > 0 else math.nan
        result.append(
            CalibrationRow(campaign, version, target, int(n), predicted_mean, rate, ratio)
        )
    return sorted(result, key=lambda r: (r.campaign_id or "", r.model_version, r.target))
