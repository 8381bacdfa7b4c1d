"""EvaluationService messages <-> server/handlers/evaluation.py's query and result."""

from __future__ import annotations

import json
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from common.errors import InvalidArgument
from protos.campaignlift.v1 import evaluation_pb2
from server.handlers.evaluation import EvaluationQuery, PolicyEvaluation
from server.rpc.converters.common import timestamp

DEFAULT_CONFIDENCE = 0.95
MAX_BOOTSTRAP = 10_000


def _time(msg: evaluation_pb2.EvaluatePolicyRequest, field: str) -> datetime | None:
    if not msg.HasField(field):
        return None
    stamp: Timestamp = getattr(msg, field)
    return timestamp(stamp, field)


def query_from(msg: evaluation_pb2.EvaluatePolicyRequest) -> EvaluationQuery:
    try:
        policy = json.loads(msg.policy_json or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"policy_json is not JSON: {exc}") from exc
    if not isinstance(policy, dict):
        raise InvalidArgument(f"policy_json must be a JSON object, got {msg.policy_json!r}")
    if not 0 <= msg.bootstrap_samples <= MAX_BOOTSTRAP:
        raise InvalidArgument(
            f"bootstrap_samples must be in 0..{MAX_BOOTSTRAP}, got {msg.bootstrap_samples}"
        )
    return EvaluationQuery(
        experiment=msg.experiment,
        model_version=msg.model_version,
        policy=policy,
        objective=msg.objective,
        reward=msg.reward,
        variant=msg.variant,
        decided_after=_time(msg, "decided_after"),
        decided_before=_time(msg, "decided_before"),
        confidence=msg.confidence or DEFAULT_CONFIDENCE,
        bootstrap=msg.bootstrap_samples,
        seed=msg.seed,
        raw_reward=msg.raw_reward,
    )


def evaluation_message(result: PolicyEvaluation) -> evaluation_pb2.PolicyEvaluation:
    return evaluation_pb2.PolicyEvaluation(
        experiment=result.experiment,
        model_version=result.model_version,
        policy=result.policy,
        objective=result.objective,
        reward=result.reward,
        decisions=result.decisions,
        logged_mean_reward=result.logged_mean_reward,
        logged_ci_low=result.logged_ci[0],
        logged_ci_high=result.logged_ci[1],
        confidence=result.confidence,
        raw_reward=result.raw_reward,
        estimates=[
            evaluation_pb2.Estimate(
                estimator=e.estimator,
                value=e.value,
                std_error=e.std_error,
                ci_low=e.ci_low,
                ci_high=e.ci_high,
                effective_sample_size=e.ess,
                interval=e.method,
            )
            for e in result.estimates
        ],
    )
