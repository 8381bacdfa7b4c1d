"""feedback.assignment against the real GrowthBook JS SDK in Node, on 500 seeded random strings
(ASCII, BMP, astral, lone surrogates): hash v1/v2, bucket ranges, chooseVariation and
choose_variant. Needs node and npm with the registry reachable; required in CI."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import pytest

from feedback.assignment import (
    bucket,
    choose_variant,
    choose_variation,
    gb_hash,
    get_bucket_ranges,
    growthbook_weights,
    utf16_units,
)
from tests.conftest import IN_CI, ROOT

HERE = ROOT / "tests" / "feedback" / "growthbook"
PACKAGE = "@growthbook/growthbook"
PINNED = json.loads((HERE / "package.json").read_text())["dependencies"][PACKAGE]
SEEDS = ["", "seed", "homepage-2024", "ü-实验-😀"]
# Relative weights for choose_variant; the SDK gets growthbook_weights() of them.
WEIGHTS: list[tuple[list[float], float]] = [
    ([1, 1], 1.0),
    ([1, 3], 0.5),
    ([2, 3, 5], 0.4),
    ([0.1] * 10, 1.0),
    ([1, 1, 1], 1.0),
]
# Settings the SDK treats specially: weights not summing to 1, wrong length, coverage above 1.
RAW_SETTINGS: list[dict[str, Any]] = [
    {"num_variations": 2, "weights": [1, 3]},
    {"num_variations": 3, "coverage": 1.5, "weights": [0.5, 0.5]},
    {"num_variations": 4, "coverage": 0.25},
]


def unavailable(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"CI must run the live GrowthBook SDK comparison: {reason}")
    pytest.skip(reason)


def random_strings(count: int, seed: int = 20240601) -> list[str]:
    """Seeded strings of 0 to 40 ASCII, BMP, astral or mixed characters; every tenth with a lone
    surrogate inserted."""
    rng = random.Random(seed)

    def char(kind: str) -> str:
        if kind == "ascii":
            return chr(rng.randint(0x20, 0x7E))
        if kind == "bmp":
            cp = rng.randint(0xA0, 0xFFFF - 0x800)
            return chr(cp + 0x800 if cp >= 0xD800 else cp)  # skip the surrogate block
        return chr(rng.randint(0x10000, 0x10FFFF))

    out = []
    for i in range(count):
        kind = ("ascii", "bmp", "astral", "mixed")[i % 4]
        chars = [
            char(rng.choice(("ascii", "bmp", "astral")) if kind == "mixed" else kind)
            for _ in range(rng.randint(0, 40))
        ]
        if i % 10 == 9:
            chars.insert(rng.randint(0, len(chars)), chr(rng.randint(0xD800, 0xDFFF)))
        out.append("".join(chars))
    return out


@pytest.fixture(scope="module")
def node() -> str:
    found = {name: shutil.which(name) for name in ("node", "npm")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        unavailable(f"{' and '.join(missing)} not on PATH")
    return str(found["node"])


@pytest.fixture(scope="module")
def sdk_prefix(node: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    prefix = tmp_path_factory.mktemp("growthbook-sdk")
    npm = str(shutil.which("npm"))
    command = [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix)]
    try:
        subprocess.run(
            [*command, f"{PACKAGE}@{PINNED}"],
            capture_output=True,
            text=True,
            timeout=90,
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        unavailable(f"npm install {PACKAGE}@{PINNED} failed: {exc.stderr.strip()[-500:]}")
    except subprocess.TimeoutExpired:
        unavailable(f"npm install {PACKAGE}@{PINNED} took over 90 s (no registry?)")
    return prefix


@pytest.fixture(scope="module")
def values() -> list[str]:
    return random_strings(500)


@pytest.fixture(scope="module")
def settings() -> list[dict[str, Any]]:
    fractions = [
        {"num_variations": len(w), "coverage": c, "weights": growthbook_weights(w)}
        for w, c in WEIGHTS
    ]
    return fractions + RAW_SETTINGS


@pytest.fixture(scope="module")
def sdk(
    node: str,
    sdk_prefix: Path,
    values: list[str],
    settings: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("growthbook-live")
    cases, results = work / "cases.json", work / "results.json"
    # ensure_ascii: lone surrogates go as \udXXX escapes, which JSON.parse reads back as units.
    cases.write_text(json.dumps({"values": values, "seeds": SEEDS, "settings": settings}))
    script = HERE / "generate_vectors.mjs"
    args = ["--sdk-prefix", str(sdk_prefix), "--evaluate", str(cases), "--out", str(results)]
    run = subprocess.run([node, str(script), *args], capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        pytest.fail(f"{script.name} --evaluate failed ({run.returncode}): {run.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(results.read_text(encoding="utf-8"))
    return out


def test_the_sdk_is_the_pinned_version(sdk: dict[str, Any]) -> None:
    assert sdk["sdk_version"] == PINNED


def test_strings_reach_node_and_back_unit_for_unit(sdk: dict[str, Any], values: list[str]) -> None:
    assert [r["value"] for r in sdk["results"]] == values
    assert [r["length"] for r in sdk["results"]] == [len(utf16_units(v)) for v in values]
    assert sum(any(0xD800 <= ord(c) <= 0xDFFF for c in v) for v in values) == 50


@pytest.mark.parametrize("version", [1, 2])
def test_hash_matches_the_sdk_live(sdk: dict[str, Any], values: list[str], version: int) -> None:
    key = f"v{version}"
    wrong = [
        (value, seed, r[key][j], gb_hash(seed, value, version))
        for value, r in zip(values, sdk["results"], strict=True)
        for j, seed in enumerate(SEEDS)
        if gb_hash(seed, value, version) != r[key][j]
    ]
    assert not wrong, f"{len(wrong)} of {len(values) * len(SEEDS)} differ, e.g. {wrong[:3]!r}"


def test_bucket_ranges_match_the_sdk_live(
    sdk: dict[str, Any], settings: list[dict[str, Any]]
) -> None:
    ours = [
        [
            list(r)
            for r in get_bucket_ranges(s["num_variations"], s.get("coverage"), s.get("weights"))
        ]
        for s in settings
    ]
    assert ours == sdk["ranges"]


def test_choose_variation_matches_the_sdk_live(
    sdk: dict[str, Any], values: list[str], settings: list[dict[str, Any]]
) -> None:
    ranges = [
        get_bucket_ranges(s["num_variations"], s.get("coverage"), s.get("weights"))
        for s in settings
    ]
    wrong = [
        (value, SEEDS[j], k)
        for value, r in zip(values, sdk["results"], strict=True)
        for j, seed in enumerate(SEEDS)
        for k, rs in enumerate(ranges)
        if choose_variation(bucket(seed, value), rs) != r["variation"][j][k]
    ]
    assert not wrong, f"{len(wrong)} differ, e.g. {wrong[:3]!r}"


def test_choose_variant_matches_the_sdk_given_growthbook_weights(
    sdk: dict[str, Any], values: list[str]
) -> None:
    wrong = []
    for value, r in zip(values, sdk["results"], strict=True):
        for j, seed in enumerate(SEEDS):
            for k, (weights, coverage) in enumerate(WEIGHTS):
                theirs = r["variation"][j][k]
                ours = choose_variant(seed, value, weights, coverage)
                if ours != (None if theirs < 0 else theirs):
                    wrong.append((value, seed, weights, coverage))
    assert not wrong, f"{len(wrong)} differ, e.g. {wrong[:3]!r}"
    # Coverage < 1 in the settings: some units are left out, and the SDK agrees on which.
    left_out = sum(v < 0 for r in sdk["results"] for per_seed in r["variation"] for v in per_seed)
    assert left_out > 0
