"""The main job: the closed loop on the embedded SQLite default (summary: render/demo.py).

history → first model (CSV) → server (subprocess) → simulated users through an A/B experiment
(uniform random vs ε-greedy on predicted uplift) → outcomes → retrains from feedback → hot swaps.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from clients.client import CampaignLiftClient, wait_serving
from clients.loop import ClosedLoop, LoopReport
from clients.simulator import World
from common.errors import InvalidArgument
from common.settings import Settings
from feedback.experiments import Experiment, Variant, save_experiment
from feedback.importer import LogMapping, import_logged
from feedback.registry import PRODUCTION, ModelVersion, list_versions, set_stage
from feedback.store import Store, open_store
from feedback.trigger import RetrainJob, list_jobs
from trainer.spec import FeatureSpec
from trainer.train import register, train

SPEC = Path(__file__).resolve().parent.parent / "specs" / "simulated.toml"
EXPERIMENT = "demo"


@dataclass
class DemoConfig:
    workdir: Path
    decisions: int = 60_000
    history_rows: int = 4_000
    retrain_after_outcomes: int = 6_000
    batch_size: int = 250
    family: str = "auto"  # the defaults of `campaign-lift train`: selection by decision value
    learner: str = "auto"
    # The learned variant's policy; None: the deployment's default policy (Settings.policy).
    policy: dict[str, Any] | None = None


@dataclass
class DemoSummary:
    report: LoopReport
    versions: list[ModelVersion]
    jobs: list[RetrainJob]
    actions: list[str] = field(default_factory=list)  # campaigns, then "no campaign"
    paused_s: float = 0.0  # how long the simulated users waited for retrains

    @property
    def retrained(self) -> list[ModelVersion]:
        return [v for v in self.versions if v.lineage.get("source") == "store"]

    def learned_beats_best_single(self) -> bool:
        """The learned variant earned more than the one campaign best for all its users (the
        conclusion of a plain A/B test, by the world's truth)."""
        learned = self.report.by_variant.get("learned")
        return bool(learned and learned.reward_per_decision > learned.best_single[1])

    def learned_beats_random(self) -> bool:
        learned = self.report.by_variant.get("learned")
        random = self.report.by_variant.get("random")
        return bool(learned and random and learned.reward_per_decision > random.reward_per_decision)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


MARKER = ".campaign-lift-demo"


def prepare_workdir(path: Path) -> Path:
    """An empty folder for the demo. Only a folder the demo made itself (it holds the marker
    file) is cleared; any other non-empty folder is refused, never deleted."""
    work = path.resolve()
    if work.exists() and any(work.iterdir()):
        if not (work / MARKER).exists():
            raise InvalidArgument(
                f"--workdir {work} is not empty and was not made by the demo: refusing to clear it"
            )
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / MARKER).write_text("made by campaign-lift demo; the next demo run clears this folder\n")
    return work


def _first_model(
    store: Store, world: World, config: DemoConfig, work: Path, console: Console
) -> None:
    """Trains on a randomized history, makes it production and imports the history as feedback:
    retrains learn from it and from the loop's logs."""
    history = world.history(config.history_rows)
    history.to_csv(work / "history.csv", index=False)
    spec = FeatureSpec.load(SPEC)
    trained = train(history, spec, family=config.family, uplift_method=config.learner, refit=True)
    first = register(
        store, trained, work / "artifacts", source="file", data=str(work / "history.csv")
    )
    set_stage(store, PRODUCTION, first.version, actor="demo", reason="first model")
    mapping = LogMapping(
        row_id="decision_id",
        unit_id="unit_id",
        campaign_id="campaign_id",
        propensity="propensity",
        user_features=list(spec.user_features),
        campaign_features=list(spec.campaign_features),
        outcomes={"click": "click", "conversion": "conversion"},
        policy="uniform_random",
    )
    yesterday = datetime.now(UTC) - timedelta(days=1)
    imported, labelled = import_logged(store, history, mapping, decided_at=yesterday)
    console.print(f"history imported into the store: {imported} decisions, {labelled} outcomes")
    console.print(
        f"model version {first.version} ({trained.recipe}, selected by decision value) on "
        f"{len(trained.training)} logged rows: "
        f"conversion AUC {trained.metrics['conversion'].get('auc', float('nan')):.3f}, "
        f"parity {trained.parity_max_abs_diff:.1e}"
    )


