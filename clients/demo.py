"""The main job: the closed loop on the embedded SQLite default, with a printed summary.

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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clients.client import CampaignLiftClient, wait_serving
from clients.loop import ClosedLoop, LoopReport
from clients.simulator import World
from common.errors import InvalidArgument
from feedback.experiments import Experiment, Variant, save_experiment
from feedback.importer import LogMapping, import_logged
from feedback.registry import PRODUCTION, ModelVersion, list_versions, set_stage
from feedback.store import open_store
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
    retrain_after_outcomes: int = 3_000
    batch_size: int = 250
    epsilon: float = 0.1
    family: str = "hgb"


@dataclass
class DemoSummary:
    report: LoopReport
    versions: list[ModelVersion]
    jobs: list[RetrainJob]

    @property
    def retrained(self) -> list[ModelVersion]:
        return [v for v in self.versions if v.lineage.get("source") == "store"]

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


def run_demo(config: DemoConfig, console: Console) -> DemoSummary:
    work = prepare_workdir(config.workdir)
    db_url = f"sqlite:///{work / 'store.db'}"
    artifacts = work / "artifacts"
    store = open_store(db_url)
    world = World()

    console.rule("1. history and the first model")
    history = world.history(config.history_rows)
    history.to_csv(work / "history.csv", index=False)
    spec = FeatureSpec.load(SPEC)
    trained = train(history, spec, family=config.family)
    first = register(store, trained, artifacts, source="file", data=str(work / "history.csv"))
    set_stage(store, PRODUCTION, first.version, actor="demo", reason="first model")
    # The randomized history is feedback too: retrains learn from it and from the loop's logs.
    imported, labelled = import_logged(
        store,
        history,
        LogMapping(
            row_id="decision_id",
            unit_id="unit_id",
            campaign_id="campaign_id",
            propensity="propensity",
            user_features=list(spec.user_features),
            campaign_features=list(spec.campaign_features),
            outcomes={"click": "click", "conversion": "conversion"},
            policy="uniform_random",
        ),
        decided_at=datetime.now(UTC) - timedelta(days=1),
    )
    console.print(f"history imported into the store: {imported} decisions, {labelled} outcomes")
    console.print(
        f"model version {first.version} ({config.family}) on {len(trained.training)} logged rows: "
        f"conversion AUC {trained.metrics['conversion'].get('auc', float('nan')):.3f}, "
        f"parity {trained.parity_max_abs_diff:.1e}"
    )
    save_experiment(
        store,
        Experiment(
            EXPERIMENT,
            salt="demo-2026",
            variants=(
                Variant("random", 1.0, {"type": "uniform_random"}),
                Variant("learned", 1.0, {"type": "epsilon_greedy", "epsilon": config.epsilon}),
            ),
        ),
    )

    console.rule("2. server and the closed loop")
    port = _free_port()
    env = {
        **os.environ,
        "CAMPAIGN_LIFT_DATABASE_URL": db_url,
        "CAMPAIGN_LIFT_ARTIFACT_DIR": str(artifacts),
        "CAMPAIGN_LIFT_PORT": str(port),
        "CAMPAIGN_LIFT_RETRAIN_AFTER_OUTCOMES": str(config.retrain_after_outcomes),
        "CAMPAIGN_LIFT_ATTRIBUTION_WINDOW_S": "2",
        "CAMPAIGN_LIFT_MODEL_FAMILY": config.family,
    }
    log_file = (work / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "clients.cli", "serve"], env=env, stdout=log_file, stderr=log_file
    )
    target = f"127.0.0.1:{port}"
    try:
        wait_serving(target, timeout_s=60)
        with CampaignLiftClient(target, timeout_s=30) as client:
            loop = ClosedLoop(client, world, experiment=EXPERIMENT)
            with Progress(
                TextColumn("simulated users"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("loop", total=config.decisions)
                report = loop.run(
                    config.decisions,
                    batch_size=config.batch_size,
                    progress=lambda n: bar.advance(task, n),
                )
        _wait_for_jobs(db_url, timeout_s=180)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log_file.close()
    return DemoSummary(report, list_versions(store), list_jobs(store))


def _wait_for_jobs(db_url: str, timeout_s: float) -> None:
    store = open_store(db_url, create=False)
    deadline = time.monotonic() + timeout_s
    while any(j.status == "running" for j in list_jobs(store)) and time.monotonic() < deadline:
        time.sleep(0.5)
    store.dispose()


def print_summary(summary: DemoSummary, console: Console) -> None:
    console.rule("3. summary")
    t = Table(title="Per variant; reward, oracle and regret are true P(conversion) per decision")
    for col in ("variant", "decisions", "none", "conv. rate", "reward", "oracle", "regret"):
        t.add_column(col, justify="right")
    for name, s in sorted(summary.report.by_variant.items()):
        t.add_row(
            name,
            f"{s.decisions}",
            f"{s.no_campaign / s.decisions:.1%}",
            f"{s.conversions / s.decisions:.4f}",
            f"{s.reward_per_decision:.4f}",
            f"{s.oracle_reward / s.decisions:.4f}",
            f"{s.regret_per_decision:.4f}",
        )
    console.print(t)
    served = Table(title="Learned variant per served model version (true P(conversion))")
    for col in ("model version", "decisions", "reward", "regret"):
        served.add_column(col, justify="right")
    learned_by_model = {
        m: st for (var, m), st in summary.report.by_model.items() if var == "learned"
    }
    for version, st in sorted(learned_by_model.items(), key=lambda kv: int(kv[0])):
        served.add_row(
            version,
            f"{st.decisions}",
            f"{st.reward_per_decision:.4f}",
            f"{st.regret_per_decision:.4f}",
        )
    console.print(served)
    timeline = Table(title="Reward per decision over time (windows of the loop)")
    for col in ("decisions", "learned", "random", "learned - random"):
        timeline.add_column(col, justify="right")
    done = 0
    for window in summary.report.timeline:
        n = sum(st.decisions for st in window.values())
        learned_w, random_w = window.get("learned"), window.get("random")
        if learned_w is None or random_w is None:
            continue
        timeline.add_row(
            f"{done + 1}-{done + n}",
            f"{learned_w.reward_per_decision:.4f}",
            f"{random_w.reward_per_decision:.4f}",
            f"{learned_w.reward_per_decision - random_w.reward_per_decision:+.4f}",
        )
        done += n
    console.print(timeline)
    v = Table(title="Model versions")
    for col in ("version", "parent", "source", "train rows", "conv. AUC", "log loss"):
        v.add_column(col, justify="right")
    for mv in summary.versions:
        m = mv.metrics.get("conversion", {})
        v.add_row(
            str(mv.version),
            str(mv.parent_version or "-"),
            mv.lineage.get("source", "?"),
            str(mv.lineage.get("rows_train", "?")),
            f"{m.get('auc', float('nan')):.3f}",
            f"{m.get('log_loss', float('nan')):.4f}",
        )
    console.print(v)
    j = Table(title="Retrain jobs")
    for col in ("job", "status", "version", "promoted", "detail"):
        j.add_column(col)
    for job in summary.jobs:
        j.add_row(
            str(job.id),
            job.status,
            str(job.result_version or "-"),
            "yes" if job.promoted else "no",
            job.message[:70],
        )
    console.print(j)
    r = summary.report
    console.print(f"outcomes sent {r.outcomes_sent}, stored {r.outcomes_accepted}")
    learned, random = r.by_variant.get("learned"), r.by_variant.get("random")
    if learned and random and random.reward_per_decision > 0:
        lift = learned.reward_per_decision / random.reward_per_decision - 1
        console.print(
            f"learned policy: {learned.reward_per_decision:.4f} expected conversions per decision "
            f"vs uniform random {random.reward_per_decision:.4f} ({lift:+.1%}); "
            f"{len(summary.retrained)} model versions retrained from feedback"
        )
