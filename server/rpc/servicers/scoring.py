"""ScoringService: thin over server/handlers/scoring.py."""

from __future__ import annotations

import grpc

from protos.campaignlift.v1 import scoring_pb2, scoring_pb2_grpc
from server.handlers.scoring import Scorer
from server.rpc.converters.scoring import score_item, score_response
from server.rpc.errors import grpc_errors


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    def __init__(self, scorer: Scorer) -> None:
        self._scorer = scorer

    @grpc_errors
    def Score(
        self, request: scoring_pb2.ScoreRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.ScoreResponse:
        (result,) = self._scorer.score([score_item(request)])
        return score_response(result)

    @grpc_errors
    def ScoreBatch(
        self, request: scoring_pb2.ScoreBatchRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.ScoreBatchResponse:
        items = [score_item(r, where=f"requests[{i}].") for i, r in enumerate(request.requests)]
        results = self._scorer.score(items)
        return scoring_pb2.ScoreBatchResponse(responses=[score_response(r) for r in results])
