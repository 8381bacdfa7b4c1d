"""The campaign-lift CLI's score command against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from feedback.store import Store
from server.runtime.app import start
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


def test_demo_refuses_to_clear_a_folder_it_did_not_make(tmp_path: Path) -> None:
    from clients.demo import MARKER, prepare_workdir
    from common.errors import InvalidArgument

    precious = tmp_path / "thesis.tex"
    precious.write_text("years of work")
    import pytest

    with pytest.raises(InvalidArgument, match="refusing to clear it"):
        prepare_workdir(tmp_path)
    assert precious.read_text() == "years of work"
    made = prepare_workdir(tmp_path / "demo")
    (made / "store.db").write_text("old run")
    again = prepare_workdir(tmp_path / "demo")
    assert sorted(p.name for p in again.iterdir()) == [MARKER]


def test_second_server_on_a_busy_port_is_refused(sqlite_store: Store, tmp_path: Path) -> None:
    import pytest

    from common.errors import FailedPrecondition

    first = start(server_settings(sqlite_store, tmp_path))
    try:
        with pytest.raises(FailedPrecondition, match="is the port in use"):
            start(server_settings(sqlite_store, tmp_path, port=first.port))
    finally:
        first.stop()


def test_cli_errors_are_one_line_not_tracebacks(tmp_path: Path) -> None:
    cases = [
        (
            (
                "train",
                "--data",
                str(tmp_path / "none.csv"),
                "--spec",
                str(ROOT / "specs" / "simulated.toml"),
                "--no-register",
            ),
            "error: data file",
        ),
        (("train", "--data", "x.csv", "--spec", str(tmp_path / "none.toml")), "error: spec"),
        (("score", "--user", "{not json", "--candidates", "{}"), "invalid JSON"),
        (
            ("score", "--user", "[1, 2]", "--candidates", "{}"),
            "--user must be a JSON object, got list",
        ),
    ]
    for args, message in cases:
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stdout, (args, result.stdout)
        assert "Traceback" not in result.stdout + result.stderr
    env_bad = subprocess.run(
        [sys.executable, "-m", "clients.cli", "serve"],
        cwd=tmp_path,
        env={**os.environ, "CAMPAIGN_LIFT_PORT": "abc"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert env_bad.returncode == 2 and "invalid settings: port" in env_bad.stdout
    assert "Traceback" not in env_bad.stdout + env_bad.stderr


def test_models_commands_over_the_admin_api(
    sqlite_store: Store, tmp_path: Path, trained_logreg
) -> None:
    from trainer.train import register

    first = promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    second = register(sqlite_store, trained_logreg, tmp_path / "artifacts", source="test")
    running = start(server_settings(sqlite_store, tmp_path, admin_token="tok"))
    target = f"127.0.0.1:{running.port}"
    os.environ["CAMPAIGN_LIFT_ADMIN_TOKEN"] = "tok"
    try:
        listed = run_cli("models", "list", "--target", target, "--json")
        promoted = run_cli(
            "models", "promote", str(second.version), "--target", target, "--reason", "ci"
        )
        table = run_cli("models", "list", "--target", target)
        history = run_cli("models", "history", "--target", target, "--json")
        os.environ["CAMPAIGN_LIFT_ADMIN_TOKEN"] = "wrong"
        denied = run_cli("models", "list", "--target", target)
    finally:
        del os.environ["CAMPAIGN_LIFT_ADMIN_TOKEN"]
        running.stop()
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert [int(v["version"]) for v in json.loads(listed.stdout)] == [first.version, second.version]
    assert (
        promoted.returncode == 0
        and f"production: {first.version} -> {second.version}" in promoted.stdout
    )
    assert "production" in table.stdout
    assert json.loads(history.stdout)[-1]["reason"] == "ci"
    assert denied.returncode == 1 and "UNAUTHENTICATED" in denied.stdout


def test_feedback_import_then_experiments_report(tmp_path: Path, world) -> None:  # type: ignore[no-untyped-def]
    history = world.history(3_000, seed=8)
    history["arm"] = history["campaign_id"].replace("", "none")
    csv = tmp_path / "logged.csv"
    history.to_csv(csv, index=False)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        'experiment = "sim"\nvariant = "arm"\ncampaign_id = "campaign_id"\nrow_id = "decision_id"\n'
        'unit_id = "unit_id"\npropensity = "propensity"\ncontrol_variant = "none"\n'
        'user_features = ["age"]\ncampaign_features = ["campaign_type"]\n'
        '[outcomes]\nclick = "click"\nconversion = "conversion"\n'
    )
    env = {
        "CAMPAIGN_LIFT_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "CAMPAIGN_LIFT_ARTIFACT_DIR": str(tmp_path / "artifacts"),
    }
    os.environ.update(env)
    try:
        imported = run_cli("feedback", "import", str(csv), "--mapping", str(mapping))
        again = run_cli("feedback", "import", str(csv), "--mapping", str(mapping))
        store = Store(env["CAMPAIGN_LIFT_DATABASE_URL"])
        running = start(server_settings(store, tmp_path))
        try:
            shown = run_cli(
                "experiments", "report", "sim", "--target", f"127.0.0.1:{running.port}", "--json"
            )
            table = run_cli("experiments", "report", "sim", "--target", f"127.0.0.1:{running.port}")
            missing = run_cli(
                "experiments", "report", "nope", "--target", f"127.0.0.1:{running.port}"
            )
        finally:
            running.stop()
    finally:
        for key in env:
            del os.environ[key]
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "imported 3000 decisions" in imported.stdout and "experiment 'sim'" in imported.stdout
    assert "0 new outcomes" in again.stdout
    report = json.loads(shown.stdout)
    assert report["control"] == "none"
    # The unit is the user: converted when any of its decisions converted.
    by_arm = history.groupby(["arm", "unit_id"])["conversion"].max().groupby("arm").mean()
    for v in report["variants"]:
        conversion = next(m for m in v["metrics"] if m["metric"] == "conversion")
        assert conversion["mean"] == pytest.approx(by_arm[v["name"]], abs=1e-12)
        assert v["units"] == len({u for u in history.loc[history["arm"] == v["name"], "unit_id"]})
    # The headline p of a rate is the two-proportion z-test, named in the JSON and the table.
    treated = next(v for v in report["variants"] if v["name"] != "none")
    assert {m["metric"]: m["test"] for m in treated["metrics"]} == {
        "click": "two_proportion_z",
        "conversion": "two_proportion_z",
        "revenue": "welch_t",
    }
    assert "two-proportion z-test (z)" in table.stdout and "per campaign" in table.stdout
    per_campaign = {(c["variant"], c["campaign_id"]): c["decisions"] for c in report["campaigns"]}
    assert per_campaign == {
        (arm, "" if arm == "none" else arm): int(n)
        for arm, n in history["arm"].value_counts().items()
    }
    assert "sample-ratio check" in table.stdout
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stdout


def test_campaigns_commands_over_the_catalogue_api(
    sqlite_store: Store, tmp_path: Path, trained_logreg
) -> None:
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    running = start(server_settings(sqlite_store, tmp_path, admin_token="tok"))
    target = f"127.0.0.1:{running.port}"
    definition = tmp_path / "coupon.json"
    definition.write_text(
        json.dumps(
            {
                "campaign_id": "coupon-25",
                "features": {"campaign_type": "coupon", "discount_pct": 25, "duration_days": 3},
                "cost_share": 0.25,
                "ends_at": "2099-01-01T00:00:00Z",
                "budget": {"daily_sends": 5000},
                "cap_sends": 1,
                "cap_days": 7,
            }
        )
    )
    os.environ["CAMPAIGN_LIFT_ADMIN_TOKEN"] = "tok"
    try:
        put = run_cli("campaigns", "put", str(definition), "--target", target)
        paused = run_cli("campaigns", "pause", "coupon-25", "--target", target)
        listed = run_cli("campaigns", "list", "--target", target, "--json")
        table = run_cli("campaigns", "list", "--target", target)
        bad = run_cli("campaigns", "put", '{"campaign_id": "x", "feature": {}}', "--target", target)
        naive = run_cli(
            "campaigns",
            "put",
            '{"campaign_id": "x", "features": {"campaign_type": "coupon"}, '
            '"starts_at": "2026-01-01T00:00:00"}',
            "--target",
            target,
        )
        missing = run_cli("campaigns", "put", str(tmp_path / "nope.json"), "--target", target)
        typed = run_cli(
            "campaigns",
            "put",
            '{"campaign_id": "x", "features": {"campaign_type": "coupon"}, "cap_sends": "two"}',
            "--target",
            target,
        )
        os.environ["CAMPAIGN_LIFT_ADMIN_TOKEN"] = "wrong"
        denied = run_cli("campaigns", "resume", "coupon-25", "--target", target)
    finally:
        del os.environ["CAMPAIGN_LIFT_ADMIN_TOKEN"]
        running.stop()
    assert put.returncode == 0, put.stdout + put.stderr
    assert "coupon-25" in put.stdout and "25% of basket" in put.stdout
    assert paused.returncode == 0 and "coupon-25: paused" in paused.stdout
    (info,) = json.loads(listed.stdout)["campaigns"]
    assert info["campaign"]["status"] == "paused"
    assert info["campaign"]["budget"]["daily_sends"] == 5000
    assert info["campaign"]["cap_sends"] == 1 and info["campaign"]["ends_at"].startswith("2099")
    assert "catalogue version 2" in table.stdout
    assert bad.returncode == 2 and "unknown campaign fields ['feature']" in bad.stdout
    assert naive.returncode == 2 and "time zone" in naive.stdout
    for result in (missing, typed):
        assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr
    assert "cannot read" in missing.stdout and "campaign 'x'" in typed.stdout
    assert denied.returncode == 1 and "UNAUTHENTICATED" in denied.stdout
