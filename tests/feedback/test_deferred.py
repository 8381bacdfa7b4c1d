"""Deferred decisions (Personalizer's deferActivation) on both stores: held apart until
activated, then written as decided at their first activation, whichever half comes first;
idempotent; purged when never activated."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from common.errors import InvalidArgument
from feedback.decisions import activate_decisions, count_decisions, write_decisions
from feedback.models import DecisionRow, DeferredDecisionRow, OutcomeRow
from feedback.outcomes import Outcome, log_outcomes
from feedback.privacy import purge
from feedback.store import Store
from tests.feedback.test_store import decision

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _deferred(decision_id: str, at: datetime = T0):  # type: ignore[no-untyped-def]
    return replace(decision(decision_id, at), deferred=True)


def _decided_at(store: Store, decision_id: str) -> datetime | None:
    with store.transaction() as session:
        return session.scalar(
            select(DecisionRow.created_at).where(DecisionRow.decision_id == decision_id)
        )


def _pending(store: Store) -> int:
    with store.transaction() as session:
        return len(session.scalars(select(DeferredDecisionRow.decision_id)).all())


def test_a_deferred_decision_counts_only_once_activated(store: Store) -> None:
    assert write_decisions(store, [_deferred("d1"), decision("n1", T0)]) == 1
    assert count_decisions(store) == 1  # only the one made to count
    assert _decided_at(store, "d1") is None
    at = T0 + timedelta(minutes=5)
    result = activate_decisions(store, ["d1"], now=at)
    assert (result.activated, result.pending) == (1, 0)
    assert _decided_at(store, "d1") == at  # its window starts at activation
    assert _pending(store) == 0
    # Again, and with a decision that was never deferred: both already count.
    again = activate_decisions(store, ["d1", "n1"], now=at + timedelta(minutes=1))
    assert (again.activated, again.pending) == (2, 0)
    assert _decided_at(store, "d1") == at
    assert count_decisions(store) == 2


def test_an_activation_before_its_decision_is_applied_when_it_is_written(store: Store) -> None:
    at = T0 + timedelta(seconds=2)
    result = activate_decisions(store, ["d2", "d2"], now=at)
    assert (result.activated, result.pending) == (0, 1)
    assert count_decisions(store) == 0
    # The asynchronous decision log writes it afterwards: it counts at once, decided at `at`.
    assert write_decisions(store, [_deferred("d2", T0)]) == 1
    assert _decided_at(store, "d2") == at
    assert _pending(store) == 0
    # A second activation keeps the first's time.
    activate_decisions(store, ["d2"], now=at + timedelta(hours=1))
    assert _decided_at(store, "d2") == at


def test_a_pending_decision_sent_again_replaces_its_record(store: Store) -> None:
    write_decisions(store, [_deferred("d3")])
    write_decisions(store, [replace(_deferred("d3"), campaign_id=None)])
    activate_decisions(store, ["d3"], now=T0 + timedelta(minutes=1))
    with store.transaction() as session:
        row = session.get(DecisionRow, "d3")
        assert row is not None and row.campaign_id is None


def test_outcomes_of_a_deferred_decision_are_judged_from_its_activation(store: Store) -> None:
    # The default window is a day; the outcome occurs 30 h after the rank, 10 h after the
    # activation: it counts, because the window starts at activation.
    write_decisions(store, [_deferred("d4", T0)])
    log_outcomes(store, [Outcome("e4", "d4", "conversion", 1.0, T0 + timedelta(hours=30))])
    activate_decisions(store, ["d4"], now=T0 + timedelta(hours=20))
    with store.transaction() as session:
        late = session.scalar(select(OutcomeRow.late).where(OutcomeRow.event_id == "e4"))
    assert late is False


def test_never_activated_decisions_are_purged_with_old_data(store: Store) -> None:
    write_decisions(store, [_deferred("d5", T0)])
    activate_decisions(store, ["lonely"], now=T0)
    result = purge(store, timedelta(days=1), now=T0 + timedelta(days=2))
    assert result.deferred == 2
    assert _pending(store) == 0


@pytest.mark.parametrize("bad", ["", "x" * 257, "a\x00b"])
def test_bad_ids_are_refused_by_position(store: Store, bad: str) -> None:
    with pytest.raises(InvalidArgument, match=r"decision_ids\[1\]"):
        activate_decisions(store, ["ok", bad])
