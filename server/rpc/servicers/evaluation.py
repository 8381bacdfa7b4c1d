"""EvaluationService: thin over server/handlers/evaluation.py (off-policy evaluation)."""

from __future__ import annotations

import grpc

from protos.campaignlift.v1 import evaluation_pb2, evaluation_pb2_grpc
from server.handlers.evaluation import PolicyEvaluator
from server.rpc.converters.evaluation import evaluation_message, query_from
from server.rpc.errors import grpc_errors


class EvaluationServicer(evaluation_pb2_grpc.EvaluationServiceServicer):
    def __init__(self, evaluator: PolicyEvaluator) -> None:
        self._evaluator = evaluator

    @grpc_errors
    def EvaluatePolicy(
        self, request: evaluation_pb2.EvaluatePolicyRequest, context: grpc.ServicerContext
    ) -> evaluation_pb2.PolicyEvaluation:
        return evaluation_message(self._evaluator.evaluate(query_from(request)))
