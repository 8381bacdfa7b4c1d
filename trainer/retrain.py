"""The retrain job: train on the store's labelled decisions, gate against production, promote."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common.errors import CampaignLiftError, FailedPrecondition
from common.settings import Settings
from feedback.decisions import count_decisions
from feedback.registry import CANDIDATE, PRODUCTION, get_version, set_stage, stage_version
from feedback.store import Store
from feedback.training_data import labelled_decisions
from feedback.trigger import RetrainJob, finish_job
from trainer.spec import FeatureSpec
from trainer.train import holdout_metrics, register, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainConfig:
    artifact_dir: Path
    family: str = "hgb"
    objective: str = "conversion"
    attribution_window_s: float = 86_400.0
    promotion_tolerance: float = 0.0
    # Fewest held-out rows unseen by production that the gate compares on.
    min_gate_rows: int = 500

    @classmethod
    def from_settings(cls, settings: Settings) -> RetrainConfig:
        return cls(
            artifact_dir=settings.artifact_dir,
            family=settings.model_family,
            objective=settings.objective,
            attribution_window_s=settings.attribution_window_s,
            promotion_tolerance=settings.promotion_tolerance,
            min_gate_rows=settings.gate_min_rows,
        )


@dataclass(frozen=True)
class RetrainResult:
    version: int
    promoted: bool
    objective: str
    candidate_log_loss: float
    production_log_loss: float
    rows: int


def not_ready_reason(store: Store, config: RetrainConfig) -> str | None:
    """Why a retrain could not be gated fairly yet, or None when it can: the gate needs decisions
    made after production was registered and older than the attribution window."""
    prod_id = stage_version(store, PRODUCTION)
    if prod_id is None:
        return "no production model to take the schema from"
    prod = get_version(store, prod_id)
    cutoff = datetime.now(UTC) - timedelta(seconds=config.attribution_window_s)
    unseen = count_decisions(store, after=prod.created_at, before=cutoff)
    if unseen < 2 * config.min_gate_rows:
        return (
            f"only {unseen} labelled decisions are newer than production version "
            f"{prod.version}; the gate needs {2 * config.min_gate_rows} to compare fairly"
        )
    return None


def retrain(
    store: Store, config: RetrainConfig, *, seed: int = 0, actor: str = "retrain"
) -> RetrainResult:
    """Trains a candidate on decisions older than the attribution window, with production's
    feature schema and targets, and promotes it when its holdout log loss on the objective is
    not worse than production's on the same rows (plus `promotion_tolerance`)."""
    prod_id = stage_version(store, PRODUCTION)
    if prod_id is None:
        raise FailedPrecondition("retrain needs a production model to take its schema from")
    prod = get_version(store, prod_id)
    spec = FeatureSpec.from_schema(prod.feature_schema, prod.targets, name="store")
    cutoff = datetime.now(UTC) - timedelta(seconds=config.attribution_window_s)
    data = labelled_decisions(store, decided_before=cutoff)
    if data.empty:
        raise FailedPrecondition("no labelled decisions older than the attribution window yet")
    # The gate compares on decisions made after production was registered: rows production
    # cannot have trained on. Comparing on its own training rows would flatter it.
    unseen = data["decided_at"] > prod.created_at
    if unseen.sum() < 2 * config.min_gate_rows:
        raise FailedPrecondition(
            f"only {int(unseen.sum())} labelled decisions are newer than production version "
            f"{prod.version}; the gate needs {2 * config.min_gate_rows} to compare fairly"
        )
    for target in spec.targets:  # the store labels by outcome type; targets may be named apart
        data[target] = data[spec.outcome_type(target)]
    trained = train(data, spec, family=config.family, seed=seed, holdout_eligible=unseen)
    with open(prod.artifact_path, "rb") as fh:
        prod_metrics = holdout_metrics(fh.read(), trained.holdout, spec)
    target = config.objective if config.objective in spec.targets else spec.targets[0]
    cand_loss = trained.metrics[target]["log_loss"]
    prod_loss = prod_metrics[target]["log_loss"]
    promote = cand_loss <= prod_loss + config.promotion_tolerance
    trained.extra_lineage["data_window"] = [
        data["decided_at"].min().isoformat(),
        data["decided_at"].max().isoformat(),
    ]
    trained.extra_lineage["gate"] = {
        "objective": target,
        "candidate": trained.metrics,
        "production": prod_metrics,
        "production_version": prod.version,
        "holdout_rows": len(trained.holdout),
        "holdout_newer_than": prod.created_at.isoformat(),
        "promoted": promote,
    }
    version = register(
        store, trained, config.artifact_dir, source="store", parent_version=prod.version
    ).version
    set_stage(store, CANDIDATE, version, actor=actor, reason="retrained from feedback")
    if promote:
        reason = f"holdout log loss {cand_loss:.5f} vs production {prod_loss:.5f} ({target})"
        set_stage(store, PRODUCTION, version, actor=actor, reason=reason)
    log.info(
        "retrained version %d on %d rows: %s log loss %.5f vs production %.5f -> %s",
        version,
        len(data),
        target,
        cand_loss,
        prod_loss,
        "promoted" if promote else "kept",
    )
    return RetrainResult(version, promote, target, cand_loss, prod_loss, len(data))


def run_job(store: Store, job: RetrainJob, config: RetrainConfig) -> RetrainResult | None:
    """Runs a claimed job and records how it ended; a failure is recorded, never raised."""
    try:
        result = retrain(store, config, seed=job.id, actor=f"retrain-job-{job.id}")
    except CampaignLiftError as exc:
        log.warning("retrain job %d failed: %s", job.id, exc.message)
        finish_job(store, job.id, status="failed", message=exc.message)
        return None
    except Exception as exc:
        log.exception("retrain job %d crashed", job.id)
        finish_job(store, job.id, status="failed", message=f"{type(exc).__name__}: {exc}")
        return None
    finish_job(
        store,
        job.id,
        status="succeeded",
        result_version=result.version,
        promoted=result.promoted,
        message=f"{result.objective} log loss {result.candidate_log_loss:.5f} vs "
        f"{result.production_log_loss:.5f} on {result.rows} rows",
    )
    return result
