"""What every command shares: console, options, the one error handler, the one gRPC call."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import grpc
import typer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from clients.client import credentials_from_env, open_channel
from common.errors import CampaignLiftError, InvalidArgument

# Piped or redirected output gets a fixed width, so scripts see one table layout everywhere.
# No emoji codes: ":x:" in a user's value must print as typed.
console = Console(width=120, emoji=False) if not Console().is_terminal else Console(emoji=False)

DEFAULT_TARGET = "127.0.0.1:50051"
_FLAG_IS_VISIBLE = " Prefer the environment variable: a flag shows in the process list."

Target = Annotated[str, typer.Option("--target", help="Server address.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Reason = Annotated[str, typer.Option(help="Why: recorded in the history.")]
AdminToken = Annotated[
    str,
    typer.Option(
        "--admin-token",
        envvar="CAMPAIGN_LIFT_ADMIN_TOKEN",
        show_default=False,
        help="The server's admin token." + _FLAG_IS_VISIBLE,
    ),
]
ReaderToken = Annotated[
    str,
    typer.Option(
        "--reader-token",
        # click takes the first variable that is set and not empty: reads fall back to the admin
        # token, as a reader-token-less deployment expects.
        envvar=["CAMPAIGN_LIFT_READER_TOKEN", "CAMPAIGN_LIFT_ADMIN_TOKEN"],
        show_default=False,
        help="The server's reader token (else the admin token), sent when set." + _FLAG_IS_VISIBLE,
    ),
]
ScoringToken = Annotated[
    str,
    typer.Option(
        "--scoring-token",
        envvar="CAMPAIGN_LIFT_SCORING_TOKEN",
        show_default=False,
        help="The server's scoring token, sent when set." + _FLAG_IS_VISIBLE,
    ),
]

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, *, label: str = "error") -> NoReturn:
    """One red line on stdout and exit 2: something the person can fix."""
    console.print(f"[red]{label}:[/red] {escape(message)}")
    raise typer.Exit(2)


def _settings_problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
    )


def cli_errors(command: Callable[P, R]) -> Callable[P, R]:
    """A person gets one line, never a traceback: bad input, settings or JSON (exit 2), or the
    server's status code and details (exit 1)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CampaignLiftError as exc:
            fail(exc.message)
        except ValidationError as exc:
            fail(_settings_problems(exc), label="invalid settings")
        except json.JSONDecodeError as exc:
            fail(str(exc), label="invalid JSON")
        except grpc.RpcError as exc:
            code = exc.code().name if isinstance(exc, grpc.Call) else "UNKNOWN"
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            console.print(f"[red]{code}[/red]: {escape(str(details))}")
            raise typer.Exit(1) from exc

    return wrapper


class OptionSyntaxError(typer.BadParameter):
    """A value one of our option parsers rejects; the message starts with the value."""


class CliGroup(TyperGroup):
    """The root group. Options are parsed before a command's error handler runs, so a value our
    parsers reject is caught here and printed like every other mistake a person can fix: one
    red line on stdout, exit 2. click's own usage errors keep typer's panel on stderr."""

    def invoke(self, ctx: Any) -> Any:  # typer's click.Context (typer vendors click privately)
        try:
            return super().invoke(ctx)
        except OptionSyntaxError as exc:
            opts = getattr(exc.param, "opts", None) or [""]
            fail(f"{opts[0]} {exc.message}".strip())


def json_object(text: str, option: str) -> dict[str, Any]:
    """A JSON object given on the command line (bad JSON reaches the error handler as is)."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise InvalidArgument(f"{option} must be a JSON object, got {type(value).__name__}")
    return value


def print_json(value: Any) -> None:
    """JSON for scripts: plain stdout, no console markup or wrapping."""
    print(json.dumps(value, indent=2, sort_keys=True))


def message_dict(message: Message, *, defaults: bool = True) -> dict[str, Any]:
    """A reply as a dict with proto field names (and, by default, fields left at their default)."""
    return MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=defaults
    )


def call(
    target: str,
    stub_class: Callable[[grpc.Channel], Any],
    method: str,
    request: Message,
    *,
    token: str = "",
    timeout_s: float = 30.0,
) -> Any:
    """One unary call on its own channel (TLS from the environment), with a deadline and the
    bearer token when there is one; a failure reaches `cli_errors` as grpc.RpcError."""
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    with open_channel(target, credentials_from_env()) as channel:
        return getattr(stub_class(channel), method)(request, timeout=timeout_s, metadata=metadata)
