"""Clients of the gRPC API: the Python client, the campaign-lift CLI, the closed-loop simulator."""

from clients.client import (
    CampaignLiftClient,
    Decision,
    OutcomeEvent,
    ScoredCandidate,
    ScoreResult,
    UserRequest,
)
from clients.evaluation import EstimateResult, PolicyEvaluation

__all__ = [
    "CampaignLiftClient",
    "Decision",
    "EstimateResult",
    "OutcomeEvent",
    "PolicyEvaluation",
    "ScoreResult",
    "ScoredCandidate",
    "UserRequest",
]
