"""The product in the harness's closed loop, through its real parts: the first model trained
on the world's history (the default recipe) and the history imported into an SQLite store,
then `python -m server` with its supervised retrain worker; every batch is one ScoreBatch
call (the server's policy decides and logs each decision with its propensity), outcomes go
back through LogOutcomes, and the worker retrains and gates on its own trigger.

The harness keeps a simulated clock (5,000 decisions a day); the loop is paced so that one
simulated day is `day_s` real seconds, and the clock stops while a retrain job runs: in a
deployment a retrain of tens of seconds is a negligible share of a day of traffic, here it
would be a large one (`freeze_for_retrains=False` measures that compressed case instead).
The server's attribution window is a deployment's choice, set to the world's outcome delays:
a day where outcomes are delayed (a delayed outcome past it arrives late here too), a twentieth
of a day where they come at once; decisions younger than the window are left out of retrains,
as in production.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, select

from bench.quality.world import World
from clients.client import CampaignLiftClient, OutcomeEvent, UserRequest, wait_serving
from feedback.importer import LogMapping, import_logged
from feedback.models import RetrainJobRow
from feedback.registry import PRODUCTION, list_versions, set_stage
from feedback.store import open_store
from feedback.trigger import list_jobs
from trainer.spec import FeatureSpec
from trainer.train import register, train

ONE_DAY_S = 86_400.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ProductLoop:
    """A harness Learner (bench/quality/learner.py) backed by a real server process."""

    def __init__(
        self,
        *,
        policy: str | None = None,  # None: the server's default policy
        min_propensity: float = 0.01,
        epsilon: float = 0.05,
        heads: int | None = None,  # None: 8 for bootstrap_thompson, else none
        retrain_after_outcomes: int = 500,
        retrain_recipe: str | None = None,  # None: the server's default (adaptive)
        day_s: float = 6.0,
        decisions_per_day: int = 5_000,
        family: str = "auto",
        learner: str = "auto",
        immediate_window_days: float = 0.05,
        freeze_for_retrains: bool = True,
    ) -> None:
        self.policy, self.min_propensity, self.epsilon = policy, min_propensity, epsilon
        self.heads = heads if heads is not None else 8 * (policy == "bootstrap_thompson")
        self.retrain_after = retrain_after_outcomes
        self.retrain_recipe, self.day_s = retrain_recipe, day_s
        self.real_per_decision = day_s / decisions_per_day
        self.family, self.learner = family, learner
        self.immediate_window_days = immediate_window_days
        self.freeze_for_retrains = freeze_for_retrains
        self.frozen_s = 0.0
        self.name = f"campaign-lift {policy or 'default policy'} (real server)"
        self._decisions: dict[str, str] = {}
        self._batches = 0
        self._started = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._client: CampaignLiftClient | None = None
        self.work = Path(tempfile.mkdtemp(prefix="quality-loop-"))
        self.versions: list[int] = []
        self.jobs: list[str] = []

    # -- set-up --------------------------------------------------------------------------
    def fit(self, log: pd.DataFrame, world: World) -> None:
        self._world = world
        (self.work / "spec.toml").write_text(world.spec_toml())
        spec = FeatureSpec.load(self.work / "spec.toml")
        store = open_store(f"sqlite:///{self.work / 'store.db'}")
        trained = train(
            log,
            spec,
            family=self.family,
            uplift_method=self.learner,
            heads=self.heads,
            objective=world.revenue or world.target,
            refit=True,
        )
        version = register(store, trained, self.work / "artifacts", source="file")
        set_stage(store, PRODUCTION, version.version, actor="bench", reason="first model")
        outcomes = {"conversion": world.target}
        if world.revenue:
            outcomes["revenue"] = world.revenue
        mapping = LogMapping(
            row_id="decision_id",
            unit_id="unit_id",
            campaign_id="arm",
            no_campaign=world.arm_ids[world.no_campaign],
            propensity="propensity",
            user_features=list(spec.user_features),
            campaign_features=list(spec.campaign_features),
            outcomes=outcomes,
            policy="logged",
        )
        import_logged(store, log, mapping, decided_at=datetime.now(UTC) - timedelta(days=1))
        store.dispose()
        self._start_server()

    def _env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "CAMPAIGN_LIFT_DATABASE_URL": f"sqlite:///{self.work / 'store.db'}",
            "CAMPAIGN_LIFT_ARTIFACT_DIR": str(self.work / "artifacts"),
            "CAMPAIGN_LIFT_PORT": str(self._port),
            "CAMPAIGN_LIFT_HTTP_PORT": "-1",  # no console: it would want port 8080
            "CAMPAIGN_LIFT_METRICS_PORT": "-1",
            "CAMPAIGN_LIFT_OBJECTIVE": self._world.revenue or self._world.target,
            "CAMPAIGN_LIFT_ATTRIBUTION_WINDOW_S": str(self._window_s()),
            "CAMPAIGN_LIFT_RETRAIN_AFTER_OUTCOMES": str(self.retrain_after),
            "CAMPAIGN_LIFT_RETRAIN_POLL_INTERVAL_S": "0.5",
            "CAMPAIGN_LIFT_GATE_MIN_ROWS": "300",
            "CAMPAIGN_LIFT_MODEL_POLL_INTERVAL_S": "0.5",
        }
        for key in ("CAMPAIGN_LIFT_POLICY", "CAMPAIGN_LIFT_RETRAIN_RECIPE"):
            env.pop(key, None)  # the product's defaults unless this loop names its own
        if self.policy == "epsilon_greedy":
            env["CAMPAIGN_LIFT_POLICY"] = json.dumps({"type": self.policy, "epsilon": self.epsilon})
        elif self.policy is not None:
            config = {"type": self.policy, "min_propensity": self.min_propensity}
            env["CAMPAIGN_LIFT_POLICY"] = json.dumps(config)
        if self.retrain_recipe is not None:
            env["CAMPAIGN_LIFT_RETRAIN_RECIPE"] = self.retrain_recipe
        return env

    def _window_s(self) -> float:
        """The attribution window in real seconds: a day, or a short while without delays."""
        days = 1.0 if self._world.delay is not None else self.immediate_window_days
        return days * self.day_s

    def _start_server(self) -> None:
        self._port = _free_port()
        log = (self.work / "server.log").open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "server"], env=self._env(), stdout=log, stderr=log
        )
        target = f"127.0.0.1:{self._port}"
        wait_serving(target, timeout_s=120)
        self._client = CampaignLiftClient(target, timeout_s=60)
        self._store = open_store(f"sqlite:///{self.work / 'store.db'}")
        self._started = time.monotonic()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._store.dispose()
        if self._process is not None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(120)
            except subprocess.TimeoutExpired:
                self._process.kill()
        store = open_store(f"sqlite:///{self.work / 'store.db'}")
        self.versions = [v.version for v in list_versions(store)]
        self.jobs = [
            f"{j.status} {'promoted' if j.promoted else ''} {j.message}" for j in list_jobs(store)
        ]
        store.dispose()

    # -- the loop ------------------------------------------------------------------------
    def _running_job(self) -> bool:
        with self._store.transaction() as session:
            running = select(func.count()).where(RetrainJobRow.status == "running")
            return bool(session.scalar(running))

    def _wait_for_retrain(self) -> None:
        """Stops the simulated clock while the worker runs a job, then gives the servers one
        model poll to swap to what it promoted."""
        if not self._running_job():
            return
        start = time.monotonic()
        while self._running_job():
            time.sleep(0.2)
        time.sleep(1.0)
        waited = time.monotonic() - start
        self._started += waited
        self.frozen_s += waited

    def _pace(self, n: int) -> None:
        """Holds each batch to its slot of the paced clock (never faster than the world)."""
        if self.freeze_for_retrains:
            self._wait_for_retrain()
        due = self._started + self._batches * n * self.real_per_decision
        self._batches += 1
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def probabilities(self, users: pd.DataFrame, *, explore: bool = False) -> np.ndarray:
        assert self._client is not None
        world = self._world
        self._pace(len(users))
        campaigns = [
            (a.arm_id, a.features) for i, a in enumerate(world.arms) if i != world.no_campaign
        ]
        features = list(world.user_features)
        requests = [
            UserRequest(
                unit_id=str(u),
                user_features=dict(zip(features, row, strict=True)),
                candidates=campaigns,
            )
            for u, row in zip(
                users["unit_id"], users[features].itertuples(index=False), strict=True
            )
        ]
        results = self._client.score_batch(requests)
        probs = np.zeros((len(users), world.n_arms))
        lookup = {a: i for i, a in enumerate(world.arm_ids)}
        for k, (unit, result) in enumerate(zip(users["unit_id"], results, strict=True)):
            d = result.decision
            self._decisions[str(unit)] = d.decision_id
            arm = world.no_campaign if d.campaign_id is None else lookup[d.campaign_id]
            probs[k, arm] = 1.0  # the server decided; the harness takes its action as is
        return probs

    def update(
        self,
        users: pd.DataFrame,
        arm_index: np.ndarray,
        rewards: np.ndarray,
        propensities: np.ndarray,
    ) -> None:
        assert self._client is not None
        world = self._world
        events = []
        for unit, reward in zip(users["unit_id"], rewards, strict=True):
            if reward <= 0:
                continue
            decision = self._decisions[str(unit)]
            events.append(OutcomeEvent(f"{decision}:conversion", decision, "conversion"))
            if world.revenue:
                events.append(
                    OutcomeEvent(f"{decision}:revenue", decision, "revenue", float(reward))
                )
        if events:
            self._client.log_outcomes(events)
