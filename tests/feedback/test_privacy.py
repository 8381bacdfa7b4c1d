"""Privacy: unit ids stored as keyed hashes (assignment and outcome joins unchanged, over a
real server), and retention: purging old decisions leaves reports on the rest exact, on both
backends, also through `campaign-lift feedback purge`."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from clients.client import CampaignLiftClient, OutcomeEvent
from feedback.ab_report import experiment_report
from feedback.assignment import choose_variant
from feedback.decisions import DecisionRecord, write_decisions
from feedback.experiments import Experiment, Variant, save_experiment
from feedback.models import DecisionRow, OutcomeRow, ShadowPredictionRow
from feedback.outcomes import Outcome, log_outcomes
from feedback.privacy import purge, stored_unit_id
from feedback.shadow import ShadowRecord, write_shadow_predictions
from feedback.store import Store, open_store
from server.runtime.app import start
from tests.clients.test_cli import run_cli
from tests.conftest import promote_new, server_settings
from tests.e2e.helpers import user_request

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_keyed_hash_is_hmac_sha256() -> None:
    # RFC 4231, test case 2.
    assert stored_unit_id("what do ya want for nothing?", b"Jefe") == (
        "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    assert stored_unit_id("user-1", b"") == "user-1"
    assert stored_unit_id("user-1", b"k1") != stored_unit_id("user-1", b"k2")


def test_server_stores_hashed_unit_ids_and_reports_still_work(
    sqlite_store: Store, tmp_path: Path, world, trained_logreg
) -> None:
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    experiment = Experiment(
        "private",
        "salt",
        (
            Variant("none", 1.0, {"type": "no_campaign"}),
            Variant("any", 1.0, {"type": "uniform_random"}),
        ),
    )
    save_experiment(sqlite_store, experiment)
    key = "a-secret-key"
    running = start(server_settings(sqlite_store, tmp_path, unit_id_hash_key=key))
    requests = [user_request(world, i, experiment="private") for i in range(60)] * 2
    try:
        with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
            results = client.score_batch(requests)
            assert running.decisions.flush()
            client.log_outcomes(
                [
                    OutcomeEvent(
                        f"{r.decision.decision_id}:c", r.decision.decision_id, "conversion"
                    )
                    for r in results[::3]
                ]
            )
    finally:
        running.stop()
    with sqlite_store.transaction() as session:
        stored = dict(session.execute(select(DecisionRow.decision_id, DecisionRow.unit_id)).all())
    for request, result in zip(requests, results, strict=True):
        unit = stored[result.decision.decision_id]
        assert request.unit_id not in unit
        assert unit == stored_unit_id(request.unit_id, key.encode())
        # Assignment hashed the raw id, exactly as without the key.
        index = choose_variant("salt", request.unit_id, [1.0, 1.0])
        assert result.decision.variant == experiment.variants[index].name
    report = experiment_report(sqlite_store, "private")
    assert sum(v.units for v in report.variants) == 60  # each user twice: still one unit
    assert sum(v.outcomes for v in report.variants) == len(results[::3])
    converted = {requests[k].unit_id for k in range(0, len(results), 3)}
    rate = {v.name: v.means["conversion"] * v.units for v in report.variants}
    assert sum(rate.values()) == pytest.approx(len(converted))


def _plant(store: Store, days: list[int], prefix: str = "") -> None:
    """Units decided `day` days before NOW in two variants; every third converts."""
    save_experiment(store, Experiment("ret", "s", (Variant("a", 1.0), Variant("b", 1.0))))
    records, outcomes = [], []
    for k, day in enumerate(days):
        for i in range(30):
            did = f"{prefix}{day}-{k}-{i}"
            at = NOW - timedelta(days=day, minutes=i)
            records.append(
                DecisionRecord(
                    did, f"u{k}-{i}", "ret", "ab"[i % 2], "p", "1", "c", 0.5, {}, [], {}, at
                )
            )
            if i % 3 == 0:
                outcomes.append(Outcome(f"{did}:c", did, "conversion", 1.0, at))
    write_decisions(store, records)
    log_outcomes(store, outcomes)


def _counts(store: Store) -> tuple[int, int, int]:
    with store.transaction() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(t))
            for t in (DecisionRow, OutcomeRow, ShadowPredictionRow)
        )


def test_purge_keeps_reports_on_what_remains_exact(store: Store, tmp_path: Path) -> None:
    _plant(store, [1, 5, 40, 90])
    write_shadow_predictions(
        store,
        [ShadowRecord(f"{d}-{k}-0", 2, 1, {}, NOW) for k, d in enumerate([1, 5, 40, 90])],
    )
    # An orphan outcome received long ago (its decision was never stored).
    log_outcomes(store, [Outcome("orphan", "gone", "click", 1.0, NOW - timedelta(days=60))])
    with store.transaction() as session:
        session.execute(
            OutcomeRow.__table__.update()
            .where(OutcomeRow.event_id == "orphan")
            .values(received_at=NOW - timedelta(days=60))
        )
    assert _counts(store) == (120, 41, 4)
    result = purge(store, timedelta(days=30), now=NOW)
    assert (result.decisions, result.outcomes, result.shadow_predictions) == (60, 21, 2)
    assert _counts(store) == (60, 20, 2)
    reference = open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    _plant(reference, [1, 5])
    assert experiment_report(store, "ret") == experiment_report(reference, "ret")
    # Nothing older is left: purging again deletes nothing.
    again = purge(store, timedelta(days=30), now=NOW)
    assert (again.decisions, again.outcomes, again.shadow_predictions) == (0, 0, 0)
    with pytest.raises(Exception, match="older_than must be positive"):
        purge(store, timedelta(0))


def test_purge_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    now = datetime.now(UTC)
    records = [
        DecisionRecord(
            f"d{d}", "u", "", "", "p", "1", None, 1.0, {}, [], {}, now - timedelta(days=d)
        )
        for d in (1, 2, 10, 11, 12)
    ]
    write_decisions(store, records)
    os.environ["CAMPAIGN_LIFT_DATABASE_URL"] = url
    try:
        done = run_cli("feedback", "purge", "--older-than-days", "7")
        bad = run_cli("feedback", "purge", "--older-than-days", "-1")
    finally:
        del os.environ["CAMPAIGN_LIFT_DATABASE_URL"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert "purged 3 decisions, 0 outcomes" in done.stdout
    assert _counts(store)[0] == 2
    assert bad.returncode == 2 and "--older-than-days must be > 0, got -1" in bad.stdout
