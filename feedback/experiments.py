"""Experiments in the store: a salt and weighted variants, each bound to a policy config, with
the lifecycle (running or stopped), who takes part (coverage, namespace, eligibility) and the
attribution window that decides when a decision's reward is settled."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any

from sqlalchemy import select

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from feedback.assignment import choose_variant, in_namespace
from feedback.models import ExperimentRow, PolicyStateRow, utcnow
from feedback.rewards import DEFAULT_ATTRIBUTION_WINDOW_S, Attribution
from feedback.store import Store

MAX_NAME_LENGTH = 128
STATUSES = ("running", "stopped")
OPERATORS = ("eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte")


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    weight: float
    # e.g. {"type": "epsilon_greedy", "epsilon": 0.1}; feedback/policies builds it.
    policy: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Namespace:
    """Mutual exclusion, as GrowthBook's namespaces: a unit is in the experiment only when the
    hash v1 of ("__" + name, unit id) falls in [start, end). Experiments of one namespace with
    disjoint ranges never share a unit."""

    name: str
    start: float
    end: float

    def validate(self, where: str) -> None:
        if not self.name:
            raise InvalidArgument(f"{where}.namespace.name must not be empty")
        if not (0.0 <= self.start < self.end <= 1.0):
            raise InvalidArgument(
                f"{where}.namespace range must satisfy 0 <= start < end <= 1, "
                f"got [{self.start}, {self.end})"
            )

    def overlaps(self, other: Namespace) -> bool:
        return self.name == other.name and self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class Condition:
    """Eligibility: the unit's user feature `feature` compared with `value` by `op`. A unit
    without the feature is not eligible."""

    feature: str
    op: str
    value: Any

    def validate(self, where: str) -> None:
        if not self.feature:
            raise InvalidArgument(f"{where}.feature must not be empty")
        if self.op not in OPERATORS:
            raise InvalidArgument(f"{where}.op must be one of {OPERATORS}, got {self.op!r}")
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise InvalidArgument(
                f"{where}.value must be a list for {self.op!r}, got {self.value!r}"
            )
        if self.op in ("lt", "lte", "gt", "gte") and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float)
        ):
            raise InvalidArgument(
                f"{where}.value must be a number for {self.op!r}, got {self.value!r}"
            )

    def holds(self, features: Mapping[str, Any]) -> bool:
        if self.feature not in features:
            return False
        x = features[self.feature]
        if self.op == "eq":
            return bool(x == self.value)
        if self.op == "ne":
            return bool(x != self.value)
        if self.op == "in":
            return x in self.value
        if self.op == "not_in":
            return x not in self.value
        if isinstance(x, bool) or not isinstance(x, int | float) or math.isnan(x):
            return False
        if self.op == "lt":
            return bool(x < self.value)
        if self.op == "lte":
            return bool(x <= self.value)
        if self.op == "gt":
            return bool(x > self.value)
        return bool(x >= self.value)


@dataclass(frozen=True, slots=True)
class Experiment:
    name: str
    salt: str
    variants: tuple[Variant, ...]
    _: KW_ONLY
    status: str = "running"
    # Outcomes later than this after their decision are late; a decision with no outcome by
    # then is settled with `default_reward` by learning policies.
    attribution_window_s: float = DEFAULT_ATTRIBUTION_WINDOW_S
    default_reward: float = 0.0
    # Share of (eligible, in-namespace) units in the experiment; GrowthBook's bucket ranges
    # [start, start + coverage * weight), so a range's start stays put when coverage changes.
    coverage: float = 1.0
    namespace: Namespace | None = None
    eligibility: tuple[Condition, ...] = ()
    # The variant whose policy units outside the experiment get (and everyone once stopped);
    # empty: the first variant (the control by convention).
    release: str = ""
    # User feature holding a pre-period covariate (CUPED in the report); "": none.
    covariate: str = ""

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > MAX_NAME_LENGTH:
            raise InvalidArgument(
                f"experiment.name must have 1 to {MAX_NAME_LENGTH} characters, got {self.name!r}"
            )
        if not self.variants:
            raise InvalidArgument(f"experiment {self.name!r} needs at least one variant")
        names = [v.name for v in self.variants]
        if any(len(n) > MAX_NAME_LENGTH for n in names):
            raise InvalidArgument(f"experiment {self.name!r}: variant names are too long")
        if len(set(names)) != len(names) or not all(names):
            raise InvalidArgument(
                f"experiment {self.name!r}: variant names must be unique, got {names}"
            )
        if len(self.covariate) > MAX_NAME_LENGTH:
            raise InvalidArgument(f"experiment {self.name!r}: covariate name is too long")
        for v in self.variants:
            if not math.isfinite(v.weight) or v.weight <= 0:
                raise InvalidArgument(
                    f"experiment {self.name!r}: variant {v.name!r} weight must be > 0, "
                    f"got {v.weight}"
                )
        if self.status not in STATUSES:
            raise InvalidArgument(
                f"experiment.status must be one of {STATUSES}, got {self.status!r}"
            )
        if not math.isfinite(self.attribution_window_s) or self.attribution_window_s < 0:
            raise InvalidArgument(
                "experiment.attribution_window_s must be finite and >= 0, "
                f"got {self.attribution_window_s}"
            )
        if not math.isfinite(self.default_reward):
            raise InvalidArgument(
                f"experiment.default_reward must be finite, got {self.default_reward}"
            )
        if not (0.0 < self.coverage <= 1.0):
            raise InvalidArgument(f"experiment.coverage must be in (0, 1], got {self.coverage}")
        if self.namespace is not None:
            self.namespace.validate("experiment")
        for i, c in enumerate(self.eligibility):
            c.validate(f"experiment.eligibility[{i}]")
        if self.release and self.release not in names:
            raise InvalidArgument(
                f"experiment.release must name a variant {names}, got {self.release!r}"
            )

    @property
    def attribution(self) -> Attribution:
        """How long outcomes count for the experiment's decisions (feedback/rewards.py)."""
        return Attribution(self.attribution_window_s, self.default_reward)

    @property
    def fallback(self) -> int:
        """Index of the variant whose policy serves units outside the experiment."""
        return [v.name for v in self.variants].index(self.release) if self.release else 0

    def assign(self, unit_id: str, user_features: Mapping[str, Any]) -> int | None:
        """The unit's variant index, or None when the unit is not in the experiment (stopped,
        not eligible, outside its namespace range or coverage)."""
        if self.status != "running":
            return None
        if not all(c.holds(user_features) for c in self.eligibility):
            return None
        if self.namespace is not None and not in_namespace(
            unit_id, self.namespace.name, self.namespace.start, self.namespace.end
        ):
            return None
        return choose_variant(
            self.salt, unit_id, [v.weight for v in self.variants], coverage=self.coverage
        )

    def options(self) -> dict[str, Any]:
        return {
            "default_reward": self.default_reward,
            "coverage": self.coverage,
            "namespace": None
            if self.namespace is None
            else {
                "name": self.namespace.name,
                "start": self.namespace.start,
                "end": self.namespace.end,
            },
            "eligibility": [
                {"feature": c.feature, "op": c.op, "value": c.value} for c in self.eligibility
            ],
            "release": self.release,
        }


