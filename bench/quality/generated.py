"""Generated shopper worlds: each family draws its campaigns, base rate and effects from a seed.

Every world shares the shopper population of bench/quality/population.py and a base
conversion logit (random coefficients on the signals, intercept calibrated to a base rate of
3-8%); a campaign adds an effect to that logit. The families differ in the shape of the
effects and in how the log was collected:

- threshold: a campaign helps only above (or below) a threshold of one feature;
- interaction: the effect is a product of two features;
- negative: every campaign hurts a segment (a categorical level or a feature's tail);
- rare-arm: one campaign is logged with 3-5% probability yet is the best for a segment;
- confounded: the logging policy sends campaigns to likely buyers (propensity needed);
- delayed: outcomes arrive hours to days later, some beyond a one-day window;
- revenue: the reward is spend; discounts raise conversion but shrink the basket.

None of the sizes were tuned to a learner: the ranges are fixed, the draws come from the seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, softmax

from bench.quality import population as pop
from bench.quality.world import Arm, Delay, Response, World

Effect = Callable[[dict[str, np.ndarray]], np.ndarray]
REFERENCE_USERS = 20_000
FAMILY_SALT = {
    "threshold": 101,
    "interaction": 102,
    "negative": 103,
    "rare-arm": 104,
    "confounded": 105,
    "delayed": 106,
    "revenue": 107,
}


@dataclass(frozen=True)
class _Base:
    """The base conversion logit: intercept + coefficients on the signals."""

    intercept: float
    coefs: dict[str, float]

    def logit(self, sig: dict[str, np.ndarray]) -> np.ndarray:
        return self.intercept + pop.combine(self.coefs, sig)


def _start(
    family: str, seed: int, attempt: int, low: float = 0.03, high: float = 0.08
) -> tuple[Any, ...]:
    """The family's generator (from seed and attempt), a calibrated base, reference signals
    and the base rate."""
    rng = np.random.default_rng([FAMILY_SALT[family], seed, attempt])
    reference = pop.signals(pop.sample_shoppers(REFERENCE_USERS, rng))
    coefs = pop.linear(rng, 0.4)
    rate = float(rng.uniform(low, high))
    base = _Base(pop.intercept_for(pop.combine(coefs, reference), rate), coefs)
    return rng, base, reference, rate


def _binary_truth(base: _Base, effects: list[Effect]) -> Callable[[pd.DataFrame], Response]:
    """P(target) per arm: sigmoid(base logit + the campaign's effect); the last arm is none."""

    def truth(users: pd.DataFrame) -> Response:
        sig = pop.signals(users)
        logit = base.logit(sig)[:, None]
        shift = np.column_stack([*(e(sig) for e in effects), np.zeros(len(users))])
        return Response(probability=expit(logit + shift))

    return truth


def _world(family: str, seed: int, description: str, arms: list[Arm], **kwargs: Any) -> World:
    return World(
        name=family,
        description=description,
        user_features=dict(pop.USER_FEATURES),
        arms=arms,
        campaign_features=dict(pop.CAMPAIGN_FEATURES),
        control=dict(pop.CONTROL),
        target="conversion",
        sampler=pop.sample_shoppers,
        seed=seed,
        **kwargs,
    )


# -- effect shapes (each binds its own random draws) ------------------------------------------
def _threshold(rng: np.random.Generator) -> tuple[Effect, str]:
    feature = str(rng.choice(pop.NUMERIC))
    cut = float(rng.uniform(-0.8, 0.8))
    side = int(rng.choice([-1, 1]))
    inside, outside = float(rng.uniform(0.6, 1.2)), float(rng.uniform(-0.5, 0.0))
    note = f"{inside:+.2f} if {feature} {'>' if side > 0 else '<'} {cut:.2f}, else {outside:+.2f}"
    return (lambda s: np.where(side * (s[feature] - cut) > 0, inside, outside)), note


def _interaction(rng: np.random.Generator) -> tuple[Effect, str]:
    a, b = (str(f) for f in rng.choice(pop.NUMERIC, 2, replace=False))
    main = float(rng.uniform(-0.1, 0.3))
    beta = float(rng.choice([-1, 1]) * rng.uniform(0.4, 0.8))
    note = f"{main:+.2f} {beta:+.2f} x {a} x {b} (product clipped to +-3)"
    return (lambda s: main + beta * np.clip(s[a] * s[b], -3.0, 3.0)), note


def _segment(rng: np.random.Generator) -> tuple[Callable[[dict[str, np.ndarray]], np.ndarray], str]:
    """A segment of at least ~15% of users: a common categorical level or a feature's tail."""
    if rng.random() < 0.5:
        level = str(
            rng.choice(
                ["device=mobile", "device=desktop", "loyalty_tier=none", "loyalty_tier=silver"]
            )
        )
        return (lambda s: s[level] > 0), level
    feature = str(rng.choice(pop.NUMERIC))
    cut = float(rng.uniform(-0.6, 0.6))
    side = int(rng.choice([-1, 1]))
    return (
        lambda s: side * (s[feature] - cut) > 0
    ), f"{feature} {'>' if side > 0 else '<'} {cut:.2f}"


def _negative(rng: np.random.Generator) -> tuple[Effect, str]:
    annoyed, where = _segment(rng)
    hurt, help_ = float(rng.uniform(0.4, 0.9)), float(rng.uniform(0.2, 0.6))
    tilt = pop.linear(rng, 0.15, numeric_only=True)
    note = f"-{hurt:.2f} when {where} (annoyed), else +{help_:.2f}; plus a small linear tilt"
    return (lambda s: np.where(annoyed(s), -hurt, help_) + pop.combine(tilt, s)), note


def _mixed(rng: np.random.Generator, scale: float = 0.3) -> tuple[Effect, str]:
    """A main effect, a linear tilt on every signal, and a threshold bump."""
    main = float(rng.uniform(-0.15, 0.25))
    tilt = pop.linear(rng, scale)
    bump, bump_note = _threshold(rng)
    note = f"{main:+.2f} + linear tilt + 0.6 x ({bump_note})"
    return (lambda s: main + pop.combine(tilt, s) + 0.6 * bump(s)), note


SHAPES: dict[str, Callable[[np.random.Generator], tuple[Effect, str]]] = {
    "threshold": _threshold,
    "interaction": _interaction,
    "negative": _negative,
}
DESCRIPTIONS = {
    "threshold": "each campaign helps only above/below one feature's threshold, hurts elsewhere",
    "interaction": "each campaign's effect is the product of two user features",
    "negative": "each campaign annoys a segment (negative effect there), helps the rest",
}


def shaped(family: str, seed: int, attempt: int = 0) -> World:
    """The threshold, interaction and negative-effect families: one shape for every arm."""
    rng, base, _, rate = _start(family, seed, attempt)
    include = ("email",) if family == "negative" else ()
    arms = pop.catalogue(rng, int(rng.integers(3, 6)), include)
    drawn = [SHAPES[family](rng) for _ in arms[:-1]]
    notes = {a.arm_id: note for a, (_, note) in zip(arms, drawn, strict=False)}
    return _world(
        family,
        seed,
        f"{DESCRIPTIONS[family]}; base rate {rate:.1%}",
        arms,
        truth=_binary_truth(base, [e for e, _ in drawn]),
        notes=notes,
    )


def rare_arm(seed: int, attempt: int = 0) -> World:
    """One campaign logged with 3-5% probability is the best for users above a threshold
    (roughly the top 20-30% of one feature)."""
    rng, base, _, rate = _start("rare-arm", seed, attempt)
    arms = pop.catalogue(rng, int(rng.integers(3, 6)))
    rare = int(rng.integers(0, len(arms) - 1))
    feature, cut = str(rng.choice(pop.NUMERIC)), float(rng.uniform(0.5, 0.9))
    inside, outside = float(rng.uniform(1.0, 1.4)), float(rng.uniform(0.2, 0.5))
    drawn = [_mixed(rng, 0.25) for _ in arms[:-1]]
    effects = [e for e, _ in drawn]
    effects[rare] = lambda s: np.where(s[feature] > cut, inside, -outside)
    share = float(rng.uniform(0.03, 0.05))
    probs = np.full(len(arms), (1.0 - share) / (len(arms) - 1))
    probs[rare] = share

    def segment(users: pd.DataFrame) -> np.ndarray:
        return np.asarray(pop.signals(users)[feature] > cut)

    notes = {a.arm_id: n for a, (_, n) in zip(arms, drawn, strict=False)}
    notes[arms[rare].arm_id] = f"+{inside:.2f} if {feature} > {cut:.2f}, else -{outside:.2f}"
    return _world(
        "rare-arm",
        seed,
        f"{arms[rare].arm_id} is logged with {share:.1%} probability and is the best arm when "
        f"{feature} > {cut:.2f}; base rate {rate:.1%}",
        arms,
        truth=_binary_truth(base, effects),
        logging=lambda users: np.tile(probs, (len(users), 1)),
        rare_arm=rare,
        rare_segment=segment,
        notes=notes,
    )


LOGGING_FLOOR = 0.03


def confounded(seed: int, attempt: int = 0) -> World:
    """The log comes from a targeting policy: campaigns go more often to users with a high
    base rate, so per-arm means of the log overstate campaigns; every probability is at
    least 3%."""
    rng, base, reference, rate = _start("confounded", seed, attempt)
    arms = pop.catalogue(rng, int(rng.integers(3, 6)))
    drawn = [_mixed(rng) for _ in arms[:-1]]
    ref_logit = base.logit(reference)
    center, spread = float(ref_logit.mean()), float(ref_logit.std())
    pull = np.append(rng.uniform(0.8, 1.5, len(arms) - 1), 0.0)
    tilts = [pop.linear(rng, 0.3, numeric_only=True) for _ in arms[:-1]]
    k = len(arms)

    def logging(users: pd.DataFrame) -> np.ndarray:
        sig = pop.signals(users)
        likely = (base.logit(sig) - center) / spread
        score = np.column_stack(
            [
                *(pull[j] * likely + pop.combine(tilts[j], sig) for j in range(k - 1)),
                np.zeros(len(users)),
            ]
        )
        return np.asarray(LOGGING_FLOOR + (1.0 - k * LOGGING_FLOOR) * softmax(score, axis=1))

    return _world(
        "confounded",
        seed,
        f"logged by a targeting policy favouring likely buyers; base rate {rate:.1%}",
        arms,
        truth=_binary_truth(base, [e for e, _ in drawn]),
        logging=logging,
        notes={a.arm_id: n for a, (_, n) in zip(arms, drawn, strict=False)},
    )


def delayed(seed: int, attempt: int = 0) -> World:
    """Conversions arrive after a lognormal delay whose median grows with the campaign's
    duration (4 h for no campaign, up to ~20 h for a 30-day points offer): a one-day window
    misses more of the long campaigns' conversions."""
    rng, base, _, rate = _start("delayed", seed, attempt)
    arms = pop.catalogue(rng, int(rng.integers(3, 6)))
    drawn = [_mixed(rng) for _ in arms[:-1]]
    hours = float(rng.uniform(3.0, 5.0))
    medians = tuple(
        3600.0 * hours * (1.0 + float(a.features["duration_days"]) / 7.0) ** 0.6 for a in arms
    )
    delay = Delay(median_s=medians, sigma=float(rng.uniform(1.1, 1.4)))
    late = ", ".join(f"{a.arm_id} {delay.late_share(i):.0%}" for i, a in enumerate(arms))
    return _world(
        "delayed",
        seed,
        f"conversions arrive late (past one day: {late}); base rate {rate:.1%}",
        arms,
        truth=_binary_truth(base, [e for e, _ in drawn]),
        delay=delay,
        notes={a.arm_id: n for a, (_, n) in zip(arms, drawn, strict=False)},
    )


def revenue(seed: int, attempt: int = 0) -> World:
    """Reward = spend. A campaign shifts the conversion logit (discounts by more) and scales
    the basket: a discount of d% shrinks it by 0.8-1.5 x d% on average, loyal or big spenders
    react differently (a linear tilt on the log basket). Basket given a purchase: the user's
    average order value times that factor."""
    rng, base, _, rate = _start("revenue", seed, attempt, 0.04, 0.10)
    arms = pop.catalogue(rng, int(rng.integers(3, 6)), include=("discount",))
    convs, baskets, notes = [], [], {}
    for arm in arms[:-1]:
        d = float(arm.features["discount_pct"]) / 100.0
        effect, note = _mixed(rng)
        lift = d * float(rng.uniform(1.5, 3.0))
        shrink = d * float(rng.uniform(0.8, 1.5)) - float(rng.uniform(-0.05, 0.15))
        tilt = pop.linear(rng, 0.15)
        convs.append(_shifted(effect, lift))
        baskets.append(_basket(shrink, tilt))
        notes[arm.arm_id] = f"conversion {lift:+.2f} + {note}; log basket {-shrink:+.2f} + tilt"

    def truth(users: pd.DataFrame) -> Response:
        sig = pop.signals(users)
        logit = base.logit(sig)[:, None]
        zero = np.zeros(len(users))
        shift = np.column_stack([*(c(sig) for c in convs), zero])
        factor = np.exp(np.column_stack([*(b(sig) for b in baskets), zero]))
        aov = users["avg_order_value"].to_numpy(dtype=float)[:, None]
        return Response(probability=expit(logit + shift), basket=aov * factor)

    return _world(
        "revenue",
        seed,
        f"reward is spend: discounts raise conversion and shrink baskets; base rate {rate:.1%}",
        arms,
        truth=truth,
        revenue="spend",
        notes=notes,
    )


def _shifted(effect: Effect, lift: float) -> Effect:
    return lambda s: effect(s) + lift


def _basket(shrink: float, tilt: dict[str, float]) -> Effect:
    return lambda s: -shrink + pop.combine(tilt, s)


FAMILIES: dict[str, Callable[[int, int], World]] = {
    "threshold": lambda seed, attempt: shaped("threshold", seed, attempt),
    "interaction": lambda seed, attempt: shaped("interaction", seed, attempt),
    "negative": lambda seed, attempt: shaped("negative", seed, attempt),
    "rare-arm": rare_arm,
    "confounded": confounded,
    "delayed": delayed,
    "revenue": revenue,
}
