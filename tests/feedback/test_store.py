"""The store's feedback tables on SQLite and PostgreSQL: outcomes, registry, retrain trigger,
labelled decisions and experiments."""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy.exc import StatementError

from common.errors import InvalidArgument, NotFound
from feedback.decisions import DecisionRecord, count_decisions, write_decisions
from feedback.experiments import Experiment, Variant, get_experiment, save_experiment
from feedback.outcomes import Outcome, count_outcomes, log_outcomes, max_outcome_seq
from feedback.registry import (
    CANDIDATE,
    PRODUCTION,
    ModelVersion,
    get_version,
    list_versions,
    register_version,
    set_stage,
    stage_history,
    stage_version,
)
from feedback.store import Store
from feedback.training_data import labelled_decisions
from feedback.trigger import claim_retrain, finish_job, list_jobs

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def outcome(
    event_id: str, decision_id: str = "d-1", type: str = "click", value: float = 1.0
) -> Outcome:
    return Outcome(
        event_id=event_id, decision_id=decision_id, type=type, value=value, occurred_at=T0
    )


def log_n(store: Store, n: int, prefix: str) -> None:
    log_outcomes(store, [outcome(f"{prefix}-{i}") for i in range(n)])


# ---------------------------------------------------------------- outcomes


def test_outcome_sent_twice_in_two_calls_counts_once(store: Store) -> None:
    first = log_outcomes(store, [outcome("e-1"), outcome("e-2")])
    again = log_outcomes(store, [outcome("e-2"), outcome("e-3")])

    assert (first.accepted, first.duplicates) == (2, 0)
    assert (again.accepted, again.duplicates) == (1, 1)
    assert count_outcomes(store) == 3


def test_outcome_sent_twice_in_one_call_counts_once_and_first_wins(store: Store) -> None:
    result = log_outcomes(
        store, [outcome("e-1", value=1.0), outcome("e-1", value=0.0), outcome("e-2")]
    )

    assert (result.accepted, result.duplicates) == (2, 1)
    assert count_outcomes(store) == 2
    # The first copy was stored: the decision's click label is 1, not 0.
    write_decisions(store, [decision("d-1", T0)])
    assert labelled_decisions(store, decided_before=T0 + timedelta(days=1))["click"].tolist() == [
        1.0
    ]


def test_count_outcomes_after_seq(store: Store) -> None:
    log_n(store, 3, "a")
    first_max = max_outcome_seq(store)
    log_n(store, 2, "b")

    assert count_outcomes(store, after_seq=first_max) == 2
    assert count_outcomes(store, after_seq=max_outcome_seq(store)) == 0


INVALID_OUTCOMES = [
    (outcome(""), r"outcomes\[1\]\.event_id must not be empty"),
    (outcome("e-x", decision_id=""), r"outcomes\[1\]\.decision_id must not be empty"),
    (outcome("e-x", type="purchase"), r"outcomes\[1\]\.type must be one of .*'purchase'"),
    (outcome("e-x", value=math.nan), r"outcomes\[1\]\.value must be finite and >= 0, got nan"),
    (outcome("e-x", value=-1.0), r"outcomes\[1\]\.value must be finite and >= 0, got -1\.0"),
    (outcome("e-x", value=math.inf), r"outcomes\[1\]\.value must be finite and >= 0, got inf"),
    (outcome("e" * 300), r"outcomes\[1\]\.event_id is longer than 256"),
    (outcome("e-x", decision_id="d" * 300), r"outcomes\[1\]\.decision_id is longer than 256"),
]


@pytest.mark.parametrize(("bad", "message"), INVALID_OUTCOMES)
def test_invalid_outcome_rejects_whole_batch(store: Store, bad: Outcome, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        log_outcomes(store, [outcome("e-valid"), bad])

    assert count_outcomes(store) == 0


def test_decision_id_that_passes_validation_is_stored(store: Store) -> None:
    # Ids up to the validated 256 characters fit the column on every backend.
    result = log_outcomes(store, [outcome("e-1", decision_id="d" * 256)])

    assert result.accepted == 1


# ---------------------------------------------------------------- registry


def register(store: Store, sha: str = "a" * 64, parent: int | None = None) -> ModelVersion:
    return register_version(
        store,
        artifact_path=f"/artifacts/{sha[:8]}.onnx",
        sha256=sha,
        family="logreg",
        feature_schema={"user": {"age": "numeric"}, "campaign": {}, "control": {}},
        targets=["click", "conversion"],
        metrics={"auc": 0.71},
        lineage={"source": "test", "rows": 123},
        parent_version=parent,
    )


def test_register_then_get_round_trip(store: Store) -> None:
    first = register(store)
    second = register(store, sha="b" * 64, parent=first.version)

    got = get_version(store, second.version)
    assert replace(got, created_at=T0) == replace(second, created_at=T0)
    assert second.version > first.version
    assert second.parent_version == first.version
    assert second.targets == ["click", "conversion"]
    assert second.feature_schema == {"user": {"age": "numeric"}, "campaign": {}, "control": {}}
    assert second.metrics == {"auc": 0.71}
    assert second.lineage == {"source": "test", "rows": 123}
    assert [v.version for v in list_versions(store)] == [first.version, second.version]


def test_created_at_reads_back_timezone_aware(store: Store) -> None:
    version = register(store)

    assert get_version(store, version.version).created_at == version.created_at


def test_get_unknown_version_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="model_version 999 is not registered"):
        get_version(store, 999)


