"""`campaign-lift feedback ...`: the store commands side by side: import and purge."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from clients.cli.common import cli_errors, console
from common.errors import InvalidArgument
from common.settings import Settings

app = typer.Typer(help="Feedback: import logged decisions and outcomes.")

LoggedTable = Annotated[
    Path, typer.Argument(help="CSV or Parquet of logged decisions and outcomes.")
]
Mapping = Annotated[
    Path, typer.Option(help="Mapping spec (TOML), e.g. specs/hillstrom-import.toml.")
]
OlderThanDays = Annotated[
    float, typer.Option(help="Delete decisions (and their outcomes) older than this.")
]


@app.command("import")
@cli_errors
def import_(data: LoggedTable, mapping: Mapping) -> None:
    """Import a logged experiment into the store (idempotent: re-importing adds nothing)."""
    from feedback.import_spec import import_table, load_mapping
    from feedback.store import open_store
    from trainer.data import load_table

    settings = Settings()
    settings.ensure_dirs()
    log_mapping, control, weights = load_mapping(mapping)
    store = open_store(settings.database_url)
    frame = load_table(data)
    with console.status(f"importing {len(frame)} rows"):
        decisions, outcomes = import_table(
            store,
            frame,
            log_mapping,
            control,
            datetime.now(UTC),
            weights,
            unit_key=settings.unit_id_hash_key.get_secret_value().encode("utf-8"),
        )
    experiment = f" as experiment {log_mapping.experiment!r}" if log_mapping.experiment else ""
    console.print(
        f"imported {decisions} decisions and {outcomes} new outcomes into {store.location}"
        + experiment
    )


@app.command()
@cli_errors
def purge(older_than_days: OlderThanDays) -> None:
    """Retention: delete decisions older than N days with their outcomes and shadow predictions
    (reports on what remains stay correct). Acts on the store of CAMPAIGN_LIFT_DATABASE_URL."""
    from feedback.privacy import purge as purge_store
    from feedback.store import open_store

    if not (math.isfinite(older_than_days) and older_than_days > 0):
        raise InvalidArgument(f"--older-than-days must be > 0, got {older_than_days}")
    store = open_store(Settings().database_url)
    result = purge_store(store, timedelta(days=older_than_days))
    console.print(
        f"purged {result.decisions} decisions, {result.outcomes} outcomes and "
        f"{result.shadow_predictions} shadow predictions older than "
        f"{result.cutoff.isoformat(timespec='seconds')} from {store.location}"
    )
