"""`campaign-lift train`: fit on a file, print cleaning and metrics, report, register."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from clients.cli.common import cli_errors, console
from clients.render.training import cleaning_lines, metrics_table, selection_table
from common.settings import Settings

if TYPE_CHECKING:
    from feedback.store import Store
    from trainer.train import TrainedModel

Data = Annotated[Path, typer.Option(help="CSV or Parquet file of logged data.")]
Spec = Annotated[Path, typer.Option(help="Feature spec (TOML), e.g. specs/hillstrom.toml.")]
Family = Annotated[
    str,
    typer.Option(
        help="auto (selected by the value of the decisions each candidate implies), or one of "
        "logreg, gam, tree, forest, hgb, mlp."
    ),
]
Register = Annotated[bool, typer.Option("--register/--no-register")]
Promote = Annotated[bool, typer.Option(help="Point production at the new version.")]
Uplift = Annotated[
    str,
    typer.Option(
        help="Effect learner: auto (selected with the family), s-learner, t-learner, x-learner, "
        "dr-learner, or transformed-outcome (not with logreg)."
    ),
]
Refit = Annotated[
    bool,
    typer.Option(
        help="Serve the recipe refit on every row (the metrics are the held-out fit's); "
        "--no-refit serves the evaluated fit itself."
    ),
]
Heads = Annotated[
    int,
    typer.Option(
        min=0,
        help="Bootstrap replicates of the learner served beside it as <target>_uplift_heads "
        "(what the bootstrap_thompson policy draws from); 0: none.",
    ),
]
Tune = Annotated[bool, typer.Option(help="Search a small hyperparameter grid by cross-validation.")]
Calibrate = Annotated[
    bool, typer.Option(help="Sigmoid calibration, kept where it lowers validation log loss.")
]
Report = Annotated[
    Path | None,
    typer.Option(help="Write the evaluation report (Markdown) here; it is also registered."),
]
Threshold = Annotated[
    float | None,
    typer.Option(help="Decision threshold of the report (default: the training base rate)."),
]


@cli_errors
def train(
    data: Data,
    spec: Spec,
    family: Family = "auto",
    register_version: Register = True,
    promote: Promote = False,
    seed: Annotated[int, typer.Option()] = 0,
    uplift: Uplift = "auto",
    refit: Refit = True,
    heads: Heads = 0,
    tune: Tune = False,
    calibrate: Calibrate = False,
    report: Report = None,
    threshold: Threshold = None,
) -> None:
    """Train on a file, export one ONNX graph, check parity, report held-out metrics, register."""
    from trainer.data import load_table
    from trainer.spec import FeatureSpec
    from trainer.train import train as fit

    feature_spec = FeatureSpec.load(spec)
    # Open the store first: an unreachable one fails before minutes of training.
    settings, store = _open_registry() if register_version else (None, None)
    table = load_table(data)
    with _progress_bar() as tell:
        trained = fit(
            table,
            feature_spec,
            family=family,
            seed=seed,
            uplift_method=uplift,
            tune=tune,
            calibrate=calibrate,
            heads=heads,
            refit=refit,
            progress=tell,
        )
    console.print(f"recipe: {trained.recipe}")
    if trained.selection is not None:
        console.print(selection_table(trained.selection.as_dict()))
    for line in cleaning_lines(trained.cleaning):
        console.print(line)
    console.print(metrics_table(trained.metrics, len(trained.holdout), trained.parity_max_abs_diff))
    if report is not None:
        _write_report(trained, report, threshold)
    if settings is not None and store is not None:
        _register(store, settings, trained, data, promote)


@contextmanager
def _progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A bar over training's steps (selection's candidates, the fit, the refit)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("training", total=None)

        def tell(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        yield tell


def _open_registry() -> tuple[Settings, Store]:
    from feedback.store import open_store

    settings = Settings()
    settings.ensure_dirs()
    return settings, open_store(settings.database_url)


def _write_report(trained: TrainedModel, path: Path, threshold: float | None) -> None:
    """Evaluates, keeps the report for the registry (lineage "evaluation") and writes Markdown."""
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


def _register(
    store: Store, settings: Settings, trained: TrainedModel, data: Path, promote: bool
) -> None:
    from feedback.registry import PRODUCTION, set_stage
    from trainer.train import register

    version = register(store, trained, settings.artifact_dir, source="file", data=str(data))
    console.print(
        f"registered model version {version.version} ({version.sha256[:12]}) in "
        f"{settings.database_url}, artifact in {settings.artifact_dir.resolve()}"
    )
    if promote:
        set_stage(store, PRODUCTION, version.version, actor="cli", reason="train --promote")
        console.print(f"production -> version {version.version}")