def _save_experiment(store: Store, policy: dict[str, Any] | None) -> None:
    variants = (
        Variant("random", 1.0, {"type": "uniform_random"}),
        Variant("learned", 1.0, policy or Settings().policy_config()),
    )
    save_experiment(store, Experiment(EXPERIMENT, salt="demo-2026", variants=variants))


@contextmanager
def _server(work: Path, db_url: str, config: DemoConfig) -> Iterator[str]:
    """`campaign-lift serve` on the demo's store as a subprocess; yields its address once it
    serves, and stops it (SIGTERM: it drains) on the way out."""
    port = _free_port()
    env = {
        **os.environ,
        "CAMPAIGN_LIFT_DATABASE_URL": db_url,
        "CAMPAIGN_LIFT_ARTIFACT_DIR": str(work / "artifacts"),
        "CAMPAIGN_LIFT_PORT": str(port),
        "CAMPAIGN_LIFT_HTTP_PORT": "-1",  # no console: it would want port 8080
        "CAMPAIGN_LIFT_RETRAIN_AFTER_OUTCOMES": str(config.retrain_after_outcomes),
        "CAMPAIGN_LIFT_ATTRIBUTION_WINDOW_S": "2",
        "CAMPAIGN_LIFT_RETRAIN_POLL_INTERVAL_S": "0.5",
    }
    with (work / "server.log").open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "clients.cli", "serve"],
            env=env,
            stdout=log_file,
            stderr=log_file,
        )
        try:
            target = f"127.0.0.1:{port}"
            wait_serving(target, timeout_s=60)
            yield target
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


class RetrainPause:
    """Holds the simulated users back while the retrain worker runs a job, then one model
    poll longer, so the server swaps to what the job promoted. The demo compresses days of
    traffic into seconds; a deployment's retrain of tens of seconds is a small share of a day."""

    def __init__(self, db_url: str, poll_s: float = 1.0) -> None:
        self._store = open_store(db_url, create=False)
        self._poll_s = poll_s
        self.waited_s = 0.0

    def _running(self) -> bool:
        return any(j.status == "running" for j in list_jobs(self._store))

    def __call__(self) -> None:
        if not self._running():
            return
        start = time.monotonic()
        while self._running():
            time.sleep(0.2)
        time.sleep(self._poll_s)
        self.waited_s += time.monotonic() - start

    def close(self) -> None:
        self._store.dispose()


def _play(
    target: str, world: World, config: DemoConfig, console: Console, pause: RetrainPause
) -> LoopReport:
    """Simulated users through the experiment, with a progress bar."""
    columns = (
        TextColumn("simulated users"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with (
        CampaignLiftClient(target, timeout_s=30) as client,
        Progress(*columns, console=console) as bar,
    ):
        window = max(config.batch_size, config.decisions // 10)  # tenths: the last 20% is two
        loop = ClosedLoop(client, world, experiment=EXPERIMENT, window=window)
        task = bar.add_task("loop", total=config.decisions)
        return loop.run(
            config.decisions,
            batch_size=config.batch_size,
            progress=lambda n: bar.advance(task, n),
            pause=pause,
        )


def run_demo(config: DemoConfig, console: Console) -> DemoSummary:
    work = prepare_workdir(config.workdir)
    db_url = f"sqlite:///{work / 'store.db'}"
    store = open_store(db_url)
    world = World()
    console.rule("1. history and the first model")
    _first_model(store, world, config, work, console)
    _save_experiment(store, config.policy)
    console.rule("2. server and the closed loop")
    pause = RetrainPause(db_url)
    try:
        with _server(work, db_url, config) as target:
            report = _play(target, world, config, console, pause)
            _wait_for_jobs(db_url, timeout_s=180)
    finally:
        pause.close()
    actions = [c.campaign_id for c in world.campaigns] + ["no campaign"]
    return DemoSummary(report, list_versions(store), list_jobs(store), actions, pause.waited_s)


def _wait_for_jobs(db_url: str, timeout_s: float) -> None:
    store = open_store(db_url, create=False)
    deadline = time.monotonic() + timeout_s
    while any(j.status == "running" for j in list_jobs(store)) and time.monotonic() < deadline:
        time.sleep(0.5)
    store.dispose()
