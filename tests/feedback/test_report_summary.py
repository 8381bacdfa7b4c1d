"""The report summary refreshed incrementally equals the report computed from the decisions,
after new decisions, late outcomes, an import of old decisions and a purge, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from feedback.decisions import DecisionRecord, write_decisions
from feedback.experiments import Experiment, Variant, save_experiment
from feedback.models import ReportSummaryRow
from feedback.outcomes import Outcome, log_outcomes
from feedback.privacy import purge
from feedback.report_data import campaign_sums, choice_sums, unit_sums
from feedback.report_summary import summarized
from feedback.store import Store


def _decisions(prefix: str, units: range, at: datetime) -> list[DecisionRecord]:
    return [
        DecisionRecord(
            f"{prefix}{u}",
            f"u{u}",
            "sum",
            "ab"[u % 2],
            "p",
            "1",
            [None, "c1", "c2"][u % 3],
            0.0 if u % 11 == 0 else 0.2 + (u % 5) / 10,  # p = 0 is left out of choice sums
            {"history": float(u % 7)},
            [],
            {},
            at + timedelta(hours=u % 30),
        )
        for u in units
    ]


def _outcomes(prefix: str, units: range, kinds: str = "cr") -> list[Outcome]:
    now = datetime.now(UTC)
    result = []
    for u in units:
        if "c" in kinds and u % 4 == 0:
            result.append(Outcome(f"{prefix}{u}:c", f"{prefix}{u}", "conversion", 1.0, now))
        if "r" in kinds and u % 5 == 0:
            result.append(Outcome(f"{prefix}{u}:r", f"{prefix}{u}", "revenue", 2.5 + u % 3, now))
        if "k" in kinds and u % 3 == 0:
            result.append(Outcome(f"{prefix}{u}:k", f"{prefix}{u}", "click", 1.0, now))
    return result


def _assert_matches(store: Store) -> None:
    summary = summarized(store, "sum", "history")
    days, campaigns = summary.units, summary.campaigns
    direct_days = sorted(unit_sums(store, "sum", "history"), key=lambda r: (r.day, r.variant))
    assert [(r.variant, r.day, r.units, r.decisions, r.outcomes) for r in days] == [
        (r.variant, r.day, r.units, r.decisions, r.outcomes) for r in direct_days
    ]
    for a, b in zip(days, direct_days, strict=True):
        for m in a.sums:
            assert a.sums[m] == pytest.approx(b.sums[m], rel=1e-9, abs=1e-9)
            assert a.squares[m] == pytest.approx(b.squares[m], rel=1e-9, abs=1e-9)
            assert a.sum_xy and b.sum_xy
            assert a.sum_xy[m] == pytest.approx(b.sum_xy[m], rel=1e-9, abs=1e-9)
        assert (a.sum_x, a.sum_x2) == pytest.approx((b.sum_x, b.sum_x2), rel=1e-9)
    direct = sorted(campaign_sums(store, "sum"), key=lambda c: (c.variant, c.campaign_id or ""))
    assert [(c.variant, c.campaign_id, c.units, c.decisions, c.outcomes) for c in campaigns] == [
        (c.variant, c.campaign_id, c.units, c.decisions, c.outcomes) for c in direct
    ]
    for a, b in zip(campaigns, direct, strict=True):
        assert a.sums == pytest.approx(b.sums, rel=1e-9, abs=1e-9)
    choices = sorted(choice_sums(store, "sum"), key=lambda c: (c.variant, c.campaign_id or ""))
    assert [(c.variant, c.campaign_id, c.decisions) for c in summary.choices] == [
        (c.variant, c.campaign_id, c.decisions) for c in choices
    ]
    for a, b in zip(summary.choices, choices, strict=True):
        for field in ("sums", "squares", "ips", "ips_squares"):
            assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-9, abs=1e-9)


def test_incremental_refresh_equals_the_decisions(store: Store) -> None:
    save_experiment(
        store, Experiment("sum", "s", (Variant("a", 1.0), Variant("b", 1.0)), covariate="history")
    )
    now = datetime.now(UTC)
    write_decisions(store, _decisions("d", range(300), now - timedelta(days=40)))
    log_outcomes(store, _outcomes("d", range(300)))
    _assert_matches(store)  # the first report builds the summary
    with store.transaction() as session:
        built = session.scalar(select(ReportSummaryRow.decided_until))
    # New decisions, of known units and new ones, and late outcomes of old decisions.
    write_decisions(store, _decisions("n", range(250, 420), now - timedelta(minutes=1)))
    log_outcomes(store, _outcomes("n", range(250, 420)) + _outcomes("d", range(300), "k"))
    _assert_matches(store)
    with store.transaction() as session:
        state = session.get(ReportSummaryRow, "sum")
        assert state is not None and state.decided_until > built  # refreshed, not dropped
    # Decisions made long ago, imported now: caught by when they were logged, no rebuild.
    write_decisions(store, _decisions("old", range(500, 560), now - timedelta(days=100)))
    with store.transaction() as session:
        before = session.get(ReportSummaryRow, "sum")
        assert before is not None
        refreshed = before.refreshed_at
    _assert_matches(store)
    with store.transaction() as session:
        after = session.get(ReportSummaryRow, "sum")
        assert after is not None and after.refreshed_at > refreshed
    # A purge keeps what remains right.
    purge(store, timedelta(days=60))
    _assert_matches(store)
    # Nothing new: the refresh changes nothing.
    _assert_matches(store)
