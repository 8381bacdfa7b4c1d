"""The one place where the project's errors become gRPC status codes."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from common.errors import CampaignLiftError, Status

log = logging.getLogger(__name__)

GRPC_CODES = {
    Status.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    Status.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    Status.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    Status.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Status.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    Status.INTERNAL: grpc.StatusCode.INTERNAL,
}

F = TypeVar("F", bound=Callable[..., Any])


def abort_with(context: grpc.ServicerContext, exc: Exception, where: str) -> None:
    """Our errors abort with their status and message; anything else is a bug, logged with a
    reference id and answered INTERNAL without a traceback."""
    if isinstance(exc, CampaignLiftError):
        context.abort(GRPC_CODES[exc.status], exc.message)
    ref = uuid.uuid4().hex[:12]
    log.error("internal error %s in %s", ref, where, exc_info=exc)
    context.abort(grpc.StatusCode.INTERNAL, f"internal error (reference {ref})")


def grpc_errors(method: F) -> F:
    """Servicer-method decorator mapping errors to statuses (abort_with)."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as exc:
            abort_with(context, exc, method.__name__)

    return wrapper  # type: ignore[return-value]


def grpc_stream_errors(method: F) -> F:
    """grpc_errors for response-streaming methods: a failure mid-stream ends it with a status."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            yield from method(self, request, context)
        except Exception as exc:
            abort_with(context, exc, method.__name__)

    return wrapper  # type: ignore[return-value]
