"""Guards every call before a servicer runs: undecodable payloads and expired deadlines.

grpcio answers a request it cannot deserialize (e.g. invalid UTF-8 in a proto3 string) with
INTERNAL "Exception deserializing request!", which reads like a server bug. This interceptor
decodes the payload itself and answers INVALID_ARGUMENT naming the message type instead.

A unary call whose deadline already passed while it waited for a worker thread (a saturated
server) is dropped before the servicer runs, so no model runs and nothing is written for a
caller that has gone: DEADLINE_EXCEEDED, counted in `campaign_lift_expired_calls_dropped`.
Nothing is dropped once a servicer started: an acknowledged write is never undone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from prometheus_client import CollectorRegistry, Counter

from common.errors import InvalidArgument

log = logging.getLogger(__name__)


class _Malformed:
    """Stands in for a request that could not be decoded."""

    def __init__(self, what: str, reason: str) -> None:
        self.message = f"the request is not a valid {what} message: {reason}"


def _decoder(deserializer: Callable[[bytes], Any] | None, method: str) -> Callable[[bytes], Any]:
    what = method.rsplit("/", 1)[-1] + " request"

    def decode(payload: bytes) -> Any:
        if deserializer is None:
            return payload
        try:
            return deserializer(payload)
        except (DecodeError, UnicodeDecodeError, ValueError) as exc:
            # The decoder's text names the field type, never our code; keep it short.
            return _Malformed(what, str(exc)[:200] or type(exc).__name__)

    return decode


def _checked(requests: Iterator[Any]) -> Iterator[Any]:
    for request in requests:
        if isinstance(request, _Malformed):
            raise InvalidArgument(request.message)
        yield request


class RequestGuard(grpc.ServerInterceptor):
    """Malformed payloads -> INVALID_ARGUMENT; unary calls already past their deadline are
    dropped before any work."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.expired = Counter(
            "campaign_lift_expired_calls_dropped",
            "Calls whose deadline passed before a worker picked them up; no work was done.",
            registry=registry,
        )
        self.malformed = Counter(
            "campaign_lift_malformed_requests",
            "Requests whose payload could not be decoded (answered INVALID_ARGUMENT).",
            registry=registry,
        )

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        if handler is None:
            return None
        decode = _decoder(handler.request_deserializer, details.method)
        serialize = handler.response_serializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary), decode, serialize
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._unary(handler.unary_stream), decode, serialize
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._stream_unary(handler.stream_unary), decode, serialize
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream_stream(handler.stream_stream), decode, serialize
            )
        return handler

    def _expired(self, context: grpc.ServicerContext) -> bool:
        remaining = context.time_remaining()
        return not context.is_active() or (remaining is not None and remaining <= 0)

    def _unary(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, _Malformed):
                self.malformed.inc()
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
            if self._expired(context):
                self.expired.inc()
                context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before work")
            return behavior(request, context)

        return guarded

    def _stream_unary(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            try:
                return behavior(_checked(requests), context)
            except InvalidArgument as exc:  # a servicer without our error mapping
                self.malformed.inc()
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)

        return guarded

    def _stream_stream(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                yield from behavior(_checked(requests), context)
            except InvalidArgument as exc:
                self.malformed.inc()
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)

        return guarded
