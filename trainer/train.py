"""Training: clean data → the recipe's effect learner per target (or a recipe chosen by decision
value) → bootstrap heads → one ONNX graph → parity → held-out metrics → the registry."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from common.errors import InvalidArgument
from common.graph import output_names
from feedback.rewards import default_objective
from trainer.arms import Arms, arms_of, logged_propensity
from trainer.data import CleaningReport, clean
from trainer.evaluate import binary_metrics
from trainer.export import compose_fitted, expected_outputs, parity, predict_onnx, session_for
from trainer.fingerprint import Fingerprint
from trainer.heads import fit_heads
from trainer.learners import LEARNERS, S_LEARNER, EffectData, FittedTarget, SLearnerFit
from trainer.pipeline import build_pipeline, snap_thresholds_to_float32
from trainer.recipe import AUTO, Recipe
from trainer.registration import code_version, register, write_artifact
from trainer.revenue import RevenueFit, fit_recipe_revenue
from trainer.selection import Objective, Progress, Selection, select
from trainer.spec import FeatureSpec
from trainer.tuning import CALIBRATION_METHOD, choose_calibration, search, with_calibration

log = logging.getLogger(__name__)

__all__ = ["TrainedModel", "code_version", "holdout_metrics", "register", "train", "write_artifact"]


@dataclass(frozen=True)
class Fit:
    """One fit of a recipe: the learner per target, the objective's heads, the revenue
    models, and the graph they export to (parity-checked)."""

    fitted: dict[str, FittedTarget]
    heads: dict[str, list[FittedTarget]]
    revenue: dict[str, RevenueFit]
    onnx_bytes: bytes
    parity: float
    rows: int


@dataclass
class TrainedModel:
    """A fitted, exported and parity-checked model, not yet registered.

    `evaluated` is the fit on the training rows that the held-out metrics and the evaluation
    report describe; `final` is what is served: the same fit, or with `refit` the same recipe
    fitted again on every row, the held-out ones too."""

    spec: FeatureSpec
    recipe: Recipe
    evaluated: Fit
    final: Fit
    metrics: dict[str, dict[str, float]]
    cleaning: CleaningReport
    holdout: pd.DataFrame
    training: pd.DataFrame
    arms: Arms
    extra_lineage: dict[str, Any] = field(default_factory=dict)
    selection: Selection | None = None

    @property
    def refit(self) -> bool:
        return self.final is not self.evaluated

    def fingerprint(self) -> Fingerprint:
        """The rows the served fit trained on (the held-out ones too after a refit)."""
        rows = pd.concat([self.training, self.holdout]) if self.refit else self.training
        return Fingerprint.of(rows, self.spec)

    @property
    def onnx_bytes(self) -> bytes:
        return self.final.onnx_bytes

    @property
    def parity_max_abs_diff(self) -> float:
        return max(self.final.parity, self.evaluated.parity)

    @property
    def fitted(self) -> dict[str, FittedTarget]:
        return self.final.fitted

    @property
    def heads(self) -> dict[str, list[FittedTarget]]:
        return self.final.heads

    @property
    def revenue(self) -> dict[str, RevenueFit]:
        return self.final.revenue

    @property
    def family(self) -> str:
        return self.recipe.family

    @property
    def uplift_method(self) -> str:
        return self.recipe.learner

    @property
    def pipelines(self) -> dict[str, Pipeline]:
        """The S-learner's response pipeline per target (empty for per-arm learners)."""
        return {t: f.response for t, f in self.fitted.items() if isinstance(f, SLearnerFit)}

    @property
    def effects(self) -> dict[str, Pipeline]:
        """The transformed outcome's effect regressor per target."""
        return {
            t: f.effect
            for t, f in self.fitted.items()
            if isinstance(f, SLearnerFit) and f.effect is not None
        }

    @property
    def sha256(self) -> str:
        import hashlib

        return hashlib.sha256(self.onnx_bytes).hexdigest()

    @property
    def schema(self) -> dict[str, Any]:
        """The feature schema with the campaign categories the model was trained on, the arms
        of per-arm learners, and the targets that have bootstrap heads."""
        schema = {
            **self.spec.schema(),
            "campaign_categories": campaign_categories(self.spec, self.training),
            "learner": self.recipe.learner,
            "heads": {t: len(h) for t, h in self.heads.items()},
        }
        if self.recipe.knows_arms:
            schema["arms"] = self.arms.as_schema()
        return schema


