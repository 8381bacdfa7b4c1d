"""Bearer-token checks for the services that need them, as a server interceptor."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

import grpc

ACTOR_HEADER = "x-campaign-lift-actor"


def _deny(code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    def abort(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(abort)


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Calls to a protected service need `authorization: Bearer <token>`; a service whose token
    is empty is disabled (PERMISSION_DENIED) rather than left open."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        # "package.Service" (every method) or "package.Service/Method" (that one) -> token
        self._tokens = dict(tokens)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method = details.method.lstrip("/")  # "package.Service/Method"
        service = method.split("/", 1)[0]
        key = method if method in self._tokens else service
        if key not in self._tokens:
            return continuation(details)
        service = key
        token = self._tokens[key]
        if not token:
            return _deny(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{service} is disabled: the server has no token configured for it",
            )
        metadata = dict(details.invocation_metadata or ())
        sent = str(metadata.get("authorization", ""))
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return _deny(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        return continuation(details)


def actor(context: grpc.ServicerContext) -> str:
    """Who made an admin call, for the audit trail: the caller's declared name, else 'admin'."""
    metadata = dict(context.invocation_metadata() or ())
    return str(metadata.get(ACTOR_HEADER, "admin"))[:128]
