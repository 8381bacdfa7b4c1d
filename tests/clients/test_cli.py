"""The campaign-lift CLI's score command against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from feedback.store import Store
from server.app import start
from tests.conftest import ROOT, promote_new, server_settings


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "clients.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_score_prints_the_decision_and_names_bad_fields(
    sqlite_store: Store, tmp_path: Path, world, trained_logreg
) -> None:
    version = promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    running = start(server_settings(sqlite_store, tmp_path))
    target = f"127.0.0.1:{running.port}"
    user = {k: (v if isinstance(v, str) else float(v)) for k, v in world.user_features(3).items()}
    candidates = {c.campaign_id: c.features() for c in world.campaigns[:2]}
    try:
        ok = run_cli(
            "score",
            "--target",
            target,
            "--user",
            json.dumps(user),
            "--candidates",
            json.dumps(candidates),
        )
        bad = run_cli(
            "score",
            "--target",
            target,
            "--user",
            json.dumps({"age": 30}),
            "--candidates",
            json.dumps(candidates),
        )
    finally:
        running.stop()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"(model {version.version})" in ok.stdout
    assert "coupon-10" in ok.stdout and "coupon-25" in ok.stdout
    assert "chosen:" in ok.stdout and "policy epsilon_greedy" in ok.stdout
    assert bad.returncode == 1
    assert (
        "INVALID_ARGUMENT" in bad.stdout
        and "user_features['sessions_30d'] is missing" in bad.stdout
    )