# Native threads per fit (OpenMP, BLAS). One: models here fit in seconds, and OpenMP threads
# spinning beside other busy processes (a server, a test run) slow a fit twenty-fold or more
# (measured: a 150-iteration HGB on 1,000 rows, 0.74 s on one thread, 18.6 s on two threads of
# a loaded 2-core machine).
THREADS = 1
# Selection cross-fits its candidates on at most this many training rows.
SELECTION_ROWS = 40_000
# The parity check compares scikit-learn and onnxruntime on at most this many held-out rows
# (a random sample): a graph that disagrees does so on thousands of rows, not on one in 10^5.
PARITY_ROWS = 20_000


def train(raw: pd.DataFrame, spec: FeatureSpec, **options: Any) -> TrainedModel:
    """Cleans `raw`, fits the recipe's learner per target, exports and checks one graph.

    Options: `family` (a family, or "auto") and `uplift_method` (a learner, or "auto"), `tune`,
    `calibrate`, `heads` and `objective` make the recipe unless `recipe` is given; "auto"
    cross-fits the candidates and keeps the one whose greedy policy has the largest doubly
    robust value (trainer/selection.py). `heads` bootstrap replicates of the learner give the
    objective's `<t>_uplift_heads`. `holdout_fraction` of the rows (only among those of the
    boolean mask `holdout_eligible`, at most half of them) are held out for the metrics;
    `refit` fits the recipe again on every row for serving. `seed`, `threads`;
    `progress(what, done, total)` hears of each step (selection's candidates, the fits).
    """
    with threadpool_limits(limits=options.pop("threads", THREADS)), warnings.catch_warnings():
        # Quantile bins of a feature with few distinct values (0/1) collapse; sklearn drops
        # the empty ones and says so, harmlessly.
        warnings.filterwarnings("ignore", message="Bins whose width", category=UserWarning)
        return _train(raw, spec, **options)


