"""Bearer-token checks for the services that need them, as a server interceptor, and the role
model: which role's tokens each service or method accepts.

- scorer (`scoring_token`): ScoringService and the inference protocol; open when unset;
- feedback writer (`feedback_token`): FeedbackService; open when unset;
- reader (`reader_token`): ExperimentService reads and reports, EvaluationService; open when
  unset; the admin token is accepted for reads too;
- admin (`admin_token`): ModelAdminService, SaveExperiment, SetExperimentStatus, the
  catalogue's changes (PutCampaign, SetCampaignStatus); disabled (PERMISSION_DENIED) when
  unset. Catalogue reads take the reader's tokens (open when unset) or the admin's; the
  registry's reads (MODEL_READS) take the reader's tokens too when one is configured.

Each role also accepts its `*_previous_token` while it is set: rotation without downtime.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc

from common.settings import Settings
from server.rpc.services import (
    ADMIN,
    CATALOGUE,
    EVALUATION,
    EXPERIMENTS,
    FEEDBACK,
    INFERENCE,
    SCORING,
)

log = logging.getLogger(__name__)

ACTOR_HEADER = "x-campaign-lift-actor"


def _deny(code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    def abort(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(abort)


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Calls to a protected service need `authorization: Bearer <token>`; a service whose token
    is empty is disabled (PERMISSION_DENIED) rather than left open."""

    def __init__(self, tokens: Mapping[str, str | Sequence[str]]) -> None:
        # "package.Service" (every method) or "package.Service/Method" (that one) -> the tokens
        # it accepts (several during a rotation); none: disabled.
        self._tokens = {
            key: tuple(t for t in ([value] if isinstance(value, str) else value) if t)
            for key, value in tokens.items()
        }

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
        accepted = self._tokens[key]
        if not accepted:
            return _deny(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{service} is disabled: the server has no token configured for it",
            )
        metadata = dict(details.invocation_metadata or ())
        sent = str(metadata.get("authorization", "")).encode()
        # Compare with every accepted token (constant time each, no early exit).
        matches = [hmac.compare_digest(sent, f"Bearer {t}".encode()) for t in accepted]
        if not any(matches):
            log.info("refused a call to %s: missing or wrong bearer token", method)
            return _deny(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        return continuation(details)


def actor(context: grpc.ServicerContext) -> str:
    """Who made an admin call, for the audit trail: the caller's declared name, else 'admin'."""
    metadata = dict(context.invocation_metadata() or ())
    return str(metadata.get(ACTOR_HEADER, "admin"))[:128]


EXPERIMENT_CHANGES = ("SaveExperiment", "SetExperimentStatus")
CATALOGUE_CHANGES = ("PutCampaign", "SetCampaignStatus")
# The registry's reads: the reader role's too once a reader token is configured (the console's
# read-only users see versions, lineage and history); admin-only otherwise.
MODEL_READS = (
    "ListVersions",
    "GetVersion",
    "CompareVersions",
    "ShadowReport",
    "ListStageEvents",
    "ListRetrainJobs",
)


def _role(current: Any, previous: Any) -> tuple[str, ...]:
    return tuple(t for t in (current.get_secret_value(), previous.get_secret_value()) if t)


def role_tokens(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Which tokens each service (or method) accepts, from the role model above."""
    admin = _role(settings.admin_token, settings.admin_previous_token)
    # Changing an experiment changes who gets what: an admin call.
    tokens = {
        ADMIN: admin,
        **{f"{EXPERIMENTS}/{m}": admin for m in EXPERIMENT_CHANGES},
        **{f"{CATALOGUE}/{m}": admin for m in CATALOGUE_CHANGES},
    }
    if scorer := _role(settings.scoring_token, settings.scoring_previous_token):
        tokens[SCORING] = tokens[INFERENCE] = scorer
    if writer := _role(settings.feedback_token, settings.feedback_previous_token):
        tokens[FEEDBACK] = writer
    if reader := _role(settings.reader_token, settings.reader_previous_token):
        tokens[EXPERIMENTS] = tokens[EVALUATION] = tokens[CATALOGUE] = reader + admin
        if admin:  # a disabled admin API stays disabled, reads included
            tokens.update({f"{ADMIN}/{m}": reader + admin for m in MODEL_READS})
    return tokens
