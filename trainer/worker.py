"""The retrain worker: its own process (`campaign-lift retrain-worker`, or a child that
`campaign-lift serve` supervises) that claims retrain jobs from the store and runs them, so
that no serving process imports or runs training code.

Every `retrain_poll_interval_s` a worker marks abandoned the jobs of workers that stopped
sending heartbeats, asks the trigger rules (feedback/trigger.py) whether a retrain is due and,
when one is and the gate can compare fairly, claims the job — one worker per window, however
many run — and runs it (trainer/retrain.py) while a thread stamps the job's heartbeat.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType

from common.errors import CampaignLiftError
from common.settings import Settings
from feedback.store import Store, open_store
from feedback.trigger import TriggerRules, abandon_stale_jobs, claim_retrain, heartbeat
from trainer.retrain import RetrainConfig, RetrainResult, not_ready_reason, run_job

log = logging.getLogger(__name__)

# Set by a supervising process to its pid: the worker stops when that parent is gone.
SUPERVISED_ENV = "CAMPAIGN_LIFT_SUPERVISOR_PID"


def trigger_rules(settings: Settings) -> TriggerRules:
    """The retrain trigger's rules from the settings (each off at 0)."""
    return TriggerRules(
        min_new_outcomes=settings.retrain_after_outcomes,
        max_production_age_s=settings.retrain_max_production_age_s,
        drift_tolerance=settings.retrain_drift_tolerance,
        drift_window_s=settings.retrain_drift_window_s,
        drift_lag_s=settings.attribution_window_s,
        drift_min_decisions=settings.retrain_drift_min_decisions,
    )


class _Heartbeat:
    """Stamps a job's heartbeat every `interval_s` until the block ends."""

    def __init__(self, store: Store, job_id: int, interval_s: float) -> None:
        self._store, self._job_id, self._interval_s = store, job_id, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                heartbeat(self._store, self._job_id)
            except CampaignLiftError as exc:  # the store is down: the next beat may pass
                log.warning("heartbeat of retrain job %d failed: %s", self._job_id, exc.message)


class RetrainWorker:
    """Claims and runs retrain jobs; any number may share a store."""

    def __init__(self, store: Store, settings: Settings, *, name: str = "") -> None:
        self._store = store
        self._settings = settings
        self._rules = trigger_rules(settings)
        self._config = RetrainConfig.from_settings(settings)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.jobs = 0

    def run_once(self) -> RetrainResult | None:
        """One poll: abandon stale jobs, claim a due job if the gate can run, run it."""
        s = self._settings
        abandon_stale_jobs(self._store, timeout_s=s.retrain_job_timeout_s)
        job = claim_retrain(
            self._store,
            rules=self._rules,
            worker=self.name,
            not_ready=lambda: not_ready_reason(self._store, self._config),
        )
        if job is None:
            return None
        self.jobs += 1
        with _Heartbeat(self._store, job.id, s.retrain_heartbeat_s):
            return run_job(self._store, job, self._config)

    def run(self, stop: threading.Event, parent: int | None = None) -> None:
        """Polls until `stop` is set (or, with `parent`, until that process is gone: a child
        of a server killed with SIGKILL must not outlive it); a failed poll is logged and the
        next one tries again."""
        if not self._rules.enabled:
            log.info("no retrain trigger rule is enabled: the worker idles")
        while not stop.wait(self._settings.retrain_poll_interval_s):
            if parent is not None and os.getppid() != parent:
                log.warning("the process that started this worker is gone: stopping")
                return
            if not self._rules.enabled:
                continue
            try:
                self.run_once()
            except CampaignLiftError as exc:
                log.warning("retrain poll failed: %s", exc.message)
            except Exception:
                log.exception("retrain poll crashed; the next poll tries again")


def main(settings: Settings | None = None) -> int:
    """Runs a worker until SIGTERM or SIGINT (`python -m trainer.worker`)."""
    settings = settings or Settings()
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    if settings.retrain_worker_nice:
        # Below the serving processes on shared cores: a retrain may wait, a Score may not.
        os.nice(settings.retrain_worker_nice)
    settings.ensure_dirs()
    store = open_store(settings.database_url)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    worker = RetrainWorker(store, settings)
    print(f"campaign-lift retrain worker {worker.name} on {store.location}", flush=True)
    # The supervisor's pid, not getppid(): a parent killed while this process was starting
    # has already left it to init, and must still be noticed.
    parent = os.environ.get(SUPERVISED_ENV, "")
    worker.run(stop, parent=int(parent) if parent.isdigit() else None)
    store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
