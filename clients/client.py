"""The Python client: one channel, deadlines on every call, typed results."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from clients.evaluation import PolicyEvaluation, evaluation_request, evaluation_result
from protos.campaignlift.v1 import (
    common_pb2,
    evaluation_pb2_grpc,
    feedback_pb2,
    feedback_pb2_grpc,
    scoring_pb2,
    scoring_pb2_grpc,
)

Features = Mapping[str, float | int | str]
OUTCOME_TYPES = {
    "click": feedback_pb2.OUTCOME_TYPE_CLICK,
    "conversion": feedback_pb2.OUTCOME_TYPE_CONVERSION,
    "revenue": feedback_pb2.OUTCOME_TYPE_REVENUE,
}


@dataclass(frozen=True, slots=True)
class ScoredCandidate:
    campaign_id: str
    probability: dict[str, float]
    uplift: dict[str, float]
    propensity: float
    control_probability: dict[str, float] = field(default_factory=dict)
    # Revenue outputs (e.g. spend): expected value with this campaign, and its uplift.
    expected: dict[str, float] = field(default_factory=dict)
    expected_uplift: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    decision_id: str
    campaign_id: str | None  # None: no campaign
    propensity: float
    no_campaign_propensity: float
    experiment: str
    variant: str
    policy: str
    model_version: str
    # "exact" or "monte_carlo:<draws>" (Thompson sampling's estimated choice probabilities).
    propensity_method: str = "exact"


@dataclass(frozen=True, slots=True)
class ScoreResult:
    candidates: list[ScoredCandidate]
    decision: Decision
    # Catalogue campaigns left out of this decision: campaign id -> reason.
    excluded: dict[str, str] = field(default_factory=dict)
    catalogue_version: int = 0


@dataclass(frozen=True, slots=True)
class UserRequest:
    unit_id: str
    user_features: Features
    # (campaign_id, campaign features); empty when the campaigns come from the catalogue.
    candidates: Sequence[tuple[str, Features]] = ()
    experiment: str = ""
    model_version: str = ""
    # Catalogue campaigns by id, or every campaign that may be sent now (CatalogueService).
    campaign_ids: Sequence[str] = ()
    all_active_campaigns: bool = False
    # The caller's decision id (empty: the server's), and whether the decision waits for
    # `activate` before it counts.
    decision_id: str = ""
    defer_activation: bool = False


@dataclass(frozen=True, slots=True)
class ExternalDecision:
    """A decision made outside the server (imported traffic), for LogDecisions."""

    decision_id: str
    unit_id: str
    campaign_id: str | None  # None: no campaign (control)
    propensity: float
    experiment: str = ""
    variant: str = ""
    policy: str = "external"
    user_features: Features = field(default_factory=dict)
    campaign_features: Features = field(default_factory=dict)
    decided_at: datetime | None = None
    model_version: str = ""


@dataclass(frozen=True, slots=True)
class OutcomeEvent:
    event_id: str
    decision_id: str
    type: str  # click | conversion | revenue
    value: float = 1.0
    occurred_at: datetime | None = None


def _value(v: float | int | str) -> common_pb2.FeatureValue:
    if isinstance(v, str):
        return common_pb2.FeatureValue(text=v)
    return common_pb2.FeatureValue(number=float(v))


def score_request(r: UserRequest) -> scoring_pb2.ScoreRequest:
    """The ScoreRequest message of a user request (the load generator sends it serialized)."""
    return scoring_pb2.ScoreRequest(
        unit_id=r.unit_id,
        user_features={k: _value(v) for k, v in r.user_features.items()},
        candidates=[
            scoring_pb2.Candidate(campaign_id=cid, features={k: _value(v) for k, v in f.items()})
            for cid, f in r.candidates
        ],
        experiment=r.experiment,
        model_version=r.model_version,
        campaign_ids=list(r.campaign_ids),
        all_active_campaigns=r.all_active_campaigns,
        decision_id=r.decision_id,
        defer_activation=r.defer_activation,
    )


def _result(msg: scoring_pb2.ScoreResponse) -> ScoreResult:
    d = msg.decision
    return ScoreResult(
        candidates=[
            ScoredCandidate(
                c.campaign_id,
                dict(c.probability),
                dict(c.uplift),
                c.propensity,
                dict(c.control_probability),
                dict(c.expected),
                dict(c.expected_uplift),
            )
            for c in msg.scores
        ],
        decision=Decision(
            decision_id=d.decision_id,
            campaign_id=None if d.no_campaign else d.campaign_id,
            propensity=d.propensity,
            no_campaign_propensity=d.no_campaign_propensity,
            experiment=d.experiment,
            variant=d.variant,
            policy=d.policy,
            model_version=d.model_version,
            propensity_method=d.propensity_method,
        ),
        excluded={e.campaign_id: e.reason for e in msg.excluded},
        catalogue_version=msg.catalogue_version,
    )


def tls_credentials(
    ca_file: str | Path, cert_file: str | Path | None = None, key_file: str | Path | None = None
) -> grpc.ChannelCredentials:
    """Channel credentials trusting `ca_file`; with a client certificate and key for mutual TLS."""
    cert = Path(cert_file).read_bytes() if cert_file else None
    key = Path(key_file).read_bytes() if key_file else None
    return grpc.ssl_channel_credentials(Path(ca_file).read_bytes(), key, cert)


def credentials_from_env() -> grpc.ChannelCredentials | None:
    """TLS for command-line clients: CAMPAIGN_LIFT_TLS_CA_FILE (and, for mutual TLS,
    CAMPAIGN_LIFT_TLS_CLIENT_CERT_FILE and CAMPAIGN_LIFT_TLS_CLIENT_KEY_FILE); None: plaintext."""
    import os

    ca = os.environ.get("CAMPAIGN_LIFT_TLS_CA_FILE")
    if not ca:
        return None
    return tls_credentials(
        ca,
        os.environ.get("CAMPAIGN_LIFT_TLS_CLIENT_CERT_FILE") or None,
        os.environ.get("CAMPAIGN_LIFT_TLS_CLIENT_KEY_FILE") or None,
    )


def open_channel(
    target: str,
    credentials: grpc.ChannelCredentials | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.Channel:
    if credentials is None:
        return grpc.insecure_channel(target, options=list(options))
    return grpc.secure_channel(target, credentials, options=list(options))


class CampaignLiftClient:
    """Talks to a Campaign Lift server. Use as a context manager to close the channel."""

    def __init__(
        self,
        target: str,
        *,
        timeout_s: float = 10.0,
        max_message_bytes: int = 64 * 1024 * 1024,
        credentials: grpc.ChannelCredentials | None = None,
        token: str = "",
        feedback_token: str | None = None,
        reader_token: str | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        # Sent only when set: servers that require a scoring, feedback or reader token check it.
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        feedback = token if feedback_token is None else feedback_token
        self._feedback_metadata = (("authorization", f"Bearer {feedback}"),) if feedback else ()
        reader = token if reader_token is None else reader_token
        self._reader_metadata = (("authorization", f"Bearer {reader}"),) if reader else ()
        self._channel = open_channel(
            target,
            credentials,
            [
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", max_message_bytes),
            ],
        )
        self._scoring = scoring_pb2_grpc.ScoringServiceStub(self._channel)
        self._feedback = feedback_pb2_grpc.FeedbackServiceStub(self._channel)
        self._evaluation = evaluation_pb2_grpc.EvaluationServiceStub(self._channel)

    def __enter__(self) -> CampaignLiftClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        grpc.channel_ready_future(self._channel).result(timeout=timeout_s)

    def score(self, request: UserRequest) -> ScoreResult:
        return _result(
            self._scoring.Score(
                score_request(request), timeout=self.timeout_s, metadata=self._metadata
            )
        )

    def score_batch(self, requests: Iterable[UserRequest]) -> list[ScoreResult]:
        msg = scoring_pb2.ScoreBatchRequest(requests=[score_request(r) for r in requests])
        reply = self._scoring.ScoreBatch(msg, timeout=self.timeout_s, metadata=self._metadata)
        return [_result(r) for r in reply.responses]

    def log_outcomes(self, events: Iterable[OutcomeEvent]) -> tuple[int, int]:
        """Returns (accepted, duplicates) once the server has committed the batch."""
        reply = self._feedback.LogOutcomes(
            _outcomes_request(events), timeout=self.timeout_s, metadata=self._feedback_metadata
        )
        return reply.accepted, reply.duplicates

    def activate(self, decision_ids: Iterable[str]) -> tuple[int, int]:
        """Deferred decisions made to count: (activated, pending until written)."""
        reply = self._feedback.ActivateDecisions(
            feedback_pb2.ActivateDecisionsRequest(decision_ids=list(decision_ids)),
            timeout=self.timeout_s,
            metadata=self._feedback_metadata,
        )
        return reply.activated, reply.pending

    def log_decisions(self, decisions: Iterable[ExternalDecision]) -> tuple[int, int]:
        """Decisions made elsewhere; (accepted, duplicates) once committed."""
        messages = []
        for d in decisions:
            msg = feedback_pb2.LoggedDecision(
                decision_id=d.decision_id,
                unit_id=d.unit_id,
                experiment=d.experiment,
                variant=d.variant,
                policy=d.policy,
                campaign_id=d.campaign_id or "",
                no_campaign=d.campaign_id is None,
                propensity=d.propensity,
                user_features={k: _value(v) for k, v in d.user_features.items()},
                campaign_features={k: _value(v) for k, v in d.campaign_features.items()},
                model_version=d.model_version,
            )
            if d.decided_at is not None:
                msg.decided_at.FromDatetime(d.decided_at)
            messages.append(msg)
        reply = self._feedback.LogDecisions(
            feedback_pb2.LogDecisionsRequest(decisions=messages),
            timeout=self.timeout_s,
            metadata=self._feedback_metadata,
        )
        return reply.accepted, reply.duplicates

    def stream_outcomes(
        self, batches: Iterable[Iterable[OutcomeEvent]], *, timeout_s: float | None = None
    ) -> Iterator[tuple[int, int, int]]:
        """Streams batches; yields (batch, accepted, duplicates) as each one is committed."""
        replies = self._feedback.StreamOutcomes(
            (_outcomes_request(b) for b in batches),
            timeout=timeout_s,
            metadata=self._feedback_metadata,
        )
        for reply in replies:
            yield reply.batch, reply.accepted, reply.duplicates

    def evaluate_policy(
        self,
        experiment: str,
        model_version: str | int,
        policy: dict[str, Any],
        *,
        timeout_s: float | None = None,
        **options: Any,
    ) -> PolicyEvaluation:
        """Off-policy estimates of `policy` on model version `model_version`'s predictions over
        the experiment's logged decisions. `options`: objective, reward, variant, decided_after,
        decided_before, confidence, bootstrap_samples, seed (see clients/evaluation.py)."""
        request = evaluation_request(experiment, model_version, policy, **options)
        reply = self._evaluation.EvaluatePolicy(
            request, timeout=timeout_s or self.timeout_s, metadata=self._reader_metadata
        )
        return evaluation_result(reply)


def _outcomes_request(events: Iterable[OutcomeEvent]) -> feedback_pb2.LogOutcomesRequest:
    outcomes = []
    for e in events:
        if e.type not in OUTCOME_TYPES:
            raise ValueError(
                f"OutcomeEvent.type must be one of {list(OUTCOME_TYPES)}, got {e.type!r}"
            )
        ts = Timestamp()
        ts.FromDatetime(e.occurred_at or datetime.now(UTC))
        outcomes.append(
            feedback_pb2.Outcome(
                event_id=e.event_id,
                decision_id=e.decision_id,
                type=OUTCOME_TYPES[e.type],
                value=e.value,
                occurred_at=ts,
            )
        )
    return feedback_pb2.LogOutcomesRequest(outcomes=outcomes)


def wait_serving(target: str, *, timeout_s: float = 60.0, service: str | None = None) -> None:
    """Blocks until the server's health service reports `service` (by default the scoring
    service) SERVING."""
    import time

    from grpc_health.v1 import health_pb2, health_pb2_grpc

    if service is None:
        service = scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name
    deadline = time.monotonic() + timeout_s
    while True:
        # A fresh channel per attempt: a refused connection puts a channel into reconnect
        # backoff, which would hide a server that has just bound its port.
        with grpc.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{target} did not become SERVING within {timeout_s}s")
        time.sleep(0.1)
