"""Protobuf messages ↔ the handlers' transport-free types, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from common.errors import InvalidArgument
from feedback.decisions import DecisionRecord
from feedback.outcomes import Outcome
from protos.campaignlift.v1 import common_pb2, feedback_pb2, scoring_pb2
from server.features import Candidate, FeatureMap, ScoreItem
from server.scoring import ScoreResult

OUTCOME_TYPES = {
    feedback_pb2.OUTCOME_TYPE_CLICK: "click",
    feedback_pb2.OUTCOME_TYPE_CONVERSION: "conversion",
    feedback_pb2.OUTCOME_TYPE_REVENUE: "revenue",
}


def _features(values: Mapping[str, common_pb2.FeatureValue]) -> FeatureMap:
    out: dict[str, float | str | None] = {}
    for name, v in values.items():
        # ListFields holds the one set member of the oneof (number or text); unset: None.
        set_fields = v.ListFields()
        out[name] = set_fields[0][1] if set_fields else None
    return out


def score_item(msg: scoring_pb2.ScoreRequest, where: str = "") -> ScoreItem:
    return ScoreItem(
        unit_id=msg.unit_id,
        user_features=_features(msg.user_features),
        candidates=[Candidate(c.campaign_id, _features(c.features)) for c in msg.candidates],
        experiment=msg.experiment,
        model_version=msg.model_version,
        where=where,
    )


def score_response(result: ScoreResult) -> scoring_pb2.ScoreResponse:
    decided_at = Timestamp()
    decided_at.FromDatetime(result.decided_at)
    response = scoring_pb2.ScoreResponse(
        decision=scoring_pb2.Decision(
            decision_id=result.decision_id,
            campaign_id=result.campaign_id or "",
            no_campaign=result.campaign_id is None,
            propensity=result.propensity,
            no_campaign_propensity=result.no_campaign_propensity,
            propensity_method=result.propensity_method,
            experiment=result.experiment,
            variant=result.variant,
            policy=result.policy,
            model_version=result.model_version,
            decided_at=decided_at,
        ),
    )
    # add() and item assignment: about 4x faster than a CandidateScore built from dicts.
    add = response.scores.add
    probability = list(result.probability.items())
    uplift = list(result.uplift.items())
    control = list(result.control.items())
    expected = list(result.expected.items())
    expected_uplift = list(result.expected_uplift.items())
    for j, (cid, propensity) in enumerate(
        zip(result.campaign_ids, result.propensities, strict=True)
    ):
        score = add(campaign_id=cid, propensity=propensity)
        for target, values in probability:
            score.probability[target] = values[j]
        for target, values in uplift:
            score.uplift[target] = values[j]
        for target, value in control:
            score.control_probability[target] = value
        for name, values in expected:
            score.expected[name] = values[j]
        for name, values in expected_uplift:
            score.expected_uplift[name] = values[j]
    return response


def timestamp(stamp: Timestamp, field: str) -> datetime:
    """A protobuf Timestamp as an aware datetime; one outside 0001..9999 (or with nanos outside
    0..999999999) is refused by field name instead of failing deep inside protobuf."""
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(
            f"{field} must be a timestamp between years 1 and 9999, "
            f"got seconds={stamp.seconds} nanos={stamp.nanos}"
        ) from exc


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
        user_features=dict(_features(msg.user_features)),
        candidates=[],
        chosen_features=dict(_features(msg.campaign_features)),
        created_at=decided_at,
    )
