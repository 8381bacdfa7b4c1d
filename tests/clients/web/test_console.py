"""The console in a real browser (Debian's chromium through Playwright) against the real HTTP
side and a real gRPC server on loopback: signing in, the live A/B report showing what GetReport
returns, promotion with a reason and its confirmation, the reader and CSRF refusals, the session
cookie's flags, and axe's accessibility check on every page (screenshots of each kept under
tests/artifacts/console/; with CAMPAIGN_LIFT_CONSOLE_DOCS=1 also written to docs/console/)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from clients.admin import AdminClient
from clients.catalogue import CatalogueClient
from clients.web.backend import Backend
from feedback.store import Store, open_store
from protos.campaignlift.v1 import experiments_pb2
from server.runtime.app import RunningServer, start
from tests.clients.test_report_html import _chromium
from tests.clients.web.serving import http_side
from tests.conftest import ROOT, promote_new, server_settings
from tests.feedback.test_report_stats import _plant
from trainer.train import register

ADMIN = "console-admin-token"
READER = "console-reader-token"
ARTIFACTS = ROOT / "tests" / "artifacts" / "console"
DOCS = ROOT / "docs" / "console"
VIEWPORT = {"width": 1280, "height": 800}
# The lineage a retrain records for its gate (trainer/retrain.py), on the second version.
GATE = {
    "objective": "conversion",
    "rows": 812,
    "candidate_value": 0.13125,
    "production_value": 0.12031,
    "difference": 0.01094,
    "difference_ci": [-0.00412, 0.02600],
    "candidate_log_loss": 0.33871,
    "production_log_loss": 0.34102,
    "margin": 0.0,
    "promote": True,
    "reason": "not worse than production",
    "production_version": 1,
}


class Deployment:
    """The module's one gRPC server and HTTP side, and what was planted in its store."""

    def __init__(self, grpc: RunningServer, url: str, versions: list[int]) -> None:
        self.grpc = grpc
        self.url = url
        self.versions = versions
        self.target = f"127.0.0.1:{grpc.port}"

    def admin(self) -> AdminClient:
        return AdminClient(self.target, ADMIN, actor="test")

    def rpc(self, service: str, method: str, request: Any) -> dict[str, Any]:
        backend = Backend(self.target)
        try:
            return backend.call(service, method, request, token=ADMIN)
        finally:
            backend.close()

    def stages(self, version: int) -> list[str]:
        with self.admin() as client:
            return list(client.get_version(version)["stages"])

    def experiment_status(self) -> str:
        reply = self.rpc(
            "experiments", "GetExperiment", experiments_pb2.GetExperimentRequest(name="ab")
        )
        return str(reply["status"])


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, trained_logreg) -> Iterator[Deployment]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("console")
    store: Store = open_store(f"sqlite:///{tmp / 'store.db'}")
    _plant(store)  # experiment "ab": variants a and b with decisions and outcomes
    first = promote_new(store, trained_logreg, tmp / "artifacts")
    gated = dataclasses.replace(trained_logreg, extra_lineage={"gate": GATE})
    second = register(store, gated, tmp / "artifacts", source="store", parent_version=first.version)
    settings = server_settings(store, tmp, admin_token=ADMIN, reader_token=READER)
    running = start(settings)
    try:
        with CatalogueClient(f"127.0.0.1:{running.port}", ADMIN, actor="carol") as catalogue:
            catalogue.put(
                "c0",
                {"discount": 10.0},
                cost_per_send=0.05,
                cost_share=0.1,
                budget={"daily_sends": 1000, "total_cost": 250.0},
                cap_sends=2,
                cap_days=7,
            )
            catalogue.put("c1", {"discount": 0.0}, status="paused")
        with http_side(settings, running.port) as url:
            yield Deployment(running, url, [first.version, second.version])
    finally:
        running.stop()
        store.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = _chromium()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _context(browser: Browser, deployment: Deployment) -> BrowserContext:
    context = browser.new_context(base_url=deployment.url, viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(30_000)  # a loaded CI machine renders the plots slowly
    return context


def _sign_in(context: BrowserContext, token: str, name: str = "") -> Page:
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Token").fill(token)
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


@pytest.fixture(scope="module")
def admin_context(browser: Browser, deployment: Deployment) -> Iterator[BrowserContext]:
    context = _context(browser, deployment)
    page = _sign_in(context, ADMIN, "alice")
    assert page.url.endswith("/experiments"), page.url
    page.close()
    yield context
    context.close()


@pytest.fixture(scope="module")
def reader_context(browser: Browser, deployment: Deployment) -> Iterator[BrowserContext]:
    context = _context(browser, deployment)
    _sign_in(context, READER, "rita").close()
    yield context
    context.close()


def _csrf(page: Page) -> str:
    """The session's CSRF token, from the sign-out form every page carries."""
    return str(page.locator("form[action='/logout'] input[name=csrf]").input_value())


def _report(deployment: Deployment) -> dict[str, Any]:
    return deployment.rpc(
        "experiments", "GetReport", experiments_pb2.GetReportRequest(experiment="ab")
    )


def test_pages_need_a_session_and_a_wrong_token_is_refused(
    browser: Browser, deployment: Deployment
) -> None:
    context = _context(browser, deployment)
    page = context.new_page()
    page.goto("/models")
    assert page.url.endswith("/login?next=/models")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_label("Token").fill("not-a-token")
        page.get_by_role("button", name="Sign in").click()
    assert posted.value.status == 401
    assert "opens nothing here" in page.locator("#login-error").inner_text()
    assert context.cookies() == []
    # The right token then lands on the page first asked for.
    page.get_by_label("Token").fill(ADMIN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/models")
    assert page.get_by_role("heading", name="Model versions").is_visible()
    context.close()


def test_session_cookie_flags(admin_context: BrowserContext) -> None:
    (cookie,) = admin_context.cookies()
    assert cookie["name"] == "campaign_lift_session"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/"
    assert cookie["secure"] is False  # http_secure_cookies is off here


def test_report_shows_what_get_report_returns(
    admin_context: BrowserContext, deployment: Deployment
) -> None:
    page = admin_context.new_page()
    response = page.goto("/experiments")
    assert response is not None
    assert response.headers["content-security-policy"].startswith("default-src 'self';")
    row = page.locator("tr", has=page.get_by_role("link", name="ab", exact=True))
    assert "running" in row.inner_text() and "a (50.0%), b (50.0%)" in row.inner_text()
    row.get_by_role("link", name="ab", exact=True).click()
    page.wait_for_url("**/experiments/ab")
    report = page.locator("#report").inner_text()
    expected = _report(deployment)
    (b,) = [v for v in expected["variants"] if v["name"] == "b"]
    conversion = next(m for m in b["metrics"] if m["metric"] == "conversion")
    revenue = next(m for m in b["metrics"] if m["metric"] == "revenue")
    for v in expected["variants"]:
        mean = next(m for m in v["metrics"] if m["metric"] == "conversion")["mean"]
        assert f"{float(mean):.4f}" in report
    assert f"{float(conversion['relative']):+.2%} [" in report
    assert f"{float(conversion['p_value']):.4g} (two_proportion_z)" in report
    assert f"{float(conversion['chance_to_beat_control']):.1%}" in report
    assert f"{float(revenue['cuped_theta']):.4g}" in report  # CUPED on the covariate
    assert f"p = {float(expected['srm_p']):.4g}: no mismatch" in report
    assert page.locator("#report svg").count() >= 4
    # Live without JavaScript too: a meta refresh that only a page without scripts obeys.
    assert '<noscript><meta http-equiv="refresh" content="30"></noscript>' in page.content()
    assert page.locator("#refresh-status").inner_text().startswith("The report refreshes")
    assert page.get_by_role("button", name="Stop and release").is_visible()
    page.close()


def test_stop_with_a_release_then_start_again(
    admin_context: BrowserContext, deployment: Deployment
) -> None:
    page = admin_context.new_page()
    page.goto("/experiments/ab")
    page.get_by_label("Release to everyone").select_option("b")
    page.get_by_role("button", name="Stop and release").click()
    page.wait_for_url("**/experiments/ab?done=stopped")
    reply = deployment.rpc(
        "experiments", "GetExperiment", experiments_pb2.GetExperimentRequest(name="ab")
    )
    assert (reply["status"], reply["release"]) == ("stopped", "b")
    page.get_by_role("button", name="Start again").click()
    page.wait_for_url("**/experiments/ab?done=running")
    assert deployment.experiment_status() == "running"
    page.close()


def test_promote_with_a_reason_after_confirming(
    admin_context: BrowserContext, deployment: Deployment
) -> None:
    first, second = deployment.versions
    page = admin_context.new_page()
    page.goto(f"/models/{second}")
    assert "production" not in page.locator("#stages").inner_text()
    gate = page.locator("dl.gate").inner_text()
    assert "812 (conversion)" in gate and "+0.01094 [-0.00412, +0.02600]" in gate
    assert "candidate / production 1\n0.13125 / 0.12031" in gate
    page.get_by_label("Reason for promoting").fill("better AUC on the holdout")
    page.get_by_role("button", name="Promote to production…").click()
    # The confirmation step: nothing has moved yet.
    assert f"Production is version {first} now" in page.locator("#confirm-question").inner_text()
    assert "production" not in deployment.stages(second)
    page.get_by_role("button", name="Yes, promote").click()
    page.wait_for_url(f"**/models/{second}?done=promote")
    assert "production" in page.locator("#stages").inner_text()
    latest = page.locator("#history tbody tr").first.inner_text()
    assert "better AUC on the holdout" in latest and "alice" in latest
    with deployment.admin() as client:
        event = client.events("production")[-1]
    assert (event["to_version"], event["from_version"]) == (str(second), str(first))
    assert (event["reason"], event["actor"]) == ("better AUC on the holdout", "alice")
    # And on the list: its stage and the history.
    page.goto("/models")
    assert "better AUC on the holdout" in page.locator("#history").inner_text()
    page.close()


def test_a_reason_is_required(admin_context: BrowserContext, deployment: Deployment) -> None:
    first, _ = deployment.versions
    page = admin_context.new_page()
    page.goto(f"/models/{first}")
    before = deployment.stages(first)
    form = {"csrf": _csrf(page), "reason": "  ", "confirmed": "yes"}
    reply = page.request.post(f"/models/{first}/archive", form=form)
    assert reply.status == 400 and "reason is required" in reply.text()
    assert deployment.stages(first) == before
    page.close()


def test_a_reader_sees_no_actions_and_is_refused(
    reader_context: BrowserContext, deployment: Deployment
) -> None:
    first, second = deployment.versions
    before = {v: deployment.stages(v) for v in (first, second)}
    page = reader_context.new_page()
    page.goto("/experiments/ab")
    assert page.locator("#report").is_visible()
    assert page.locator("form[action$='/status']").count() == 0
    assert page.get_by_role("button").all_inner_texts() == ["Sign out"]
    # Model versions read-only: the registry's reads take the reader's token, changes do not.
    for path in ("/models", f"/models/{first}"):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        buttons = set(page.get_by_role("button").all_inner_texts()) - {"Compare"}  # a GET form
        assert buttons == {"Sign out"}, path
        assert page.locator("form[method='post'][action*='/models/']").count() == 0, path
    # Forged POSTs with the reader's own, valid CSRF token.
    csrf = _csrf(page)
    form = {"csrf": csrf, "reason": "forged", "confirmed": "yes"}
    reply = page.request.post(f"/models/{first}/promote", form=form)
    assert reply.status == 403 and "admin role" in reply.text()
    reply = page.request.post("/experiments/ab/status", form={"csrf": csrf, "status": "stopped"})
    assert reply.status == 403
    assert {v: deployment.stages(v) for v in (first, second)} == before
    assert deployment.experiment_status() == "running"
    page.close()


@pytest.mark.parametrize("csrf", [None, "wrong"])
def test_a_post_without_the_csrf_token_changes_nothing(
    admin_context: BrowserContext, deployment: Deployment, csrf: str | None
) -> None:
    first, second = deployment.versions
    before = {v: deployment.stages(v) for v in (first, second)}
    page = admin_context.new_page()
    page.goto("/models")
    form = {"reason": "no token", "confirmed": "yes"}
    if csrf is not None:
        form["csrf"] = csrf
    reply = page.request.post(f"/models/{first}/promote", form=form)
    assert reply.status == 403 and "CSRF" in reply.text()
    status = {"status": "stopped"} | ({"csrf": csrf} if csrf else {})
    assert page.request.post("/experiments/ab/status", form=status).status == 403
    assert {v: deployment.stages(v) for v in (first, second)} == before
    assert deployment.experiment_status() == "running"
    page.close()


def test_failed_calls_are_readable_pages(admin_context: BrowserContext) -> None:
    page = admin_context.new_page()
    response = page.goto("/experiments/no-such-experiment")
    assert response is not None and response.status == 404
    assert "no-such-experiment" in page.locator("#error-message").inner_text()
    response = page.goto("/models/999")
    assert response is not None and response.status == 404
    response = page.goto("/models/not-a-number")
    assert response is not None and response.status == 400
    assert "Traceback" not in page.content()
    page.close()


def _pages(deployment: Deployment) -> list[tuple[str, str]]:
    first, second = deployment.versions
    return [
        ("experiments", "/experiments"),
        ("experiment-report", "/experiments/ab"),
        ("models", "/models"),
        ("model-version", f"/models/{second}"),
        ("model-compare", f"/models/compare?base={first}&other={second}"),
        ("campaigns", "/campaigns"),
        ("campaign", "/campaigns/c0"),
        ("not-found", "/experiments/no-such-experiment"),
    ]


def _check(page: Page, name: str) -> None:
    """Axe finds nothing serious or critical; the screenshot is kept."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    bad = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{name}: {bad}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(shot))
    if os.environ.get("CAMPAIGN_LIFT_CONSOLE_DOCS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS / shot.name)


def test_every_page_is_accessible(
    browser: Browser, admin_context: BrowserContext, deployment: Deployment
) -> None:
    context = _context(browser, deployment)
    login = context.new_page()
    login.goto("/login")
    _check(login, "login")
    context.close()
    page = admin_context.new_page()
    # A script error or a CSP refusal (anything fetched from elsewhere) logs to the console.
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    for name, path in _pages(deployment):
        page.goto(path)
        _check(page, name)
        assert [e for e in errors if "404" not in e] == [], name  # not-found is a 404 page
    page.goto(f"/models/{deployment.versions[0]}")
    page.get_by_label("Reason for the canary").fill("try it on 5%")
    page.get_by_role("button", name="Set the canary…").click()
    page.wait_for_selector("#confirm-question")
    _check(page, "model-confirm")
    page.close()
