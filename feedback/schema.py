"""Schema migrations of the store with Alembic: upgrade to head, check against the models,
and generate a new revision after a model change (`python -m feedback.schema revision MSG`)."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text

from feedback.models import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


# Serializes replicas that start together on one PostgreSQL store and would both migrate.
MIGRATION_LOCK = 0x43414D50


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = _config(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def differences(engine: Engine) -> list[object]:
    """What the database lacks or has beyond the models (empty when migrations are complete)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def revision(engine: Engine, message: str) -> None:
    config = _config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def main() -> int:
    """`python -m feedback.schema revision "what changed"` against a scratch SQLite store."""
    import tempfile

    from sqlalchemy import create_engine

    if len(sys.argv) != 3 or sys.argv[1] != "revision":
        print("usage: python -m feedback.schema revision MESSAGE", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/scratch.db")
        upgrade(engine)
        revision(engine, sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
