"""Group commit: several callers' outcomes in one transaction, each with its own counts, as if
logged one after the other; under concurrency through the server's writer, every event id
counts exactly once and each call hears only of its own rows."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from common.errors import InvalidArgument
from feedback.models import OutcomeRow
from feedback.outcomes import LogResult, Outcome, log_outcome_groups, log_outcomes
from feedback.store import Store
from server.runtime.outcome_writer import OutcomeWriter

AT = datetime.now(UTC) - timedelta(minutes=5)


def ev(event_id: str, kind: str = "click") -> Outcome:
    return Outcome(event_id, f"d-{event_id}", kind, 1.0, AT)


def stored(store: Store) -> int:
    with store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(OutcomeRow)) or 0)


def test_groups_count_as_if_logged_one_after_the_other(store: Store) -> None:
    log_outcomes(store, [ev("old")])
    results = log_outcome_groups(
        store,
        [
            [ev("a"), ev("b"), ev("a")],  # a repeated within the group: once
            [ev("b"), ev("c"), ev("old")],  # b is the first group's; old was stored before
            [],
        ],
    )
    assert results == [LogResult(2, 1), LogResult(1, 2), LogResult(0, 0)]
    assert stored(store) == 4


def test_a_bad_outcome_names_its_group(store: Store) -> None:
    bad = Outcome("x", "d", "click", 2.0, AT)
    with pytest.raises(InvalidArgument, match=r"group 1 outcomes\[0\]\.value"):
        log_outcome_groups(store, [[ev("a")], [bad]])
    assert stored(store) == 0  # nothing of the group was written


def test_the_writer_counts_every_event_once_under_concurrency(store: Store) -> None:
    """8 callers x 25 calls of 40 events over 500 distinct ids: accepted adds up to 500, each
    call's counts add up to its size, every call was committed (in fewer commits, or as many)."""
    writer = OutcomeWriter(store, default_window_s=86_400)
    results: list[LogResult] = []
    lock = threading.Lock()

    def caller(k: int) -> None:
        for c in range(25):
            batch = [ev(f"e{(k * 997 + c * 40 + i) % 500}") for i in range(40)]
            got = writer.log(batch)
            with lock:
                results.append(got)

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    assert len(results) == 200 == writer.calls
    assert all(r.accepted + r.duplicates == 40 for r in results)
    assert sum(r.accepted for r in results) == 500 == stored(store)
    assert 1 <= writer.commits <= 200


def test_a_group_the_store_refuses_is_committed_call_by_call(store: Store) -> None:
    """A call whose rows the store refuses (here: no occurrence time, NOT NULL) fails alone;
    the calls grouped with it are committed and acknowledged."""
    from concurrent.futures import Future

    writer = OutcomeWriter(store, default_window_s=86_400)
    good: Future[LogResult] = Future()
    bad: Future[LogResult] = Future()
    broken = Outcome("broken", "d-broken", "click", 1.0, None)  # type: ignore[arg-type]
    writer._commit([([ev("g1"), ev("g2")], good), ([broken], bad)])
    assert good.result(timeout=5) == LogResult(2, 0)
    assert bad.exception(timeout=5) is not None
    assert stored(store) == 2
