"""The campaign-lift command-line tool."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from common.settings import Settings

app = typer.Typer(
    help="Campaign Lift: predict, decide and learn campaign effects.", no_args_is_help=True
)
console = Console(width=100) if not Console().is_terminal else Console()


def _settings(**overrides: object) -> Settings:
    """Settings from env vars, with the flags that were given on top."""
    return Settings.model_validate({k: v for k, v in overrides.items() if v is not None})


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="gRPC port (env CAMPAIGN_LIFT_PORT).")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")] = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Run the gRPC server until SIGTERM/SIGINT."""
    from server.app import serve as run

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run(_settings(port=port, host=host, database_url=database_url))


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="CSV or Parquet file of logged data.")],
    spec: Annotated[Path, typer.Option(help="Feature spec (TOML), e.g. specs/hillstrom.toml.")],
    family: Annotated[str, typer.Option(help="logreg, tree, forest, hgb or mlp.")] = "hgb",
    register_version: Annotated[bool, typer.Option("--register/--no-register")] = True,
    promote: Annotated[bool, typer.Option(help="Point production at the new version.")] = False,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train on a file, export one ONNX graph, check parity, report held-out metrics, register."""
    from common.errors import CampaignLiftError
    from common.settings import Settings
    from feedback.registry import PRODUCTION, set_stage
    from feedback.store import open_store
    from trainer.data import load_table
    from trainer.spec import FeatureSpec
    from trainer.train import register
    from trainer.train import train as fit

    try:
        feature_spec = FeatureSpec.load(spec)
        with console.status(f"training {family} on {data}"):
            trained = fit(load_table(data), feature_spec, family=family, seed=seed)
    except CampaignLiftError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    rep = trained.cleaning
    console.print(
        f"cleaning: {rep.rows_in} rows in, {rep.rows_out} out; duplicates dropped "
        f"{rep.duplicate_rows_dropped}; bad targets dropped {rep.bad_target_rows_dropped}; "
        f"missing {sum(rep.missing_values.values())}; invalid {sum(rep.invalid_values.values())}"
    )
    table = Table(
        title=f"held-out metrics ({len(trained.holdout)} rows), parity "
        f"{trained.parity_max_abs_diff:.1e}"
    )
    for col in ("target", "AUC", "log loss", "Brier", "base rate"):
        table.add_column(col, justify="right")
    for target, m in trained.metrics.items():
        table.add_row(
            target,
            f"{m.get('auc', float('nan')):.4f}",
            f"{m['log_loss']:.4f}",
            f"{m['brier']:.4f}",
            f"{m['base_rate']:.4f}",
        )
    console.print(table)
    if register_version:
        settings = Settings()
        settings.ensure_dirs()
        store = open_store(settings.database_url)
        version = register(store, trained, settings.artifact_dir, source="file", data=str(data))
        console.print(f"registered model version {version.version} ({version.sha256[:12]})")
        if promote:
            set_stage(store, PRODUCTION, version.version, actor="cli", reason="train --promote")
            console.print(f"production -> version {version.version}")


@app.command()
def score(
    user: Annotated[str, typer.Option(help='User features as JSON, e.g. {"age": 30}.')],
    candidates: Annotated[str, typer.Option(help="JSON object: campaign id -> features.")],
    unit_id: Annotated[str, typer.Option(help="Unit (user) id.")] = "cli-user",
    experiment: Annotated[str, typer.Option()] = "",
    target: Annotated[str, typer.Option(help="Server address.")] = "127.0.0.1:50051",
) -> None:
    """Score candidate campaigns for one user and print the decision."""
    import grpc

    from clients.client import CampaignLiftClient, UserRequest

    request = UserRequest(
        unit_id=unit_id,
        user_features=json.loads(user),
        candidates=list(json.loads(candidates).items()),
        experiment=experiment,
    )
    with CampaignLiftClient(target) as client:
        try:
            result = client.score(request)
        except grpc.RpcError as exc:
            console.print(f"[red]{exc.code().name}[/red]: {exc.details()}")
            raise typer.Exit(1) from exc
    table = Table(
        title=f"decision {result.decision.decision_id} (model {result.decision.model_version})"
    )
    for col in ("campaign", "probability", "uplift", "propensity"):
        table.add_column(col)
    for c in result.candidates:
        table.add_row(
            c.campaign_id,
            json.dumps({k: round(v, 4) for k, v in c.probability.items()}),
            json.dumps({k: round(v, 4) for k, v in c.uplift.items()}),
            f"{c.propensity:.3f}",
        )
    console.print(table)
    d = result.decision
    console.print(
        f"chosen: {d.campaign_id or 'no campaign'} (p={d.propensity:.3f}, policy {d.policy})"
    )


@app.command()
def demo(
    workdir: Annotated[
        Path, typer.Option(help="Folder for the demo's store and artifacts.")
    ] = Path(".demo"),
    decisions: Annotated[int, typer.Option(help="Simulated decisions.")] = 60_000,
    retrain_after: Annotated[int, typer.Option(help="Retrain after this many outcomes.")] = 3_000,
) -> None:
    """The closed loop on SQLite: train, serve, simulate, retrain, and print what it learned."""
    from clients.demo import DemoConfig, print_summary, run_demo

    logging.basicConfig(level="WARNING")
    summary = run_demo(
        DemoConfig(workdir=workdir, decisions=decisions, retrain_after_outcomes=retrain_after),
        console,
    )
    print_summary(summary, console)
    if len(summary.retrained) < 2 or not summary.learned_beats_random():
        console.print(
            "[red]the loop did not learn: fewer than two retrains or no gain over random[/red]"
        )
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
