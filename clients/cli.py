"""The campaign-lift command-line tool."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from clients.experiments_cli import experiments_app, feedback_app
from clients.models_cli import app as models_app
from common.errors import CampaignLiftError, InvalidArgument
from common.settings import Settings

app = typer.Typer(
    help="Campaign Lift: predict, decide and learn campaign effects.", no_args_is_help=True
)
console = Console(width=100) if not Console().is_terminal else Console()
app.add_typer(models_app, name="models")
app.add_typer(experiments_app, name="experiments")
app.add_typer(feedback_app, name="feedback")


F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(command: F) -> F:
    """A person gets one line saying what is wrong, never a traceback, for the errors they can
    fix: bad input, bad settings, unreadable JSON, an unreachable store or a busy port."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CampaignLiftError as exc:
            console.print(f"[red]error:[/red] {exc.message}")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                for e in exc.errors()
            )
            console.print(f"[red]invalid settings:[/red] {problems}")
        except json.JSONDecodeError as exc:
            console.print(f"[red]invalid JSON:[/red] {exc}")
        raise typer.Exit(2)

    return wrapper  # type: ignore[return-value]


def _json_object(text: str, option: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise InvalidArgument(f"{option} must be a JSON object, got {type(value).__name__}")
    return value


def _settings(**overrides: object) -> Settings:
    """Settings from env vars, with the flags that were given on top."""
    return Settings.model_validate({k: v for k, v in overrides.items() if v is not None})


@app.command()
@friendly_errors
def serve(
    port: Annotated[int | None, typer.Option(help="gRPC port (env CAMPAIGN_LIFT_PORT).")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")] = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
    processes: Annotated[
        int,
        typer.Option(
            help="Server processes sharing the port (SO_REUSEPORT) under one supervisor; each "
            "has its own GIL. Process i serves metrics on metrics_port + i."
        ),
    ] = 1,
    retrain_worker: Annotated[
        bool | None,
        typer.Option(
            "--retrain-worker/--no-retrain-worker",
            help="Run a retrain worker as a supervised child (env CAMPAIGN_LIFT_RETRAIN_WORKER; "
            "default on). Off where workers run elsewhere.",
        ),
    ] = None,
) -> None:
    """Run the gRPC server (and a retrain worker beside it) until SIGTERM/SIGINT."""
    from server.runtime.app import serve as run
    from server.runtime.supervisor import supervise

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = _settings(
        port=port,
        host=host,
        database_url=database_url,
        log_level=log_level,
        retrain_worker=retrain_worker,
    )
    if processes == 1:
        run(settings)
        return
    code = supervise(settings, processes)
    if code:
        raise typer.Exit(code)


@app.command("retrain-worker")
@friendly_errors
def retrain_worker_command(
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")] = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Claim retrain jobs from the store and run them until SIGTERM/SIGINT (any number of
    workers may share a store: each job runs once)."""
    from trainer.worker import main as run_worker

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    code = run_worker(_settings(database_url=database_url, log_level=log_level))
    if code:
        raise typer.Exit(code)


@app.command()
def bench(
    quick: Annotated[bool, typer.Option(help="A short smoke run.")] = False,
    out: Annotated[Path | None, typer.Option(help="JSON file to write.")] = None,
    section: Annotated[list[str] | None, typer.Option(help="Run only these sections.")] = None,
    peer: Annotated[bool, typer.Option(help="Measure the MLServer peer if installed.")] = True,
) -> None:
    """Measure the server against the gRPC floor, in-process onnxruntime and MLServer."""
    from bench.context import BenchConfig
    from bench.run import run_bench

    run_bench(BenchConfig(quick=quick, sections=tuple(section or ()), peer=peer), out)


@app.command()
@friendly_errors
def train(
    data: Annotated[Path, typer.Option(help="CSV or Parquet file of logged data.")],
    spec: Annotated[Path, typer.Option(help="Feature spec (TOML), e.g. specs/hillstrom.toml.")],
    family: Annotated[str, typer.Option(help="logreg, tree, forest, hgb or mlp.")] = "hgb",
    register_version: Annotated[bool, typer.Option("--register/--no-register")] = True,
    promote: Annotated[bool, typer.Option(help="Point production at the new version.")] = False,
    seed: Annotated[int, typer.Option()] = 0,
    uplift: Annotated[
        str,
        typer.Option(help="Uplift method: s-learner, or transformed-outcome (not with logreg)."),
    ] = "s-learner",
    tune: Annotated[
        bool, typer.Option(help="Search a small hyperparameter grid by cross-validation.")
    ] = False,
    calibrate: Annotated[
        bool, typer.Option(help="Sigmoid calibration, kept where it lowers validation log loss.")
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(help="Write the evaluation report (Markdown) here; it is also registered."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Decision threshold of the report (default: the training base rate)."),
    ] = None,
) -> None:
    """Train on a file, export one ONNX graph, check parity, report held-out metrics, register."""
    from feedback.registry import PRODUCTION, set_stage
    from feedback.store import open_store
    from trainer.data import load_table
    from trainer.spec import FeatureSpec
    from trainer.train import register
    from trainer.train import train as fit

    feature_spec = FeatureSpec.load(spec)
    store = None
    if register_version:  # open the store first: an unreachable one fails before training
        settings = Settings()
        settings.ensure_dirs()
        store = open_store(settings.database_url)
    with console.status(f"training {family} on {data}"):
        trained = fit(
            load_table(data),
            feature_spec,
            family=family,
            seed=seed,
            uplift_method=uplift,
            tune=tune,
            calibrate=calibrate,
        )
    rep = trained.cleaning
    console.print(
        f"cleaning: {rep.rows_in} rows in, {rep.rows_out} out; duplicates dropped "
        f"{rep.duplicate_rows_dropped}; bad targets dropped {rep.bad_target_rows_dropped}; "
        f"missing {sum(rep.missing_values.values())}; invalid {sum(rep.invalid_values.values())}"
    )
    if rep.arms:
        console.print("rows per arm: " + ", ".join(f"{k!r}: {v}" for k, v in rep.arms.items()))
    for note in rep.notes:
        console.print(f"note: {note}")
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
    if report is not None:
        _write_report(trained, report, threshold)
    if store is not None:
        version = register(store, trained, settings.artifact_dir, source="file", data=str(data))
        console.print(
            f"registered model version {version.version} ({version.sha256[:12]}) in "
            f"{settings.database_url}, artifact in {settings.artifact_dir.resolve()}"
        )
        if promote:
            set_stage(store, PRODUCTION, version.version, actor="cli", reason="train --promote")
            console.print(f"production -> version {version.version}")


def _write_report(trained: Any, path: Path, threshold: float | None) -> None:
    """Evaluates, keeps the report for the registry (lineage "evaluation") and writes Markdown."""
    import shlex
    import sys

    from trainer.report import evaluation_report
    from trainer.report_text import render_markdown, summary_lines

    with console.status("evaluating: uplift, policy values, importance, segments"):
        data = evaluation_report(trained, threshold=threshold)
    trained.extra_lineage["evaluation"] = data
    command = "campaign-lift " + shlex.join(sys.argv[1:])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(data, command=command))
    targets = list(data["response"])
    for line in summary_lines(data, "conversion" if "conversion" in targets else targets[-1]):
        console.print(line)
    console.print(f"evaluation report written to {path}")


@app.command()
@friendly_errors
def score(
    user: Annotated[str, typer.Option(help='User features as JSON, e.g. {"age": 30}.')],
    candidates: Annotated[str, typer.Option(help="JSON object: campaign id -> features.")],
    unit_id: Annotated[str, typer.Option(help="Unit (user) id.")] = "cli-user",
    experiment: Annotated[str, typer.Option()] = "",
    target: Annotated[str, typer.Option(help="Server address.")] = "127.0.0.1:50051",
) -> None:
    """Score candidate campaigns for one user and print the decision."""
    import os

    import grpc

    from clients.client import CampaignLiftClient, UserRequest, credentials_from_env

    request = UserRequest(
        unit_id=unit_id,
        user_features=_json_object(user, "--user"),
        candidates=list(_json_object(candidates, "--candidates").items()),
        experiment=experiment,
    )
    token = os.environ.get("CAMPAIGN_LIFT_SCORING_TOKEN", "")
    with CampaignLiftClient(target, credentials=credentials_from_env(), token=token) as client:
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
@friendly_errors
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
