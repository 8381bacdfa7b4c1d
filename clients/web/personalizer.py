"""A Personalizer-compatible Rank/Reward API under /personalizer/v1.0, over our gRPC services.

For services written against Azure Personalizer's REST API (retired 2026-10-01): the same
paths, bodies, status codes and error shape, answered by our models and policies. Each call
is one RPC made with the caller's key as its bearer token, so the gRPC server checks it against
the scoring tokens (rank) or the feedback tokens (reward, activate):

- POST /rank -> ScoringService.Score: the event id is the decision id, `deferActivation` is
  ScoreRequest.defer_activation, the ranking's probabilities are the policy's exact
  propensities. Context features map onto user features and action features onto campaign
  features by `flatten` below; actions without features are catalogue campaigns by id.
- POST /events/{eventId}/reward -> FeedbackService.LogOutcomes: one outcome of the deployment's
  `personalizer_reward_type`, keyed by the event (the first reward counts: "earliest").
- POST /events/{eventId}/activate -> FeedbackService.ActivateDecisions.

docs/personalizer.md is the migration guide."""

from __future__ import annotations

import hashlib
import hmac
import math
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import grpc
from fastapi import APIRouter, FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from clients.web.backend import CallFailed
from protos.campaignlift.v1 import common_pb2, feedback_pb2, scoring_pb2

PREFIX = "/personalizer/v1.0"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
EXPERIMENT_HEADER = "X-Campaign-Lift-Experiment"
MAX_ID = 256
REWARD_TYPES = {
    "click": feedback_pb2.OUTCOME_TYPE_CLICK,
    "conversion": feedback_pb2.OUTCOME_TYPE_CONVERSION,
    "revenue": feedback_pb2.OUTCOME_TYPE_REVENUE,
}

# gRPC status -> (HTTP status, Personalizer error code).
STATUS: Mapping[grpc.StatusCode, tuple[int, str]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "BadRequest"),
    grpc.StatusCode.FAILED_PRECONDITION: (400, "BadRequest"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "BadRequest"),
    grpc.StatusCode.NOT_FOUND: (404, "ResourceNotFound"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "Unauthorized"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "Forbidden"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "TooManyRequests"),
    grpc.StatusCode.UNAVAILABLE: (503, "ServiceUnavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (503, "ServiceUnavailable"),
}


class PersonalizerFailure(Exception):
    def __init__(self, status: int, code: str, message: str, target: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.target = status, code, message, target


def bad_request(message: str, target: str = "") -> PersonalizerFailure:
    return PersonalizerFailure(400, "BadRequest", message, target)


def error_body(code: str, message: str, target: str = "") -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if target:
        error["target"] = target
    return {"error": error}


# ----------------------------------------------------------------------------- the bodies


class _Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class RankableAction(_Body):
    id: str = Field(min_length=1, max_length=MAX_ID, description="The action's (campaign's) id.")
    features: list[dict[str, Any]] = Field(
        description="Campaign features (objects, possibly nested; flattened). Empty for every "
        "action: the actions are catalogue campaigns by id."
    )


class RankRequest(_Body):
    context_features: list[dict[str, Any]] | None = Field(
        default=None,
        alias="contextFeatures",
        description="User features (objects, possibly nested; flattened). The unit of "
        "assignment is the feature named by `personalizer_unit_feature` (default unit_id).",
    )
    actions: list[RankableAction] = Field(min_length=1)
    excluded_actions: list[str] | None = Field(default=None, alias="excludedActions")
    event_id: str | None = Field(default=None, alias="eventId", max_length=MAX_ID)
    defer_activation: bool | None = Field(default=None, alias="deferActivation")


class RankedAction(_Body):
    id: str
    probability: float = Field(description="The policy's exact probability of this action.")


class RankResponse(_Body):
    ranking: list[RankedAction]
    event_id: str = Field(alias="eventId")
    reward_action_id: str | None = Field(
        alias="rewardActionId",
        description="The action chosen; null when the policy chose no campaign (hold-out).",
    )


class RewardRequest(_Body):
    value: float


class ServiceConfiguration(_Body):
    reward_wait_time: str = Field(alias="rewardWaitTime")
    default_reward: float = Field(alias="defaultReward")
    reward_aggregation: str = Field(alias="rewardAggregation")


class ErrorDetail(_Body):
    code: str
    message: str
    target: str | None = None


class ErrorResponse(_Body):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "Bad input: the field is named in `error.message` and `error.target`."),
        (401, "Missing or wrong Ocp-Apim-Subscription-Key."),
        (404, "Unknown campaign or experiment."),
        (429, "Too many actions or requests."),
        (503, "The service cannot answer now (no model, store unavailable): retry."),
    )
}


