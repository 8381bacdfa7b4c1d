"""The committed specs load and train on their real data; a typo in a spec names the column."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
import pandas as pd
import pytest

from common.errors import InvalidArgument
from tests.conftest import ROOT, require_shared_data
from trainer.data import clean
from trainer.spec import FeatureSpec
from trainer.train import train


def test_every_committed_training_spec_loads() -> None:
    for name in ("hillstrom", "simulated", "obd-men"):
        spec = FeatureSpec.load(ROOT / "specs" / f"{name}.toml")
        assert spec.targets and spec.features


def test_a_spec_with_a_typo_names_the_bad_column(tmp_path: Path, history) -> None:  # type: ignore[no-untyped-def]
    text = (ROOT / "specs" / "simulated.toml").read_text()
    typo = tmp_path / "typo.toml"
    typo.write_text(text.replace("sessions_30d =", "sesions_30d ="))
    spec = FeatureSpec.load(typo)
    with pytest.raises(InvalidArgument, match=r"lacks columns \['sesions_30d'\]"):
        clean(history.head(50), spec)
    history.head(200).to_csv(tmp_path / "rows.csv", index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "clients.cli", "train", "--data", str(tmp_path / "rows.csv"),
         "--spec", str(typo), "--no-register"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "sesions_30d" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr


def test_a_spec_with_a_misspelt_revenue_hurdle_names_it(tmp_path: Path) -> None:
    text = (ROOT / "specs" / "hillstrom.toml").read_text()
    typo = tmp_path / "typo.toml"
    typo.write_text(text.replace('spend = "conversion"', 'spend = "convertion"'))
    with pytest.raises(InvalidArgument, match="got 'convertion'"):
        FeatureSpec.load(typo)


def test_obd_spec_trains_on_the_sample_with_time_ordered_search() -> None:
    data = pd.read_csv(require_shared_data("obd/random/men/men.csv"))
    spec = FeatureSpec.load(ROOT / "specs" / "obd-men.toml")
    model = train(data, spec, family="logreg", tune=True)
    assert model.parity_max_abs_diff <= 1e-5
    assert model.extra_lineage["tuning"]["click"]["folds"] == "time-ordered"
    # Columns skl2onnx would rename ("user-item_affinity_0") keep their names as graph inputs.
    inputs = [i.name for i in onnx.load_from_string(model.onnx_bytes).graph.input]
    assert inputs == list(spec.features) and "user-item_affinity_33" in inputs
    assert model.cleaning.rows_out == 10_000
