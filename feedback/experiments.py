"""Experiments in the store: a salt and weighted variants, each bound to a policy config."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from common.errors import InvalidArgument, NotFound
from feedback.models import ExperimentRow, utcnow
from feedback.store import Store

MAX_NAME_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    weight: float
    # e.g. {"type": "epsilon_greedy", "epsilon": 0.1}; server/policy.py builds it.
    policy: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Experiment:
    name: str
    salt: str
    variants: tuple[Variant, ...]
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


def save_experiment(store: Store, experiment: Experiment) -> None:
    """Creates the experiment or replaces its salt and variants."""
    variants = [
        {"name": v.name, "weight": v.weight, "policy": v.policy} for v in experiment.variants
    ]
    with store.transaction() as session:
        row = session.get(ExperimentRow, experiment.name)
        if row is None:
            session.add(
                ExperimentRow(
                    name=experiment.name,
                    salt=experiment.salt,
                    variants=variants,
                    covariate=experiment.covariate,
                    created_at=utcnow(),
                )
            )
        else:
            row.salt = experiment.salt
            row.variants = variants
            row.covariate = experiment.covariate


def get_experiment(store: Store, name: str) -> Experiment:
    with store.transaction() as session:
        row = session.get(ExperimentRow, name)
        if row is None:
            raise NotFound(f"experiment {name!r} does not exist")
        return Experiment(
            name=row.name,
            salt=row.salt,
            variants=tuple(
                Variant(v["name"], float(v["weight"]), v["policy"]) for v in row.variants
            ),
            covariate=row.covariate,
        )
