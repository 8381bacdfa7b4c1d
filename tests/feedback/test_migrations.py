"""Alembic migrations: from empty to head they build exactly the models' schema, and go back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import MetaData, Table, insert, inspect, select, text

from feedback import schema
from feedback.models import Base, DecisionRow
from feedback.store import Store


def test_head_matches_the_models_and_downgrade_empties(store: Store) -> None:
    # The fixture's store was created by upgrading an empty database to head.
    assert schema.differences(store.engine) == []
    tables = set(inspect(store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables and "alembic_version" in tables
    schema.downgrade(store.engine, "base")
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}
    schema.upgrade(store.engine)
    assert schema.differences(store.engine) == []


def test_upgrading_an_up_to_date_store_changes_nothing(store: Store) -> None:
    store.create_schema()
    store.create_schema()
    assert schema.differences(store.engine) == []


def test_rows_written_at_0001_survive_the_upgrade_with_defaults(store: Store) -> None:
    """Between revisions on a store that holds data: old rows get the new columns' defaults."""
    schema.downgrade(store.engine, "base")
    schema.upgrade(store.engine, "0001")
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO experiments (name, salt, variants, created_at) "
                "VALUES ('old', 'old', '[]', CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO outcomes (event_id, decision_id, type, value, occurred_at, "
                "received_at) VALUES ('e1', 'd1', 'click', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    schema.upgrade(store.engine)
    assert schema.differences(store.engine) == []
    with store.engine.connect() as conn:
        status, window = conn.execute(
            text("SELECT status, attribution_window_s FROM experiments")
        ).one()
        late = conn.execute(text("SELECT late FROM outcomes")).scalar_one()
    assert (status, window, bool(late)) == ("running", 86_400.0, False)
    schema.downgrade(store.engine, "0001")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outcomes")).scalar_one() == 1
    assert "policy_state" not in inspect(store.engine).get_table_names()
    schema.upgrade(store.engine)


def test_decisions_stored_before_0004_get_their_chosen_prediction(store: Store) -> None:
    """The backfill reads each old decision's candidates, in batches past its batch size, so
    calibration and the policy updater see decisions made before the column existed."""
    import importlib

    from feedback.decisions import chosen_prediction
    from feedback.monitoring import calibration

    backfill = importlib.import_module(
        "feedback.migrations.versions.0004_decisions_chosen_prediction"
    )
    schema.downgrade(store.engine, "base")
    schema.upgrade(store.engine, "0003")
    now = datetime.now(UTC)
    n = backfill.BATCH + 3
    rows = []
    for i in range(n):
        campaign = None if i % 4 == 0 else "a"
        candidates = [
            {
                "campaign_id": "a",
                "probability": {"conversion": 0.2 + i / n / 10},
                "uplift": {"conversion": 0.05},
            }
        ]
        rows.append(
            {
                "decision_id": f"d{i:05d}",
                "unit_id": f"u{i}",
                "experiment": "",
                "variant": "",
                "policy": "eg",
                "model_version": "1",
                "campaign_id": campaign,
                "propensity": 0.5,
                "user_features": {},
                "candidates": [] if i == 1 else candidates,
                "chosen_features": {},
                "created_at": now - timedelta(minutes=1),
            }
        )
    # The table as 0003 left it: no chosen_prediction column yet.
    old = Table("decisions", MetaData(), autoload_with=store.engine)
    assert "chosen_prediction" not in old.c
    with store.engine.begin() as conn:
        conn.execute(insert(old), rows)
    schema.upgrade(store.engine)
    with store.engine.connect() as conn:
        stored = dict(
            conn.execute(select(DecisionRow.decision_id, DecisionRow.chosen_prediction)).all()
        )
    assert len(stored) == n
    for r in rows:
        assert stored[r["decision_id"]] == chosen_prediction(r["candidates"], r["campaign_id"])
    assert stored["d00001"] == {}
    assert stored["d00000"]["probability"]["conversion"] == pytest.approx(0.15)
    counts = {r.campaign_id: r.count for r in calibration(store, timedelta(hours=1))}
    assert counts == {None: len(range(0, n, 4)), "a": n - len(range(0, n, 4)) - 1}
