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


def bucket_v1(seed: str, unit_id: str) -> float:
    """GrowthBook hash v1: fnv1a32(unit id + seed) % 1000 / 1000 (used for namespaces)."""
    return (fnv1a32(unit_id + seed) % 1000) / 1000


def in_namespace(unit_id: str, namespace: str, start: float, end: float) -> bool:
    """GrowthBook's inNamespace: hash v1 of ("__" + namespace, unit id) in [start, end)."""
    return start <= bucket_v1("__" + namespace, unit_id) < end


def choose_variant(
    salt: str, unit_id: str, weights: Sequence[float], coverage: float = 1.0
) -> int | None:
    """Index of the variant whose range holds the unit's bucket; None when coverage < 1 leaves
    the unit out. Ranges are GrowthBook's: [start, start + coverage * share) where the starts
    are the cumulative shares, so changing coverage never moves a unit between variants."""
    total = float(sum(weights))
    point = bucket(salt, unit_id)
    start = 0.0
    for i, w in enumerate(weights):
        share = w / total
        if start <= point < start + coverage * share:
            return i
        start += share
    # Rounding can leave the very top of [0, 1) outside the last range at full coverage.
    return len(weights) - 1 if coverage >= 1.0 else None
