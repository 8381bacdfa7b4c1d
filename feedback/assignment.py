"""Variant assignment identical to GrowthBook's JS SDK: hashing, bucket ranges, namespaces.

FNV-1a runs over the UTF-16 code units of the string, as the JS SDK's `str.charCodeAt(i)` does,
not over UTF-8 bytes: an astral character (emoji) is two units and a lone surrogate one unit as
it is. GrowthBook's SDKs disagree here: JS, C# (`foreach (char c ...)`) and Flutter
(`codeUnitAt`) hash UTF-16 units, Python hashes code points (`ord`) and Go UTF-8 bytes, so an id
with a non-ASCII character can get another variant in another SDK, as one with the wrong hash
version does (growthbook/growthbook-c-sharp#37: v1 in C#, v2 in JS, split A/B tests). We follow
the reference JS SDK, which the others port and which runs in the browser; UTF-8 put 241 of 500
non-ASCII ids in the other variant of a 50/50 test (docs/assignment.md).
docs/growthbook-vectors.json, written by the real SDK, pins the behaviour for us and other SDKs.

`gb_hash`, `get_bucket_ranges`, `choose_variation` and `in_namespace` mirror the SDK's util.ts,
fallbacks and float arithmetic included; `bucket`, `bucket_v1` and `choose_variant` are what the
server calls.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193  # 1 + 2**1 + 2**4 + 2**7 + 2**8 + 2**24: the SDK's shift-and-add form
# Weights summing to 1 within float noise are GrowthBook fractions and pass through unchanged.
WEIGHT_SUM_TOLERANCE = 1e-9

_UTF16_NATIVE = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"

Range = tuple[float, float]


def utf16_units(text: str) -> memoryview:
    """The UTF-16 code units of `text`, JS's `charCodeAt` sequence: astral characters as
    surrogate pairs, lone surrogates kept as they are."""
    return memoryview(text.encode(_UTF16_NATIVE, "surrogatepass")).cast("H")


def fnv1a32(text: str) -> int:
    """FNV-1a 32-bit over the UTF-16 code units of `text` (the SDK's `hashFnv32a`)."""
    h = FNV_OFFSET
    for unit in utf16_units(text):
        h = ((h ^ unit) * FNV_PRIME) & 0xFFFFFFFF
    return h


def gb_hash(seed: str, value: str, version: int) -> float | None:
    """GrowthBook's `hash(seed, value, version)`.

    v2: ``fnv1a32(str(fnv1a32(seed + value))) % 10000 / 10000``;
    v1: ``fnv1a32(value + seed) % 1000 / 1000``; any other version: None.
    """
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def bucket(salt: str, unit_id: str) -> float:
    """GrowthBook hash v2 of (salt, unit id): a number in [0, 1) with 4 decimals."""
    return (fnv1a32(str(fnv1a32(salt + unit_id))) % 10000) / 10000


def bucket_v1(seed: str, unit_id: str) -> float:
    """GrowthBook hash v1: fnv1a32(unit id + seed) % 1000 / 1000 (used for namespaces)."""
    return (fnv1a32(unit_id + seed) % 1000) / 1000


def in_namespace(unit_id: str, namespace: str, start: float, end: float) -> bool:
    """GrowthBook's ``inNamespace(unit_id, [namespace, start, end])``: hash v1 of
    ("__" + namespace, unit id) in [start, end)."""
    return start <= bucket_v1("__" + namespace, unit_id) < end


def equal_weights(num_variations: int) -> list[float]:
    """GrowthBook's `getEqualWeights`: n copies of 1 / n, none for n <= 0."""
    if num_variations <= 0:
        return []
    return [1 / num_variations] * num_variations


def get_bucket_ranges(
    num_variations: int, coverage: float | None = None, weights: Sequence[float] | None = None
) -> list[Range]:
    """GrowthBook's `getBucketRanges`: range i is [c_i, c_i + coverage * w_i) where c_i is the
    sum of the weights before i.

    As in the SDK: coverage None means 1 and is clamped to [0, 1] (NaN passes through and
    makes every range empty); weights None, of the wrong length, or summing outside
    [0.99, 1.01] become equal weights; weights inside that band are used as they are, not
    rescaled, so the ranges may overlap 1 or leave a gap below it.
    """
    coverage = 1.0 if coverage is None else float(coverage)
    if coverage < 0:
        coverage = 0.0
    elif coverage > 1:
        coverage = 1.0
    equal = equal_weights(num_variations)
    # The SDK tests `weights || equal`: an empty list is not missing, it has the wrong length.
    chosen = equal if weights is None else [float(w) for w in weights]
    if len(chosen) != num_variations:
        chosen = equal
    total = _js_sum(chosen)
    if total < 0.99 or total > 1.01:
        chosen = equal
    ranges: list[Range] = []
    cumulative = 0.0
    for w in chosen:
        start = cumulative
        cumulative += w
        ranges.append((start, start + coverage * w))
    return ranges


def choose_variation(n: float, ranges: Sequence[Range]) -> int:
    """GrowthBook's `chooseVariation`: the first i with ranges[i][0] <= n < ranges[i][1], else
    -1."""
    for i, (start, end) in enumerate(ranges):
        if start <= n < end:
            return i
    return -1


def growthbook_weights(weights: Sequence[float]) -> list[float]:
    """The weights as fractions of their sum, as a GrowthBook experiment carries them.

    Weights that already sum to 1 within float noise are returned unchanged: dividing by a sum
    of 0.9999999999999999 would move the range ends by an ulp and, with hash values that are
    multiples of 1/10000, change the variant of units on a boundary (10 x 0.1: bucket 0.1).
    Give these to a GrowthBook SDK and it assigns exactly as `choose_variant` does.

    Raises
    ------
    ValueError
        When `weights` is empty, holds a negative or non-finite weight, or sums to 0.
    """
    values = [float(w) for w in weights]
    if not values:
        raise ValueError("weights must not be empty")
    if not all(math.isfinite(w) and w >= 0 for w in values):
        raise ValueError(f"weights must be finite and >= 0, got {list(weights)}")
    total = _js_sum(values)
    if total <= 0:
        raise ValueError(f"weights must not sum to 0, got {list(weights)}")
    if abs(total - 1.0) <= WEIGHT_SUM_TOLERANCE:
        return values
    return [w / total for w in values]


def choose_variant(
    salt: str, unit_id: str, weights: Sequence[float], coverage: float = 1.0
) -> int | None:
    """Index of the variant whose range holds the unit's bucket; None when coverage < 1 leaves
    the unit out.

    Exactly the SDK's ``chooseVariation(hash(salt, unit_id, 2), getBucketRanges(len(weights),
    coverage, growthbook_weights(weights)))``: range i is [start, start + coverage * share)
    where start is the sum of the shares before it, so changing coverage never moves a unit
    between variants. Weights are relative ([1, 3] is a 25/75 split).
    """
    ranges = get_bucket_ranges(len(weights), coverage, growthbook_weights(weights))
    chosen = choose_variation(bucket(salt, unit_id), ranges)
    return None if chosen < 0 else chosen


def _js_sum(values: Sequence[float]) -> float:
    # A plain left fold like the SDK's `reduce`: sum() of floats is compensated from Python 3.12.
    total = 0.0
    for v in values:
        total += v
    return total
