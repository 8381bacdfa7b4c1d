"""Bootstrap heads: H replicates of the chosen learner, each fitted on a bootstrap resample of
(at most HEAD_ROWS of) the training rows. Their uplifts, served side by side as
`<objective>_uplift_heads`, are what bootstrapped Thompson sampling draws from: a decision acts
greedily on one head picked at random, so an action's probability is exactly the share of
heads for which it is best (Osband, Blundell, Pritzel and Van Roy, "Deep Exploration via
Bootstrapped DQN", NeurIPS 2016; Eckles and Kaptein, "Thompson sampling with the online
bootstrap", 2014)."""

from __future__ import annotations

import logging

import numpy as np

from common.errors import CampaignLiftError
from trainer.learners import EffectData, FittedTarget
from trainer.recipe import Recipe

log = logging.getLogger(__name__)

# Heads explore; they need not each see every row: a resample of at most this many rows keeps
# H heads affordable on large logs.
HEAD_ROWS = 20_000
RESAMPLE_TRIES = 3


def fit_heads(
    recipe: Recipe, data: EffectData, target: str, seed: int, rows: int = HEAD_ROWS
) -> dict[str, list[FittedTarget]]:
    """{target: [head, ...]}: `recipe.heads` bootstrap fits of the recipe's learner."""
    rng = np.random.default_rng(seed + 7_919)
    n = len(data.frame)
    size = min(n, rows)
    heads: list[FittedTarget] = []
    for h in range(recipe.heads):
        for attempt in range(RESAMPLE_TRIES):
            sample = rng.integers(0, n, size)
            try:
                heads.append(recipe.fit(data.rows(sample), target, seed + h))
                break
            except CampaignLiftError as exc:  # a resample left an arm too small: draw again
                if attempt == RESAMPLE_TRIES - 1:
                    raise
                log.info("head %d: %s; drawing another resample", h, exc.message)
    return {target: heads}
