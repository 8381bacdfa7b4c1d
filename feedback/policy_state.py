"""Learning policies' shared state: folding settled decisions into posteriors in the store.

A decision is settled once its experiment's attribution window has closed (plus a grace period
for the asynchronous decision log): its reward is the outcome of the policy's reward type that
arrived within the window (binary types: 1 if any; revenue: the sum), or the experiment's
default reward when none did. Outcomes arriving later are kept and flagged late at ingest, and
never change a settled decision.

Every replica may run the update; each one reads the state, folds in the decisions made in
(settled_through, cutoff] and writes the new state only if `settled_through` is still what it
read (compare-and-set), so a decision is applied exactly once whoever wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from feedback.decisions import ChosenPrediction
from feedback.experiments import Experiment, list_experiments
from feedback.models import DecisionRow, ModelVersionRow, OutcomeRow, PolicyStateRow, utcnow
from feedback.store import Store
from server.policy import NO_CAMPAIGN, Observation, Policy, build_policy

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The decision log writes asynchronously; a decision is read only once it is this old beyond
# its window, so none is still in flight when its time range is settled.
DEFAULT_GRACE_S = 2.0
CHUNK = 500


@dataclass(frozen=True, slots=True)
class PolicyState:
    experiment: str
    variant: str
    policy: str
    state: dict[str, Any]
    settled_through: datetime
    decisions: int
    rewards: float
    updates: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UpdateResult:
    experiment: str
    variant: str
    decisions: int  # folded in by this call
    applied: bool  # False: nothing to settle, or another replica applied the same range first


def get_policy_state(store: Store, experiment: str, variant: str) -> PolicyState | None:
    with store.transaction() as session:
        row = session.get(PolicyStateRow, (experiment, variant))
        if row is None:
            return None
        return PolicyState(
            experiment=row.experiment,
            variant=row.variant,
            policy=row.policy,
            state=row.state,
            settled_through=row.settled_through,
            decisions=row.decisions,
            rewards=row.rewards,
            updates=row.updates,
            updated_at=row.updated_at,
        )


class _Schemas:
    """Model versions' feature schemas, read once: they map an objective to an outcome type."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: dict[str, dict[str, Any]] = {}

    def outcome_type(self, model_version: str, objective: str) -> str:
        if model_version not in self._cache:
            schema: dict[str, Any] = {}
            if model_version.isdigit():
                with self._store.transaction() as session:
                    row = session.get(ModelVersionRow, int(model_version))
                    schema = dict(row.feature_schema) if row is not None else {}
            self._cache[model_version] = schema
        return str(self._cache[model_version].get("outcome_types", {}).get(objective, objective))


def _chosen_values(
    prediction: ChosenPrediction, objective: str, mode: str
) -> tuple[float, float | None]:
    """The model's (objective value, absolute value) of the chosen arm when it was decided,
    from its chosen_prediction: a target's probability and uplift, or a revenue output's
    expected value and uplift ("no campaign": the control value and an uplift of 0)."""
    revenue = objective in prediction.get("expected", {})
    value_key, uplift_key = (
        ("expected", "expected_uplift") if revenue else ("probability", "uplift")
    )
    p = prediction.get(value_key, {}).get(objective)
    u = prediction.get(uplift_key, {}).get(objective)
    absolute = None if p is None else float(p)
    return float((u if mode == "uplift" else p) or 0.0), absolute


