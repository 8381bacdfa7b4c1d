"""Policy configuration: a JSON object such as {"type": "epsilon_greedy", "epsilon": 0.1},
validated by the discriminated union of the policy models (unknown keys refused, wrongly typed
or out-of-range values named with the value) and built into the policy it describes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from common.errors import InvalidArgument
from feedback.policies.bandits import BootstrapThompson, LinUCB, ThompsonSampling
from feedback.policies.base import Policy
from feedback.policies.simple import EpsilonGreedy, FixedCampaign, NoCampaign, UniformRandom

POLICIES: tuple[type[Policy], ...] = (
    EpsilonGreedy,
    UniformRandom,
    FixedCampaign,
    NoCampaign,
    ThompsonSampling,
    LinUCB,
    BootstrapThompson,
)
POLICY_TYPES = tuple(p.model_fields["type"].default for p in POLICIES)

PolicyConfig = Annotated[
    EpsilonGreedy
    | UniformRandom
    | FixedCampaign
    | NoCampaign
    | ThompsonSampling
    | LinUCB
    | BootstrapThompson,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Policy] = TypeAdapter(PolicyConfig)


def build_policy(config: Mapping[str, Any]) -> Policy:
    """The policy a config describes; InvalidArgument naming the key and the bad value."""
    if not isinstance(config, Mapping):
        raise InvalidArgument(f"policy must be a JSON object, got {config!r}")
    kind = config.get("type")
    if kind not in POLICY_TYPES:
        raise InvalidArgument(f"policy.type must be one of {POLICY_TYPES}, got {kind!r}")
    try:
        return _ADAPTER.validate_python(dict(config))
    except ValidationError as exc:
        raise InvalidArgument(_explain(exc, config)) from exc


def allowed_keys(kind: str) -> list[str]:
    """The keys a config of policy type `kind` may hold."""
    policy = next(p for p in POLICIES if p.model_fields["type"].default == kind)
    return sorted(policy.model_fields)


_PHRASES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "float_type": "must be a number",
    "int_type": "must be an integer",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "finite_number": "must be a finite number",
    "literal_error": "must be one of {expected}",
    "string_too_long": "must have at most {max_length} characters",
    "tuple_type": "must be a list",
}


def _explain(exc: ValidationError, config: Mapping[str, Any]) -> str:
    """The first validation error as one sentence: `policy.<key> <what is wrong>, got <value>`."""
    error = exc.errors(include_url=False)[0]
    kind = str(config.get("type"))
    loc = [str(p) for p in error["loc"]]
    if loc and loc[0] == kind:  # the discriminated union puts the tag first
        loc = loc[1:]
    key = ".".join(loc)
    if error["type"] == "extra_forbidden":
        unknown = sorted(set(config) - set(allowed_keys(kind)))
        return f"policy has unknown keys {unknown} for type {kind!r}; allowed: {allowed_keys(kind)}"
    message = str(error["msg"])
    if error["type"] == "value_error":
        message = message.removeprefix("Value error, ")
        if message.startswith("policy."):
            return message
        return f"policy.{key} {message}"
    phrase = _PHRASES.get(error["type"], message[:1].lower() + message[1:])
    phrase = phrase.format(**error.get("ctx", {})) if "{" in phrase else phrase
    return f"policy.{key} {phrase}, got {error['input']!r}"
