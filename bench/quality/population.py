"""The shoppers and the campaign catalogue the generated worlds share: how users are drawn,
their features as fixed standardized signals, random campaign catalogues, and a base rate
calibrated to a target share.

Signals use fixed constants (not the batch's mean and spread), so a user's truth depends on
that user alone, whatever batch it is scored in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from bench.quality.world import Arm, FeatureKind

USER_FEATURES: dict[str, FeatureKind] = {
    "age": "numeric",
    "sessions_30d": "numeric",
    "past_purchases": "numeric",
    "avg_order_value": "numeric",
    "days_since_visit": "numeric",
    "device": "categorical",
    "region": "categorical",
    "loyalty_tier": "categorical",
}
CAMPAIGN_FEATURES: dict[str, FeatureKind] = {
    "campaign_type": "categorical",
    "discount_pct": "numeric",
    "duration_days": "numeric",
}
CONTROL: dict[str, float | str] = {
    "campaign_type": "none",
    "discount_pct": 0.0,
    "duration_days": 0.0,
}
NO_CAMPAIGN = Arm("none", dict(CONTROL))
NUMERIC = ("age", "sessions", "purchases", "aov", "recency")
LEVELS = {
    "device": ("mobile", "desktop", "app"),
    "region": ("north", "south", "east", "west"),
    "loyalty_tier": ("none", "silver", "gold"),
}
# Campaign templates: type -> (discount choices, duration choices).
TEMPLATES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "coupon": ((10.0, 15.0, 20.0, 25.0), (3.0, 7.0, 14.0)),
    "discount": ((20.0, 30.0, 40.0), (1.0, 2.0, 3.0)),
    "points": ((0.0, 5.0), (14.0, 30.0)),
    "email": ((0.0,), (1.0,)),
    "free_shipping": ((0.0,), (3.0, 7.0)),
}


def sample_shoppers(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Shoppers: activity is overdispersed (a Gamma-Poisson mixture) and purchases follow
    visits; order values are lognormal; the loyalty tier follows purchases."""
    activity = rng.gamma(2.0, 2.0, n)
    sessions = rng.poisson(activity)
    purchases = rng.poisson(0.35 * activity)
    gold = expit(0.8 * purchases - 3.5)
    silver = expit(0.5 * purchases - 1.2) * (1 - gold)
    u = rng.random(n)
    tier = np.where(u < gold, "gold", np.where(u < gold + silver, "silver", "none"))
    return pd.DataFrame(
        {
            "age": rng.integers(18, 76, n).astype(float),
            "sessions_30d": sessions.astype(float),
            "past_purchases": purchases.astype(float),
            "avg_order_value": np.round(rng.lognormal(3.9, 0.5, n), 2),
            "days_since_visit": np.round(rng.exponential(8.0 + 60.0 / (1.0 + activity)), 1),
            "device": rng.choice(LEVELS["device"], n, p=[0.5, 0.35, 0.15]),
            "region": rng.choice(LEVELS["region"], n),
            "loyalty_tier": tier,
        }
    )


def signals(users: pd.DataFrame) -> dict[str, np.ndarray]:
    """Roughly standardized numeric signals and 0/1 indicators of every categorical level."""

    def col(name: str) -> np.ndarray:
        return users[name].to_numpy(dtype=float)

    out = {
        "age": (col("age") - 46.5) / 16.7,
        "sessions": (np.log1p(col("sessions_30d")) - 1.37) / 0.72,
        "purchases": (np.log1p(col("past_purchases")) - 0.7) / 0.6,
        "aov": (np.log(np.maximum(col("avg_order_value"), 1.0)) - 3.9) / 0.5,
        "recency": (np.log1p(col("days_since_visit")) - 2.7) / 1.08,
    }
    for feature, levels in LEVELS.items():
        values = users[feature].to_numpy(dtype=object)
        for level in levels:
            out[f"{feature}={level}"] = (values == level).astype(float)
    return out


def indicators() -> list[str]:
    return [f"{f}={level}" for f, levels in LEVELS.items() for level in levels]


def catalogue(
    rng: np.random.Generator, n_campaigns: int, include: tuple[str, ...] = ()
) -> list[Arm]:
    """n_campaigns random campaigns of distinct types (`include` among them), then "none"."""
    others = [t for t in TEMPLATES if t not in include]
    types = [
        *include,
        *(str(t) for t in rng.choice(others, n_campaigns - len(include), replace=False)),
    ]
    arms = []
    for kind in types:
        discounts, durations = TEMPLATES[kind]
        discount = float(rng.choice(discounts))
        duration = float(rng.choice(durations))
        arm_id = f"{kind}-{discount:g}" if discount else kind
        arms.append(
            Arm(
                arm_id, {"campaign_type": kind, "discount_pct": discount, "duration_days": duration}
            )
        )
    return [*arms, NO_CAMPAIGN]


def linear(rng: np.random.Generator, scale: float, numeric_only: bool = False) -> dict[str, float]:
    """Random coefficients on the signals: N(0, scale) on numeric ones, N(0, scale/2) on
    categorical levels."""
    coefs = {name: float(rng.normal(0.0, scale)) for name in NUMERIC}
    if not numeric_only:
        coefs |= {name: float(rng.normal(0.0, scale / 2)) for name in indicators()}
    return coefs


def combine(coefs: dict[str, float], sig: dict[str, np.ndarray]) -> np.ndarray:
    return np.asarray(sum(c * sig[name] for name, c in coefs.items()))


def intercept_for(logit: np.ndarray, rate: float) -> float:
    """The intercept b with mean(sigmoid(b + logit)) = rate (Brent's root on [-20, 20])."""
    return float(brentq(lambda b: float(expit(b + logit).mean()) - rate, -20.0, 20.0))
