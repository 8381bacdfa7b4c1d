"""The retrain job: train on the store's labelled decisions with production's recipe (or a
new selection), gate the candidate against production on decisions neither trained on by the
value of the decisions each would make (trainer/gate.py), promote when it is not worse."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import CampaignLiftError, FailedPrecondition
from common.settings import Settings
from feedback.decisions import count_decisions
from feedback.registry import (
    CANDIDATE,
    PRODUCTION,
    ModelVersion,
    get_version,
    set_stage,
    stage_version,
)
from feedback.store import Store
from feedback.training_data import labelled_decisions
from feedback.trigger import RetrainJob, finish_job
from trainer.arms import arms_of
from trainer.fingerprint import Fingerprint, content_hashes, fingerprint_path, id_hashes
from trainer.gate import GateResult, compare
from trainer.recipe import AUTO, Recipe
from trainer.selection import Objective
from trainer.spec import FeatureSpec
from trainer.train import TrainedModel, objective_of, register, train

log = logging.getLogger(__name__)

ADAPTIVE = "adaptive"

RECIPES = ("production", AUTO)
# The share of the rows the gate holds out while the data is small (as `campaign-lift train`).
HOLDOUT_SHARE = 0.25


@dataclass(frozen=True)
class RetrainConfig:
    artifact_dir: Path
    family: str = "hgb"  # for production versions that recorded no recipe
    objective: str = "conversion"
    attribution_window_s: float = 86_400.0
    # Decisions: the candidate may be worth this much less per decision and still be promoted.
    promotion_margin: float = 0.0
    # Log loss: the candidate's may be this much (relative) above production's.
    log_loss_guard: float = 0.05
    # Fewest held-out rows unseen by production that the gate compares on.
    min_gate_rows: int = 500
    # "production": production's recipe; "auto": selection by decision value again;
    # "adaptive": selection again once the rows have grown `reselect_growth`-fold since the
    # recipe in production was selected, production's recipe otherwise (a recipe pinned by
    # explicit flags, never selected, stays pinned).
    recipe: str = ADAPTIVE
    reselect_growth: float = 2.0
    # Most rows the gate holds out (a quarter of the data below that): a paired interval on
    # 50,000 decisions is already tight, and every held-out row is one the gated fit lacks.
    gate_max_rows: int = 50_000
    # Register the recipe refit on every row once the gate has judged the held-out fit, when
    # the held-out rows are more than `refit_min_share` of the data; below it the fit the gate
    # judged is registered (a refit would add little, cost a whole fit, and go ungated).
    refit: bool = True
    refit_min_share: float = 0.05

    @classmethod
    def from_settings(cls, settings: Settings) -> RetrainConfig:
        return cls(
            artifact_dir=settings.artifact_dir,
            family=settings.model_family,
            objective=settings.objective,
            attribution_window_s=settings.attribution_window_s,
            promotion_margin=settings.promotion_margin,
            log_loss_guard=settings.promotion_tolerance,
            min_gate_rows=settings.gate_min_rows,
            recipe=settings.retrain_recipe,
        )


@dataclass(frozen=True)
class RetrainResult:
    version: int
    promoted: bool
    objective: str
    gate: GateResult
    rows: int

    @property
    def candidate_log_loss(self) -> float:
        return self.gate.candidate_log_loss

    @property
    def production_log_loss(self) -> float:
        return self.gate.production_log_loss


def _production(store: Store) -> ModelVersion:
    prod_id = stage_version(store, PRODUCTION)
    if prod_id is None:
        raise FailedPrecondition("retrain needs a production model to take its schema from")
    return get_version(store, prod_id)


def not_ready_reason(store: Store, config: RetrainConfig) -> str | None:
    """Why a retrain could not be gated fairly yet, or None when it may be: the gate needs
    settled decisions production cannot have trained on — a quick count of those made after
    its training data ends; the job itself checks each decision against its fingerprint."""
    prod_id = stage_version(store, PRODUCTION)
    if prod_id is None:
        return "no production model to take the schema from"
    prod = get_version(store, prod_id)
    cutoff = datetime.now(UTC) - timedelta(seconds=config.attribution_window_s)
    unseen = count_decisions(store, after=_data_until(prod), before=cutoff)
    if unseen < 2 * config.min_gate_rows:
        return (
            f"only {unseen} labelled decisions are newer than production version "
            f"{prod.version}'s training data; the gate needs {2 * config.min_gate_rows}"
        )
    return None


def _data_until(version: ModelVersion) -> datetime:
    window = version.lineage.get("data_window")
    if window:
        return datetime.fromisoformat(window[1])
    return version.created_at


def store_spec(version: ModelVersion) -> FeatureSpec:
    """A version's spec for the store's labelled decisions: arms named by campaign id, the
    logged propensities, its revenue columns read from revenue outcomes."""
    spec = FeatureSpec.from_schema(version.feature_schema, version.targets, name="store")
    return dataclasses.replace(
        spec,
        treatment="campaign_id",
        propensity="propensity",
        revenue=dict(version.feature_schema.get("revenue", {})),
    )


def _recipe(prod: ModelVersion, config: RetrainConfig, rows: int) -> tuple[Recipe, int | None]:
    """The recipe a retrain fits, and the row count its selection was made on (carried
    forward when production's recipe is reused; None when a new selection will run)."""
    recorded = prod.lineage.get("recipe")
    recipe = Recipe.from_dict(recorded) if recorded else Recipe(family=config.family)
    selected_on = prod.lineage.get("selected_on_rows")
    reselect = config.recipe == AUTO or (
        config.recipe == ADAPTIVE
        and selected_on is not None
        and rows >= config.reselect_growth * int(selected_on)
    )
    if reselect:
        return dataclasses.replace(recipe, family=AUTO, learner=AUTO), None
    return recipe, selected_on


def _unseen_by(prod: ModelVersion, data: pd.DataFrame, spec: FeatureSpec) -> pd.Series:
    """Rows production did not train on, by its fingerprint; a version registered before
    fingerprints existed is taken to have seen everything up to its registration."""
    path = fingerprint_path(Path(prod.artifact_path))
    if not path.exists():
        return data["decided_at"] > prod.created_at
    fingerprint = Fingerprint.load(path)
    # Hash only what the fingerprint holds (ids, contents, or both): each costs a pass in Python.
    none = np.zeros(len(data), dtype=np.uint64)
    ids = id_hashes(data["decision_id"].tolist()) if len(fingerprint.ids) else none
    contents = content_hashes(data, spec) if len(fingerprint.contents) else none
    seen = fingerprint.seen(ids, contents)
    return pd.Series(~seen, index=data.index)


def _labelled(store: Store, spec: FeatureSpec, config: RetrainConfig) -> pd.DataFrame:
    cutoff = datetime.now(UTC) - timedelta(seconds=config.attribution_window_s)
    data = labelled_decisions(store, decided_before=cutoff)
    if data.empty:
        raise FailedPrecondition("no labelled decisions older than the attribution window yet")
    for target in spec.targets:  # the store labels by outcome type; targets may be named apart
        data[target] = data[spec.outcome_type(target)]
    for column in spec.revenue:
        data[column] = data["revenue"]
    data["campaign_id"] = data["campaign_id"].fillna("")
    return data


def retrain(
    store: Store, config: RetrainConfig, *, seed: int = 0, actor: str = "retrain"
) -> RetrainResult:
    """Trains a candidate on decisions older than the attribution window with production's
    recipe, holding out (for the gate) only decisions production never trained on, and
    promotes it when the gate says so."""
    prod = _production(store)
    spec = store_spec(prod)
    data = _labelled(store, spec, config)
    unseen = _unseen_by(prod, data, spec)
    if unseen.sum() < 2 * config.min_gate_rows:
        raise FailedPrecondition(
            f"only {int(unseen.sum())} labelled decisions are unseen by production version "
            f"{prod.version}; the gate needs {2 * config.min_gate_rows} to compare fairly"
        )
    recipe, selected_on = _recipe(prod, config, len(data))
    # The gate judges the fit that did not see its rows; the version registered is then
    # refit on every row (the gate's too), as `campaign-lift train` serves — unless the
    # held-out rows are too small a share for a refit to matter (RetrainConfig).
    share = min(HOLDOUT_SHARE, config.gate_max_rows / len(data))
    trained = train(
        data,
        spec,
        recipe=recipe,
        seed=seed,
        holdout_eligible=unseen,
        holdout_fraction=share,
        refit=config.refit and share > config.refit_min_share,
    )
    if selected_on is not None:
        trained.extra_lineage["selected_on_rows"] = selected_on
    goal = objective_of(trained.recipe, spec)
    gate = _gate(trained, prod, spec, goal, config)
    trained.extra_lineage["data_window"] = [
        data["decided_at"].min().isoformat(),
        data["decided_at"].max().isoformat(),
    ]
    trained.extra_lineage["gate"] = {
        **gate.as_dict(),
        "production_version": prod.version,
        "holdout_unseen_by_both": True,
        "registered_fit_rows": trained.final.rows,
    }
    version = register(
        store, trained, config.artifact_dir, source="store", parent_version=prod.version
    ).version
    set_stage(store, CANDIDATE, version, actor=actor, reason="retrained from feedback")
    if gate.promote:
        set_stage(store, PRODUCTION, version, actor=actor, reason=gate.summary())
    log.info("retrained version %d on %d rows (%s): %s", version, len(data), recipe, gate.summary())
    return RetrainResult(version, gate.promote, goal.name, gate, len(data))


def _gate(
    trained: TrainedModel,
    prod: ModelVersion,
    spec: FeatureSpec,
    goal: Objective,
    config: RetrainConfig,
) -> GateResult:
    rows = trained.holdout
    arms = arms_of(pd.concat([trained.training, rows]), spec)
    with open(prod.artifact_path, "rb") as fh:
        production = fh.read()
    prod_arms = [a["features"] for a in prod.feature_schema.get("arms", [])] or None
    cand_arms = [a["features"] for a in trained.schema.get("arms", [])] or None
    return compare(
        (trained.evaluated.onnx_bytes, cand_arms),
        (production, prod_arms),
        rows,
        spec,
        arms,
        goal,
        margin=config.promotion_margin,
        log_loss_guard=config.log_loss_guard,
    )


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
        message=f"v{result.version}: {result.gate.summary()}",
    )
    return result


__all__ = ["RECIPES", "RetrainConfig", "RetrainResult", "not_ready_reason", "retrain", "run_job"]