# ------------------------------------------------------------------------ feature mapping

Scalar = float | str


def _scalar(value: Any, where: str) -> Scalar | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise bad_request(f"{where} must be a finite number, got {value!r}", where)
        return number
    if isinstance(value, str):
        return value
    raise bad_request(f"{where} has an unsupported value {value!r}", where)


def _walk(prefix: str, value: Any, where: str, out: dict[str, tuple[Scalar, str]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _walk(f"{prefix}.{key}" if prefix else str(key), inner, f"{where}.{key}", out)
        return
    if isinstance(value, list):
        for i, inner in enumerate(value):
            _walk(f"{prefix}.{i}", inner, f"{where}[{i}]", out)
        return
    scalar = _scalar(value, where)
    if scalar is None:
        return
    if prefix in out and out[prefix][0] != scalar:
        raise bad_request(
            f"{where}: feature {prefix!r} is also given as {out[prefix][0]!r} at {out[prefix][1]}",
            where,
        )
    out[prefix] = (scalar, where)


def flatten(objects: Iterable[Mapping[str, Any]], where: str) -> dict[str, Scalar]:
    """Personalizer's feature objects as one flat map of named values.

    Every object's keys are taken as they are; a nested object's keys are joined to its own
    with "." (`{"user": {"tier": "gold"}}` -> `user.tier`) and array items by position
    (`{"tags": ["a", "b"]}` -> `tags.0`, `tags.1`). A nested value is also given by its last
    name alone when no other feature has that name (`tier`), so nested objects fit a model
    trained on flat columns (array positions are not names). Booleans are 1/0, numbers
    numbers, strings categories, null is missing. One name with two different values is
    refused."""
    out: dict[str, tuple[Scalar, str]] = {}
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise bad_request(f"{where}[{i}] must be an object", f"{where}[{i}]")
        _walk("", obj, f"{where}[{i}]", out)
    values = {name: value for name, (value, _) in out.items()}
    leaves: dict[str, list[str]] = {}
    for name in values:
        if "." in name:
            leaves.setdefault(name.rsplit(".", 1)[1], []).append(name)
    for leaf, names in leaves.items():
        if len(names) == 1 and leaf not in values and not leaf.isdigit():
            values[leaf] = values[names[0]]
    return values


def _feature(value: Scalar) -> common_pb2.FeatureValue:
    if isinstance(value, str):
        return common_pb2.FeatureValue(text=value)
    return common_pb2.FeatureValue(number=value)


def score_request(
    body: RankRequest, event_id: str, unit_feature: str, experiment: str
) -> scoring_pb2.ScoreRequest:
    """The ScoreRequest of a Rank call (the excluded actions left out)."""
    context = flatten(body.context_features or [], "contextFeatures")
    ids = [a.id for a in body.actions]
    seen: set[str] = set()
    for i, action_id in enumerate(ids):
        if action_id in seen:
            raise bad_request(f"actions[{i}].id {action_id!r} is a duplicate", f"actions[{i}].id")
        seen.add(action_id)
    excluded = set(body.excluded_actions or [])
    for i, action_id in enumerate(body.excluded_actions or []):
        if action_id not in seen:
            raise bad_request(
                f"excludedActions[{i}] {action_id!r} is not an action of the request",
                f"excludedActions[{i}]",
            )
    actions = [(i, a) for i, a in enumerate(body.actions) if a.id not in excluded]
    if not actions:
        raise bad_request("every action is excluded: nothing to rank", "excludedActions")
    unit = context.get(unit_feature)
    if isinstance(unit, float):
        unit = str(int(unit)) if unit.is_integer() else repr(unit)
    request = scoring_pb2.ScoreRequest(
        unit_id=unit if unit is not None else event_id,
        user_features={k: _feature(v) for k, v in context.items() if k != unit_feature},
        experiment=experiment,
        decision_id=event_id,
        defer_activation=bool(body.defer_activation),
    )
    with_features = [bool(a.features) for _, a in actions]
    if not any(with_features):
        request.campaign_ids.extend(a.id for _, a in actions)
        return request
    for (i, action), has in zip(actions, with_features, strict=True):
        if not has:
            raise bad_request(
                f"actions[{i}].features is empty while other actions have features: give "
                "every action its features, or none (catalogue campaigns by id)",
                f"actions[{i}].features",
            )
        features = flatten(action.features, f"actions[{i}].features")
        request.candidates.append(
            scoring_pb2.Candidate(
                campaign_id=action.id, features={k: _feature(v) for k, v in features.items()}
            )
        )
    return request


def ranking(body: RankRequest, reply: scoring_pb2.ScoreResponse) -> list[RankedAction]:
    """The chosen action first, then the others by probability, then those the request or the
    catalogue left out (probability 0), in the request's order among equals."""
    order = {a.id: i for i, a in enumerate(body.actions)}
    chosen = "" if reply.decision.no_campaign else reply.decision.campaign_id
    scored = {s.campaign_id: s.propensity for s in reply.scores}
    ranked = sorted(
        (RankedAction(id=cid, probability=p) for cid, p in scored.items()),
        key=lambda r: (r.id != chosen, -r.probability, order.get(r.id, 0)),
    )
    rest = [RankedAction(id=a.id, probability=0.0) for a in body.actions if a.id not in scored]
    return ranked + rest


# ------------------------------------------------------------------------------ the routes


def _failure(exc: CallFailed) -> PersonalizerFailure:
    status, code = STATUS.get(exc.code, (500, "InternalServerError"))
    return PersonalizerFailure(status, code, exc.message)


def _outcome_id(event_id: str) -> str:
    own = f"{event_id}:reward"
    if len(own) <= MAX_ID:
        return own
    return "reward:" + hashlib.sha256(event_id.encode()).hexdigest()


def _event_id(event_id: str) -> str:
    if not event_id or len(event_id) > MAX_ID or "\x00" in event_id:
        raise bad_request(
            f"eventId must be 1 to {MAX_ID} characters without NUL, got {event_id[:64]!r}",
            "eventId",
        )
    return event_id


def _duration(seconds: float) -> str:
    """ISO 8601, as Personalizer's configuration shows its reward wait time."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"PT{hours}H{minutes}M{secs}S" if whole == seconds else f"PT{seconds:g}S"


Key = Annotated[str, Header(alias=KEY_HEADER, description="The scoring or feedback token.")]
EventId = Annotated[str, Path(alias="eventId", max_length=MAX_ID)]


def router() -> APIRouter:
    api = APIRouter(prefix=PREFIX, tags=["personalizer"], responses=ERRORS)

    @api.post("/rank", status_code=201, response_model=RankResponse, response_model_by_alias=True)
    def rank(
        body: RankRequest,
        request: Request,
        key: Key = "",
        experiment: Annotated[str, Header(alias=EXPERIMENT_HEADER)] = "",
    ) -> RankResponse:
        """Ranks the actions for the context; the first is the one to show."""
        web = request.app.state.web
        event_id = _event_id(body.event_id) if body.event_id else uuid.uuid4().hex
        message = score_request(
            body,
            event_id,
            web.settings.personalizer_unit_feature,
            experiment or web.settings.personalizer_experiment,
        )
        try:
            reply = web.backend.message("scoring", "Score", message, token=key)
        except CallFailed as exc:
            raise _failure(exc) from exc
        return RankResponse(
            ranking=ranking(body, reply),
            eventId=event_id,
            rewardActionId=None if reply.decision.no_campaign else reply.decision.campaign_id,
        )

    @api.post("/events/{eventId}/reward", status_code=204, response_class=Response)
    def reward(event_id: EventId, body: RewardRequest, request: Request, key: Key = "") -> Response:
        """Reports the reward of an event's chosen action (the first reward counts)."""
        web = request.app.state.web
        event_id = _event_id(event_id)
        kind = web.settings.personalizer_reward_type
        value = body.value
        if not math.isfinite(value):
            raise bad_request(f"value must be a finite number, got {value!r}", "value")
        if kind == "revenue":
            if value < 0:
                raise bad_request(f"value must be >= 0 for a revenue reward, got {value}", "value")
        else:
            value = 1.0 if value > 0 else 0.0
        occurred = Timestamp()
        occurred.FromDatetime(datetime.now(UTC))
        message = feedback_pb2.LogOutcomesRequest(
            outcomes=[
                feedback_pb2.Outcome(
                    event_id=_outcome_id(event_id),
                    decision_id=event_id,
                    type=REWARD_TYPES[kind],
                    value=value,
                    occurred_at=occurred,
                )
            ]
        )
        try:
            web.backend.message("feedback", "LogOutcomes", message, token=key)
        except CallFailed as exc:
            raise _failure(exc) from exc
        return Response(status_code=204)

    @api.post("/events/{eventId}/activate", status_code=204, response_class=Response)
    def activate(event_id: EventId, request: Request, key: Key = "") -> Response:
        """Activates an event ranked with deferActivation: from now on it counts."""
        web = request.app.state.web
        message = feedback_pb2.ActivateDecisionsRequest(decision_ids=[_event_id(event_id)])
        try:
            web.backend.message("feedback", "ActivateDecisions", message, token=key)
        except CallFailed as exc:
            raise _failure(exc) from exc
        return Response(status_code=204)

    @api.get(
        "/configurations/service",
        response_model=ServiceConfiguration,
        response_model_by_alias=True,
    )
    def configuration(request: Request, key: Key = "") -> ServiceConfiguration:
        """How rewards are attributed: the attribution window as the reward wait time."""
        settings = request.app.state.web.settings
        accepted = [
            t.get_secret_value()
            for t in (
                settings.scoring_token,
                settings.scoring_previous_token,
                settings.feedback_token,
                settings.feedback_previous_token,
            )
            if t.get_secret_value()
        ]
        sent = key.encode()
        if accepted and not any([hmac.compare_digest(sent, t.encode()) for t in accepted]):
            raise PersonalizerFailure(401, "Unauthorized", "missing or wrong subscription key")
        return ServiceConfiguration(
            rewardWaitTime=_duration(settings.attribution_window_s),
            defaultReward=0.0,
            rewardAggregation="earliest",
        )

    return api


def _is_ours(request: Request) -> bool:
    return request.url.path.startswith(PREFIX)


def install(app: FastAPI) -> None:
    app.include_router(router())
    previous_validation = app.exception_handlers.get(RequestValidationError)
    previous_http = app.exception_handlers.get(HTTPException)

    @app.exception_handler(PersonalizerFailure)
    async def failure(request: Request, exc: PersonalizerFailure) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.target), exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if not _is_ours(request) and previous_validation is not None:
            return await previous_validation(request, exc)  # type: ignore[misc,no-any-return]
        problems = []
        target = ""
        for error in exc.errors():
            location = [str(p) for p in error.get("loc", ()) if p not in ("body",)]
            field = ".".join(location) or "body"
            target = target or field
            problems.append(f"{field}: {error.get('msg', 'invalid')}")
        return JSONResponse(error_body("BadRequest", "; ".join(problems), target), 400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if not _is_ours(request) and previous_http is not None:
            return await previous_http(request, exc)  # type: ignore[misc,no-any-return]
        code = {404: "ResourceNotFound", 405: "BadRequest"}.get(exc.status_code, "BadRequest")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code)
