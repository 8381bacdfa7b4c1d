"""The admin client for platform engineers: model versions, promotion, rollback, canary."""

from __future__ import annotations

import getpass
import socket
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict

from clients.client import open_channel
from protos.campaignlift.v1 import admin_pb2, admin_pb2_grpc

ACTOR_HEADER = "x-campaign-lift-actor"


def default_actor() -> str:
    """Who is acting, for the server's audit trail."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


class AdminClient:
    """Calls ModelAdminService with the bearer token; results are plain dicts (JSON-ready)."""

    def __init__(
        self,
        target: str,
        token: str,
        *,
        actor: str | None = None,
        timeout_s: float = 10.0,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self._channel = open_channel(target, credentials)
        self._stub = admin_pb2_grpc.ModelAdminServiceStub(self._channel)
        self._metadata = (
            ("authorization", f"Bearer {token}"),
            (ACTOR_HEADER, actor or default_actor()),
        )
        self.timeout_s = timeout_s

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._channel.close()

    def _call(self, method: str, request: Any) -> dict[str, Any]:
        reply = getattr(self._stub, method)(
            request, timeout=self.timeout_s, metadata=self._metadata
        )
        return MessageToDict(
            reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )

    def list_versions(self, *, include_archived: bool = False) -> list[dict[str, Any]]:
        reply = self._call(
            "ListVersions", admin_pb2.ListVersionsRequest(include_archived=include_archived)
        )
        return list(reply["versions"])

    def get_version(self, version: int) -> dict[str, Any]:
        return self._call("GetVersion", admin_pb2.GetVersionRequest(version=version))

    def compare(self, base: int, other: int) -> dict[str, Any]:
        return self._call(
            "CompareVersions", admin_pb2.CompareVersionsRequest(base=base, other=other)
        )

    def promote(self, version: int, reason: str = "") -> dict[str, Any]:
        return self._call("Promote", admin_pb2.PromoteRequest(version=version, reason=reason))

    def rollback(self, reason: str = "") -> dict[str, Any]:
        return self._call("Rollback", admin_pb2.RollbackRequest(reason=reason))

    def set_canary(self, version: int, percent: float, reason: str = "") -> dict[str, Any]:
        return self._call(
            "SetCanary", admin_pb2.SetCanaryRequest(version=version, percent=percent, reason=reason)
        )

    def set_shadow(self, version: int, reason: str = "") -> dict[str, Any]:
        return self._call("SetShadow", admin_pb2.SetShadowRequest(version=version, reason=reason))

    def shadow_report(self, version: int = 0, target: str = "") -> dict[str, Any]:
        return self._call(
            "ShadowReport", admin_pb2.ShadowReportRequest(version=version, target=target)
        )

    def archive(self, version: int, reason: str = "") -> dict[str, Any]:
        return self._call("Archive", admin_pb2.ArchiveRequest(version=version, reason=reason))

    def events(self, stage: str = "") -> list[dict[str, Any]]:
        return list(
            self._call("ListStageEvents", admin_pb2.ListStageEventsRequest(stage=stage))["events"]
        )

    def jobs(self) -> list[dict[str, Any]]:
        return list(self._call("ListRetrainJobs", admin_pb2.ListRetrainJobsRequest())["jobs"])
