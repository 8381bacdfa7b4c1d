"""ScoringService messages <-> server/handlers/scoring.py's items and results."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from protos.campaignlift.v1 import scoring_pb2
from server.handlers.features import Candidate, ScoreItem
from server.handlers.scoring import ScoreResult
from server.rpc.converters.common import features


def score_item(msg: scoring_pb2.ScoreRequest, where: str = "") -> ScoreItem:
    return ScoreItem(
        unit_id=msg.unit_id,
        user_features=features(msg.user_features),
        candidates=[Candidate(c.campaign_id, features(c.features)) for c in msg.candidates],
        experiment=msg.experiment,
        model_version=msg.model_version,
        where=where,
        campaign_ids=list(msg.campaign_ids),
        all_active=msg.all_active_campaigns,
        decision_id=msg.decision_id,
        defer_activation=msg.defer_activation,
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
        catalogue_version=result.catalogue_version,
    )
    for cid, reason in result.excluded:
        response.excluded.add(campaign_id=cid, reason=reason)
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
