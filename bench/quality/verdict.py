"""The decision-quality targets, judged on one run's results (`make bench-quality`):

- offline: the median share of the personalization gain over the worlds is at least 60%, and
  on every world the product's share is above every peer's (each Vowpal Wabbit config counts);
- closed loop: on every world the product's mean true value over all decisions is above every
  peer's, and its share over the last 20% of decisions is at least 40% (60% in the demo's
  world).

Reference rows (uniform random, best single arm, oracle) are not peers.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Any

REFERENCES = frozenset({"uniform random", "best single arm (truth)", "oracle (truth argmax)"})
PRODUCT_PREFIX = "campaign-lift"
OFFLINE_MEDIAN_SHARE = 0.6
LOOP_TAIL_SHARE = 0.4
LOOP_TAIL_SHARE_BY_WORLD = {"demo": 0.6}


@dataclass(frozen=True)
class Verdict:
    target: str
    world: str  # "" for a target over all worlds
    measured: str
    passed: bool

    @property
    def word(self) -> str:
        return "PASS" if self.passed else "MISS"


def is_product(row: dict[str, Any]) -> bool:
    return str(row["learner"]).startswith(PRODUCT_PREFIX)


def _split(rows: list[dict[str, Any]], mode: str) -> tuple[dict[str, Any] | None, list[Any]]:
    mine = [r for r in rows if r["mode"] == mode]
    product = next((r for r in mine if is_product(r)), None)
    peers = [r for r in mine if not is_product(r) and r["learner"] not in REFERENCES]
    return product, peers


def _above_peers(world: str, product: dict[str, Any], peers: list[Any], key: str) -> Verdict:
    mode = product["mode"]
    if not peers:
        return Verdict(f"{mode}: above every peer", world, "no peers ran", False)
    best = max(peers, key=lambda r: r[key])

    def fmt(v: float) -> str:
        return f"{v:+.0%}" if key == "share" else f"{v:.4g}"

    measured = f"{fmt(product[key])} vs {fmt(best[key])} ({best['learner']})"
    return Verdict(f"{mode}: above every peer", world, measured, product[key] > best[key])


def verdicts(results: dict[str, Any]) -> list[Verdict]:
    """Every target the results can judge: per world, then over all worlds."""
    out: list[Verdict] = []
    offline_shares: list[float] = []
    for world, entry in results["worlds"].items():
        if "skipped" in entry:
            continue
        rows = entry["rows"]
        product, peers = _split(rows, "offline")
        if product is not None:
            offline_shares.append(float(product["share"]))
            out.append(_above_peers(world, product, peers, "share"))
        product, peers = _split(rows, "closed-loop")
        if product is not None:
            out.append(_above_peers(world, product, peers, "value_all"))
            wanted = LOOP_TAIL_SHARE_BY_WORLD.get(world, LOOP_TAIL_SHARE)
            share = float(product["share"])
            out.append(
                Verdict(
                    f"closed-loop: share (last 20%) >= {wanted:.0%}",
                    world,
                    f"{share:+.0%}",
                    share >= wanted,
                )
            )
    if offline_shares:
        m = median(offline_shares)
        out.append(
            Verdict(
                f"offline: median share >= {OFFLINE_MEDIAN_SHARE:.0%}",
                "",
                f"{m:+.0%} over {len(offline_shares)} worlds",
                m >= OFFLINE_MEDIAN_SHARE,
            )
        )
    return out
