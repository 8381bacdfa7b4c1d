"""The ModelAdminService servicer: protobuf ↔ server/admin.py, errors mapped in server/errors.py."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import grpc
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from protos.campaignlift.v1 import admin_pb2, admin_pb2_grpc
from server.admin import ModelAdmin, StageChange, VersionView
from server.auth import actor
from server.errors import grpc_errors


def _ts(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


def _struct(value: dict[str, object]) -> Struct:
    out = Struct()
    out.update(value)
    return out


def version_info(view: VersionView) -> admin_pb2.ModelVersionInfo:
    v = view.version
    return admin_pb2.ModelVersionInfo(
        version=v.version,
        family=v.family,
        targets=v.targets,
        sha256=v.sha256,
        artifact_path=v.artifact_path,
        metrics=view.flat_metrics,
        parent_version=v.parent_version or 0,
        created_at=_ts(v.created_at),
        stages=view.stages,
        archived=v.archived_at is not None,
        feature_schema=_struct(v.feature_schema),
        lineage=_struct(v.lineage),
        canary_percent=view.canary_percent,
    )


def stage_change(change: StageChange) -> admin_pb2.StageChange:
    return admin_pb2.StageChange(
        stage=change.stage,
        from_version=change.from_version or 0,
        to_version=change.to_version or 0,
        traffic_percent=change.traffic_percent,
    )


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
        return admin_pb2.ListStageEventsResponse(
            events=[
                admin_pb2.StageEvent(
                    id=e.id,
                    stage=e.stage,
                    from_version=e.from_version or 0,
                    to_version=e.to_version or 0,
                    traffic_percent=e.traffic_percent or 0.0,
                    actor=e.actor,
                    reason=e.reason,
                    at=_ts(e.at),
                )
                for e in self._admin.events(request.stage)
            ]
        )

    @grpc_errors
    def ListRetrainJobs(
        self, request: admin_pb2.ListRetrainJobsRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ListRetrainJobsResponse:
        jobs = []
        for j in self._admin.jobs():
            job = admin_pb2.RetrainJob(
                id=j.id,
                status=j.status,
                reason=j.reason,
                outcome_seq_from=j.outcome_seq_from,
                outcome_seq_to=j.outcome_seq_to,
                result_version=j.result_version or 0,
                promoted=j.promoted,
                message=j.message,
                created_at=_ts(j.created_at),
            )
            if j.finished_at is not None:
                job.finished_at.CopyFrom(_ts(j.finished_at))
            jobs.append(job)
        return admin_pb2.ListRetrainJobsResponse(jobs=jobs)
