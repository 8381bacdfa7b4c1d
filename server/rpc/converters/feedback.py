"""FeedbackService messages -> outcomes and decisions made elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime

from feedback.decisions import DecisionRecord
from feedback.outcomes import Outcome
from protos.campaignlift.v1 import feedback_pb2
from server.rpc.converters.common import features, timestamp

OUTCOME_TYPES = {
    feedback_pb2.OUTCOME_TYPE_CLICK: "click",
    feedback_pb2.OUTCOME_TYPE_CONVERSION: "conversion",
    feedback_pb2.OUTCOME_TYPE_REVENUE: "revenue",
}


def outcome(msg: feedback_pb2.Outcome, where: str = "outcome") -> Outcome:
    """Unknown enum numbers pass through by name so that validation can name the bad value."""
    kind = OUTCOME_TYPES.get(msg.type)
    if kind is None:
        names = feedback_pb2.OutcomeType.keys()
        kind = (
            feedback_pb2.OutcomeType.Name(msg.type) if 0 <= msg.type < len(names) else str(msg.type)
        )
    occurred = (
        timestamp(msg.occurred_at, f"{where}.occurred_at") if msg.HasField("occurred_at") else None
    )
    return Outcome(
        event_id=msg.event_id,
        decision_id=msg.decision_id,
        type=kind,
        value=msg.value,
        occurred_at=occurred or datetime.now(UTC),
    )


def logged_decision(msg: feedback_pb2.LoggedDecision, where: str = "decision") -> DecisionRecord:
    """A decision made elsewhere; the time defaults to now when unset."""
    decided_at = (
        timestamp(msg.decided_at, f"{where}.decided_at")
        if msg.HasField("decided_at")
        else datetime.now(UTC)
    )
    return DecisionRecord(
        decision_id=msg.decision_id,
        unit_id=msg.unit_id,
        experiment=msg.experiment,
        variant=msg.variant,
        policy=msg.policy or "external",
        model_version=msg.model_version,
        campaign_id=None if msg.no_campaign else msg.campaign_id,
        propensity=msg.propensity,
        user_features=dict(features(msg.user_features)),
        candidates=[],
        chosen_features=dict(features(msg.campaign_features)),
        created_at=decided_at,
    )