def test_set_stage_moves_pointer_and_records_history(store: Store) -> None:
    v1, v2 = register(store).version, register(store, sha="b" * 64).version
    assert stage_version(store, PRODUCTION) is None

    set_stage(store, PRODUCTION, v1, actor="alice", reason="first")
    set_stage(store, PRODUCTION, v2, actor="bob", reason="better auc")
    set_stage(store, CANDIDATE, v1, actor="carol")

    assert stage_version(store, PRODUCTION) == v2
    assert stage_version(store, CANDIDATE) == v1
    moves = [
        (e.from_version, e.to_version, e.actor, e.reason) for e in stage_history(store, PRODUCTION)
    ]
    assert moves == [(None, v1, "alice", "first"), (v1, v2, "bob", "better auc")]


def test_set_stage_to_unregistered_version_raises_and_changes_nothing(store: Store) -> None:
    v1 = register(store).version
    set_stage(store, PRODUCTION, v1, actor="alice")

    with pytest.raises(NotFound, match="model_version 999 is not registered"):
        set_stage(store, PRODUCTION, 999, actor="mallory")

    assert stage_version(store, PRODUCTION) == v1
    assert len(stage_history(store, PRODUCTION)) == 1


# ---------------------------------------------------------------- retrain trigger


def test_claim_retrain_below_and_at_threshold(store: Store) -> None:
    log_n(store, 4, "a")
    assert claim_retrain(store, min_new_outcomes=5) is None

    log_n(store, 1, "b")
    job = claim_retrain(store, min_new_outcomes=5)

    assert job is not None
    assert (job.outcome_seq_from, job.outcome_seq_to) == (0, max_outcome_seq(store))
    assert job.status == "running"
    # The same window is claimed once.
    assert claim_retrain(store, min_new_outcomes=5) is None
    assert len(list_jobs(store)) == 1


def test_next_window_starts_where_the_last_ended(store: Store) -> None:
    log_n(store, 6, "a")
    first = claim_retrain(store, min_new_outcomes=5)
    assert first is not None

    log_n(store, 4, "b")
    assert claim_retrain(store, min_new_outcomes=5) is None
    log_n(store, 1, "c")
    second = claim_retrain(store, min_new_outcomes=5)

    assert second is not None
    assert second.outcome_seq_from == first.outcome_seq_to
    assert second.outcome_seq_to == max_outcome_seq(store)
    assert count_outcomes(store, after_seq=second.outcome_seq_from) == 5


def test_claim_retrain_disabled_by_non_positive_threshold(store: Store) -> None:
    log_n(store, 3, "a")

    assert claim_retrain(store, min_new_outcomes=0) is None
    assert list_jobs(store) == []


def test_finish_job_records_status(store: Store) -> None:
    log_n(store, 2, "a")
    job = claim_retrain(store, min_new_outcomes=2)
    assert job is not None
    v = register(store).version

    finish_job(store, job.id, status="succeeded", result_version=v, promoted=True, message="auc up")

    (done,) = list_jobs(store)
    assert (done.id, done.status, done.result_version, done.promoted, done.message) == (
        job.id,
        "succeeded",
        v,
        True,
        "auc up",
    )
    assert done.finished_at is not None


def race_for_claim(stores: tuple[Store, Store]) -> list[object]:
    """Both replicas call claim_retrain at once; returns their answers, re-raising any error."""
    barrier = threading.Barrier(len(stores))
    claims: list[object] = []
    errors: list[BaseException] = []

    def claim(s: Store) -> None:
        try:
            barrier.wait(timeout=10)
            claims.append(claim_retrain(s, min_new_outcomes=5))
        except BaseException as exc:  # a thread's error must reach the test
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    return claims