def _train(
    raw: pd.DataFrame,
    spec: FeatureSpec,
    *,
    family: str = "hgb",
    seed: int = 0,
    holdout_fraction: float = 0.25,
    holdout_eligible: pd.Series | None = None,
    uplift_method: str = S_LEARNER,
    tune: bool = False,
    calibrate: bool = False,
    heads: int = 0,
    objective: str = "",
    recipe: Recipe | None = None,
    refit: bool = False,
    progress: Progress | None = None,
) -> TrainedModel:
    recipe = recipe or Recipe(family, uplift_method, tune, calibrate, heads, objective)
    recipe.check()
    raw = raw.assign(**{ELIGIBLE: True if holdout_eligible is None else holdout_eligible})
    data, report = clean(raw, spec)
    if len(data) < 20:
        raise InvalidArgument(f"too few rows to train ({len(data)} after cleaning)")
    check_control_values(data, spec)
    arms = arms_of(data, spec)
    train_df, holdout = _split(data, holdout_fraction, seed)
    for target in spec.targets:
        if len(np.unique(train_df[target])) < 2:
            raise InvalidArgument(f"target {target!r} has a single class in the training rows")
    goal = objective_of(recipe, spec)
    extra: dict[str, Any] = {}
    selection = None
    candidates = recipe.candidates() if recipe.automatic else []
    steps = len(candidates) + 1 + refit
    tell = progress or (lambda what, done, total: None)
    if recipe.automatic:
        rows = train_df
        if len(rows) > SELECTION_ROWS:  # selection's cost bounded; the chosen recipe sees all
            rows = rows.sample(SELECTION_ROWS, random_state=seed)
        selection = select(
            _effect_data(rows, spec, arms),
            goal,
            candidates,
            seed=seed,
            progress=lambda what, done, _: tell(what, done, steps),
        )
        chosen = selection.chosen
        recipe = recipe.chosen(chosen.family, chosen.learner, chosen.members)
        extra["selection"] = selection.as_dict()
        extra["selected_on_rows"] = len(train_df)
    tell(f"fitting {recipe} and exporting it", len(candidates), steps)
    evaluated = fit_recipe(recipe, _effect_data(train_df, spec, arms), goal, seed, holdout, extra)
    metrics = holdout_metrics(evaluated.onnx_bytes, holdout, spec)
    final = evaluated
    if refit:
        tell(f"refitting {recipe} on every row", steps - 1, steps)
        everything = pd.concat([train_df, holdout], ignore_index=True)
        final = fit_recipe(recipe, _effect_data(everything, spec, arms), goal, seed, holdout, {})
    tell("done", steps, steps)
    log.info("trained %s on %d rows; metrics %s", recipe, final.rows, metrics)
    extra["recipe"] = recipe.as_dict()
    return TrainedModel(
        spec=spec,
        recipe=recipe,
        evaluated=evaluated,
        final=final,
        metrics=metrics,
        cleaning=report,
        holdout=holdout,
        training=train_df,
        arms=arms,
        selection=selection,
        extra_lineage={k: v for k, v in extra.items() if v},
    )


def objective_of(recipe: Recipe, spec: FeatureSpec) -> Objective:
    """What selection and heads are about: the recipe's objective (a target, or a revenue
    column with its hurdle target), by default the deployment's default target."""
    name = recipe.objective or default_objective(spec.targets, "conversion")
    if name in spec.revenue:
        return Objective(spec.revenue[name], name)
    if name not in spec.targets:
        raise InvalidArgument(
            f"objective must be one of {[*spec.targets, *spec.revenue]}, got {name!r}"
        )
    return Objective(name)


def _effect_data(frame: pd.DataFrame, spec: FeatureSpec, arms: Arms) -> EffectData:
    located = arms.locate(frame)
    arms = Arms(spec, arms.features, arms.names, located)
    propensity = logged_propensity(frame, spec, arms)
    return EffectData(frame.reset_index(drop=True), spec, arms, propensity)


def fit_recipe(
    recipe: Recipe,
    data: EffectData,
    goal: Objective,
    seed: int,
    check_rows: pd.DataFrame,
    extra: dict[str, Any],
) -> Fit:
    """Every target's learner, the heads, the revenue models, and their graph, whose parity
    with scikit-learn is checked on `check_rows` (at most PARITY_ROWS of them)."""
    fitted = _fit_targets(data, recipe, seed, extra)
    heads = fit_heads(recipe, data, goal.target, seed) if recipe.heads else {}
    revenue = {
        c: fit_recipe_revenue(data, c, recipe.amount_models, seed) for c in data.spec.revenue
    }
    onnx_bytes = compose_fitted(fitted, data.spec, revenue, heads).SerializeToString()
    if len(check_rows) > PARITY_ROWS:
        check_rows = check_rows.sample(PARITY_ROWS, random_state=seed)
    expected = expected_outputs(fitted, check_rows, data.spec, revenue, heads)
    gap = parity(onnx_bytes, expected, check_rows, data.spec, revenue)
    return Fit(fitted, heads, revenue, onnx_bytes, gap, len(data.frame))


