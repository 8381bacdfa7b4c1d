"""The cost of the defaults (`make bench-quality` prints it after the worlds' tables):

- `campaign-lift train` with its defaults (selection by decision value, refit on every row)
  on Hillstrom's 64,000 rows: target 60 s on 2 cores;
- a retrain on 1,000,000 logged decisions in the store (the demo world's schema: SQLite,
  labelled decisions loaded, fit, the gate on decisions production never trained on,
  registration): target 60 s with production's recipe reused, the common case under the
  adaptive rule; a retrain that selects its recipe again is timed beside it.

    python -m bench.quality.costs [--rows 1000000] [--no-hillstrom] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from clients.simulator import World
from feedback.importer import LogMapping, import_logged
from feedback.registry import PRODUCTION, set_stage
from feedback.store import open_store
from trainer.retrain import RetrainConfig, retrain
from trainer.spec import FeatureSpec
from trainer.train import register, train

ROOT = Path(__file__).resolve().parents[2]
HILLSTROM = ROOT.parent / "shared" / "data" / "hillstrom" / "hillstrom.csv"
TARGET_S = 60.0
console = Console() if Console().is_terminal else Console(width=150)


@dataclass
class Cost:
    what: str
    rows: int
    seconds: float
    target_s: float | None
    detail: str
    peak_rss_mb: float

    @property
    def verdict(self) -> str:
        if self.target_s is None:
            return ""
        return "PASS" if self.seconds <= self.target_s else "MISS"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def hillstrom_train() -> Cost | str:
    """`campaign-lift train`'s defaults on every Hillstrom row; the reason when absent."""
    if not HILLSTROM.exists():
        return f"Hillstrom skipped: {HILLSTROM} is not there (../shared/data)"
    spec = FeatureSpec.load(ROOT / "specs" / "hillstrom.toml")
    frame = pd.read_csv(HILLSTROM)
    began = time.perf_counter()
    trained = train(frame, spec, family="auto", uplift_method="auto", refit=True)
    seconds = time.perf_counter() - began
    auc = ", ".join(f"{t} AUC {m.get('auc', float('nan')):.4f}" for t, m in trained.metrics.items())
    return Cost(
        "campaign-lift train, defaults (Hillstrom)",
        len(frame),
        seconds,
        TARGET_S,
        f"{trained.recipe}; {auc}",
        _peak_rss_mb(),
    )


def _mapping(spec: FeatureSpec) -> LogMapping:
    return LogMapping(
        row_id="decision_id",
        unit_id="unit_id",
        campaign_id="campaign_id",
        propensity="propensity",
        user_features=list(spec.user_features),
        campaign_features=list(spec.campaign_features),
        outcomes={"click": "click", "conversion": "conversion"},
        policy="uniform_random",
    )


def retrain_costs(rows: int, first_rows: int = 20_000) -> list[Cost]:
    """A store holding `rows` logged decisions of the demo world and a production model
    trained with the defaults on `first_rows` other rows; one retrain with production's
    recipe, then one selecting again."""
    spec = FeatureSpec.load(ROOT / "specs" / "simulated.toml")
    world = World(n_users=200_000, seed=11)
    costs = []
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/store.db")
        first = train(world.history(first_rows, seed=1), spec, refit=True)
        version = register(store, first, Path(tmp) / "artifacts", source="file")
        set_stage(store, PRODUCTION, version.version, actor="bench", reason="first model")
        logged = world.history(rows, seed=2)
        logged["decision_id"] = "logged-" + logged["decision_id"].astype(str)
        began = time.perf_counter()
        import_logged(
            store, logged, _mapping(spec), decided_at=datetime.now(UTC) - timedelta(days=2)
        )
        loaded_s = time.perf_counter() - began
        for recipe, target in (("production", TARGET_S), ("auto", None)):
            # Each retrain starts from the first model (a promoted candidate saw every row).
            set_stage(store, PRODUCTION, version.version, actor="bench", reason="reset")
            config = RetrainConfig(artifact_dir=Path(tmp) / "artifacts", recipe=recipe)
            began = time.perf_counter()
            result = retrain(store, config)
            seconds = time.perf_counter() - began
            costs.append(
                Cost(
                    f"retrain, {'production' if recipe == 'production' else 'new selection'}"
                    " recipe",
                    result.rows,
                    seconds,
                    target,
                    f"v{result.version} {'promoted' if result.promoted else 'kept production'}"
                    f"; import of the log took {loaded_s:.0f} s (not counted)",
                    _peak_rss_mb(),
                )
            )
        store.dispose()
    return costs


def render(costs: list[Cost], notes: list[str]) -> None:
    table = Table(title="Cost of the defaults (2 cores)", title_justify="left")
    for col in ("what", "rows", "seconds", "target", "PASS/MISS", "peak RSS MB", "detail"):
        table.add_column(col, justify="left" if col in ("what", "detail") else "right")
    for c in costs:
        table.add_row(
            c.what,
            f"{c.rows:,}",
            f"{c.seconds:.1f}",
            f"≤ {c.target_s:.0f} s" if c.target_s else "",
            c.verdict,
            f"{c.peak_rss_mb:.0f}",
            c.detail,
        )
    console.print(table)
    for note in notes:
        console.print(note)


def main(argv: list[str] | None = None) -> list[Cost]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="logged decisions")
    parser.add_argument("--no-hillstrom", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    costs: list[Cost] = []
    notes: list[str] = []
    if not args.no_hillstrom:
        got = hillstrom_train()
        (notes.append(got) if isinstance(got, str) else costs.append(got))
    costs += retrain_costs(args.rows)
    render(costs, notes)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        rows = [{**asdict(c), "verdict": c.verdict} for c in costs]
        args.out.write_text(json.dumps({"costs": rows, "notes": notes}, indent=2))
    return costs


if __name__ == "__main__":
    main()