def test_two_replicas_racing_claim_exactly_one_job(store: Store) -> None:
    other = Store(store.url)
    try:
        for round_ in range(3):
            log_n(store, 5, f"r{round_}")

            claims = race_for_claim((store, other))

            assert len(claims) == 2
            assert sum(c is not None for c in claims) == 1, claims
            assert len(list_jobs(store)) == round_ + 1
    finally:
        other.dispose()


# ---------------------------------------------------------------- labelled decisions

USER = {"age": 31.0, "region": "north"}
CHOSEN = {"campaign_type": "discount", "discount_pct": 10.0, "duration_days": 7.0}
CONTROL = {"campaign_type": "none", "discount_pct": 0.0, "duration_days": 0.0}


def decision(decision_id: str, at: datetime, campaign_id: str | None = "c-1") -> DecisionRecord:
    return DecisionRecord(
        decision_id=decision_id,
        unit_id=f"u-{decision_id}",
        experiment="exp",
        variant="treatment",
        policy="epsilon_greedy",
        model_version="1",
        campaign_id=campaign_id,
        propensity=0.85,
        user_features=USER,
        candidates=[{"campaign_id": "c-1", "probability": 0.2, "uplift": 0.05, "propensity": 0.85}],
        chosen_features=CHOSEN if campaign_id else CONTROL,
        created_at=at,
    )


def test_labelled_decisions_join_labels_and_features(store: Store) -> None:
    cutoff = T0 + timedelta(hours=1)
    write_decisions(
        store,
        [
            decision("d-1", T0),
            decision("d-2", T0 + timedelta(minutes=1, microseconds=123_457)),
            decision("d-3", T0 + timedelta(minutes=2), campaign_id=None),
            decision("d-late", cutoff + timedelta(minutes=1)),
        ],
    )
    log_outcomes(
        store,
        [
            outcome("e-1", "d-1", "click", 1.0),
            outcome("e-2", "d-1", "conversion", 1.0),
            outcome("e-3", "d-1", "revenue", 20.0),
            outcome("e-4", "d-1", "revenue", 5.5),
            outcome("e-5", "d-2", "click", 1.0),
            outcome("e-6", "d-2", "click", 1.0),  # a second click is still one click
            outcome("e-7", "d-late", "click", 1.0),
        ],
        backfill=True,  # decisions of 2024: their outcomes are history, judged by occurrence
    )
    assert count_decisions(store) == 4

    df = labelled_decisions(store, decided_before=cutoff).set_index("decision_id")

    assert df.index.tolist() == ["d-1", "d-2", "d-3"]
    assert df["click"].tolist() == [1.0, 1.0, 0.0]
    assert df["conversion"].tolist() == [1.0, 0.0, 0.0]
    assert df["revenue"].tolist() == [25.5, 0.0, 0.0]
    assert df["age"].tolist() == [31.0] * 3
    assert df["region"].tolist() == ["north"] * 3
    assert df["campaign_type"].tolist() == ["discount", "discount", "none"]
    assert df["discount_pct"].tolist() == [10.0, 10.0, 0.0]
    assert df["duration_days"].tolist() == [7.0, 7.0, 0.0]
    assert df.loc["d-1", "campaign_id"] == "c-1"
    assert pd.isna(df.loc["d-3", "campaign_id"])  # "no campaign"
    assert df["propensity"].tolist() == [0.85] * 3
    # Aware UTC to the microsecond, as written, on either store.
    assert df["decided_at"].tolist() == [
        T0,
        T0 + timedelta(minutes=1, microseconds=123_457),
        T0 + timedelta(minutes=2),
    ]
    assert str(df["decided_at"].dt.tz) == "UTC"


def test_labelled_decisions_cutoff_is_exclusive(store: Store) -> None:
    write_decisions(store, [decision("d-1", T0), decision("d-2", T0 + timedelta(seconds=1))])

    df = labelled_decisions(store, decided_before=T0 + timedelta(seconds=1))

    assert df["decision_id"].tolist() == ["d-1"]


def test_labelled_decisions_cutoff_honours_its_timezone(store: Store) -> None:
    write_decisions(store, [decision("d-1", datetime(2024, 1, 1, 11, 0, tzinfo=UTC))])
    ten_utc = datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))

    assert labelled_decisions(store, decided_before=ten_utc).empty


# ---------------------------------------------------------------- experiments


