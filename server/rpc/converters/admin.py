"""ModelAdminService messages <-> server/handlers/admin.py's views."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from feedback.registry import StageEvent
from feedback.trigger import RetrainJob
from protos.campaignlift.v1 import admin_pb2
from server.handlers.admin import StageChange, VersionView


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


def job_message(j: RetrainJob) -> admin_pb2.RetrainJob:
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
    return job


def event_message(e: StageEvent) -> admin_pb2.StageEvent:
    return admin_pb2.StageEvent(
        id=e.id,
        stage=e.stage,
        from_version=e.from_version or 0,
        to_version=e.to_version or 0,
        traffic_percent=e.traffic_percent or 0.0,
        actor=e.actor,
        reason=e.reason,
        at=_ts(e.at),
    )
