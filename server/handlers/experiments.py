"""Experiments, transport-free: define, read, start and stop them; what a learning variant has
learned; the A/B report."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from feedback.ab_report import ExperimentReport, experiment_report
from feedback.experiments import (
    Experiment,
    get_experiment,
    list_experiments,
    save_experiment,
    set_status,
)
from feedback.policies import LinUCB, ThompsonSampling, build_policy
from feedback.policy_state import get_policy_state
from feedback.store import Store

# Ten years: longer calibration windows mean "everything" and overflow timedelta.
MAX_WINDOW_S = 10 * 365 * 86_400.0


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """One arm of a learning variant (campaign id; "" is no campaign; "segment\\x1farm" for
    segmented Thompson sampling)."""

    arm: str
    observations: int
    posterior_mean: float
    successes: float = 0.0
    failures: float = 0.0


@dataclass(frozen=True, slots=True)
class PolicyStateView:
    experiment: str
    variant: str
    policy: str
    settled_through: datetime | None = None
    decisions: int = 0
    rewards: float = 0.0
    updates: int = 0
    arms: tuple[ArmSummary, ...] = ()


class ExperimentsHandler:
    def __init__(self, store: Store) -> None:
        self._store = store

    def save(self, experiment: Experiment) -> Experiment:
        """Creates or replaces the experiment; every variant's policy must build."""
        for i, v in enumerate(experiment.variants):
            try:
                build_policy(v.policy)
            except InvalidArgument as exc:
                raise InvalidArgument(f"experiment.variants[{i}]: {exc.message}") from exc
        save_experiment(self._store, experiment)
        return get_experiment(self._store, experiment.name)

    def get(self, name: str) -> Experiment:
        return get_experiment(self._store, name)

    def list(self) -> list[Experiment]:
        return list_experiments(self._store)

    def set_status(self, name: str, status: str, release: str | None) -> Experiment:
        return set_status(self._store, name, status, release)

    def policy_state(self, name: str, variant: str) -> PolicyStateView:
        experiment = get_experiment(self._store, name)
        names = [v.name for v in experiment.variants]
        if variant not in names:
            raise NotFound(f"experiment {name!r} has no variant {variant!r} (has {names})")
        policy = build_policy(experiment.variants[names.index(variant)].policy)
        if not policy.stateful:
            raise FailedPrecondition(
                f"variant {variant!r} of {name!r} runs {policy.name!r}, which learns nothing"
            )
        state = get_policy_state(self._store, name, variant)
        if state is None:
            return PolicyStateView(name, variant, policy.name)
        arms = []
        for arm, stats in sorted(state.state.get("arms", {}).items()):
            if isinstance(policy, ThompsonSampling):
                s, f = stats
                arms.append(ArmSummary(arm, int(s + f), policy.posterior_mean(s, f), s, f))
            elif isinstance(policy, LinUCB):
                mean, n = policy.arm_summary(stats)
                arms.append(ArmSummary(arm, n, mean))
        return PolicyStateView(
            experiment=name,
            variant=variant,
            policy=policy.name,
            settled_through=state.settled_through,
            decisions=state.decisions,
            rewards=state.rewards,
            updates=state.updates,
            arms=tuple(arms),
        )

    def report(
        self, name: str, covariate: str | None, calibration_window_s: float
    ) -> ExperimentReport:
        """The A/B report; `covariate` None uses the experiment's, "" turns CUPED off;
        `calibration_window_s` 0 keeps the report's default window."""
        window_s = calibration_window_s
        if not (math.isfinite(window_s) and window_s >= 0):
            raise InvalidArgument(f"calibration_window_s must be >= 0, got {window_s}")
        if window_s > MAX_WINDOW_S:
            raise InvalidArgument(
                f"calibration_window_s must be at most {MAX_WINDOW_S:.0f}, got {window_s}"
            )
        window = timedelta(seconds=window_s) if window_s else None
        try:
            return experiment_report(self._store, name, covariate, window)
        except InvalidArgument as exc:
            if covariate:  # the covariate's values are the only user data a report computes on
                exc.message = f"covariate {covariate!r}: {exc.message}"
            raise
