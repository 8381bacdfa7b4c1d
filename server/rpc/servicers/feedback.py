"""FeedbackService: thin over server/handlers/feedback.py."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from common.errors import CampaignLiftError
from protos.campaignlift.v1 import feedback_pb2, feedback_pb2_grpc
from server.handlers.feedback import FeedbackHandler
from server.rpc.converters.feedback import logged_decision, outcome
from server.rpc.errors import grpc_errors, grpc_stream_errors


class FeedbackServicer(feedback_pb2_grpc.FeedbackServiceServicer):
    def __init__(self, handler: FeedbackHandler) -> None:
        self._handler = handler

    def _log(self, request: feedback_pb2.LogOutcomesRequest) -> feedback_pb2.LogOutcomesResponse:
        self._handler.check_size("outcomes", len(request.outcomes))
        result = self._handler.log_outcomes(
            [outcome(o, f"outcomes[{i}]") for i, o in enumerate(request.outcomes)]
        )
        return feedback_pb2.LogOutcomesResponse(
            accepted=result.accepted, duplicates=result.duplicates
        )

    @grpc_errors
    def LogDecisions(
        self, request: feedback_pb2.LogDecisionsRequest, context: grpc.ServicerContext
    ) -> feedback_pb2.LogDecisionsResponse:
        self._handler.check_size("decisions", len(request.decisions))
        records = [logged_decision(d, f"decisions[{i}]") for i, d in enumerate(request.decisions)]
        accepted, duplicates = self._handler.log_decisions(records)
        return feedback_pb2.LogDecisionsResponse(accepted=accepted, duplicates=duplicates)

    @grpc_errors
    def ActivateDecisions(
        self, request: feedback_pb2.ActivateDecisionsRequest, context: grpc.ServicerContext
    ) -> feedback_pb2.ActivateDecisionsResponse:
        result = self._handler.activate(list(request.decision_ids))
        return feedback_pb2.ActivateDecisionsResponse(
            activated=result.activated, pending=result.pending
        )

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
