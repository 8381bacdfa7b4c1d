"""feedback.assignment against the vectors the real GrowthBook JS SDK wrote
(docs/growthbook-vectors.json), GrowthBook's published hash values, and the UTF-8 hashing it
replaced."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest

from feedback.assignment import (
    FNV_OFFSET,
    FNV_PRIME,
    bucket,
    bucket_v1,
    choose_variant,
    choose_variation,
    equal_weights,
    fnv1a32,
    gb_hash,
    get_bucket_ranges,
    growthbook_weights,
    in_namespace,
    utf16_units,
)
from tests.conftest import ROOT

VECTORS = json.loads((ROOT / "docs" / "growthbook-vectors.json").read_text(encoding="utf-8"))
PACKAGE_JSON = ROOT / "tests" / "feedback" / "growthbook" / "package.json"
# docs/assignment.md quotes these: of 500 non-ASCII ids (seeded, `non_ascii_ids`), how many the
# old UTF-8 hashing put in another variant than the SDK does.
MOVED_OF_500_TWO_WAY = 241
MOVED_OF_500_THREE_WAY = 297
# ... and how many hashing code points (GrowthBook's Python SDK) would: the ids with an emoji.
ASTRAL_OF_500 = 147
MOVED_OF_500_CODE_POINTS = 78


def cases(kind: str, keep: Callable[[dict[str, Any]], bool] = lambda c: True) -> Any:
    chosen = [c for c in VECTORS[kind] if keep(c)]
    return pytest.mark.parametrize("case", chosen, ids=[c["id"] for c in chosen])


def is_ascii(text: str) -> bool:
    return all(ord(ch) < 0x80 for ch in text)


def fnv1a32_utf8(text: str) -> int:
    """The hash this module replaced: FNV-1a over UTF-8 bytes (lone surrogates as CESU bytes)."""
    h = FNV_OFFSET
    for byte in text.encode("utf-8", "surrogatepass"):
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFF
    return h


def hash_utf8(seed: str, value: str, version: int) -> float:
    if version == 2:
        return (fnv1a32_utf8(str(fnv1a32_utf8(seed + value))) % 10000) / 10000
    return (fnv1a32_utf8(value + seed) % 1000) / 1000


def bucket_code_points(seed: str, value: str) -> float:
    """Hash v2 over code points, as GrowthBook's Python SDK does (`ord` per character)."""

    def fnv(text: str) -> int:
        h = FNV_OFFSET
        for ch in text:
            h = ((h ^ ord(ch)) * FNV_PRIME) & 0xFFFFFFFF
        return h

    return (fnv(str(fnv(seed + value))) % 10000) / 10000


def non_ascii_ids(count: int, seed: int = 500) -> list[str]:
    """Seeded, distinct ids like "Müller-4711": accented Latin, CJK or emoji, then a number."""
    rng = random.Random(seed)
    pools = ["éüñçøåßÉÜÑ", "用户张伟李娜東京사용자", "😀🚀🎉👍🏽🇫🇷"]
    ids: dict[str, None] = {}
    while len(ids) < count:
        pool = rng.choice(pools)
        name = "".join(rng.choice(pool) for _ in range(rng.randint(1, 4)))
        ids[f"{rng.choice(['', 'user-', 'M'])}{name}-{rng.randint(1, 99_999)}"] = None
    return list(ids)


# -- the vectors -----------------------------------------------------------------------------


def test_vectors_come_from_the_pinned_sdk() -> None:
    pinned = json.loads(PACKAGE_JSON.read_text())["dependencies"]["@growthbook/growthbook"]
    meta = VECTORS["metadata"]

    assert (meta["sdk"], meta["sdk_version"]) == ("@growthbook/growthbook", pinned)
    assert "generate_vectors.mjs" in meta["command"]
    assert {k: len(VECTORS[k]) for k in meta["kinds"]} == {
        "hash": 942,
        "bucket_ranges": 34,
        "choose_variation": 287,
        "in_namespace": 175,
        "experiment": 189,
    }


@cases("hash")
def test_strings_survive_json_unit_for_unit(case: dict[str, Any]) -> None:
    # JS wrote value.length; a lone surrogate lost or merged on the way would change it.
    assert len(utf16_units(case["value"])) == case["value_length"]


@cases("hash")
def test_hash_matches_the_sdk(case: dict[str, Any]) -> None:
    assert gb_hash(case["seed"], case["value"], case["version"]) == case["expected"]


@cases("hash", lambda c: c["version"] in (1, 2))
def test_bucket_wrappers_match_the_sdk(case: dict[str, Any]) -> None:
    ours = bucket if case["version"] == 2 else bucket_v1
    assert ours(case["seed"], case["value"]) == case["expected"]