def test_experiment_round_trip_and_update(store: Store) -> None:
    exp = Experiment(
        name="homepage",
        salt="s1",
        variants=(
            Variant("control", 1.0, {"type": "no_campaign"}),
            Variant("treatment", 3.0, {"type": "epsilon_greedy", "epsilon": 0.1}),
        ),
    )
    save_experiment(store, exp)
    assert get_experiment(store, "homepage") == exp

    updated = Experiment(
        name="homepage",
        salt="s2",
        variants=(Variant("uniform", 2.0, {"type": "uniform_random"}),),
    )
    save_experiment(store, updated)

    assert get_experiment(store, "homepage") == updated


def test_get_unknown_experiment_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="experiment 'nope' does not exist"):
        get_experiment(store, "nope")


INVALID_EXPERIMENTS = [
    (
        {"name": "", "variants": (Variant("a", 1.0),)},
        "experiment.name must have 1 to 128 characters",
    ),
    ({"name": "e", "variants": ()}, "needs at least one variant"),
    (
        {"name": "e", "variants": (Variant("a", 1.0), Variant("a", 2.0))},
        "variant names must be unique",
    ),
    ({"name": "e", "variants": (Variant("", 1.0),)}, "variant names must be unique"),
    ({"name": "e", "variants": (Variant("a", 0.0),)}, "'a' weight must be > 0, got 0.0"),
    ({"name": "e", "variants": (Variant("a", -1.0),)}, "'a' weight must be > 0, got -1.0"),
    ({"name": "e", "variants": (Variant("a", math.nan),)}, "'a' weight must be > 0, got nan"),
    ({"name": "e", "variants": (Variant("a", math.inf),)}, "'a' weight must be > 0, got inf"),
]


@pytest.mark.parametrize(("kwargs", "message"), INVALID_EXPERIMENTS)
def test_invalid_experiment_raises(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        Experiment(salt="s", **kwargs)  # type: ignore[arg-type]


def test_unreachable_store_is_unavailable_without_leaking_its_address() -> None:
    from common.errors import Unavailable

    store = Store("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    with pytest.raises(Unavailable) as err:
        store.create_schema()
    assert err.value.message == "the store is unavailable (create schema); retry later"
    assert "127.0.0.1" not in err.value.message
    store.dispose()


def test_json_columns_round_trip_numpy_scalars_and_nested_values(store: Store) -> None:
    import numpy as np

    from feedback.decisions import get_decision

    record = decision("json-1", T0)
    record = replace(
        record,
        user_features={"age": np.float64(31.5), "visits": np.int64(3), "region": "north"},
        candidates=[{"campaign_id": "c-1", "probability": {"click": np.float32(0.25)}}],
    )
    write_decisions(store, [record])
    stored = get_decision(store, "json-1")
    assert stored is not None
    assert stored.user_features == {"age": 31.5, "visits": 3, "region": "north"}
    assert stored.candidates == [{"campaign_id": "c-1", "probability": {"click": 0.25}}]


def test_writes_skip_stored_keys_and_return_the_new_ones_in_order(store: Store) -> None:
    # More rows than one SQLite statement holds, a key sent twice in one call, a key stored by
    # an earlier call, nullable and JSON columns, and a time in another zone.
    first = [decision(f"w-{i:04d}", T0 + timedelta(seconds=i)) for i in range(3)]
    assert write_decisions(store, first) == 3
    zone = timezone(timedelta(hours=5))
    batch = [
        decision(f"w-{i:04d}", (T0 + timedelta(seconds=i)).astimezone(zone), campaign_id=None)
        for i in range(1_200)
    ]
    assert write_decisions(store, batch) == 1_197
    assert count_decisions(store) == 1_200
    df = labelled_decisions(store, decided_before=T0 + timedelta(days=1)).set_index("decision_id")
    assert df.loc["w-0001", "campaign_id"] == "c-1"  # the first write stays
    assert pd.isna(df.loc["w-1199", "campaign_id"])
    assert df.loc["w-1199", "decided_at"] == T0 + timedelta(seconds=1_199)
    assert df.loc["w-1199", "age"] == 31.0


def test_a_naive_time_is_refused_on_every_store(store: Store) -> None:
    naive = decision("naive", T0.replace(tzinfo=None))
    # ValueError from the column type, wrapped by SQLAlchemy where it binds the statement.
    with pytest.raises((ValueError, StatementError), match="naive datetime"):
        write_decisions(store, [naive])
    assert count_decisions(store) == 0
