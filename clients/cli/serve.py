"""`campaign-lift serve` and `campaign-lift retrain-worker`: the long-running processes."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from clients.cli.common import cli_errors
from common.settings import Settings

DatabaseUrl = Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")]
LogLevel = Annotated[str, typer.Option(help="Logging level.")]
Processes = Annotated[
    int,
    typer.Option(
        help="Server processes sharing the port (SO_REUSEPORT) under one supervisor; each "
        "has its own GIL. Process i serves metrics on metrics_port + i."
    ),
]
RetrainWorker = Annotated[
    bool | None,
    typer.Option(
        "--retrain-worker/--no-retrain-worker",
        help="Run a retrain worker as a supervised child (env CAMPAIGN_LIFT_RETRAIN_WORKER; "
        "default on). Off where workers run elsewhere.",
    ),
]


def settings_from(**flags: object) -> Settings:
    """Settings from env vars, with the flags that were given on top."""
    return Settings.model_validate({k: v for k, v in flags.items() if v is not None})


def _log_to_stderr(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")


@cli_errors
def serve(
    port: Annotated[int | None, typer.Option(help="gRPC port (env CAMPAIGN_LIFT_PORT).")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    database_url: DatabaseUrl = None,
    log_level: LogLevel = "INFO",
    processes: Processes = 1,
    retrain_worker: RetrainWorker = None,
    http_port: Annotated[
        int | None,
        typer.Option(
            help="Port of the console and the Personalizer-compatible REST API "
            "(env CAMPAIGN_LIFT_HTTP_PORT; default 8080); -1 turns it off."
        ),
    ] = None,
) -> None:
    """Run the gRPC server, the HTTP side (console, REST API) and a retrain worker beside it,
    until SIGTERM/SIGINT."""
    from server.runtime.app import serve as run
    from server.runtime.supervisor import supervise

    _log_to_stderr(log_level)
    settings = settings_from(
        port=port,
        host=host,
        database_url=database_url,
        log_level=log_level,
        retrain_worker=retrain_worker,
        http_port=http_port,
    )
    if processes == 1:
        run(settings)
        return
    code = supervise(settings, processes)
    if code:
        raise typer.Exit(code)


@cli_errors
def retrain_worker(database_url: DatabaseUrl = None, log_level: LogLevel = "INFO") -> None:
    """Claim retrain jobs from the store and run them until SIGTERM/SIGINT (any number of
    workers may share a store: each job runs once)."""
    from trainer.worker import main as run_worker

    _log_to_stderr(log_level)
    code = run_worker(settings_from(database_url=database_url, log_level=log_level))
    if code:
        raise typer.Exit(code)