@cases("bucket_ranges")
def test_bucket_ranges_match_the_sdk(case: dict[str, Any]) -> None:
    ranges = get_bucket_ranges(case["num_variations"], case.get("coverage"), case.get("weights"))
    assert [list(r) for r in ranges] == case["expected"]


@cases("choose_variation")
def test_choose_variation_matches_the_sdk(case: dict[str, Any]) -> None:
    ranges = [(start, end) for start, end in case["ranges"]]
    assert choose_variation(case["n"], ranges) == case["expected"]


@cases("in_namespace")
def test_in_namespace_matches_the_sdk(case: dict[str, Any]) -> None:
    name, start, end = case["namespace"]
    assert bucket_v1("__" + name, case["value"]) == case["hash"]
    assert in_namespace(case["value"], name, start, end) is case["expected"]


@cases("experiment", lambda c: c["value"] != "")
def test_sdk_run_is_hash_then_ranges_then_variation(case: dict[str, Any]) -> None:
    n = gb_hash(case["seed"], case["value"], case["hash_version"])
    assert n is not None
    ranges = get_bucket_ranges(case["num_variations"], case.get("coverage"), case.get("weights"))
    ns = case.get("namespace")

    expected = -1 if ns and not in_namespace(case["value"], *ns) else choose_variation(n, ranges)
    assert expected == case["variation_id"]
    assert case.get("bucket", n) == n


@cases("experiment", lambda c: c["value"] != "" and c["hash_version"] == 2)
def test_choose_variant_matches_the_sdk_run(case: dict[str, Any]) -> None:
    weights = case.get("weights", [1.0] * case["num_variations"])
    ns = case.get("namespace")

    ours = choose_variant(case["seed"], case["value"], weights, case.get("coverage", 1.0))
    if ns and not in_namespace(case["value"], *ns):
        ours = None
    assert ours == (None if case["variation_id"] < 0 else case["variation_id"])


def test_the_sdk_never_hashes_an_empty_id() -> None:
    empty = [c for c in VECTORS["experiment"] if c["value"] == ""]
    assert empty
    assert not any(c["in_experiment"] for c in empty)


# -- GrowthBook's published values and readable cases ----------------------------------------


@pytest.mark.parametrize(
    ("seed", "value", "version", "expected"),
    [
        ("seed", "a", 2, 0.0505),
        ("seed", "b", 2, 0.2696),
        ("foo", "ab", 2, 0.2575),
        ("", "a", 1, 0.22),
        ("seed", "a", 0, None),
        ("seed", "a", 3, None),
    ],
    ids=["v2-seed-a", "v2-seed-b", "v2-foo-ab", "v1-empty-a", "v0-unknown", "v3-unknown"],
)
def test_growthbooks_published_values(
    seed: str, value: str, version: int, expected: float | None
) -> None:
    assert gb_hash(seed, value, version) == expected


def test_fnv1a32_known_values() -> None:
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("a", [0x61]),
        ("é", [0xE9]),  # one unit; UTF-8 has two bytes C3 A9
        ("e\u0301", [0x65, 0x301]),  # combining form: a different string, a different hash
        ("用", [0x7528]),
        ("😀", [0xD83D, 0xDE00]),  # astral: a surrogate pair
        ("\ud800", [0xD800]),  # lone surrogate: one unit as it is
        ("\udc00\ud800", [0xDC00, 0xD800]),
    ],
    ids=["ascii", "latin", "combining", "cjk", "emoji", "lone-high", "low-then-high"],
)
def test_fnv_runs_over_utf16_code_units(text: str, units: list[int]) -> None:
    assert list(utf16_units(text)) == units
    h = FNV_OFFSET
    for unit in units:
        h = ((h ^ unit) * FNV_PRIME) & 0xFFFFFFFF
    assert fnv1a32(text) == h


def test_surrogate_halves_pair_up_when_concatenated_as_in_js() -> None:
    # seed + value: "\ud83d" + "\ude00" is the units of "😀" in JS and here.
    assert gb_hash("\ud83d", "\ude00", 2) == gb_hash("", "😀", 2)
    assert fnv1a32("\ud83d" + "\ude00") == fnv1a32("😀")


def test_prime_is_the_sdks_shift_and_add() -> None:
    # util.ts: hval += (hval << 1) + (hval << 4) + (hval << 7) + (hval << 8) + (hval << 24);
    # JS shifts wrap to 32 bits and `>>> 0` reduces the sum mod 2**32: multiplication by
    # 1 + 2 + 16 + 128 + 256 + 2**24.
    def to_int32(x: int) -> int:
        x &= 0xFFFFFFFF
        return x - (1 << 32) if x >= 1 << 31 else x

    rng = random.Random(32)
    for _ in range(1_000):
        h = to_int32(rng.getrandbits(32))
        shifted = h + sum(to_int32(h << k) for k in (1, 4, 7, 8, 24))
        assert shifted % (1 << 32) == (h * FNV_PRIME) % (1 << 32)


