"""Learning policies' shared state: folding settled decisions into posteriors in the store.

A decision is settled once its experiment's attribution window has closed (plus a grace period
for the asynchronous decision log); its reward is feedback/rewards.py's: the label of the
policy's reward type from the outcomes that count (not late), or the experiment's default
reward when none did. Outcomes arriving later are kept and flagged late at ingest, and never
change a settled decision.

Decisions outside any experiment made by the deployment's default policy learn the same way,
as the variant "" of the experiment "" (`DefaultPath`): the default Score path is a variant
that never ends.

Every replica may run the update; each one reads the state, folds in the decisions made in
(settled_through, cutoff] and writes the new state only if `settled_through` is still what it
read (compare-and-set), so a decision is applied exactly once whoever wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from feedback.decisions import ChosenPrediction
from feedback.experiments import Experiment, list_experiments
from feedback.models import DecisionRow, ModelVersionRow, PolicyStateRow, utcnow
from feedback.policies import NO_CAMPAIGN, Observation, Policy, build_policy
from feedback.rewards import (
    DEFAULT_ATTRIBUTION_WINDOW_S,
    DEFAULT_OBJECTIVE,
    Attribution,
    default_objective,
    outcome_labels,
    outcome_type,
    reward_of,
)
from feedback.store import Store

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
class DefaultPath:
    """Where the default policy learns: decisions outside any experiment that it made
    (policy name), settled by the deployment's attribution window."""

    policy: str
    attribution: Attribution
    name: str = ""
    variant: str = ""

    @property
    def default_reward(self) -> float:
        return self.attribution.default_reward


Stream = Experiment | DefaultPath


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


class ModelSchemas:
    """Model versions' feature schemas and objectives, read once per pass."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {}

    def _read(self, model_version: str) -> tuple[dict[str, Any], tuple[str, ...]]:
        if model_version not in self._cache:
            schema: dict[str, Any] = {}
            objectives: tuple[str, ...] = ()
            if model_version.isdigit():
                with self._store.transaction() as session:
                    row = session.get(ModelVersionRow, int(model_version))
                    if row is not None:
                        schema = dict(row.feature_schema)
                        objectives = (*row.targets, *schema.get("revenue", {}))
            self._cache[model_version] = (schema, objectives)
        return self._cache[model_version]

    def objective(self, model_version: str, policy: Policy, configured: str) -> str:
        """The objective the policy maximized with this model version (as scoring chose it)."""
        if policy.objective:
            return policy.objective
        _, objectives = self._read(model_version)
        return default_objective(objectives, configured) if objectives else configured

    def outcome_type(self, model_version: str, objective: str) -> str:
        return outcome_type(self._read(model_version)[0], objective)


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
    experiment: Stream,
    variant: str,
    policy: Policy,
    after: datetime,
    cutoff: datetime,
    *,
    default_objective: str = DEFAULT_OBJECTIVE,
    schemas: ModelSchemas | None = None,
) -> list[Observation]:
    """The variant's decisions made in (after, cutoff] with their rewards."""
    schemas = schemas or ModelSchemas(store)
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
                    *_made_by(experiment),
                )
                .order_by(DecisionRow.created_at)
            )
        )
        labels: dict[str, Any] = {}
        ids = [d.decision_id for d in decisions]
        for start in range(0, len(ids), CHUNK):
            stmt = select(outcome_labels(ids[start : start + CHUNK]))
            labels.update({r.decision_id: r for r in session.execute(stmt)})
    observations = []
    for d in decisions:
        objective = schemas.objective(d.model_version, policy, default_objective)
        reward_type = policy.reward or schemas.outcome_type(d.model_version, objective)
        value, absolute = _chosen_values(d.chosen_prediction, objective, policy.mode)
        observations.append(
            Observation(
                arm=d.campaign_id if d.campaign_id is not None else NO_CAMPAIGN,
                reward=reward_of(labels.get(d.decision_id), reward_type, experiment.default_reward),
                user_features=d.user_features,
                value=value,
                absolute=absolute,
            )
        )
    return observations


def _made_by(stream: Stream) -> list[Any]:
    """Outside experiments only the default policy's own decisions teach it."""
    return [DecisionRow.policy == stream.policy] if isinstance(stream, DefaultPath) else []


def _folded_values(
    policy: Policy,
    current: PolicyState | None,
    observations: list[Observation],
    cutoff: datetime,
    now: datetime,
) -> dict[str, Any]:
    """The state row's new columns once `observations` are folded into `current`."""
    state = policy.update(
        current.state if current is not None else policy.initial_state(), observations
    )
    return {
        "policy": policy.name,
        "state": state,
        "settled_through": cutoff,
        "decisions": (current.decisions if current else 0) + len(observations),
        "rewards": (current.rewards if current else 0.0) + sum(o.reward for o in observations),
        "updates": (current.updates if current else 0) + 1,
        "updated_at": now,
    }


def _compare_and_set(
    store: Store,
    experiment: str,
    variant: str,
    current: PolicyState | None,
    values: dict[str, Any],
) -> bool:
    """Writes the state only if no other replica changed it since `current` was read."""
    with store.transaction() as session:
        if current is None:
            try:
                with session.begin_nested():
                    session.execute(
                        insert(PolicyStateRow).values(
                            experiment=experiment, variant=variant, **values
                        )
                    )
            except IntegrityError:  # another replica created it first
                return False
        else:
            done = session.execute(
                update(PolicyStateRow)
                .where(
                    PolicyStateRow.experiment == experiment,
                    PolicyStateRow.variant == variant,
                    PolicyStateRow.settled_through == current.settled_through,
                )
                .values(**values)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return False
    return True


def update_variant(
    store: Store,
    experiment: Stream,
    variant: str,
    policy: Policy,
    *,
    now: datetime | None = None,
    grace_s: float = DEFAULT_GRACE_S,
    default_objective: str = DEFAULT_OBJECTIVE,
    schemas: ModelSchemas | None = None,
) -> UpdateResult:
    """Folds the variant's newly settled decisions into its state (compare-and-set)."""
    now = now or utcnow()
    cutoff = experiment.attribution.settled_before(now, grace_s)
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
    values = _folded_values(policy, current, observations, cutoff, now)
    if not _compare_and_set(store, experiment.name, variant, current, values):
        return UpdateResult(experiment.name, variant, 0, False)
    return UpdateResult(experiment.name, variant, len(observations), True)


def update_all(
    store: Store,
    *,
    now: datetime | None = None,
    grace_s: float = DEFAULT_GRACE_S,
    default_objective: str = DEFAULT_OBJECTIVE,
    default_policy: dict[str, Any] | None = None,
    default_window_s: float = DEFAULT_ATTRIBUTION_WINDOW_S,
) -> list[UpdateResult]:
    """One pass over every running experiment's learning variants, and over the default
    policy's decisions outside experiments when `default_policy` (a config) learns."""
    schemas = ModelSchemas(store)
    streams: list[tuple[Stream, str, Policy]] = []
    for experiment in list_experiments(store):
        if experiment.status != "running":
            continue
        for v in experiment.variants:
            streams.append((experiment, v.name, build_policy(v.policy)))
    if default_policy is not None:
        policy = build_policy(default_policy)
        path = DefaultPath(policy.name, Attribution(default_window_s))
        streams.append((path, path.variant, policy))
    return [
        update_variant(
            store,
            stream,
            variant,
            policy,
            now=now,
            grace_s=grace_s,
            default_objective=default_objective,
            schemas=schemas,
        )
        for stream, variant, policy in streams
        if policy.stateful
    ]
