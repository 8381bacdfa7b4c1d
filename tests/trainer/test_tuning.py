"""Hyperparameter search (time-ordered folds with a time column) and calibration kept only
when it lowers validation log loss; calibrated graphs of every family pass parity."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import TimeSeriesSplit

from trainer.data import clean
from trainer.export import check_parity, compose
from trainer.pipeline import FAMILIES, build_pipeline, snap_thresholds_to_float32
from trainer.spec import FeatureSpec
from trainer.train import train
from trainer.tuning import GRIDS, choose_calibration, folds, with_calibration


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_exports_calibrated_with_parity(
    family: str, history, sim_spec: FeatureSpec
) -> None:
    data, _ = clean(history.head(1_500), sim_spec)
    pipeline = with_calibration(build_pipeline(sim_spec, family)).fit(
        data[list(sim_spec.features)], data["conversion"]
    )
    pipelines = {"conversion": snap_thresholds_to_float32(pipeline)}
    graph = compose(pipelines, sim_spec).SerializeToString()
    assert check_parity(graph, pipelines, data, sim_spec) <= 1e-5


def test_calibration_is_kept_when_it_lowers_log_loss_and_dropped_otherwise() -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=4_000).astype(np.float32)})
    y = (rng.uniform(size=4_000) < 1 / (1 + np.exp(2 - x["a"]))).astype(int).to_numpy()
    spec = FeatureSpec(
        name="calibration",
        user_features={"a": "numeric"},
        campaign_features={},
        control={},
        targets=("conversion",),
    )
    honest = build_pipeline(spec, "logreg")
    keep, losses = choose_calibration(honest, x, y)
    assert not keep and losses["raw_log_loss"] <= losses["calibrated_log_loss"]
    # Class weights inflate every probability of the rare class: calibration repairs that.
    skewed = build_pipeline(spec, "logreg").set_params(model__class_weight="balanced")
    keep, losses = choose_calibration(skewed, x, y)
    assert keep and losses["calibrated_log_loss"] < losses["raw_log_loss"] - 0.05


def test_search_uses_time_ordered_folds_when_the_spec_has_a_time_column(
    history, sim_spec: FeatureSpec
) -> None:
    rows = history.head(2_000).assign(
        logged_at=pd.date_range("2026-01-01", periods=2_000, freq="h").astype(str)
    )
    timed = dataclasses.replace(sim_spec, time="logged_at")
    model = train(rows, timed, family="tree", tune=True, calibrate=True)
    tuning = model.extra_lineage["tuning"]["conversion"]
    assert tuning["folds"] == "time-ordered"
    assert tuning["candidates"] == 4
    assert set(tuning["best_params"]) == {"max_depth", "min_samples_leaf"}
    fitted = model.pipelines["conversion"].named_steps["model"]
    calibration = model.extra_lineage["calibration"]["conversion"]
    tree = fitted.estimator if calibration["kept"] else fitted
    for name, value in tuning["best_params"].items():
        assert value in GRIDS["tree"][f"model__{name}"]
        assert tree.get_params()[name] == value
    assert model.parity_max_abs_diff <= 1e-5
    assert set(calibration) >= {"kept", "raw_log_loss", "calibrated_log_loss"}
    assert isinstance(folds(rows, rows["logged_at"]), TimeSeriesSplit)
    untimed = train(history.head(1_000), sim_spec, family="logreg", tune=True)
    assert untimed.extra_lineage["tuning"]["click"]["folds"] == "stratified"
