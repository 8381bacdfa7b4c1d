"""ModelAdminService: thin over server/handlers/admin.py."""

from __future__ import annotations

import dataclasses

import grpc

from protos.campaignlift.v1 import admin_pb2, admin_pb2_grpc
from server.handlers.admin import ModelAdmin
from server.rpc.auth import actor
from server.rpc.converters.admin import event_message, job_message, stage_change, version_info
from server.rpc.errors import grpc_errors


class ModelAdminServicer(admin_pb2_grpc.ModelAdminServiceServicer):
    def __init__(self, admin: ModelAdmin) -> None:
        self._admin = admin

    @grpc_errors
    def ListVersions(
        self, request: admin_pb2.ListVersionsRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ListVersionsResponse:
        views = self._admin.list_versions(include_archived=request.include_archived)
        return admin_pb2.ListVersionsResponse(versions=[version_info(v) for v in views])

    @grpc_errors
    def GetVersion(
        self, request: admin_pb2.GetVersionRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ModelVersionInfo:
        return version_info(self._admin.get(request.version))

    @grpc_errors
    def CompareVersions(
        self, request: admin_pb2.CompareVersionsRequest, context: grpc.ServicerContext
    ) -> admin_pb2.CompareVersionsResponse:
        base, other, deltas = self._admin.compare(request.base, request.other)
        return admin_pb2.CompareVersionsResponse(
            base=version_info(base),
            other=version_info(other),
            metrics=[
                admin_pb2.MetricComparison(
                    metric=d.metric,
                    base=d.base,
                    other=d.other,
                    difference=d.difference,
                    in_both=d.in_both,
                )
                for d in deltas
            ],
            same_feature_schema=base.version.feature_schema == other.version.feature_schema,
        )

    @grpc_errors
    def Promote(
        self, request: admin_pb2.PromoteRequest, context: grpc.ServicerContext
    ) -> admin_pb2.StageChange:
        return stage_change(
            self._admin.promote(request.version, actor=actor(context), reason=request.reason)
        )

    @grpc_errors
    def Rollback(
        self, request: admin_pb2.RollbackRequest, context: grpc.ServicerContext
    ) -> admin_pb2.StageChange:
        return stage_change(self._admin.rollback(actor=actor(context), reason=request.reason))

    @grpc_errors
    def SetCanary(
        self, request: admin_pb2.SetCanaryRequest, context: grpc.ServicerContext
    ) -> admin_pb2.StageChange:
        change = self._admin.set_canary(
            request.version, request.percent, actor=actor(context), reason=request.reason
        )
        return stage_change(change)

    @grpc_errors
    def SetShadow(
        self, request: admin_pb2.SetShadowRequest, context: grpc.ServicerContext
    ) -> admin_pb2.StageChange:
        return stage_change(
            self._admin.set_shadow(request.version, actor=actor(context), reason=request.reason)
        )

    @grpc_errors
    def ShadowReport(
        self, request: admin_pb2.ShadowReportRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ShadowReportResponse:
        report = self._admin.shadow_report(request.version, request.target)
        return admin_pb2.ShadowReportResponse(**dataclasses.asdict(report))

    @grpc_errors
    def Archive(
        self, request: admin_pb2.ArchiveRequest, context: grpc.ServicerContext
    ) -> admin_pb2.StageChange:
        return stage_change(
            self._admin.archive(request.version, actor=actor(context), reason=request.reason)
        )

    @grpc_errors
    def ListStageEvents(
        self, request: admin_pb2.ListStageEventsRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ListStageEventsResponse:
        events = self._admin.events(request.stage)
        return admin_pb2.ListStageEventsResponse(events=[event_message(e) for e in events])

    @grpc_errors
    def ListRetrainJobs(
        self, request: admin_pb2.ListRetrainJobsRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ListRetrainJobsResponse:
        return admin_pb2.ListRetrainJobsResponse(jobs=[job_message(j) for j in self._admin.jobs()])