def _fit_targets(
    data: EffectData, recipe: Recipe, seed: int, extra: dict[str, Any]
) -> dict[str, FittedTarget]:
    """The recipe's learner for every target (the S-learner tuned or calibrated on request)."""
    fitted: dict[str, FittedTarget] = {}
    for target in data.spec.targets:
        began = time.perf_counter()
        if recipe.learner == S_LEARNER and (recipe.tune or recipe.calibrate):
            y = data.y(target)
            pipeline = _fit_response(data.frame, y, data.spec, recipe, seed, extra, target)
            fitted[target] = SLearnerFit(data.spec, recipe.family, pipeline)
        else:
            fitted[target] = recipe.fit(data, target, seed)
        log.info("%s for %s in %.1f s", recipe, target, time.perf_counter() - began)
    return fitted


def _fit_response(
    train_df: pd.DataFrame,
    y: np.ndarray,
    spec: FeatureSpec,
    recipe: Recipe,
    seed: int,
    extra: dict[str, Any],
    target: str,
) -> Pipeline:
    """One target's S-learner pipeline: searched (`tune`), calibrated when that helps."""
    x = train_df[list(spec.features)]
    pipeline = build_pipeline(spec, recipe.family, seed, interactions=recipe.family == "logreg")
    if recipe.tune:
        time_column = train_df[spec.time] if spec.time else None
        pipeline, extra.setdefault("tuning", {})[target] = search(
            pipeline, recipe.family, x, y, time_column
        )
    if recipe.calibrate:
        keep, losses = choose_calibration(pipeline, x, y, seed)
        extra.setdefault("calibration", {})[target] = {
            "kept": keep,
            "method": CALIBRATION_METHOD,
            **losses,
        }
        if keep:
            return snap_thresholds_to_float32(with_calibration(pipeline).fit(x, y))
    return snap_thresholds_to_float32(pipeline if recipe.tune else pipeline.fit(x, y))


def campaign_categories(spec: FeatureSpec, data: pd.DataFrame) -> dict[str, list[str]]:
    """Per categorical campaign feature, the values seen in training (and the control value):
    the server refuses others, since the model cannot say what an unseen campaign does."""
    return {
        col: sorted({*data[col].unique().tolist(), str(spec.control[col])} - {""})
        for col, kind in spec.campaign_features.items()
        if kind == "categorical"
    }


def check_control_values(data: pd.DataFrame, spec: FeatureSpec) -> None:
    """Uplift is measured against the control: a control value the data never shows (a typo in
    the spec) would silently make every uplift meaningless."""
    for col, kind in spec.campaign_features.items():
        if kind != "categorical":
            continue
        control = str(spec.control[col])
        if not (data[col] == control).any():
            seen = sorted(data[col].unique().tolist())[:10]
            raise InvalidArgument(
                f"control value {control!r} of campaign feature {col!r} never occurs in the "
                f"data; values seen: {seen}"
            )


ELIGIBLE = "__holdout_eligible"
MIN_HOLDOUT_ROWS = 10


def _split(data: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    eligible = data.index[data[ELIGIBLE].to_numpy(bool)]
    size = int(fraction * len(data))
    if holdout_limited := size > len(eligible) // 2:
        size = len(eligible) // 2
    if size < MIN_HOLDOUT_ROWS:
        raise InvalidArgument(
            f"only {len(eligible)} rows may be held out; at least {2 * MIN_HOLDOUT_ROWS} needed"
        )
    rng = np.random.default_rng(seed)
    held = rng.choice(eligible, size=size, replace=False)
    mask = data.index.isin(held)
    if holdout_limited:
        log.info("holdout limited to %d of %d eligible rows", size, len(eligible))
    return data[~mask].drop(columns=ELIGIBLE), data[mask].drop(columns=ELIGIBLE)


def holdout_metrics(
    onnx_bytes: bytes, holdout: pd.DataFrame, spec: FeatureSpec
) -> dict[str, dict[str, float]]:
    """Metrics of the exported graph itself (what will be served) on held-out rows."""
    predictions = predict_onnx(session_for(onnx_bytes), holdout, spec)
    return {
        t: binary_metrics(holdout[t].to_numpy(), predictions[output_names(t)[0]])
        for t in spec.targets
    }


__all__ += ["AUTO", "LEARNERS"]
