"""ExperimentService: thin over server/handlers/experiments.py."""

from __future__ import annotations

import grpc

from protos.campaignlift.v1 import experiments_pb2, experiments_pb2_grpc
from server.handlers.experiments import ExperimentsHandler
from server.rpc.converters.experiments import (
    definition_message,
    experiment_from,
    policy_state_message,
    report_message,
)
from server.rpc.errors import grpc_errors


class ExperimentServicer(experiments_pb2_grpc.ExperimentServiceServicer):
    def __init__(self, handler: ExperimentsHandler) -> None:
        self._handler = handler

    @grpc_errors
    def SaveExperiment(
        self, request: experiments_pb2.SaveExperimentRequest, context: grpc.ServicerContext
    ) -> experiments_pb2.ExperimentDefinition:
        return definition_message(self._handler.save(experiment_from(request.experiment)))

    @grpc_errors
    def GetExperiment(
        self, request: experiments_pb2.GetExperimentRequest, context: grpc.ServicerContext
    ) -> experiments_pb2.ExperimentDefinition:
        return definition_message(self._handler.get(request.name))

    @grpc_errors
    def ListExperiments(
        self, request: experiments_pb2.ListExperimentsRequest, context: grpc.ServicerContext
    ) -> experiments_pb2.ListExperimentsResponse:
        return experiments_pb2.ListExperimentsResponse(
            experiments=[definition_message(e) for e in self._handler.list()]
        )

    @grpc_errors
    def SetExperimentStatus(
        self, request: experiments_pb2.SetExperimentStatusRequest, context: grpc.ServicerContext
    ) -> experiments_pb2.ExperimentDefinition:
        changed = self._handler.set_status(request.name, request.status, request.release or None)
        return definition_message(changed)

    @grpc_errors
    def GetPolicyState(
        self, request: experiments_pb2.GetPolicyStateRequest, context: grpc.ServicerContext
    ) -> experiments_pb2.PolicyStateResponse:
        return policy_state_message(self._handler.policy_state(request.experiment, request.variant))

    @grpc_errors
    def GetReport(
        self, request: experiments_pb2.GetReportRequest, context: grpc.ServicerContext
    ) -> experiments_pb2.ExperimentReport:
        covariate = request.covariate if request.HasField("covariate") else None
        report = self._handler.report(request.experiment, covariate, request.calibration_window_s)
        return report_message(report)
