"""The CLI's shared machinery: its option parsers, its one error line and exit codes, its token
options (flags and environment variables) against a real server, and bench as its own tool."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from clients.cli import app
from clients.cli.common import OptionSyntaxError
from clients.cli.experiments import (
    condition_option,
    namespace_option,
    policy_option,
    time_option,
    variant_option,
)
from feedback.store import Store
from server.runtime.app import start
from tests.conftest import ROOT, promote_new, server_settings

TOKENS = ("ADMIN", "READER", "SCORING", "FEEDBACK")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m clients.cli` with no token in its environment but those given."""
    base = {k: v for k, v in os.environ.items() if k not in _token_vars()}
    return subprocess.run(
        [sys.executable, "-m", "clients.cli", *args],
        cwd=ROOT,
        env={**base, "COLUMNS": "160", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _token_vars() -> set[str]:
    return {f"CAMPAIGN_LIFT_{t}_TOKEN" for t in TOKENS}


def test_parsers_accept_what_the_options_always_accepted() -> None:
    v = variant_option('ts:0.5:{"type": "thompson", "note": "a:b"}')
    assert (v.name, v.weight, v.policy_json) == ("ts", 0.5, '{"type": "thompson", "note": "a:b"}')
    c = condition_option('channel in ["Web", "Phone"]')
    assert (c.feature, c.op, c.value_json) == ("channel", "in", '["Web", "Phone"]')
    ns = namespace_option("home:0:0.5")
    assert ns is not None and (ns.name, ns.start, ns.end) == ("home", 0.0, 0.5)
    assert namespace_option("") is None
    assert time_option("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    offset = time_option("2024-05-01T10:00:00+02:00")
    assert offset is not None and offset.utcoffset() == timedelta(hours=2)
    assert offset.tzinfo == timezone(timedelta(hours=2))
    assert time_option("") is None
    assert policy_option('{"type": "epsilon_greedy", "epsilon": 0.1}')["epsilon"] == 0.1


@pytest.mark.parametrize(
    ("parser", "text", "message"),
    [
        (variant_option, "control-1", r"^'control-1' must be NAME:WEIGHT:POLICY_JSON$"),
        (variant_option, "c:x:{}", r"^'c:x:\{\}': weight 'x' is not a number$"),
        (condition_option, "age18", r"^'age18' must be 'FEATURE OP VALUE_JSON'"),
        (condition_option, "age gte", r"^'age gte' must be 'FEATURE OP VALUE_JSON'"),
        (namespace_option, "home:0", r"^'home:0' must be NAME:START:END$"),
        (namespace_option, "home:a:1", r"^'home:a:1' must be NAME:START:END$"),
        (namespace_option, "home:0:1:2", r"^'home:0:1:2' must be NAME:START:END$"),
        (time_option, "yesterday", r"^'yesterday' is not an ISO 8601 time$"),
        (policy_option, "{x", r"^is not JSON: Expecting property name"),
        (policy_option, "[1]", r"^must be a JSON object$"),
    ],
)
def test_parsers_name_the_bad_value(parser: Callable[[str], Any], text: str, message: str) -> None:
    with pytest.raises(OptionSyntaxError, match=message):
        parser(text)


def test_rejected_values_are_one_line_on_stdout_with_exit_2() -> None:
    save = ("experiments", "save", "x", "--variant", 'control:1:{"type": "no_campaign"}')
    evaluate = ("experiments", "evaluate", "x", "--model-version", "1")
    cases = [
        ((*save, "--eligible", "age18"), "error: --eligible 'age18' must be 'FEATURE OP"),
        ((*save, "--namespace", "home"), "error: --namespace 'home' must be NAME:START:END"),
        # Typed values print as typed: no markup, no emoji codes (":x:" stays ":x:").
        (("experiments", "save", "x", "--variant", "c:x:{}"), "--variant 'c:x:{}': weight 'x'"),
        ((*evaluate, "--before", "soon"), "error: --before 'soon' is not an ISO 8601 time"),
        ((*evaluate, "--policy", "[1]"), "error: --policy must be a JSON object"),
        (("feedback", "purge", "--older-than-days", "0"), "--older-than-days must be > 0, got 0"),
    ]
    for args, line in cases:
        result = cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stdout.count("\n") == 1 and line in result.stdout, (args, result.stdout)
        assert "Traceback" not in result.stdout + result.stderr


def test_an_unreachable_server_is_its_status_and_exit_1() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    result = cli("experiments", "list", "--target", f"127.0.0.1:{port}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("UNAVAILABLE: ")
    assert "Traceback" not in result.stdout + result.stderr


def test_every_command_has_the_error_handler() -> None:
    groups = [app, *(g.typer_instance for g in app.registered_groups)]
    commands = [c for g in groups if g is not None for c in g.registered_commands]
    assert len(commands) == 5 + 11 + 8 + 2 + 6  # root, models, experiments, feedback, campaigns
    for command in commands:
        callback = command.callback
        assert callback is not None
        assert callback.__code__.co_qualname == "cli_errors.<locals>.wrapper", callback


def test_bench_is_its_own_tool_not_a_command() -> None:
    result = cli("bench", "--quick")
    assert result.returncode == 2 and "No such command 'bench'" in result.stderr


def test_tokens_come_from_flags_or_the_environment(
    sqlite_store: Store, tmp_path: Path, world, trained_logreg
) -> None:  # type: ignore[no-untyped-def]
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    tokens = {"admin_token": "adm", "reader_token": "rd", "scoring_token": "sc"}
    running = start(server_settings(sqlite_store, tmp_path, **tokens))
    target = ("--target", f"127.0.0.1:{running.port}")
    user = {k: (v if isinstance(v, str) else float(v)) for k, v in world.user_features(3).items()}
    candidates = {c.campaign_id: c.features() for c in world.campaigns[:2]}
    score = ("score", *target, "--user", json.dumps(user), "--candidates", json.dumps(candidates))
    try:
        reads = {
            "reader env": cli("experiments", "list", *target, env=_env(READER="rd")),
            "admin env": cli("experiments", "list", *target, env=_env(ADMIN="adm")),
            "reader flag": cli("experiments", "list", *target, "--reader-token", "rd"),
            "none": cli("experiments", "list", *target),
        }
        admin = {
            "flag": cli("models", "list", *target, "--admin-token", "adm"),
            "env": cli("models", "list", *target, env=_env(ADMIN="adm")),
            "none": cli("models", "list", *target),
        }
        scored = {
            "flag": cli(*score, "--scoring-token", "sc"),
            "env": cli(*score, env=_env(SCORING="sc")),
            "none": cli(*score),
        }
    finally:
        running.stop()
    for name in ("reader env", "admin env", "reader flag"):
        assert reads[name].returncode == 0, (name, reads[name].stdout, reads[name].stderr)
    assert reads["none"].returncode == 1 and "UNAUTHENTICATED" in reads["none"].stdout
    assert admin["flag"].returncode == 0 and admin["env"].returncode == 0
    assert admin["none"].returncode == 2
    assert "set CAMPAIGN_LIFT_ADMIN_TOKEN" in admin["none"].stdout
    assert scored["flag"].returncode == 0 and scored["env"].returncode == 0
    assert "chosen:" in scored["flag"].stdout
    assert scored["none"].returncode == 1 and "UNAUTHENTICATED" in scored["none"].stdout


def _env(**tokens: str) -> dict[str, str]:
    return {f"CAMPAIGN_LIFT_{role}_TOKEN": value for role, value in tokens.items()}