def _from_row(row: ExperimentRow) -> Experiment:
    options = row.options or {}
    ns = options.get("namespace")
    return Experiment(
        name=row.name,
        salt=row.salt,
        variants=tuple(Variant(v["name"], float(v["weight"]), v["policy"]) for v in row.variants),
        status=row.status,
        attribution_window_s=float(row.attribution_window_s),
        default_reward=float(options.get("default_reward", 0.0)),
        coverage=float(options.get("coverage", 1.0)),
        namespace=None if ns is None else Namespace(ns["name"], ns["start"], ns["end"]),
        eligibility=tuple(
            Condition(c["feature"], c["op"], c["value"]) for c in options.get("eligibility", [])
        ),
        release=options.get("release", ""),
        covariate=row.covariate,
    )


def _check_namespace(session: Any, experiment: Experiment) -> None:
    """Two running experiments may not claim overlapping ranges of one namespace."""
    if experiment.namespace is None or experiment.status != "running":
        return
    rows = session.scalars(
        select(ExperimentRow).where(
            ExperimentRow.status == "running", ExperimentRow.name != experiment.name
        )
    )
    for row in rows:
        other = _from_row(row)
        if other.namespace is not None and other.namespace.overlaps(experiment.namespace):
            raise FailedPrecondition(
                f"experiment {experiment.name!r}: namespace {experiment.namespace.name!r} range "
                f"[{experiment.namespace.start}, {experiment.namespace.end}) overlaps running "
                f"experiment {other.name!r} [{other.namespace.start}, {other.namespace.end})"
            )


def save_experiment(store: Store, experiment: Experiment) -> None:
    """Creates the experiment or replaces its definition."""
    variants = [
        {"name": v.name, "weight": v.weight, "policy": v.policy} for v in experiment.variants
    ]
    with store.transaction() as session:
        _check_namespace(session, experiment)
        row = session.get(ExperimentRow, experiment.name)
        now = utcnow()
        if row is not None:
            # A variant whose policy changed starts learning afresh: old state may not fit.
            before = {v["name"]: v["policy"] for v in row.variants}
            for v in experiment.variants:
                if v.name in before and before[v.name] != v.policy:
                    state = session.get(PolicyStateRow, (experiment.name, v.name))
                    if state is not None:
                        session.delete(state)
        if row is None:
            row = ExperimentRow(name=experiment.name, created_at=now)
            session.add(row)
        row.salt = experiment.salt
        row.variants = variants
        row.status = experiment.status
        row.attribution_window_s = experiment.attribution_window_s
        row.options = experiment.options()
        row.covariate = experiment.covariate
        row.updated_at = now


def get_experiment(store: Store, name: str) -> Experiment:
    with store.transaction() as session:
        row = session.get(ExperimentRow, name)
        if row is None:
            raise NotFound(f"experiment {name!r} does not exist")
        return _from_row(row)


def list_experiments(store: Store) -> list[Experiment]:
    with store.transaction() as session:
        return [_from_row(r) for r in session.scalars(select(ExperimentRow).order_by("name"))]


def set_status(store: Store, name: str, status: str, release: str | None = None) -> Experiment:
    """Stops (everyone gets the released variant's policy) or restarts an experiment."""
    experiment = get_experiment(store, name)
    changed = replace(
        experiment, status=status, release=experiment.release if release is None else release
    )
    save_experiment(store, changed)
    return changed
