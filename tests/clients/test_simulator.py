"""The simulated world: columns match its committed spec, and its truth is what it claims."""

from __future__ import annotations

import numpy as np

from clients.simulator import CONTROL
from trainer.data import clean


def test_history_matches_the_committed_spec(world, sim_spec) -> None:  # type: ignore[no-untyped-def]
    hist = world.history(500, seed=1)
    _, report = clean(hist, sim_spec)
    assert report.rows_out == 500 and report.duplicate_rows_dropped == 0
    assert sim_spec.control == CONTROL
    none_rows = hist["campaign_id"] == ""
    assert (hist.loc[none_rows, "campaign_type"] == "none").all()
    assert np.allclose(hist["propensity"], 1 / (len(world.campaigns) + 1))


def test_truth_has_heterogeneous_effects(world) -> None:  # type: ignore[no-untyped-def]
    users = np.arange(len(world.users))
    best = world._truth["conversion"].argmax(axis=1)
    # No single action is best for everyone, so targeting can beat any fixed choice.
    assert len(np.unique(best)) >= 3
    oracle = world.oracle("conversion", users).mean()
    best_fixed = max(
        world.truth("conversion", users, np.full(len(users), a)).mean()
        for a in range(len(world.campaigns) + 1)
    )
    assert oracle > best_fixed * 1.05
    # Some campaigns hurt some users: negative uplift exists.
    none = world.truth("conversion", users, np.full(len(users), len(world.campaigns)))
    email = world.truth("conversion", users, np.full(len(users), world.action_index("newsletter")))
    assert (email < none).any() and (email > none).any()


def test_draws_follow_the_truth(world) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    users = rng.integers(0, len(world.users), 50_000)
    actions = np.full(len(users), world.action_index("coupon-25"))
    drawn = world.draw(users, actions, rng)
    expected = world.truth("conversion", users, actions).mean()
    assert abs(drawn["conversion"].mean() - expected) < 0.01
    assert (drawn["click"] >= drawn["conversion"]).all()
