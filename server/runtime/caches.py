"""What Score reads from the store, cached so that no request queries it: experiments (their
variants' policies built once) and learning policies' state, each re-read after a short TTL so
every replica follows changes within it."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.errors import FailedPrecondition, InvalidArgument
from feedback.experiments import Experiment, get_experiment
from feedback.policies import Policy, build_policy
from feedback.policy_state import get_policy_state
from feedback.store import Store

EXPERIMENT_CACHE_S = 2.0


@dataclass(frozen=True, slots=True)
class Assignment:
    experiment: str  # "" when the unit is not in the experiment (then variant is "" too)
    variant: str
    policy: Policy
    # Where the policy's learned state lives: (experiment, variant), or None.
    state_key: tuple[str, str] | None


class Experiments:
    """Experiments read from the store, cached briefly so Score does not query per request."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: dict[str, tuple[float, Experiment, list[Policy]]] = {}
        self._lock = threading.Lock()

    def assign(self, name: str, unit_id: str, user_features: Mapping[str, Any]) -> Assignment:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
        if hit is None or hit[0] < now:
            experiment = get_experiment(self._store, name)
            try:
                policies = [build_policy(v.policy) for v in experiment.variants]
            except InvalidArgument as exc:  # the experiment's config is wrong, not the request
                raise FailedPrecondition(
                    f"experiment {name!r} is misconfigured: {exc.message}"
                ) from exc
            hit = (now + EXPERIMENT_CACHE_S, experiment, policies)
            with self._lock:
                self._cache[name] = hit
        _, experiment, policies = hit
        i = experiment.assign(unit_id, user_features)
        if i is None:  # stopped, not eligible, outside the namespace or coverage
            return Assignment("", "", policies[experiment.fallback], None)
        variant = experiment.variants[i].name
        key = (experiment.name, variant) if policies[i].stateful else None
        return Assignment(experiment.name, variant, policies[i], key)


class PolicyStates:
    """Learning policies' state as the store holds it, re-read at most every `refresh_s`: every
    replica scores with the same posteriors, at most one refresh behind."""

    def __init__(self, store: Store, refresh_s: float) -> None:
        self._store = store
        self._refresh_s = refresh_s
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], policy: Policy) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] >= now:
            return hit[1]
        row = get_policy_state(self._store, *key)
        prepared = policy.prepare(row.state if row is not None else policy.initial_state())
        with self._lock:
            self._cache[key] = (now + self._refresh_s, prepared)
        return prepared
