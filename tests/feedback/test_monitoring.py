"""Calibration over a sliding window: the mean predicted probability of the chosen action
against the observed rate, per campaign, model version and target, on both backends; and as
Prometheus gauges of a real server fed over real gRPC."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from clients.client import CampaignLiftClient
from feedback.decisions import DecisionRecord, write_decisions
from feedback.monitoring import CalibrationRow, ScoredMinutes, calibration
from feedback.outcomes import Outcome, log_outcomes
from feedback.store import Store
from server.runtime.app import start
from tests.conftest import promote_new, server_settings
from tests.e2e.helpers import outcomes_for, user_request
from tests.server.test_metrics import scrape

# The top of the current hour: outcomes are logged live, so their decisions must be recent
# (an outcome received a day after its decision is late and counts nowhere).
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _candidates(p_a: float, p_b: float, control: float) -> list[dict[str, object]]:
    return [
        {"campaign_id": c, "probability": {"conversion": p}, "uplift": {"conversion": p - control}}
        for c, p in (("a", p_a), ("b", p_b))
    ]


def test_calibration_per_campaign_and_version_in_the_window(store: Store) -> None:
    rng = np.random.default_rng(3)
    records, outcomes, expected = [], [], {}
    # (campaign, version): predictions and conversions of decisions inside the last hour.
    for campaign, version, n in (("a", "1", 40), ("b", "1", 30), (None, "2", 20)):
        p = rng.uniform(0.05, 0.4, n).round(4)
        y = rng.random(n) < 0.2
        expected[(campaign, version)] = (n, p.mean(), y.mean())
        for i in range(n):
            did = f"{campaign}-{version}-{i}"
            cands = _candidates(p[i], p[i], p[i] if campaign is None else 0.01)
            if campaign is None:
                cands = [{**c, "uplift": {"conversion": 0.0}} for c in cands]
            records.append(
                DecisionRecord(
                    did,
                    f"u{i}",
                    "",
                    "",
                    "eg",
                    version,
                    campaign,
                    0.5,
                    {},
                    cands,
                    {},
                    NOW - timedelta(minutes=1 + i % 50),
                )
            )
            if y[i]:
                outcomes.append(Outcome(f"{did}:c", did, "conversion", 1.0, NOW))
    # Outside the window (too old, or in the future of `now`), imported (no version), or
    # clicked only: none of these count.
    for k, at in enumerate((NOW - timedelta(hours=2), NOW + timedelta(minutes=1))):
        records.append(
            DecisionRecord(
                f"old{k}", "u", "", "", "eg", "1", "a", 0.5, {}, _candidates(0.9, 0.9, 0.0), {}, at
            )
        )
        outcomes.append(Outcome(f"old{k}:c", f"old{k}", "conversion", 1.0, NOW))
    records.append(
        DecisionRecord(
            "imp", "u", "x", "v", "logged", "", "a", 0.5, {}, [], {}, NOW - timedelta(minutes=3)
        )
    )
    outcomes.append(Outcome("a-1-0:click", "a-1-0", "click", 1.0, NOW))
    write_decisions(store, records)
    log_outcomes(store, outcomes)

    rows = calibration(store, timedelta(hours=1), now=NOW, labels={"conversion": "conversion"})
    assert [(r.campaign_id, r.model_version) for r in rows] == [(None, "2"), ("a", "1"), ("b", "1")]
    for r in rows:
        n, predicted, observed = expected[(r.campaign_id, r.model_version)]
        assert r.target == "conversion" and r.count == n
        assert r.predicted == pytest.approx(predicted, rel=1e-12)
        assert r.observed == pytest.approx(observed, rel=1e-12)
        assert r.ratio == pytest.approx(observed / predicted, rel=1e-12)
    # The default labels also try click: no candidate predicted it, so no rows for it.
    assert {r.target for r in calibration(store, timedelta(hours=1), now=NOW)} == {"conversion"}
    assert calibration(store, timedelta(hours=1), now=NOW, experiment="x") == []


def test_server_exports_calibration_gauges(
    sqlite_store: Store, tmp_path: Path, world, trained_logreg
) -> None:
    version = promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    # The timer is off: the test refreshes once, after the outcomes are committed.
    running = start(server_settings(sqlite_store, tmp_path, calibration_refresh_s=0))
    try:
        users = np.arange(200)
        with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
            results = client.score_batch([user_request(world, int(i)) for i in users])
            assert running.decisions.flush()
            client.log_outcomes(outcomes_for(world, users, results, np.random.default_rng(1)))
        rows = running.calibration.refresh() if running.calibration else []
        text = scrape(running.metrics_port or 0)
    finally:
        running.stop()
    assert rows == calibration(sqlite_store, timedelta(hours=1))
    assert sum(r.count for r in rows if r.target == "conversion") == 200
    for r in rows:
        campaign = r.campaign_id or "none"
        labels = f'campaign="{campaign}",model_version="{version.version}",target="{r.target}"'
        assert f"campaign_lift_calibration_decisions{{{labels}}} {float(r.count)}" in text
        assert f"campaign_lift_calibration_predicted{{{labels}}} {r.predicted!r}" in text
        assert f"campaign_lift_calibration_observed{{{labels}}} {r.observed!r}" in text
        if not math.isnan(r.ratio):
            assert f"campaign_lift_calibration_ratio{{{labels}}} {r.ratio!r}" in text


def test_the_report_includes_its_experiments_calibration(store: Store) -> None:
    from feedback.ab_report import experiment_report
    from feedback.experiments import Experiment, Variant, save_experiment

    save_experiment(store, Experiment("cal", "s", (Variant("c", 1.0), Variant("t", 1.0))))
    now = datetime.now(UTC)
    records = [
        DecisionRecord(
            f"d{i}",
            f"u{i}",
            "cal",
            "ct"[i % 2],
            "eg",
            "3",
            "a",
            0.5,
            {},
            _candidates(0.1 * (1 + i % 3), 0.5, 0.0),
            {},
            now - timedelta(days=i),
        )
        for i in range(12)
    ]
    write_decisions(store, records)
    log_outcomes(store, [Outcome("d0:c", "d0", "conversion", 1.0, now)])
    (today,) = experiment_report(store, "cal").calibration  # the last day by default
    assert today.count == 1 and today.observed == 1.0
    report = experiment_report(store, "cal", calibration_window=timedelta(days=30))
    (row,) = report.calibration
    assert (row.campaign_id, row.model_version, row.count) == ("a", "3", 12)
    assert row.predicted == pytest.approx(0.2) and row.observed == pytest.approx(1 / 12)
    (recent,) = experiment_report(store, "cal", calibration_window=timedelta(hours=36)).calibration
    assert recent.count == 2 and recent.observed == pytest.approx(0.5)


def _spread_decisions(store: Store, start: datetime, minutes: int, prefix: str) -> list[datetime]:
    """Decisions every 10 s over `minutes` from `start` (two campaigns and no campaign), a
    conversion for every third."""
    records, outcomes = [], []
    for k in range(minutes * 6):
        did = f"{prefix}{k}"
        campaign = (None, "a", "b")[k % 3]
        p = 0.05 + (k % 7) / 50
        cands = _candidates(p, p, p) if campaign is None else _candidates(p, p, 0.01)
        at = start + timedelta(seconds=10 * k + 3)
        records.append(
            DecisionRecord(did, "u", "", "", "eg", "1", campaign, 0.5, {}, cands, {}, at)
        )
        if k % 3 == 1:
            outcomes.append(Outcome(f"{did}:c", did, "conversion", 1.0, at))
    write_decisions(store, records)
    log_outcomes(store, outcomes)
    return [r.created_at for r in records]


def _same(a: list[CalibrationRow], b: list[CalibrationRow]) -> None:
    assert [(r.campaign_id, r.target, r.count, r.observed) for r in a] == [
        (r.campaign_id, r.target, r.count, r.observed) for r in b
    ]
    assert [r.predicted for r in a] == pytest.approx([r.predicted for r in b], rel=1e-12)


def test_kept_minutes_give_what_a_full_read_gives_as_the_window_slides(store: Store) -> None:
    cache = ScoredMinutes()
    window = timedelta(minutes=20)
    made = _spread_decisions(store, NOW - timedelta(minutes=40), 40, "d")
    for step in range(0, 12, 3):  # refreshes while the window slides, new decisions coming
        now = NOW + timedelta(minutes=step, seconds=17)
        made += _spread_decisions(store, now - timedelta(minutes=3), 3, f"new{step}-")
        cached = calibration(store, window, now=now, cache=cache)
        _same(cached, calibration(store, window, now=now))
        # Only conversion is predicted: one row per action, every decision of the window.
        assert {r.target for r in cached} == {"conversion"}
        assert sum(r.count for r in cached) == sum(now - window <= t < now for t in made)
    # Only the window's whole minutes are kept.
    assert len(cache._minutes) <= 20


def test_a_decision_logged_late_into_a_kept_minute_waits_for_the_recount(store: Store) -> None:
    cache = ScoredMinutes()
    window = timedelta(minutes=20)
    _spread_decisions(store, NOW - timedelta(minutes=20), 20, "d")
    before = calibration(store, window, now=NOW, cache=cache)
    at = NOW - timedelta(minutes=10)
    late = DecisionRecord(
        "late", "u", "", "", "eg", "1", "a", 0.5, {}, _candidates(0.9, 0.9, 0.0), {}, at
    )
    write_decisions(store, [late])
    assert calibration(store, window, now=NOW, cache=cache) == before
    later = NOW + ScoredMinutes.RECOUNT + timedelta(seconds=1)
    recounted = calibration(store, window + ScoredMinutes.RECOUNT, now=later, cache=cache)
    _same(recounted, calibration(store, window + ScoredMinutes.RECOUNT, now=later))
    assert {r.campaign_id: r.count for r in recounted}["a"] == 40 + 1
