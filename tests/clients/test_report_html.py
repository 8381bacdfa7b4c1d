"""The HTML A/B report in a real headless Chromium (Debian's `chromium`): the page written by
`campaign-lift experiments report NAME --html PATH` against a real server loads with no script
or console error, fetches nothing, and shows each variant's rate, the lift and the SRM p."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from scipy import stats as sps

from clients.render.html import render_html
from feedback.store import Store
from server.runtime.app import start
from tests.clients.test_cli import run_cli
from tests.conftest import IN_CI, promote_new, server_settings
from tests.feedback.test_report_stats import _plant


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if IN_CI:
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium chromium-driver)")
    return path


def _dump_dom(page: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",  # tests may run as root in containers
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "HOME": str(page.parent)},
    )


def test_html_report_renders_in_headless_chromium(
    sqlite_store: Store, tmp_path: Path, trained_logreg
) -> None:
    _chromium()
    truth = _plant(sqlite_store)
    version = promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    page = tmp_path / "report.html"
    running = start(server_settings(sqlite_store, tmp_path))
    try:
        shown = run_cli(
            "experiments",
            "report",
            "ab",
            "--target",
            f"127.0.0.1:{running.port}",
            "--html",
            str(page),
            "--json",
        )
    finally:
        running.stop()
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert json.loads(shown.stdout)["experiment"] == "ab"
    browser = _dump_dom(page)
    assert browser.returncode == 0, browser.stderr
    dom = browser.stdout
    # The closing script ran: no script error stopped the page; nothing logged to the console
    # (a blocked network fetch would log a Content-Security-Policy violation).
    assert 'data-rendered="yes"' in dom
    for sign in ("Uncaught", "CONSOLE", "Refused to", "ERR_"):
        assert sign not in browser.stderr, browser.stderr
    # Key numbers, from the planted data (not from the report).
    for variant in ("a", "b"):
        rate = truth[variant]["conversion"].mean()
        assert f"<td>{rate:.4f}</td>" in dom
    lift = truth["b"]["conversion"].mean() / truth["a"]["conversion"].mean() - 1
    assert f"{lift:+.2%} [" in dom
    srm_p = sps.chisquare([600, 640], [620, 620]).pvalue
    assert f"p = {srm_p:.4g}: no mismatch" in dom
    assert dom.count("<svg") >= 4  # rates, cumulative lift, posteriors, timeline
    assert "2026-11-03" in dom  # the last day of the cumulative plot's data
    assert f"<td>{version.version}</td>" in dom  # the timeline's production version
    assert "CUPED with pre-period covariate history" in dom


def test_sample_ratio_mismatch_is_a_warning_on_the_page(sqlite_store: Store) -> None:
    from google.protobuf.json_format import MessageToDict

    from feedback.ab_report import experiment_report
    from server.rpc.converters.experiments import report_message

    _plant(sqlite_store)
    data = MessageToDict(
        report_message(experiment_report(sqlite_store, "ab")),
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
    assert "SAMPLE RATIO MISMATCH" not in render_html(data)
    data["srm_warning"], data["srm_p"] = True, 1e-6
    page = render_html(data)
    assert 'class="warning" id="srm">SAMPLE RATIO MISMATCH' in page and "p = 1e-06" in page
