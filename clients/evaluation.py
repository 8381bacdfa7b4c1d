"""Typed off-policy evaluation results and the request that asks for them (EvaluationService)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from protos.campaignlift.v1 import evaluation_pb2


@dataclass(frozen=True, slots=True)
class EstimateResult:
    estimator: str  # ips, snips, dm, dr
    value: float
    std_error: float
    ci_low: float
    ci_high: float
    effective_sample_size: float
    interval: str  # normal or bootstrap


@dataclass(frozen=True, slots=True)
class PolicyEvaluation:
    experiment: str
    model_version: str
    policy: str
    objective: str
    reward: str
    decisions: int
    logged_mean_reward: float
    logged_ci: tuple[float, float]
    confidence: float
    estimates: dict[str, EstimateResult]


def _stamp(when: datetime | None) -> Timestamp | None:
    if when is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


def evaluation_request(
    experiment: str,
    model_version: str | int,
    policy: dict[str, Any],
    *,
    objective: str = "",
    reward: str = "",
    variant: str = "",
    decided_after: datetime | None = None,
    decided_before: datetime | None = None,
    confidence: float = 0.95,
    bootstrap_samples: int = 0,
    seed: int = 0,
) -> evaluation_pb2.EvaluatePolicyRequest:
    return evaluation_pb2.EvaluatePolicyRequest(
        experiment=experiment,
        model_version=str(model_version),
        policy_json=json.dumps(policy),
        objective=objective,
        reward=reward,
        variant=variant,
        decided_after=_stamp(decided_after),
        decided_before=_stamp(decided_before),
        confidence=confidence,
        bootstrap_samples=bootstrap_samples,
        seed=seed,
    )


def evaluation_result(msg: evaluation_pb2.PolicyEvaluation) -> PolicyEvaluation:
    return PolicyEvaluation(
        experiment=msg.experiment,
        model_version=msg.model_version,
        policy=msg.policy,
        objective=msg.objective,
        reward=msg.reward,
        decisions=msg.decisions,
        logged_mean_reward=msg.logged_mean_reward,
        logged_ci=(msg.logged_ci_low, msg.logged_ci_high),
        confidence=msg.confidence,
        estimates={
            e.estimator: EstimateResult(
                e.estimator,
                e.value,
                e.std_error,
                e.ci_low,
                e.ci_high,
                e.effective_sample_size,
                e.interval,
            )
            for e in msg.estimates
        },
    )
