"""The family of seeded simulated worlds the decision-quality benchmark runs on.

    from bench.quality.worlds import WORLDS, make_world
    world = make_world("interaction", seed=0)
    log = world.log(60_000, np.random.default_rng(1))   # train the product on this
    users = world.users(20_000, np.random.default_rng(2))
    world.gain_share(users, probs)                     # 0: best single arm, 1: oracle

Worlds: threshold, interaction, negative, rare-arm, confounded, delayed, revenue (generated
shoppers, bench/quality/generated.py); latent (hidden user types, bench/quality/latent.py);
hillstrom (real covariates, random effects, bench/quality/hillstrom.py; unavailable without
the data file); demo (clients/simulator.py's formulas, bench/quality/demo.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bench.quality.demo import demo
from bench.quality.generated import FAMILIES
from bench.quality.hillstrom import hillstrom
from bench.quality.latent import latent
from bench.quality.world import (
    Arm,
    Delay,
    Response,
    World,
    WorldUnavailable,
    best_single,
    gain_share,
    policy_value,
)

__all__ = [
    "WORLDS",
    "Arm",
    "Delay",
    "Response",
    "World",
    "WorldUnavailable",
    "best_single",
    "gain_share",
    "make_world",
    "policy_value",
    "relative_gain",
]

# A generated world is kept only if personalizing is worth something: the oracle must beat
# the best single arm by MIN_GAIN of the latter on reference users (a margin above the 10% the
# benchmark promises, for sampling noise); otherwise it is redrawn from (seed, attempt + 1).
# This is a property of the world, not of any learner.
MIN_GAIN = 0.12
MAX_ATTEMPTS = 25
REFERENCE_USERS = 20_000


def relative_gain(world: World, users: int = REFERENCE_USERS) -> float:
    """(V(oracle) - V(best single)) / V(best single) on reference users of the world."""
    sample = world.users(users, np.random.default_rng([world.seed, 424242]))
    expected = world.expected(sample)
    _, single = best_single(expected)
    return float(expected.max(axis=1).mean() - single) / single


def redrawn(factory: Callable[[int, int], World]) -> Callable[[int], World]:
    """seed -> the first world from (seed, attempt), attempt = 0, 1, ... with a material gain."""

    def build(seed: int) -> World:
        for attempt in range(MAX_ATTEMPTS):
            world = factory(seed, attempt)
            if relative_gain(world) >= MIN_GAIN:
                if attempt:
                    world.notes["redrawn"] = f"{attempt} earlier draws had too little gain"
                return world
        raise RuntimeError(f"no world with a {MIN_GAIN:.0%} gain in {MAX_ATTEMPTS} draws")

    return build


WORLDS: dict[str, Callable[[int], World]] = {
    **{name: redrawn(factory) for name, factory in FAMILIES.items()},
    "latent": redrawn(latent),
    "hillstrom": redrawn(lambda seed, attempt: hillstrom(seed, attempt)),
    # Fixed formulas: its gain (about 13% of the best single arm) is what it is.
    "demo": demo,
}


def make_world(name: str, seed: int = 0) -> World:
    """The world `name` generated from `seed`.

    Raises
    ------
    KeyError
        `name` is not one of WORLDS (the message lists them).
    WorldUnavailable
        The world needs something absent here (the reason says what).
    """
    try:
        factory = WORLDS[name]
    except KeyError:
        raise KeyError(f"world {name!r} is not one of {sorted(WORLDS)}") from None
    return factory(seed)
