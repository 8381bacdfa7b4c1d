"""Helpers for end-to-end tests: requests built from the simulator's world."""

from __future__ import annotations

import numpy as np

from clients.client import OutcomeEvent, ScoreResult, UserRequest
from clients.simulator import World


def user_request(
    world: World, i: int, *, experiment: str = "", model_version: str = ""
) -> UserRequest:
    return UserRequest(
        unit_id=world.users.unit_id.iat[i],
        user_features=world.user_features(i),
        candidates=[(c.campaign_id, c.features()) for c in world.campaigns],
        experiment=experiment,
        model_version=model_version,
    )


def outcomes_for(
    world: World, users: np.ndarray, results: list[ScoreResult], rng: np.random.Generator
) -> list[OutcomeEvent]:
    """Outcome events drawn from the world's truth for the chosen actions."""
    actions = np.array([world.action_index(r.decision.campaign_id) for r in results])
    drawn = world.draw(users, actions, rng)
    return [
        OutcomeEvent(f"{r.decision.decision_id}:{kind}", r.decision.decision_id, kind)
        for k, r in enumerate(results)
        for kind in ("click", "conversion")
        if drawn[kind][k]
    ]