def settle(
    store: Store,
    experiment: Experiment,
    variant: str,
    policy: Policy,
    after: datetime,
    cutoff: datetime,
    *,
    default_objective: str,
    schemas: _Schemas | None = None,
) -> list[Observation]:
    """The variant's decisions made in (after, cutoff] with their rewards."""
    schemas = schemas or _Schemas(store)
    objective = policy.objective or default_objective
    window = timedelta(seconds=experiment.attribution_window_s)
    with store.transaction() as session:
        # Columns, not ORM rows: the candidates' scores stay in the database.
        decisions = list(
            session.execute(
                select(
                    DecisionRow.decision_id,
                    DecisionRow.campaign_id,
                    DecisionRow.model_version,
                    DecisionRow.user_features,
                    DecisionRow.chosen_prediction,
                    DecisionRow.created_at,
                )
                .where(
                    DecisionRow.experiment == experiment.name,
                    DecisionRow.variant == variant,
                    DecisionRow.created_at > after,
                    DecisionRow.created_at <= cutoff,
                )
                .order_by(DecisionRow.created_at)
            )
        )
        outcomes: dict[str, list[OutcomeRow]] = {}
        ids = [d.decision_id for d in decisions]
        for start in range(0, len(ids), CHUNK):
            for o in session.scalars(
                select(OutcomeRow).where(OutcomeRow.decision_id.in_(ids[start : start + CHUNK]))
            ):
                outcomes.setdefault(o.decision_id, []).append(o)
        observations = []
        for d in decisions:
            reward_type = policy.reward or schemas.outcome_type(d.model_version, objective)
            within = [
                o
                for o in outcomes.get(d.decision_id, [])
                if o.type == reward_type and o.received_at <= d.created_at + window
            ]
            if not within:
                reward = experiment.default_reward
            elif reward_type == "revenue":
                reward = sum(o.value for o in within)
            else:
                reward = 1.0 if any(o.value > 0 for o in within) else 0.0
            value, absolute = _chosen_values(d.chosen_prediction, objective, policy.mode)
            observations.append(
                Observation(
                    arm=d.campaign_id if d.campaign_id is not None else NO_CAMPAIGN,
                    reward=reward,
                    user_features=d.user_features,
                    value=value,
                    absolute=absolute,
                )
            )
        return observations


def update_variant(
    store: Store,
    experiment: Experiment,
    variant: str,
    policy: Policy,
    *,
    now: datetime | None = None,
    grace_s: float = DEFAULT_GRACE_S,
    default_objective: str = "conversion",
    schemas: _Schemas | None = None,
) -> UpdateResult:
    """Folds the variant's newly settled decisions into its state (compare-and-set)."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=experiment.attribution_window_s + grace_s)
    current = get_policy_state(store, experiment.name, variant)
    after = current.settled_through if current is not None else EPOCH
    if cutoff <= after:
        return UpdateResult(experiment.name, variant, 0, False)
    observations = settle(
        store,
        experiment,
        variant,
        policy,
        after,
        cutoff,
        default_objective=default_objective,
        schemas=schemas,
    )
    state = policy.update(
        current.state if current is not None else policy.initial_state(), observations
    )
    values = {
        "policy": policy.name,
        "state": state,
        "settled_through": cutoff,
        "decisions": (current.decisions if current else 0) + len(observations),
        "rewards": (current.rewards if current else 0.0) + sum(o.reward for o in observations),
        "updates": (current.updates if current else 0) + 1,
        "updated_at": now,
    }
    with store.transaction() as session:
        if current is None:
            try:
                with session.begin_nested():
                    session.execute(
                        insert(PolicyStateRow).values(
                            experiment=experiment.name, variant=variant, **values
                        )
                    )
            except IntegrityError:  # another replica created it first
                return UpdateResult(experiment.name, variant, 0, False)
        else:
            done = session.execute(
                update(PolicyStateRow)
                .where(
                    PolicyStateRow.experiment == experiment.name,
                    PolicyStateRow.variant == variant,
                    PolicyStateRow.settled_through == current.settled_through,
                )
                .values(**values)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return UpdateResult(experiment.name, variant, 0, False)
    return UpdateResult(experiment.name, variant, len(observations), True)


def update_all(
    store: Store,
    *,
    now: datetime | None = None,
    grace_s: float = DEFAULT_GRACE_S,
    default_objective: str = "conversion",
) -> list[UpdateResult]:
    """One pass over every running experiment's learning variants."""
    schemas = _Schemas(store)
    results = []
    for experiment in list_experiments(store):
        if experiment.status != "running":
            continue
        for v in experiment.variants:
            policy = build_policy(v.policy)
            if not policy.stateful:
                continue
            results.append(
                update_variant(
                    store,
                    experiment,
                    v.name,
                    policy,
                    now=now,
                    grace_s=grace_s,
                    default_objective=default_objective,
                    schemas=schemas,
                )
            )
    return results


def reset_policy_state(store: Store, experiment: str, variants: Sequence[str]) -> None:
    """Forgets learned state (e.g. after a variant's policy config changed)."""
    with store.transaction() as session:
        for v in variants:
            row = session.get(PolicyStateRow, (experiment, v))
            if row is not None:
                session.delete(row)
