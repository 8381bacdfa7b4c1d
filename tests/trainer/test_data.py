"""Cleaning training data with a counted report, and feature specs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from common.errors import InvalidArgument
from trainer.data import clean
from trainer.spec import FeatureSpec

SPECS = Path(__file__).resolve().parents[2] / "specs"


def make_spec(**overrides: Any) -> FeatureSpec:
    values: dict[str, Any] = {
        "name": "tiny",
        "user_features": {"age": "numeric", "region": "categorical"},
        "campaign_features": {"discount_pct": "numeric", "campaign_type": "categorical"},
        "control": {"discount_pct": 0.0, "campaign_type": "none"},
        "targets": ("click",),
        "row_id": "decision_id",
    }
    values.update(overrides)
    return FeatureSpec(**values)


def dirty_frame() -> pd.DataFrame:
    rows = [
        # decision_id, age, region, discount_pct, campaign_type, click
        ("a", 30, "north", 10, "pct", 1),
        ("b", None, None, "abc", "pct", 0),  # missing age and region, invalid discount
        ("c", math.inf, "  ", 5, "bogo", 2),  # invalid age, blank region, bad target
        ("a", 40, "south", 0, "none", 1),  # duplicate decision id
        ("d", 25, "south", 0, "none", math.nan),  # missing target
        ("e", 50, "east", 15, "pct", "x"),  # non-numeric target
        ("f", "41", "west", 20, None, "1"),  # numbers as text, missing campaign type
    ]
    columns = ["decision_id", "age", "region", "discount_pct", "campaign_type", "click"]
    return pd.DataFrame(rows, columns=columns)


def test_clean_counts_and_types_everything() -> None:
    out, report = clean(dirty_frame(), make_spec())

    assert (report.rows_in, report.rows_out) == (7, 3)
    assert report.duplicate_rows_dropped == 1
    assert report.bad_target_rows_dropped == 3
    # Counted on the de-duplicated rows, before bad-target rows are dropped.
    assert report.missing_values == {"age": 1, "region": 2, "discount_pct": 0, "campaign_type": 1}
    assert report.invalid_values == {"age": 1, "discount_pct": 1}

    assert out["decision_id"].tolist() == ["a", "b", "f"]
    assert out["age"].dtype == np.float32
    assert out["discount_pct"].dtype == np.float32
    np.testing.assert_array_equal(out["age"], np.array([30, np.nan, 41], dtype=np.float32))
    np.testing.assert_array_equal(out["discount_pct"], np.array([10, np.nan, 20], dtype=np.float32))
    assert out["region"].tolist() == ["north", "", "west"]
    assert out["campaign_type"].tolist() == ["pct", "pct", ""]
    assert all(type(v) is str for col in ("region", "campaign_type") for v in out[col])
    assert out["click"].dtype == np.int64
    assert out["click"].tolist() == [1, 0, 1]


def test_clean_without_row_id_keeps_identical_rows_and_says_so() -> None:
    df = pd.DataFrame(
        {
            "age": [30, 30],
            "region": ["n", "n"],
            "discount_pct": [1, 1],
            "campaign_type": ["p", "p"],
            "click": [1, 1],
        }
    )

    out, report = clean(df, make_spec(row_id=None))

    assert len(out) == 2
    assert report.duplicate_rows_dropped == 0
    assert any("duplicates not checked" in note for note in report.notes)


@pytest.mark.parametrize("column", ["age", "region", "discount_pct", "campaign_type", "click"])
def test_clean_missing_required_column_names_it(column: str) -> None:
    df = dirty_frame().drop(columns=[column])

    with pytest.raises(InvalidArgument, match=rf"spec 'tiny' lacks columns \['{column}'\]"):
        clean(df, make_spec())


def test_clean_with_no_usable_rows_raises() -> None:
    df = dirty_frame()
    df["click"] = 7

    with pytest.raises(InvalidArgument, match="no usable rows left"):
        clean(df, make_spec())


INVALID_SPECS = [
    ({"user_features": {"age": "number"}}, r"feature 'age' kind must be one of .*'number'"),
    (
        {"campaign_features": {"discount_pct": "float"}, "control": {"discount_pct": 0.0}},
        "'discount_pct' kind",
    ),
    (
        {"user_features": {"discount_pct": "numeric"}},
        r"\['discount_pct'\] are both user and campaign",
    ),
    (
        {"control": {"discount_pct": 0.0}},
        r"control value missing for campaign features \['campaign_type'\]",
    ),
    ({"targets": ()}, "at least one target"),
]


@pytest.mark.parametrize(("overrides", "message"), INVALID_SPECS)
def test_invalid_spec_raises(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        make_spec(**overrides)


def test_load_hillstrom_spec() -> None:
    spec = FeatureSpec.load(SPECS / "hillstrom.toml")

    assert spec.name == "hillstrom"
    assert spec.targets == ("visit", "conversion")
    assert spec.treatment == "segment"
    assert spec.campaign_features == {"segment": "categorical"}
    assert spec.control == {"segment": "No E-Mail"}
    assert spec.user_features["recency"] == "numeric"
    assert spec.user_features["channel"] == "categorical"
    assert len(spec.features) == 9
    assert spec.row_id is None


def test_load_simulated_spec() -> None:
    spec = FeatureSpec.load(SPECS / "simulated.toml")

    assert spec.name == "simulated"
    assert spec.targets == ("click", "conversion")
    assert (spec.unit_id, spec.row_id, spec.treatment) == ("unit_id", "decision_id", "campaign_id")
    assert spec.campaign_features == {
        "campaign_type": "categorical",
        "discount_pct": "numeric",
        "duration_days": "numeric",
    }
    assert spec.control == {"campaign_type": "none", "discount_pct": 0.0, "duration_days": 0.0}
    assert set(spec.user_features) == {
        "age",
        "sessions_30d",
        "past_purchases",
        "avg_order_value",
        "gender",
        "region",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = ", "invalid TOML"),
        (
            'name = "x"\ntargets = ["visit"]\n[user_features]\n[campaign_features]\n[control]\n',
            "target 'visit' needs an outcome type",
        ),
    ],
)
def test_load_spec_errors_are_clear(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    with pytest.raises(InvalidArgument, match=message):
        FeatureSpec.load(path)
    with pytest.raises(InvalidArgument, match="cannot read it"):
        FeatureSpec.load(tmp_path / "absent.toml")


def test_load_spec_missing_key_names_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "broken"\n[user_features]\nage = "numeric"\n')

    with pytest.raises(InvalidArgument, match="missing key 'campaign_features'"):
        FeatureSpec.load(path)


def test_rows_without_row_id_are_kept_not_deduplicated() -> None:
    frame = pd.DataFrame(
        {
            "decision_id": ["", None, "a", "a"],
            "age": [30, 31, 32, 33],
            "region": ["n", "s", "e", "w"],
            "discount_pct": [0, 5, 10, 15],
            "campaign_type": ["none", "pct", "pct", "pct"],
            "click": [0, 1, 0, 1],
        }
    )
    out, report = clean(frame, make_spec())
    assert report.duplicate_rows_dropped == 1
    assert out["age"].tolist() == [30, 31, 32]
    assert any("2 rows have no decision_id" in n for n in report.notes)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_load_table_reads_csv_and_parquet(tmp_path: Path, suffix: str) -> None:
    from trainer.data import load_table

    frame = dirty_frame().astype({"age": str, "discount_pct": str, "click": str})
    path = tmp_path / f"logged{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    loaded = load_table(path)
    assert list(loaded.columns) == list(frame.columns) and len(loaded) == len(frame)
    _, report = clean(loaded, make_spec())
    assert report.rows_out == 3


def test_load_table_refuses_unknown_and_missing_files(tmp_path: Path) -> None:
    from trainer.data import load_table

    with pytest.raises(InvalidArgument, match="does not exist"):
        load_table(tmp_path / "absent.csv")
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(InvalidArgument, match=r"expected \.csv or \.parquet"):
        load_table(tmp_path / "data.json")
