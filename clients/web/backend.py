"""The HTTP side's one connection to the gRPC services: a channel shared by every request,
each call made with the caller's token and answered as a plain dict (proto field names)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from clients.admin import ACTOR_HEADER
from clients.client import credentials_from_env, open_channel
from common.settings import Settings
from protos.campaignlift.v1 import (
    admin_pb2_grpc,
    catalogue_pb2_grpc,
    evaluation_pb2_grpc,
    experiments_pb2_grpc,
    feedback_pb2_grpc,
    scoring_pb2_grpc,
)

# Service name (as in URLs and logs) -> the generated stub.
STUBS: Mapping[str, Any] = {
    "scoring": scoring_pb2_grpc.ScoringServiceStub,
    "feedback": feedback_pb2_grpc.FeedbackServiceStub,
    "admin": admin_pb2_grpc.ModelAdminServiceStub,
    "catalogue": catalogue_pb2_grpc.CatalogueServiceStub,
    "experiments": experiments_pb2_grpc.ExperimentServiceStub,
    "evaluation": evaluation_pb2_grpc.EvaluationServiceStub,
}


def grpc_target(settings: Settings) -> str:
    """The server's own port on loopback unless `http_grpc_target` says otherwise."""
    if settings.http_grpc_target:
        return settings.http_grpc_target
    host = settings.host
    if host in ("0.0.0.0", "", "::", "[::]"):
        host = "127.0.0.1"
    return f"{host}:{settings.port}"


@dataclass(frozen=True)
class CallFailed(Exception):
    """A gRPC call's status, for the HTTP layer to translate."""

    code: grpc.StatusCode
    message: str

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


def as_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


class Backend:
    """Calls `service.method(request)` with `authorization: Bearer <token>` (none when the
    token is empty) and the acting user's name for the audit trail."""

    def __init__(self, target: str, *, timeout_s: float = 30.0) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self._channel = open_channel(target, credentials_from_env())
        self._stubs = {name: stub(self._channel) for name, stub in STUBS.items()}

    def close(self) -> None:
        self._channel.close()

    def message(
        self,
        service: str,
        method: str,
        request: Message,
        *,
        token: str = "",
        actor: str = "",
        timeout_s: float | None = None,
    ) -> Any:
        metadata: list[tuple[str, str]] = []
        if token:
            metadata.append(("authorization", f"Bearer {token}"))
        if actor:
            metadata.append((ACTOR_HEADER, actor))
        try:
            return getattr(self._stubs[service], method)(
                request, timeout=timeout_s or self.timeout_s, metadata=metadata
            )
        except grpc.RpcError as exc:
            raise CallFailed(exc.code(), exc.details() or "") from exc

    def call(
        self, service: str, method: str, request: Message, *, token: str = "", actor: str = ""
    ) -> dict[str, Any]:
        return as_dict(self.message(service, method, request, token=token, actor=actor))
