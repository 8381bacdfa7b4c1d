"""The campaign-lift command-line tool: the root app, one module per command group."""

from __future__ import annotations

import typer

from clients.cli import campaigns, demo, experiments, feedback, models, score, serve, train
from clients.cli.common import CliGroup

app = typer.Typer(
    cls=CliGroup,
    help="Campaign Lift: predict, decide and learn campaign effects.",
    no_args_is_help=True,
)
app.command()(serve.serve)
app.command("retrain-worker")(serve.retrain_worker)
app.command()(train.train)
app.command()(score.score)
app.command()(demo.demo)
app.add_typer(models.app, name="models")
app.add_typer(experiments.app, name="experiments")
app.add_typer(feedback.app, name="feedback")
app.add_typer(campaigns.app, name="campaigns")


def main() -> None:
    app()
