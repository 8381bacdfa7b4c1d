"""Alembic migrations: from empty to head they build exactly the models' schema, and go back."""

from __future__ import annotations

from sqlalchemy import inspect, text

from feedback import schema
from feedback.models import Base
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
