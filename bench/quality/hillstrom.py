"""A semi-synthetic world on real covariates: users are resampled from the Hillstrom
MineThatData e-mail test (../shared/data/hillstrom/hillstrom.csv: recency, history, mens,
womens, zip_code, newbie, channel), and what each campaign does is a random function of them:
a sum of small random trees (depth 2, splits on real features at random quantiles of the
real data, Gaussian leaves), drawn from the seed. The real joint distribution of the
covariates (correlations, skew, point masses) is kept; only the outcome model is invented.

Unlike clients/simulator.py, no formula was written for the effects: they are piecewise
constant over real-data cells, the shape a tree learner fits and a linear one does not. One
grounded touch: the men's and women's e-mails help those who bought men's or women's
merchandise, as they did in the real test.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from bench.quality import population as pop
from bench.quality.world import Arm, Response, World, WorldUnavailable

HILLSTROM_CSV = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "hillstrom" / "hillstrom.csv"
)
COLUMNS = ("recency", "history", "mens", "womens", "zip_code", "newbie", "channel")
SALT = 301
Split = Callable[[pd.DataFrame], np.ndarray]
CAMPAIGNS = (
    ("mens-email", "mens_email", 0.0, 1.0),
    ("womens-email", "womens_email", 0.0, 1.0),
    ("discount-email-20", "discount_email", 20.0, 7.0),
    ("free-shipping", "free_shipping", 0.0, 14.0),
)


@lru_cache(maxsize=2)
def covariates(path: Path = HILLSTROM_CSV) -> pd.DataFrame:
    """The real covariates; raises WorldUnavailable (with the reason) when the file is absent."""
    if not path.exists():
        raise WorldUnavailable(f"{path} is absent: the Hillstrom world resamples its rows")
    frame = pd.read_csv(path, usecols=list(COLUMNS))
    for column in ("recency", "history", "mens", "womens", "newbie"):
        frame[column] = frame[column].astype(float)
    for column in ("zip_code", "channel"):
        frame[column] = frame[column].astype(str).astype(object)
    return frame[list(COLUMNS)]


def _split(rng: np.random.Generator, data: pd.DataFrame) -> tuple[Split, str]:
    column = str(rng.choice(COLUMNS))
    if column in ("recency", "history"):
        cut = float(np.quantile(data[column], rng.uniform(0.2, 0.8)))
        return (lambda u: u[column].to_numpy(float) > cut), f"{column} > {cut:.1f}"
    if column in ("zip_code", "channel"):
        level = str(rng.choice(sorted(data[column].unique())))
        return (lambda u: u[column].to_numpy(object) == level), f"{column} = {level}"
    return (lambda u: u[column].to_numpy(float) > 0.5), f"{column} = 1"


def random_tree(
    rng: np.random.Generator, data: pd.DataFrame, scale: float
) -> Callable[[pd.DataFrame], np.ndarray]:
    """A depth-2 tree with random splits and N(0, scale) leaves."""
    (root, _), (left, _), (right, _) = (_split(rng, data) for _ in range(3))
    leaves = rng.normal(0.0, scale, 4)

    def tree(users: pd.DataFrame) -> np.ndarray:
        go = root(users)
        second = np.where(go, left(users), right(users))
        return np.asarray(leaves[2 * go.astype(int) + second.astype(int)])

    return tree


def _forest(
    rng: np.random.Generator, data: pd.DataFrame, n: int, scale: float
) -> Callable[[pd.DataFrame], np.ndarray]:
    trees = [random_tree(rng, data, scale) for _ in range(n)]
    return lambda users: np.asarray(sum(t(users) for t in trees))


def hillstrom(seed: int, attempt: int = 0, path: Path = HILLSTROM_CSV) -> World:
    data = covariates(path)
    rng = np.random.default_rng([SALT, seed, attempt])
    base_fn = _forest(rng, data, 3, 0.4)
    effects = [_forest(rng, data, 3, 0.35) for _ in CAMPAIGNS]
    mains = rng.uniform(-0.2, 0.2, len(CAMPAIGNS))
    grounded = {0: "mens", 1: "womens"}
    reference = data.iloc[rng.integers(0, len(data), 20_000)].reset_index(drop=True)
    rate = float(rng.uniform(0.03, 0.06))
    intercept = pop.intercept_for(base_fn(reference), rate)

    def truth(users: pd.DataFrame) -> Response:
        base = intercept + base_fn(users)
        columns = []
        for k, effect in enumerate(effects):
            shift = mains[k] + effect(users)
            if k in grounded:
                shift = shift + 0.3 * users[grounded[k]].to_numpy(float)
            columns.append(base + shift)
        return Response(probability=expit(np.column_stack([*columns, base])))

    def sampler(n: int, draw: np.random.Generator) -> pd.DataFrame:
        return data.iloc[draw.integers(0, len(data), n)].reset_index(drop=True)

    arms = [
        Arm(cid, {"campaign_type": kind, "discount_pct": d, "duration_days": days})
        for cid, kind, d, days in CAMPAIGNS
    ]
    return World(
        name="hillstrom",
        description="real Hillstrom covariates, effects from random small trees; "
        f"base rate {rate:.1%}",
        user_features={
            "recency": "numeric",
            "history": "numeric",
            "mens": "numeric",
            "womens": "numeric",
            "zip_code": "categorical",
            "newbie": "numeric",
            "channel": "categorical",
        },
        arms=[*arms, Arm("none", dict(pop.CONTROL))],
        campaign_features=dict(pop.CAMPAIGN_FEATURES),
        control=dict(pop.CONTROL),
        target="conversion",
        sampler=sampler,
        truth=truth,
        seed=seed,
    )