def test_choose_variant_takes_relative_weights() -> None:
    assert growthbook_weights([1, 3]) == [0.25, 0.75]
    assert growthbook_weights([2, 1, 1]) == [0.5, 0.25, 0.25]
    assert growthbook_weights([1, 1, 1]) == equal_weights(3)
    # The SDK would take [1, 3] for equal weights ("must add up to 1"); we hand it fractions.
    assert get_bucket_ranges(2, 1.0, [1, 3]) == [(0.0, 0.5), (0.5, 1.0)]


def test_fractions_pass_through_so_boundaries_match_the_sdk() -> None:
    tenths = [0.1] * 10
    total = 0.0
    for w in tenths:
        total += w  # 0.9999999999999999, as the SDK's reduce sums it
    assert growthbook_weights(tenths) == tenths
    # The SDK's first range ends at 0.1, so bucket 0.1 is variant 1; dividing by the sum
    # would end it at 0.10000000000000002 and keep the unit in variant 0.
    unit = next(f"u{i}" for i in range(100_000) if bucket("tenths", f"u{i}") == 0.1)
    assert choose_variant("tenths", unit, tenths) == 1
    rescaled = get_bucket_ranges(10, 1.0, [w / total for w in tenths])
    assert choose_variation(0.1, rescaled) == 0


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ([], "must not be empty"),
        ([1, -1, 1], "finite and >= 0"),
        ([math.nan, 1], "finite and >= 0"),
        ([math.inf, 1], "finite and >= 0"),
        ([0, 0], "must not sum to 0"),
    ],
    ids=["empty", "negative", "nan", "inf", "zero-sum"],
)
def test_choose_variant_rejects_bad_weights(weights: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        choose_variant("salt", "user-1", weights)


def test_coverage_is_clamped_like_the_sdk() -> None:
    ids = [f"user-{i}" for i in range(2_000)]
    at_one = [choose_variant("clamp", u, [1, 1], coverage=1.0) for u in ids]

    assert [choose_variant("clamp", u, [1, 1], coverage=1.5) for u in ids] == at_one
    assert all(choose_variant("clamp", u, [1, 1], coverage=-0.5) is None for u in ids)


# -- UTF-8 hashing would not have matched ----------------------------------------------------


def test_utf8_hashing_agrees_on_ascii_and_fails_the_non_ascii_vectors() -> None:
    hashed = [c for c in VECTORS["hash"] if c["expected"] is not None]
    ascii_cases = [c for c in hashed if is_ascii(c["seed"] + c["value"])]
    other = [c for c in hashed if not is_ascii(c["seed"] + c["value"])]

    def utf8_agrees(c: dict[str, Any]) -> bool:
        return hash_utf8(c["seed"], c["value"], c["version"]) == c["expected"]

    assert len(ascii_cases) > 150 and len(other) > 500
    # Same bytes as units for ASCII: the UTF-8 reference is right, only the encoding differs.
    assert all(utf8_agrees(c) for c in ascii_cases)
    wrong = sum(not utf8_agrees(c) for c in other)
    assert wrong / len(other) > 0.95, f"UTF-8 hashing matched {len(other) - wrong} of {len(other)}"


def test_utf8_hashing_would_move_about_half_of_non_ascii_units() -> None:
    ids = non_ascii_ids(500)
    assert len(set(ids)) == 500 and not any(is_ascii(i) for i in ids)
    salt = "homepage-2024"

    def moved(weights: list[float], other: Callable[[str, str], float]) -> int:
        ranges = get_bucket_ranges(len(weights), 1.0, weights)
        return sum(
            choose_variation(bucket(salt, u), ranges) != choose_variation(other(salt, u), ranges)
            for u in ids
        )

    def utf8(seed: str, value: str) -> float:
        return hash_utf8(seed, value, 2)

    assert sum(bucket(salt, u) != utf8(salt, u) for u in ids) == 500
    assert moved([0.5, 0.5], utf8) == MOVED_OF_500_TWO_WAY
    assert moved([0.2, 0.3, 0.5], utf8) == MOVED_OF_500_THREE_WAY
    # Code points equal UTF-16 units except for astral characters (surrogate pairs).
    assert sum(bucket(salt, u) != bucket_code_points(salt, u) for u in ids) == ASTRAL_OF_500
    assert sum(any(ord(c) > 0xFFFF for c in u) for u in ids) == ASTRAL_OF_500
    assert moved([0.5, 0.5], bucket_code_points) == MOVED_OF_500_CODE_POINTS
