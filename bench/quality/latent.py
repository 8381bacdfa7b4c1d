"""A latent-class world: the point of view reversed from clients/simulator.py.

There, features cause the response (a logit written over the features). Here every user
belongs to a hidden type (3-5 types, drawn from the seed), the type decides how each campaign
works, and the observed features are noisy signals *of the type*: age, visits, order value,
days since the last visit, device and acquisition channel are drawn given the type,
independently. What can be known from the features is the posterior over types, so the truth
of an arm for a user is

    E[reward | x, arm] = sum_t P(t | x) * sigmoid(b_t + e_{t, arm}),
    P(t | x) proportional to pi_t * prod_j f_{t,j}(x_j)        (Bayes' rule)

and that is also the best any policy can do: the oracle here is Bayes-optimal on the
features, not clairvoyant about the type.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit, logsumexp

from bench.quality import population as pop
from bench.quality.world import Response, World

DEVICES = ("mobile", "desktop", "app")
CHANNELS = ("search", "social", "referral")
SALT = 201


class LatentTypes:
    """The hidden types: their shares, feature distributions and per-arm conversion rates."""

    def __init__(self, rng: np.random.Generator, n_arms: int) -> None:
        t = int(rng.integers(3, 6))
        self.prior = rng.dirichlet(np.full(t, 3.0))
        self.age = rng.uniform(25.0, 65.0, t)
        self.sessions = rng.uniform(1.0, 10.0, t)
        self.log_aov = rng.uniform(3.3, 4.6, t)
        self.recency = rng.uniform(4.0, 60.0, t)
        self.device = rng.dirichlet(np.full(3, 1.5), t)
        self.channel = rng.dirichlet(np.full(3, 1.5), t)
        base = logit(rng.uniform(0.02, 0.12, t))
        effect = rng.normal(0.0, 0.5, (t, n_arms))
        home = rng.permutation(max(t, n_arms - 1))[: n_arms - 1] % t
        effect[home, np.arange(n_arms - 1)] += rng.uniform(0.6, 1.0, n_arms - 1)
        effect[:, -1] = 0.0  # no campaign
        self.rates = expit(base[:, None] + effect)  # [types, arms]

    @property
    def n_types(self) -> int:
        return len(self.prior)

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        kind = rng.choice(self.n_types, n, p=self.prior)
        device = _categorical(self.device[kind], rng)
        channel = _categorical(self.channel[kind], rng)
        return pd.DataFrame(
            {
                "age": rng.normal(self.age[kind], 11.0),
                "sessions_30d": rng.poisson(self.sessions[kind]).astype(float),
                "avg_order_value": rng.lognormal(self.log_aov[kind], 0.45),
                "days_since_visit": rng.exponential(self.recency[kind]),
                "device": np.asarray(DEVICES, dtype=object)[device],
                "channel": np.asarray(CHANNELS, dtype=object)[channel],
            }
        )

    def posterior(self, users: pd.DataFrame) -> np.ndarray:
        """P(type | features), [n, types]."""
        col = {c: users[c].to_numpy() for c in users.columns}
        device = _codes(col["device"], DEVICES)
        channel = _codes(col["channel"], CHANNELS)
        loglik = np.log(self.prior)[None, :] + np.column_stack(
            [
                stats.norm.logpdf(col["age"].astype(float), self.age[t], 11.0)
                + stats.poisson.logpmf(col["sessions_30d"].astype(float), self.sessions[t])
                + stats.norm.logpdf(
                    np.log(col["avg_order_value"].astype(float)), self.log_aov[t], 0.45
                )
                + stats.expon.logpdf(col["days_since_visit"].astype(float), scale=self.recency[t])
                + np.log(self.device[t][device])
                + np.log(self.channel[t][channel])
                for t in range(self.n_types)
            ]
        )
        return np.exp(loglik - logsumexp(loglik, axis=1, keepdims=True))


def _categorical(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (probs.cumsum(axis=1) < rng.random(len(probs))[:, None]).sum(axis=1)


def _codes(values: np.ndarray, levels: tuple[str, ...]) -> np.ndarray:
    lookup = {level: i for i, level in enumerate(levels)}
    return np.array([lookup[str(v)] for v in values], dtype=int)


def latent(seed: int, attempt: int = 0) -> World:
    rng = np.random.default_rng([SALT, seed, attempt])
    arms = pop.catalogue(rng, int(rng.integers(3, 6)))
    types = LatentTypes(rng, len(arms))
    return World(
        name="latent",
        description=f"{types.n_types} hidden user types decide the effects; the features are "
        "noisy signals of the type (the truth is the posterior mixture)",
        user_features={
            "age": "numeric",
            "sessions_30d": "numeric",
            "avg_order_value": "numeric",
            "days_since_visit": "numeric",
            "device": "categorical",
            "channel": "categorical",
        },
        arms=arms,
        campaign_features=dict(pop.CAMPAIGN_FEATURES),
        control=dict(pop.CONTROL),
        target="conversion",
        sampler=types.sample,
        truth=lambda users: Response(probability=types.posterior(users) @ types.rates),
        seed=seed,
        notes={"type shares": ", ".join(f"{p:.0%}" for p in types.prior)},
    )
