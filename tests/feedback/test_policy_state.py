"""Learning policies' state in the store: settling decisions after the attribution window,
default rewards, late outcomes, exactly-once application across racing replicas, and the
experiment lifecycle that surrounds it (on SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import pytest

from common.errors import FailedPrecondition, InvalidArgument
from feedback.decisions import DecisionRecord, write_decisions
from feedback.experiments import (
    Condition,
    Experiment,
    Namespace,
    Variant,
    get_experiment,
    list_experiments,
    save_experiment,
    set_status,
)
from feedback.models import OutcomeRow
from feedback.outcomes import Outcome, count_late, log_outcomes
from feedback.policies import build_policy
from feedback.policy_state import get_policy_state, update_all, update_variant
from feedback.store import Store

THOMPSON = {"type": "thompson", "reward": "conversion"}
WINDOW_S = 3600.0


def experiment(**overrides: object) -> Experiment:
    values: dict[str, object] = {
        "name": "bandit",
        "salt": "bandit",
        "variants": (
            Variant("control", 1.0, {"type": "no_campaign"}),
            Variant("ts", 1.0, THOMPSON),
        ),
        "attribution_window_s": WINDOW_S,
    }
    values.update(overrides)
    return Experiment(**values)  # type: ignore[arg-type]


def decision(i: int, at: datetime, arm: str | None, variant: str = "ts") -> DecisionRecord:
    return DecisionRecord(
        decision_id=f"d-{i}",
        unit_id=f"u-{i}",
        experiment="bandit",
        variant=variant,
        policy="thompson",
        model_version="1",
        campaign_id=arm,
        propensity=0.5,
        user_features={"age": 30},
        candidates=[
            {
                "campaign_id": "c-1",
                "features": {},
                "probability": {"conversion": 0.2},
                "uplift": {"conversion": 0.05},
                "propensity": 0.5,
            }
        ],
        chosen_features={},
        created_at=at,
        propensity_method="monte_carlo:1000",
    )


def test_settled_decisions_fold_in_with_outcomes_and_default_rewards(store: Store) -> None:
    now = datetime.now(UTC)
    settle_at = now + timedelta(seconds=WINDOW_S + 60)  # every window above has closed by then
    save_experiment(store, experiment(default_reward=0.0))
    write_decisions(
        store,
        [decision(i, now + timedelta(milliseconds=i), "c-1") for i in range(6)]
        + [decision(6, now, None), decision(7, settle_at, "c-1")],  # d-7: still in its window
    )
    # d-0 and d-1 converted within the window; d-2 only clicked (not the reward type).
    log_outcomes(
        store,
        [
            Outcome("e-0", "d-0", "conversion", 1.0, now),
            Outcome("e-1", "d-1", "conversion", 1.0, now),
            Outcome("e-2", "d-2", "click", 1.0, now),
            Outcome("e-7", "d-7", "conversion", 1.0, now),
        ],
    )
    exp = get_experiment(store, "bandit")
    result = update_variant(store, exp, "ts", build_policy(THOMPSON), now=settle_at)

    assert result.applied and result.decisions == 7
    state = get_policy_state(store, "bandit", "ts")
    assert state is not None
    assert state.state["arms"] == {"c-1": [2.0, 4.0], "": [0.0, 1.0]}
    assert (state.decisions, state.rewards, state.updates) == (7, 2.0, 1)
    # Nothing new is settled at the same moment, and d-7 waits for its own window.
    again = update_variant(store, exp, "ts", build_policy(THOMPSON), now=settle_at)
    assert not again.applied
    later = settle_at + timedelta(seconds=WINDOW_S + 10)
    assert update_variant(store, exp, "ts", build_policy(THOMPSON), now=later).decisions == 1
    final = get_policy_state(store, "bandit", "ts")
    assert final is not None and final.state["arms"]["c-1"] == [3.0, 4.0]


def test_default_reward_is_configurable(store: Store) -> None:
    now = datetime.now(UTC)
    save_experiment(store, experiment(default_reward=1.0))
    write_decisions(store, [decision(0, now, "c-1")])
    later = now + timedelta(seconds=WINDOW_S + 60)
    update_variant(store, get_experiment(store, "bandit"), "ts", build_policy(THOMPSON), now=later)
    state = get_policy_state(store, "bandit", "ts")
    assert state is not None and state.state["arms"]["c-1"] == [1.0, 0.0]


def test_outcomes_after_the_window_are_kept_and_flagged_late(store: Store) -> None:
    now = datetime.now(UTC)
    save_experiment(store, experiment())
    settled_at = now - timedelta(seconds=WINDOW_S + 60)
    write_decisions(store, [decision(0, settled_at, "c-1"), decision(1, now, "c-1")])
    update_variant(store, get_experiment(store, "bandit"), "ts", build_policy(THOMPSON), now=now)
    result = log_outcomes(
        store,
        [
            Outcome("late", "d-0", "conversion", 1.0, now),  # after d-0's window
            Outcome("on-time", "d-1", "conversion", 1.0, now),
            Outcome("unknown", "d-missing", "conversion", 1.0, now),  # decision not logged (yet)
        ],
    )
    assert result.accepted == 3
    assert count_late(store) == 1
    with store.transaction() as session:
        flags = {o.event_id: o.late for o in session.query(OutcomeRow)}
    assert flags == {"late": True, "on-time": False, "unknown": False}
    # The settled decision keeps its default reward: the late conversion does not count.
    update_variant(
        store,
        get_experiment(store, "bandit"),
        "ts",
        build_policy(THOMPSON),
        now=now + timedelta(seconds=1),
    )
    state = get_policy_state(store, "bandit", "ts")
    assert state is not None and state.state["arms"]["c-1"] == [0.0, 1.0]


def test_racing_replicas_apply_each_decision_exactly_once(store: Store) -> None:
    now = datetime.now(UTC)
    later = now + timedelta(seconds=WINDOW_S + 60)
    save_experiment(store, experiment())
    write_decisions(
        store, [decision(i, now + timedelta(milliseconds=i), "c-1") for i in range(200)]
    )
    log_outcomes(
        store, [Outcome(f"e-{i}", f"d-{i}", "conversion", 1.0, now) for i in range(0, 200, 4)]
    )
    exp = get_experiment(store, "bandit")
    barrier = threading.Barrier(4)
    results = []

    def replica() -> None:
        barrier.wait()
        results.append(update_variant(store, exp, "ts", build_policy(THOMPSON), now=later))

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sum(r.applied for r in results) == 1
    state = get_policy_state(store, "bandit", "ts")
    assert state is not None and state.state["arms"]["c-1"] == [50.0, 150.0]
    assert state.decisions == 200 and state.updates == 1


def test_update_all_skips_stopped_experiments_and_stateless_variants(store: Store) -> None:
    now = datetime.now(UTC)
    save_experiment(store, experiment())
    write_decisions(store, [decision(0, now - timedelta(seconds=WINDOW_S + 60), "c-1")])
    assert [(r.variant, r.applied) for r in update_all(store, now=now)] == [("ts", True)]
    set_status(store, "bandit", "stopped")
    assert update_all(store, now=now + timedelta(hours=2)) == []


def test_changing_a_variants_policy_resets_its_state(store: Store) -> None:
    now = datetime.now(UTC)
    save_experiment(store, experiment())
    write_decisions(store, [decision(0, now - timedelta(seconds=WINDOW_S + 60), "c-1")])
    update_all(store, now=now)
    assert get_policy_state(store, "bandit", "ts") is not None
    save_experiment(store, experiment())  # same config: state kept
    assert get_policy_state(store, "bandit", "ts") is not None
    changed = experiment(
        variants=(
            Variant("control", 1.0, {"type": "no_campaign"}),
            Variant("ts", 1.0, {"type": "linucb"}),
        )
    )
    save_experiment(store, changed)
    assert get_policy_state(store, "bandit", "ts") is None


# --- the experiment definition around it ---------------------------------------------------


def test_experiment_options_round_trip(store: Store) -> None:
    exp = experiment(
        coverage=0.5,
        namespace=Namespace("home", 0.0, 0.3),
        eligibility=(Condition("age", "gte", 18), Condition("region", "in", ["north", "east"])),
        release="ts",
        default_reward=0.25,
    )
    save_experiment(store, exp)
    assert get_experiment(store, "bandit") == exp
    assert [e.name for e in list_experiments(store)] == ["bandit"]


def test_overlapping_namespace_ranges_are_refused_while_running(store: Store) -> None:
    save_experiment(store, experiment(namespace=Namespace("home", 0.0, 0.5)))
    other = experiment(name="other", namespace=Namespace("home", 0.4, 1.0))
    with pytest.raises(FailedPrecondition, match=r"overlaps running experiment 'bandit'"):
        save_experiment(store, other)
    save_experiment(store, experiment(name="other", namespace=Namespace("home", 0.5, 1.0)))
    # Once the first is stopped, its range is free.
    set_status(store, "bandit", "stopped")
    save_experiment(store, experiment(name="third", namespace=Namespace("home", 0.0, 0.5)))


def test_eligibility_namespace_and_stop_decide_who_is_in() -> None:
    exp = experiment(
        eligibility=(Condition("age", "gte", 18),), namespace=Namespace("home", 0.0, 0.5)
    )
    units = [f"user-{i}" for i in range(4000)]
    adults = [exp.assign(u, {"age": 30}) for u in units]
    assert all(exp.assign(u, {"age": 12}) is None for u in units)
    assert all(exp.assign(u, {}) is None for u in units)  # no feature: not eligible
    assert sum(a is not None for a in adults) / len(units) == pytest.approx(0.5, abs=0.03)
    stopped = experiment(status="stopped")
    assert all(stopped.assign(u, {"age": 30}) is None for u in units)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"status": "paused"}, r"experiment.status must be one of .*'paused'"),
        ({"coverage": 0.0}, r"experiment.coverage must be in \(0, 1\], got 0.0"),
        ({"attribution_window_s": -1.0}, r"attribution_window_s must be finite and >= 0"),
        ({"namespace": Namespace("n", 0.6, 0.2)}, r"namespace range must satisfy"),
        ({"eligibility": (Condition("age", "between", 1),)}, r"eligibility\[0\].op must be"),
        ({"eligibility": (Condition("age", "in", 3),)}, r"eligibility\[0\].value must be a list"),
        ({"release": "nope"}, r"experiment.release must name a variant"),
    ],
)
def test_bad_experiment_options_name_the_field(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        experiment(**overrides)


def test_the_default_path_learns_from_its_own_decisions_outside_experiments(
    store: Store,
) -> None:
    """Decisions outside any experiment made by the default policy fold into the state of
    ("", ""), settled by the deployment's window; another policy's decisions there do not."""
    now = datetime.now(UTC)
    records = []
    for i in range(4):
        d = decision(i, now + timedelta(milliseconds=i), "c-1", variant="")
        records.append(dataclasses.replace(d, experiment=""))
    other = dataclasses.replace(decision(9, now, "c-1", variant=""), experiment="", policy="fixed")
    write_decisions(store, [*records, other])
    log_outcomes(
        store,
        [
            Outcome("e-0", "d-0", "conversion", 1.0, now),
            Outcome("e-9", "d-9", "conversion", 1.0, now),
        ],
    )
    assert update_all(store, now=now + timedelta(seconds=30)) == []  # no default policy given
    results = update_all(
        store, now=now + timedelta(seconds=30), default_policy=THOMPSON, default_window_s=10
    )
    assert [(r.experiment, r.variant, r.decisions) for r in results] == [("", "", 4)]
    state = get_policy_state(store, "", "")
    assert state is not None and state.state["arms"]["c-1"] == [1.0, 3.0]
    # A default policy that does not learn keeps no state.
    assert update_all(store, now=now, default_policy={"type": "epsilon_greedy"}) == []
