"""The metrics interceptor: every unary RPC counted and timed by method and final status."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc

from server.runtime.metrics import ServerMetrics


class MetricsInterceptor(grpc.ServerInterceptor):
    """Counts and times every unary RPC by method and final status code."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self._m = metrics

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = details.method.rsplit("/", 1)[-1]
        inner = handler.unary_unary

        def timed(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            code = "OK"
            try:
                return inner(request, context)
            except BaseException:
                code = (context.code() or grpc.StatusCode.UNKNOWN).name
                raise
            finally:
                self._m.latency.labels(method).observe(time.perf_counter() - start)
                self._m.requests.labels(method, code).inc()

        return grpc.unary_unary_rpc_method_handler(
            timed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
