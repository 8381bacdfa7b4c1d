"""Alembic migrations: from empty to head they build exactly the models' schema, and go back."""

from __future__ import annotations

from sqlalchemy import inspect

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
