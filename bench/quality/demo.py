"""The demo's world, for comparison: the formulas of clients/simulator.py (`World._logits`,
copied, not imported, since clients/ speak gRPC and may move), with fresh users drawn from the
same distributions instead of a fixed population. The seed only changes which users are drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from bench.quality.world import Arm, Response, World

REGIONS = ("north", "south", "east", "west")
CONTROL: dict[str, float | str] = {
    "campaign_type": "none",
    "discount_pct": 0.0,
    "duration_days": 0.0,
}
# clients/simulator.py CAMPAIGNS: (id, type, discount %, duration in days).
CAMPAIGNS = (
    ("coupon-10", "coupon", 10.0, 7.0),
    ("coupon-25", "coupon", 25.0, 3.0),
    ("points-x3", "points", 5.0, 14.0),
    ("newsletter", "email", 0.0, 1.0),
    ("flash-sale", "discount", 30.0, 1.0),
)


def sample_users(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """clients/simulator.py World.__init__'s user distributions."""
    return pd.DataFrame(
        {
            "age": rng.integers(18, 76, n).astype(float),
            "sessions_30d": rng.poisson(4.0, n).astype(float),
            "past_purchases": rng.poisson(2.0, n).astype(float),
            "avg_order_value": np.round(rng.lognormal(3.8, 0.5, n), 2),
            "gender": rng.choice(["f", "m"], n),
            "region": rng.choice(REGIONS, n),
        }
    )


def conversion_logits(u: pd.DataFrame) -> np.ndarray:
    """Conversion logits [n, 6] (the five campaigns, then none): clients/simulator.py
    `World._logits`, conversion part, term for term."""
    young = (u.age < 35).to_numpy(float)
    engaged = np.minimum(u.sessions_30d.to_numpy(float), 10) / 10
    loyal = np.minimum(u.past_purchases.to_numpy(float), 6) / 6
    thrifty = (u.avg_order_value < 40).to_numpy(float)
    south = (u.region == "south").to_numpy(float)
    base = -3.2 + 1.2 * engaged + 0.9 * loyal + 0.15 * (u.gender == "f").to_numpy(float)
    columns = []
    for _, kind, discount, _ in CAMPAIGNS:
        d = discount / 10
        if kind == "coupon":
            columns.append(base + d * (0.45 * young + 0.35 * thrifty - 0.12))
        elif kind == "discount":
            columns.append(base + 0.25 * d * thrifty + 0.3 * south - 0.25)
        elif kind == "points":
            columns.append(base + 1.1 * loyal - 0.3)
        else:  # email
            columns.append(base + 0.7 * engaged - 0.45)
    return np.column_stack([*columns, base])


def demo(seed: int) -> World:
    arms = [
        Arm(cid, {"campaign_type": kind, "discount_pct": d, "duration_days": days})
        for cid, kind, d, days in CAMPAIGNS
    ]
    return World(
        name="demo",
        description="the demo's world (clients/simulator.py formulas): coupons for the young and "
        "thrifty, points for the loyal, e-mail annoys rare visitors",
        user_features={
            "age": "numeric",
            "sessions_30d": "numeric",
            "past_purchases": "numeric",
            "avg_order_value": "numeric",
            "gender": "categorical",
            "region": "categorical",
        },
        arms=[*arms, Arm("none", dict(CONTROL))],
        campaign_features={
            "campaign_type": "categorical",
            "discount_pct": "numeric",
            "duration_days": "numeric",
        },
        control=dict(CONTROL),
        target="conversion",
        sampler=sample_users,
        truth=lambda users: Response(probability=expit(conversion_logits(users))),
        seed=seed,
    )
