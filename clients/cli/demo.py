"""`campaign-lift demo`: the closed loop on SQLite (clients/demo.py), then its summary."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from clients.cli.common import cli_errors, console

Workdir = Annotated[Path, typer.Option(help="Folder for the demo's store and artifacts.")]


@cli_errors
def demo(
    workdir: Workdir = Path(".demo"),
    decisions: Annotated[int, typer.Option(help="Simulated decisions.")] = 60_000,
    retrain_after: Annotated[int, typer.Option(help="Retrain after this many outcomes.")] = 6_000,
) -> None:
    """The closed loop on SQLite: train, serve, simulate, retrain, and print what it learned."""
    from clients.demo import DemoConfig, run_demo
    from clients.render.demo import summary_view

    logging.basicConfig(level="WARNING")
    config = DemoConfig(workdir=workdir, decisions=decisions, retrain_after_outcomes=retrain_after)
    summary = run_demo(config, console)
    console.print(summary_view(summary))
    if len(summary.retrained) < 2 or not summary.learned_beats_best_single():
        console.print(
            "[red]the loop did not learn: fewer than two retrains, or the learned policy did "
            "not beat sending everyone the best single campaign[/red]"
        )
        raise typer.Exit(1)
