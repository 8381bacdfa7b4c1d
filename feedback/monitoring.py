"""Real-time calibration: what the served models predicted for the actions they chose against
what was observed, per campaign, model version and target, over a sliding window of decisions.

A ratio observed / predicted far from 1 means the model no longer describes the traffic
(calibration drift): the server exports these rows as Prometheus gauges, the A/B report shows
them, and a retrain trigger can compare `ratio` with a tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feedback.models import DecisionRow, OutcomeRow
from feedback.rewards import DEFAULT_TARGET_LABELS, labels_one
from feedback.store import Store

# Outcomes follow their decisions, so those of the window's decisions were received after the
# window began; this much earlier too, for replicas' clocks and outcomes sent before an
# imported decision was logged.
OUTCOME_SKEW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    """Decisions of one campaign (None: no campaign) by one model version in the window.

    predicted: mean predicted probability of `target` for the chosen action (the control
    probability for "no campaign"); observed: share of those decisions labelled 1 for `target`
    (feedback/rewards.py: an outcome of its type, of a value above 0, that is not late);
    ratio: observed / predicted (NaN when predicted is 0).
    """

    campaign_id: str | None
    model_version: str
    target: str
    count: int
    predicted: float
    observed: float
    ratio: float


Key = tuple[str | None, str, str]  # (campaign, model version, target)
MINUTE = timedelta(minutes=1)
# Rows are per campaign and model version (and target).
GROUP = (DecisionRow.campaign_id, DecisionRow.model_version)


def _in_window(lo: datetime, hi: datetime, experiment: str | None) -> list[Any]:
    conditions = [
        DecisionRow.created_at >= lo,
        DecisionRow.created_at < hi,
        DecisionRow.model_version != "",
    ]
    if experiment is not None:
        conditions.append(DecisionRow.experiment == experiment)
    return conditions


def _predicted(target: str) -> Any:
    # NULL when the chosen action has no such prediction (another model, imported logs): such
    # decisions are left out of this target's row (COUNT and SUM skip NULL).
    return DecisionRow.chosen_prediction[("probability", target)].as_float()


def _scored(
    session: Session, targets: Sequence[str], conditions: list[Any]
) -> dict[Key, tuple[int, float]]:
    """(decisions, sum of predictions) per campaign, version and target."""
    sums = {}
    for target in targets:
        predicted = _predicted(target)
        stmt = select(*GROUP, func.count(predicted), func.sum(predicted)).where(*conditions)
        for campaign, version, n, p in session.execute(stmt.group_by(*GROUP)):
            if n:
                sums[(campaign, version, target)] = (int(n), float(p))
    return sums


class ScoredMinutes:
    """The predicted side of calibration kept per whole minute of decisions between refreshes.

    A minute's decisions are all written soon after it ends (the decision log flushes every
    50 ms), and what the model predicted for them never changes, so a refresh reads
    only the minutes it has not seen plus the window's ragged ends instead of the whole window.
    Decisions logged (LogDecisions) more than SETTLE after they were made are missed by the
    minutes already kept, until the next full recount (every RECOUNT).
    """

    SETTLE = timedelta(seconds=30)
    RECOUNT = timedelta(minutes=15)

    def __init__(self) -> None:
        self._minutes: dict[datetime, dict[Key, tuple[int, float]]] = {}
        self._scope: tuple[tuple[str, ...], str | None] | None = None
        self._since: datetime | None = None

    def read(
        self,
        session: Session,
        targets: Sequence[str],
        experiment: str | None,
        start: datetime,
        end: datetime,
    ) -> dict[Key, tuple[int, float]]:
        scope = (tuple(targets), experiment)
        if scope != self._scope or self._since is None or end - self._since > self.RECOUNT:
            self._minutes, self._scope, self._since = {}, scope, end
        first = start.replace(second=0, microsecond=0)
        first += MINUTE if first < start else timedelta(0)
        last = (end - self.SETTLE).replace(second=0, microsecond=0)
        if last <= first:  # no whole settled minute in the window
            return _scored(session, targets, _in_window(start, end, experiment))
        self._minutes = {m: v for m, v in self._minutes.items() if m >= first}
        minute = first
        while minute < last:
            if minute not in self._minutes:
                window = _in_window(minute, minute + MINUTE, experiment)
                self._minutes[minute] = _scored(session, targets, window)
            minute += MINUTE
        parts = [
            _scored(session, targets, _in_window(start, first, experiment)),
            *(v for m, v in self._minutes.items() if m < last),
            _scored(session, targets, _in_window(last, end, experiment)),
        ]
        total: dict[Key, tuple[int, float]] = {}
        for part in parts:
            for key, (n, p) in part.items():
                n0, p0 = total.get(key, (0, 0.0))
                total[key] = (n0 + n, p0 + p)
        return total


def calibration(
    store: Store,
    window: timedelta,
    *,
    now: datetime | None = None,
    labels: Mapping[str, str] | None = None,
    experiment: str | None = None,
    cache: ScoredMinutes | None = None,
) -> list[CalibrationRow]:
    """Calibration of the decisions made in [now - window, now) by a served model.

    `labels` maps a model target to the outcome type that labels it (default: click and
    conversion label themselves; e.g. {"visit": "click"} for Hillstrom's models). A decision
    without that outcome counts as not converted, so the newest decisions, whose outcomes may
    still come, pull `observed` down: choose a window well longer than the usual outcome delay.
    `experiment` keeps only that experiment's decisions. `cache` keeps the predicted side of
    whole minutes for the next call (a monitor refreshing the same window on a timer). Rows are
    sorted by campaign, model version and target.

    The predicted side reads decisions (one column, not the candidates); the observed side
    starts from the outcomes received since the window began (far fewer rows than decisions).
    """
    labels = dict(DEFAULT_TARGET_LABELS if labels is None else labels)
    end = now or datetime.now(UTC)
    start = end - window
    with store.transaction() as session:
        if cache is None:
            scored = _scored(session, list(labels), _in_window(start, end, experiment))
        else:
            scored = cache.read(session, list(labels), experiment, start, end)
        observed = _observed(session, labels, _in_window(start, end, experiment), start)
    result = []
    for (campaign, version, target), (n, p) in scored.items():
        # A group first seen between the two reads (SQLite reads outside a write transaction
        # see no single snapshot) may count more outcomes than decisions: next refresh.
        y = min(observed.get((campaign, version, target), 0), n)
        predicted, rate = p / n, y / n
        ratio = rate / predicted if predicted > 0 else math.nan
        result.append(CalibrationRow(campaign, version, target, n, predicted, rate, ratio))
    return sorted(result, key=lambda r: (r.campaign_id or "", r.model_version, r.target))


def _observed(
    session: Session, labels: Mapping[str, str], conditions: list[Any], start: datetime
) -> dict[Key, int]:
    """Decisions with an outcome (value > 0) of the target's type, per campaign, version and
    target, among those with a prediction for it. Written as IN (outcomes received since the
    window began) so that the plan starts from those outcomes, not from the window's decisions."""
    counts = {}
    for target, outcome in labels.items():
        labelled = select(OutcomeRow.decision_id).where(
            OutcomeRow.received_at >= start - OUTCOME_SKEW, labels_one(outcome)
        )
        stmt = (
            select(*GROUP, func.count())
            .where(DecisionRow.decision_id.in_(labelled), *conditions)
            .where(_predicted(target).is_not(None))
            .group_by(*GROUP)
        )
        for campaign, version, y in session.execute(stmt):
            counts[(campaign, version, target)] = int(y)
    return counts
