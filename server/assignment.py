"""Deterministic variant assignment: hash (salt, unit id) into [0, 1), then into weighted ranges.

The hash is GrowthBook's v2: fnv1a32(str(fnv1a32(salt + unit_id))) % 10000 / 10000, so
assignments are sticky, stateless and identical on every replica and in GrowthBook's SDKs.
Variants own contiguous ranges in their listed order, so changing weights only moves units near
the range boundaries.
"""

from __future__ import annotations

from collections.abc import Sequence

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193


def fnv1a32(text: str) -> int:
    h = FNV_OFFSET
    for byte in text.encode("utf-8", "surrogatepass"):
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFF
    return h


def bucket(salt: str, unit_id: str) -> float:
    """GrowthBook hash v2 of (salt, unit id): a number in [0, 1) with 4 decimals."""
    return (fnv1a32(str(fnv1a32(salt + unit_id))) % 10000) / 10000


def choose_variant(salt: str, unit_id: str, weights: Sequence[float]) -> int:
    """Index of the variant whose cumulative weight range holds the unit's bucket."""
    total = float(sum(weights))
    point = bucket(salt, unit_id) * total
    acc = 0.0
    for i, w in enumerate(weights):
        acc += w
        if point < acc:
            return i
    return len(weights) - 1
