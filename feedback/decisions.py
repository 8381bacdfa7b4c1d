"""Writing decisions to the store in batches (the server's decision log calls this)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from dataclasses import replace as dataclasses_replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from common.errors import InvalidArgument, NotFound
from feedback.models import (
    ID_LENGTH,
    DecisionRow,
    DeferredDecisionRow,
    ExperimentRow,
    OutcomeRow,
    utcnow,
)
from feedback.rewards import DEFAULT_ATTRIBUTION_WINDOW_S, Attribution
from feedback.store import Store, insert_new

CHUNK = 500


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    decision_id: str
    unit_id: str
    experiment: str
    variant: str
    policy: str
    model_version: str
    campaign_id: str | None
    propensity: float
    user_features: dict[str, Any]
    candidates: list[dict[str, Any]]
    chosen_features: dict[str, Any]
    created_at: datetime
    # "exact", or "monte_carlo:<draws>" when the choice probability was estimated.
    propensity_method: str = "exact"
    # Held back until activated (activate_decisions): stored apart until then.
    deferred: bool = False


# The columns of a decision row (`deferred` says where the record goes, it is not stored).
FIELDS = tuple(f.name for f in fields(DecisionRecord) if f.name != "deferred")

# {"probability": {target: p}, "uplift": {...}, ...}: None where a score was not finite.
ChosenPrediction = dict[str, dict[str, float | None]]

# Keys of a candidate's scores: (value, uplift) for targets, then for revenue outputs.
_SCORES = (("probability", "uplift"), ("expected", "expected_uplift"))
_SCORE_KEYS = frozenset(k for pair in _SCORES for k in pair)


def chosen_prediction(
    candidates: Sequence[dict[str, Any]], campaign_id: str | None
) -> ChosenPrediction:
    """What the model predicted for the action taken, from the candidates as scored:
    {"probability": {target: p}, "uplift": {target: u}, "expected": {output: v},
    "expected_uplift": {output: u}} (the revenue keys only when the model has such outputs).

    For "no campaign" the values are the control predictions and the uplifts are 0. A control
    not stored with the candidates (older records, revenue outputs) is value - uplift of any
    candidate, the S-learner's identity. Empty when the decision kept no candidates (imported
    logs) or its campaign is not among them. Calibration and the policy updater read this
    instead of every candidate's scores.
    """
    if not candidates:
        return {}
    if campaign_id is not None:
        chosen = next((c for c in candidates if c.get("campaign_id") == campaign_id), None)
        if chosen is None:
            return {}
        return {k: dict(v) for k, v in chosen.items() if k in _SCORE_KEYS and isinstance(v, dict)}
    first = candidates[0]
    stored = first.get("control")
    stored_control: dict[str, Any] = stored if isinstance(stored, dict) else {}
    result: ChosenPrediction = {}
    for value_key, uplift_key in _SCORES:
        values, uplifts = first.get(value_key), first.get(uplift_key)
        if not isinstance(values, dict):
            continue
        uplifts = uplifts if isinstance(uplifts, dict) else {}
        control: dict[str, float | None] = {}
        for name, v in values.items():
            c = stored_control.get(name) if value_key == "probability" else None
            u = uplifts.get(name)
            if c is None and v is not None and u is not None:
                c = v - u
            control[name] = c
        result[value_key] = control
        result[uplift_key] = {name: 0.0 for name in control}
    return result


def write_decisions(
    store: Store,
    records: Sequence[DecisionRecord],
    *,
    default_window_s: float = DEFAULT_ATTRIBUTION_WINDOW_S,
) -> int:
    """Inserts decisions in one transaction; a decision id already stored is skipped, so a
    batch retried after an ambiguous failure is written once. Returns how many were new.
    Deferred decisions are stored apart until activated (a decision whose activation came
    first is written at once, decided at its activation) and are not counted as new.

    Outcomes stored before their decision are judged here, by when they occurred against the
    decision's window (its experiment's, else `default_window_s`): feedback/rewards.py."""
    deferred = [r for r in records if r.deferred]
    if not deferred:
        with store.transaction() as session:
            return _insert(store.dialect, session, records, default_window_s)
    with store.transaction() as session:
        now = [r for r in records if not r.deferred]
        return _insert(store.dialect, session, now, default_window_s) + _defer(
            store.dialect, session, deferred, default_window_s
        )


def _insert(
    dialect: str, session: Session, records: Sequence[DecisionRecord], default_window_s: float
) -> int:
    if not records:
        return 0
    # The report summary's watermark: however old a decision is, it is new to the summary.
    logged_at = utcnow()
    # Shallow: asdict would deep-copy every candidate's features only for the JSON encoder.
    rows = [
        {
            **{name: getattr(r, name) for name in FIELDS},
            "chosen_prediction": chosen_prediction(r.candidates, r.campaign_id),
            "logged_at": logged_at,
        }
        for r in records
    ]
    new = insert_new(session, dialect, DecisionRow, "decision_id", rows)
    _judge_early_outcomes(session, records, set(new), default_window_s)
    return len(new)


def record_json(r: DecisionRecord) -> dict[str, Any]:
    """A decision as a deferred row holds it (JSON; the time as ISO 8601)."""
    out = {name: getattr(r, name) for name in FIELDS}
    out["created_at"] = r.created_at.isoformat()
    return out


def _from_json(value: dict[str, Any], decided_at: datetime) -> DecisionRecord:
    return DecisionRecord(**{**value, "created_at": decided_at})


def _upsert(dialect: str) -> Any:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(DeferredDecisionRow.__table__)


def _defer(
    dialect: str, session: Session, records: Sequence[DecisionRecord], default_window_s: float
) -> int:
    """Stores deferred decisions (a re-sent id replaces its pending record); those already
    activated are written as decisions now. Returns how many were written."""
    stmt = _upsert(dialect)
    stmt = stmt.on_conflict_do_update(
        index_elements=["decision_id"], set_={"record": stmt.excluded.record}
    ).returning(DeferredDecisionRow.decision_id, DeferredDecisionRow.activated_at)
    rows = [
        {"decision_id": r.decision_id, "record": record_json(r), "created_at": r.created_at}
        for r in records
    ]
    activated: dict[str, datetime] = {}
    for start in range(0, len(rows), CHUNK):
        for decision_id, activated_at in session.execute(stmt, rows[start : start + CHUNK]):
            if activated_at is not None:
                activated[decision_id] = activated_at
    if not activated:
        return 0
    ready = [
        dataclasses_replace(r, created_at=activated[r.decision_id], deferred=False)
        for r in records
        if r.decision_id in activated
    ]
    return _move(dialect, session, ready, default_window_s)


def _move(
    dialect: str, session: Session, records: Sequence[DecisionRecord], default_window_s: float
) -> int:
    written = _insert(dialect, session, records, default_window_s)
    ids = [r.decision_id for r in records]
    for start in range(0, len(ids), CHUNK):
        session.execute(
            delete(DeferredDecisionRow).where(
                DeferredDecisionRow.decision_id.in_(ids[start : start + CHUNK])
            )
        )
    return written


@dataclass(frozen=True, slots=True)
class Activation:
    activated: int  # decisions that count now (by this call or an earlier one)
    pending: int  # ids whose deferred decision is not written yet


def activate_decisions(
    store: Store,
    decision_ids: Sequence[str],
    *,
    now: datetime | None = None,
    default_window_s: float = DEFAULT_ATTRIBUTION_WINDOW_S,
) -> Activation:
    """Activates deferred decisions: each is written as a decision made at its first
    activation. An id not stored yet is remembered and activated when its decision comes;
    an id already written as a decision counts as activated (idempotent)."""
    for i, decision_id in enumerate(decision_ids):
        if not decision_id or len(decision_id) > ID_LENGTH or "\x00" in decision_id:
            raise InvalidArgument(
                f"decision_ids[{i}] must be 1 to {ID_LENGTH} characters without NUL, "
                f"got {decision_id[:64]!r}"
            )
    ids = sorted(set(decision_ids))
    at = now or utcnow()
    stmt = _upsert(store.dialect)
    stmt = stmt.on_conflict_do_update(
        index_elements=["decision_id"],
        set_={
            "activated_at": func.coalesce(
                DeferredDecisionRow.activated_at, stmt.excluded.activated_at
            )
        },
    ).returning(
        DeferredDecisionRow.decision_id,
        DeferredDecisionRow.record,
        DeferredDecisionRow.activated_at,
    )
    with store.transaction() as session:
        stored = set(
            session.scalars(select(DecisionRow.decision_id).where(DecisionRow.decision_id.in_(ids)))
        )
        todo = [d for d in ids if d not in stored]
        ready: list[DecisionRecord] = []
        for start in range(0, len(todo), CHUNK):
            rows = [
                {"decision_id": d, "record": None, "activated_at": at, "created_at": at}
                for d in todo[start : start + CHUNK]
            ]
            for _, record, activated_at in session.execute(stmt, rows):
                if record is not None:
                    ready.append(_from_json(record, activated_at))
        _move(store.dialect, session, ready, default_window_s)
    return Activation(len(stored) + len(ready), len(todo) - len(ready))


def _judge_early_outcomes(
    session: Session, records: Sequence[DecisionRecord], new: set[str], default_window_s: float
) -> None:
    """Flags late the outcomes that were stored before their (new) decision and occurred after
    its attribution window closed; at ingest they could not be judged."""
    ids = sorted(new)
    early: list[Any] = []
    for start in range(0, len(ids), CHUNK):
        early += session.execute(
            select(OutcomeRow.seq, OutcomeRow.decision_id, OutcomeRow.occurred_at).where(
                OutcomeRow.decision_id.in_(ids[start : start + CHUNK]),
                OutcomeRow.late.is_(False),
            )
        ).all()
    if not early:
        return
    by_id = {r.decision_id: r for r in records}
    experiments = {by_id[d].experiment for _, d, _ in early} - {""}
    windows = {
        name: window
        for name, window in session.execute(
            select(ExperimentRow.name, ExperimentRow.attribution_window_s).where(
                ExperimentRow.name.in_(sorted(experiments))
            )
        )
    }
    late = [
        seq
        for seq, decision_id, occurred_at in early
        if occurred_at
        > Attribution(windows.get(by_id[decision_id].experiment, default_window_s)).deadline(
            by_id[decision_id].created_at
        )
    ]
    if late:
        session.execute(update(OutcomeRow).where(OutcomeRow.seq.in_(late)).values(late=True))


def count_decisions(
    store: Store, *, after: datetime | None = None, before: datetime | None = None
) -> int:
    """Decisions made strictly between `after` and `before` (either bound optional)."""
    stmt = select(func.count()).select_from(DecisionRow)
    if after is not None:
        stmt = stmt.where(DecisionRow.created_at > after)
    if before is not None:
        stmt = stmt.where(DecisionRow.created_at < before)
    with store.transaction() as session:
        return session.scalar(stmt) or 0


def get_decision(store: Store, decision_id: str) -> DecisionRow | None:
    with store.transaction() as session:
        return session.get(DecisionRow, decision_id)


# Decisions stamped later than now plus this are refused (as outcomes are).
MAX_CLOCK_SKEW = timedelta(hours=1)


def validate_decision(d: DecisionRecord, where: str) -> None:
    """Raises InvalidArgument naming `where.field` and the bad value."""
    for name in ("decision_id", "unit_id"):
        value = getattr(d, name)
        if not value:
            raise InvalidArgument(f"{where}.{name} must not be empty")
        if len(value) > ID_LENGTH:
            raise InvalidArgument(f"{where}.{name} is longer than {ID_LENGTH} characters")
    if d.campaign_id is not None and (not d.campaign_id or len(d.campaign_id) > ID_LENGTH):
        raise InvalidArgument(
            f"{where}.campaign_id must have 1 to {ID_LENGTH} characters unless no_campaign is set"
        )
    if not (math.isfinite(d.propensity) and 0.0 < d.propensity <= 1.0):
        raise InvalidArgument(f"{where}.propensity must be in (0, 1], got {d.propensity!r}")
    if d.variant and not d.experiment:
        raise InvalidArgument(f"{where}.variant {d.variant!r} needs an experiment")
    for name in ("experiment", "variant", "policy"):
        if len(getattr(d, name)) > 128:
            raise InvalidArgument(f"{where}.{name} is longer than 128 characters")
    if d.created_at.tzinfo is None:
        raise InvalidArgument(f"{where}.decided_at must be timezone-aware")
    if d.created_at > datetime.now(UTC) + MAX_CLOCK_SKEW:
        raise InvalidArgument(f"{where}.decided_at is in the future: {d.created_at.isoformat()}")


def log_decisions(
    store: Store,
    records: Sequence[DecisionRecord],
    *,
    default_window_s: float = DEFAULT_ATTRIBUTION_WINDOW_S,
) -> tuple[int, int]:
    """Decisions made elsewhere, validated then written in one transaction: (new, duplicates).
    An experiment they name must exist here and have the named variant."""
    from feedback.experiments import get_experiment

    for i, r in enumerate(records):
        validate_decision(r, f"decisions[{i}]")
    variants: dict[str, set[str]] = {}
    for i, r in enumerate(records):
        if not r.experiment:
            continue
        if r.experiment not in variants:
            try:
                experiment = get_experiment(store, r.experiment)
            except NotFound as exc:
                raise NotFound(
                    f"decisions[{i}].experiment {r.experiment!r} does not exist"
                ) from exc
            variants[r.experiment] = {v.name for v in experiment.variants}
        if r.variant not in variants[r.experiment]:
            raise InvalidArgument(
                f"decisions[{i}].variant {r.variant!r} is not a variant of {r.experiment!r} "
                f"({sorted(variants[r.experiment])})"
            )
    written = write_decisions(store, records, default_window_s=default_window_s)
    return written, len(records) - written


def sends_to_unit(
    store: Store, unit_id: str, campaign_ids: Sequence[str], since: datetime
) -> dict[str, set[str]]:
    """Per campaign: the ids of the decisions that sent it to `unit_id` (as stored) at or
    after `since` (frequency caps count them; the unit id index keeps this one lookup)."""
    out: dict[str, set[str]] = {c: set() for c in campaign_ids}
    if not campaign_ids:
        return out
    stmt = select(DecisionRow.campaign_id, DecisionRow.decision_id).where(
        DecisionRow.unit_id == unit_id,
        DecisionRow.campaign_id.in_(list(campaign_ids)),
        DecisionRow.created_at >= since,
    )
    with store.transaction() as session:
        for campaign_id, decision_id in session.execute(stmt):
            if campaign_id is not None:
                out[campaign_id].add(decision_id)
    return out
