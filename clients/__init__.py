"""Clients of the gRPC API: the Python client, the campaign-lift CLI, the closed-loop simulator."""

from clients.client import (
    CampaignLiftClient,
    Decision,
    OutcomeEvent,
    ScoredCandidate,
    ScoreResult,
    UserRequest,
)

__all__ = [
    "CampaignLiftClient",
    "Decision",
    "OutcomeEvent",
    "ScoreResult",
    "ScoredCandidate",
    "UserRequest",
]
