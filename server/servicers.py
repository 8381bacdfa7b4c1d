"""Thin gRPC servicers: protobuf → handler → protobuf; errors mapped in server/errors.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import grpc

from common.errors import CampaignLiftError, ResourceExhausted
from feedback.decisions import log_decisions
from feedback.models import ID_LENGTH as MAX_ID_LENGTH
from feedback.outcomes import log_outcomes
from feedback.privacy import stored_unit_id
from feedback.store import Store
from protos.campaignlift.v1 import feedback_pb2, feedback_pb2_grpc, scoring_pb2, scoring_pb2_grpc
from server import converters
from server.errors import grpc_errors, grpc_stream_errors
from server.policy_updater import PolicyUpdater
from server.retraining import RetrainRunner
from server.scoring import Scorer


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    def __init__(self, scorer: Scorer) -> None:
        self._scorer = scorer

    @grpc_errors
    def Score(
        self, request: scoring_pb2.ScoreRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.ScoreResponse:
        (result,) = self._scorer.score([converters.score_item(request)])
        return converters.score_response(result)

    @grpc_errors
    def ScoreBatch(
        self, request: scoring_pb2.ScoreBatchRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.ScoreBatchResponse:
        items = [
            converters.score_item(r, where=f"requests[{i}].")
            for i, r in enumerate(request.requests)
        ]
        results = self._scorer.score(items)
        return scoring_pb2.ScoreBatchResponse(
            responses=[converters.score_response(r) for r in results]
        )


class FeedbackServicer(feedback_pb2_grpc.FeedbackServiceServicer):
    def __init__(
        self,
        store: Store,
        retrain: RetrainRunner,
        max_outcomes: int,
        policies: PolicyUpdater | None = None,
        unit_id_key: bytes = b"",
    ) -> None:
        self._store = store
        self._unit_id_key = unit_id_key
        self._retrain = retrain
        self._policies = policies
        self._max_outcomes = max_outcomes

    def _log(self, request: feedback_pb2.LogOutcomesRequest) -> feedback_pb2.LogOutcomesResponse:
        if len(request.outcomes) > self._max_outcomes:
            raise ResourceExhausted(
                f"outcomes has {len(request.outcomes)} entries; the limit is {self._max_outcomes}"
            )
        result = log_outcomes(
            self._store,
            [converters.outcome(o, f"outcomes[{i}]") for i, o in enumerate(request.outcomes)],
        )
        self._retrain.poke()
        if self._policies is not None:
            self._policies.poke(result.accepted)
        return feedback_pb2.LogOutcomesResponse(
            accepted=result.accepted, duplicates=result.duplicates
        )

    @grpc_errors
    def LogDecisions(
        self, request: feedback_pb2.LogDecisionsRequest, context: grpc.ServicerContext
    ) -> feedback_pb2.LogDecisionsResponse:
        if len(request.decisions) > self._max_outcomes:
            raise ResourceExhausted(
                f"decisions has {len(request.decisions)} entries; the limit is {self._max_outcomes}"
            )
        records = [
            converters.logged_decision(d, f"decisions[{i}]")
            for i, d in enumerate(request.decisions)
        ]
        if self._unit_id_key:  # as the server stores its own decisions' units
            records = [
                replace(r, unit_id=stored_unit_id(r.unit_id, self._unit_id_key))
                if r.unit_id and len(r.unit_id) <= MAX_ID_LENGTH
                else r  # left for validation to refuse by name
                for r in records
            ]
        accepted, duplicates = log_decisions(self._store, records)
        return feedback_pb2.LogDecisionsResponse(accepted=accepted, duplicates=duplicates)

    @grpc_errors
    def LogOutcomes(
        self, request: feedback_pb2.LogOutcomesRequest, context: grpc.ServicerContext
    ) -> feedback_pb2.LogOutcomesResponse:
        return self._log(request)

    @grpc_stream_errors
    def StreamOutcomes(
        self, requests: Iterator[feedback_pb2.LogOutcomesRequest], context: grpc.ServicerContext
    ) -> Iterator[feedback_pb2.LogOutcomesResponse]:
        for batch, request in enumerate(requests):
            try:
                reply = self._log(request)
            except CampaignLiftError as exc:
                exc.message = f"batch {batch}: {exc.message}"
                raise
            reply.batch = batch
            yield reply
