"""A world with known truth: synthetic shoppers, campaigns, and their true response and uplift.

The world answers "what would this user do under this campaign (or none)?" exactly, so a run
against the server can report regret against the oracle that always picks the best action.
The effects are heterogeneous on purpose: coupons move young, price-sensitive shoppers, points
move loyal ones, and e-mails annoy shoppers who rarely visit (negative uplift), so a policy that
targets by predicted uplift can beat sending everyone the same thing or sending at random.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

REGIONS = ("north", "south", "east", "west")


@dataclass(frozen=True, slots=True)
class Campaign:
    campaign_id: str
    campaign_type: str  # coupon | discount | points | email
    discount_pct: float
    duration_days: float

    def features(self) -> dict[str, float | str]:
        return {
            "campaign_type": self.campaign_type,
            "discount_pct": self.discount_pct,
            "duration_days": self.duration_days,
        }


CAMPAIGNS = (
    Campaign("coupon-10", "coupon", 10.0, 7.0),
    Campaign("coupon-25", "coupon", 25.0, 3.0),
    Campaign("points-x3", "points", 5.0, 14.0),
    Campaign("newsletter", "email", 0.0, 1.0),
    Campaign("flash-sale", "discount", 30.0, 1.0),
)
CONTROL = {"campaign_type": "none", "discount_pct": 0.0, "duration_days": 0.0}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class World:
    """Users drawn once from a seed; `truth` gives exact probabilities for any (user, action)."""

    def __init__(self, n_users: int = 20_000, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.users = pd.DataFrame(
            {
                "unit_id": [f"user-{i:06d}" for i in range(n_users)],
                "age": rng.integers(18, 76, n_users).astype(float),
                "sessions_30d": rng.poisson(4.0, n_users).astype(float),
                "past_purchases": rng.poisson(2.0, n_users).astype(float),
                "avg_order_value": np.round(rng.lognormal(3.8, 0.5, n_users), 2),
                "gender": rng.choice(["f", "m"], n_users),
                "region": rng.choice(REGIONS, n_users),
            }
        )
        self.campaigns = CAMPAIGNS
        self._truth = self._tabulate()

    def user_features(self, i: int) -> dict[str, float | str]:
        row = self.users.iloc[i]
        return {c: row[c] for c in self.users.columns if c != "unit_id"}

    def _logits(self, action: int) -> tuple[np.ndarray, np.ndarray]:
        """Click and conversion logits of every user under action (len(campaigns) = none)."""
        u = self.users
        young = (u.age < 35).to_numpy(float)
        engaged = np.minimum(u.sessions_30d.to_numpy(), 10) / 10
        loyal = np.minimum(u.past_purchases.to_numpy(), 6) / 6
        thrifty = (u.avg_order_value < 40).to_numpy(float)
        south = (u.region == "south").to_numpy(float)
        click = -1.6 + 1.6 * engaged + 0.2 * young
        conv = -3.2 + 1.2 * engaged + 0.9 * loyal + 0.15 * (u.gender == "f").to_numpy(float)
        if action < len(self.campaigns):
            c = self.campaigns[action]
            d = c.discount_pct / 10
            if c.campaign_type == "coupon":
                click += 0.3
                conv += d * (0.45 * young + 0.35 * thrifty - 0.12)
            elif c.campaign_type == "discount":
                click += 0.5
                conv += 0.25 * d * thrifty + 0.3 * south - 0.25
            elif c.campaign_type == "points":
                click += 0.2
                conv += 1.1 * loyal - 0.3
            elif c.campaign_type == "email":
                click += 0.6 * engaged - 0.2
                conv += 0.7 * engaged - 0.45
        return click, conv

    def _tabulate(self) -> dict[str, np.ndarray]:
        actions = range(len(self.campaigns) + 1)
        pairs = [self._logits(a) for a in actions]
        return {
            "click": np.stack([_sigmoid(c) for c, _ in pairs], axis=1),
            "conversion": np.stack([_sigmoid(v) for _, v in pairs], axis=1),
        }

    def truth(self, target: str, users: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """True probability of `target` for each (user index, action index); last action = none."""
        return self._truth[target][users, actions]

    def table(self, target: str, users: np.ndarray) -> np.ndarray:
        """[users, actions]: the true probability of `target` under every action (last: none)."""
        return self._truth[target][users]

    def oracle(self, target: str, users: np.ndarray) -> np.ndarray:
        """Best expected value any action gets for each user."""
        return self._truth[target][users].max(axis=1)

    def action_index(self, campaign_id: str | None) -> int:
        if campaign_id is None:
            return len(self.campaigns)
        return next(i for i, c in enumerate(self.campaigns) if c.campaign_id == campaign_id)

    def draw(
        self, users: np.ndarray, actions: np.ndarray, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """Realized click and conversion (0/1); a conversion implies a click."""
        conv = rng.random(len(users)) < self.truth("conversion", users, actions)
        click = (rng.random(len(users)) < self.truth("click", users, actions)) | conv
        return {"click": click.astype(int), "conversion": conv.astype(int)}

    def history(self, n_rows: int, seed: int = 11) -> pd.DataFrame:
        """Logged data from a uniformly random policy over the campaigns and "no campaign"."""
        rng = np.random.default_rng(seed)
        users = rng.integers(0, len(self.users), n_rows)
        actions = rng.integers(0, len(self.campaigns) + 1, n_rows)
        frame = self.users.iloc[users].reset_index(drop=True).copy()
        frame.insert(0, "decision_id", [f"history-{seed}-{i}" for i in range(n_rows)])
        feats = [c.features() for c in self.campaigns] + [CONTROL]
        for col in CONTROL:
            frame[col] = [feats[a][col] for a in actions]
        frame["campaign_id"] = [
            self.campaigns[a].campaign_id if a < len(self.campaigns) else "" for a in actions
        ]
        frame["propensity"] = 1.0 / (len(self.campaigns) + 1)
        for target, values in self.draw(users, actions, rng).items():
            frame[target] = values
        return frame
