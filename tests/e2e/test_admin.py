"""Model administration over real gRPC: auth, versions, promotion, rollback, canary, archive,
history, and promotions under load with zero failed requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from clients.admin import AdminClient
from clients.client import CampaignLiftClient
from feedback.assignment import bucket
from feedback.store import Store
from server.runtime.app import RunningServer, start
from tests.conftest import promote_new, server_settings
from tests.e2e.helpers import user_request
from trainer.train import register, train

TOKEN = "s3cret-admin-token"


@pytest.fixture
def three_versions(
    sqlite_store: Store, tmp_path: Path, trained_logreg, history, sim_spec
) -> list[int]:
    first = promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    others = [
        register(
            sqlite_store, train(history, sim_spec, family=f), tmp_path / "artifacts", source="test"
        )
        for f in ("tree", "hgb")
    ]
    return [first.version, *(v.version for v in others)]


@pytest.fixture
def running(sqlite_store: Store, tmp_path: Path, three_versions) -> Iterator[RunningServer]:  # type: ignore[no-untyped-def]
    server = start(
        server_settings(sqlite_store, tmp_path, admin_token=TOKEN, model_poll_interval_s=0.1)
    )
    yield server
    server.stop()


def admin(server: RunningServer, token: str = TOKEN) -> AdminClient:
    return AdminClient(f"127.0.0.1:{server.port}", token, actor="alice@test")


@pytest.mark.parametrize(
    ("token", "code"),
    [("", grpc.StatusCode.UNAUTHENTICATED), ("wrong", grpc.StatusCode.UNAUTHENTICATED)],
)
def test_admin_calls_need_the_token(
    running: RunningServer, token: str, code: grpc.StatusCode
) -> None:
    with admin(running, token) as client, pytest.raises(grpc.RpcError) as err:
        client.list_versions()
    assert err.value.code() == code
    # Scoring stays open.
    with CampaignLiftClient(f"127.0.0.1:{running.port}") as scoring:
        from clients.simulator import World

        assert scoring.score(user_request(World(n_users=10), 0)).decision.model_version


def test_admin_is_disabled_without_a_configured_token(
    sqlite_store: Store, tmp_path: Path, three_versions
) -> None:  # type: ignore[no-untyped-def]
    server = start(server_settings(sqlite_store, tmp_path))
    try:
        with admin(server, "anything") as client, pytest.raises(grpc.RpcError) as err:
            client.list_versions()
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "no token configured" in err.value.details()
    finally:
        server.stop()


def test_versions_promote_rollback_canary_archive_history(
    running: RunningServer, three_versions: list[int]
) -> None:
    v1, v2, v3 = three_versions
    with admin(running) as client:
        listed = client.list_versions()
        assert [int(v["version"]) for v in listed] == [v1, v2, v3]
        assert listed[0]["stages"] == ["production"]
        shown = client.get_version(v3)
        assert shown["family"] == "hgb" and shown["targets"] == ["click", "conversion"]
        assert shown["feature_schema"]["campaign"]["campaign_type"] == "categorical"
        assert 0.5 < shown["metrics"]["conversion.auc"] <= 1.0
        compared = client.compare(v1, v3)
        auc = next(m for m in compared["metrics"] if m["metric"] == "conversion.auc")
        assert auc["difference"] == pytest.approx(auc["other"] - auc["base"])
        assert compared["same_feature_schema"] is True

        assert client.promote(v2, "better AUC")["to_version"] == str(v2)
        client.promote(v2, "again: a no-op, not a move")
        assert client.promote(v3)["from_version"] == str(v2)
        back = client.rollback("v3 misbehaves")
        assert (back["from_version"], back["to_version"]) == (str(v3), str(v2))

        canary = client.set_canary(v3, 25.0, "try v3 on a quarter")
        assert canary["traffic_percent"] == 25.0
        assert client.get_version(v3)["canary_percent"] == 25.0
        with pytest.raises(grpc.RpcError) as err:
            client.archive(v3)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "is canary" in err.value.details()
        assert client.set_canary(0, 0.0)["to_version"] == "0"
        client.archive(v3, "superseded")
        assert [int(v["version"]) for v in client.list_versions()] == [v1, v2]
        with pytest.raises(grpc.RpcError) as err:
            client.promote(v3)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.RpcError) as err:
            client.promote(999)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as err:
            client.set_canary(v2, 150.0)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        events = client.events()
        moves = [(e["stage"], e["from_version"], e["to_version"]) for e in events]
        assert moves[-6:] == [
            ("production", str(v1), str(v2)),
            ("production", str(v2), str(v3)),
            ("production", str(v3), str(v2)),
            ("canary", "0", str(v3)),
            ("canary", str(v3), "0"),
            ("archived", "0", str(v3)),
        ]
        assert {e["actor"] for e in events[-6:]} == {"alice@test"}
        assert events[-4]["reason"] == "v3 misbehaves"


def test_canary_takes_its_share_of_units_deterministically(
    running: RunningServer, three_versions, world
) -> None:  # type: ignore[no-untyped-def]
    v1, _, v3 = three_versions
    with admin(running) as client:
        client.set_canary(v3, 30.0)
    deadline = time.monotonic() + 5
    with CampaignLiftClient(f"127.0.0.1:{running.port}") as scoring:
        while True:
            results = scoring.score_batch([user_request(world, i) for i in range(400)])
            if (
                any(r.decision.model_version == str(v3) for r in results)
                or time.monotonic() > deadline
            ):
                break
            time.sleep(0.1)
    for i, r in enumerate(results):
        unit = world.users.unit_id.iat[i]
        expected = str(v3) if bucket(f"canary-{v3}", unit) * 100 < 30.0 else str(v1)
        assert r.decision.model_version == expected
    share = sum(r.decision.model_version == str(v3) for r in results) / len(results)
    assert 0.22 < share < 0.38


def test_promotions_and_rollbacks_under_load_fail_no_request(
    running: RunningServer, three_versions, world
) -> None:  # type: ignore[no-untyped-def]
    v1, v2, v3 = three_versions
    seen: list[str] = []
    errors: list[grpc.RpcError] = []
    stop = threading.Event()

    def hammer() -> None:
        with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
            i = 0
            while not stop.is_set():
                try:
                    seen.append(client.score(user_request(world, i % 200)).decision.model_version)
                except grpc.RpcError as exc:
                    errors.append(exc)
                i += 1

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        with admin(running) as client:
            for version in (v2, v3, v1):
                client.promote(version)
                time.sleep(0.4)
                client.rollback()
                time.sleep(0.4)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert len(seen) > 100
    assert set(seen) == {str(v1), str(v2), str(v3)}


def test_corrupt_artifact_is_refused_and_production_keeps_serving(
    running: RunningServer, three_versions, world
) -> None:  # type: ignore[no-untyped-def]
    from feedback.registry import PRODUCTION, get_version, set_stage

    v1, v2, _ = three_versions
    path = Path(get_version(running.store, v2).artifact_path)
    good = path.read_bytes()
    data = bytearray(good)
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with admin(running) as client:
        with pytest.raises(grpc.RpcError) as err:
            client.promote(v2, "this artifact was tampered with")
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "no longer has its registered sha256" in err.value.details()
    # A pointer moved behind the admin API's back: servers refuse the load and keep serving.
    set_stage(running.store, PRODUCTION, v2, actor="test")
    _wait(lambda: running.models.load_failures == 1)
    with CampaignLiftClient(f"127.0.0.1:{running.port}") as scoring:
        versions = {scoring.score(user_request(world, i)).decision.model_version for i in range(20)}
        assert versions == {str(v1)}
        # Repaired and promoted again: the server retries and switches.
        path.write_bytes(good)
        with admin(running) as client:
            client.promote(v1)
            client.promote(v2)
        _wait(lambda: scoring.score(user_request(world, 0)).decision.model_version == str(v2))


def test_two_server_processes_on_one_store_follow_a_promotion(
    store: Store, tmp_path: Path, trained_logreg, history, sim_spec, world
) -> None:  # type: ignore[no-untyped-def]
    import os

    from tests.e2e.test_restart import _free_port, server_process

    first = promote_new(store, trained_logreg, tmp_path / "artifacts")
    second = register(
        store, train(history, sim_spec, family="tree"), tmp_path / "artifacts", source="test"
    )
    interval = 0.5
    os.environ["CAMPAIGN_LIFT_MODEL_POLL_INTERVAL_S"] = str(interval)
    os.environ["CAMPAIGN_LIFT_ADMIN_TOKEN"] = TOKEN
    ports = [_free_port(), _free_port()]
    try:
        with server_process(store, tmp_path, ports[0]), server_process(store, tmp_path, ports[1]):
            clients = [CampaignLiftClient(f"127.0.0.1:{p}") for p in ports]
            assert {c.score(user_request(world, 0)).decision.model_version for c in clients} == {
                str(first.version)
            }
            with AdminClient(f"127.0.0.1:{ports[0]}", TOKEN, actor="alice@test") as client:
                promoted_at = time.monotonic()
                client.promote(second.version)
            waits = []
            for c in clients:
                while c.score(user_request(world, 1)).decision.model_version != str(second.version):
                    assert time.monotonic() - promoted_at < 20 * interval
                    time.sleep(0.01)
                waits.append(time.monotonic() - promoted_at)
                c.close()
    finally:
        del (
            os.environ["CAMPAIGN_LIFT_MODEL_POLL_INTERVAL_S"],
            os.environ["CAMPAIGN_LIFT_ADMIN_TOKEN"],
        )
    # Measured here: about one poll interval (0.5 s). The loop above only bounds it generously
    # (liveness); speed is the benchmark's business, not a test's.
    print(f"promote -> first response by the new version: {[round(w, 3) for w in waits]} s")


def _wait(condition, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_shadow_scores_off_the_hot_path_and_reports_agreement(
    running: RunningServer,
    three_versions,
    world,
    sqlite_store: Store,
    tmp_path: Path,
    trained_logreg,
) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from tests.e2e.helpers import outcomes_for

    v1, _, v3 = three_versions
    twin = register(sqlite_store, trained_logreg, tmp_path / "artifacts", source="test").version
    rng = np.random.default_rng(0)
    with admin(running) as client, CampaignLiftClient(f"127.0.0.1:{running.port}") as scoring:
        client.set_shadow(v3, "compare hgb")
        _wait(
            lambda: running.models.shadow is not None and running.models.shadow.version == str(v3)
        )
        users = np.arange(120)
        results = scoring.score_batch([user_request(world, int(u)) for u in users])
        assert {r.decision.model_version for r in results} == {str(v1)}  # never the shadow's
        labelled_sent = [r for r in results if r.decision.campaign_id is not None]
        scoring.log_outcomes(outcomes_for(world, users, results, rng))
        assert running.decisions.flush()
        _wait(lambda: running.shadow.scored >= 120)
        report = client.shadow_report()
        assert (report["shadow_version"], report["production_version"]) == (str(v3), str(v1))
        assert report["production_versions"] == [str(v1)]
        assert report["target"] == "conversion" and report["decisions"] == "120"
        assert 0.0 <= report["greedy_agreement"] <= 1.0
        assert report["mean_abs_probability_diff"] > 0.0
        assert int(report["labelled"]) == len(labelled_sent)
        assert 0.0 < report["shadow_mean_prediction"] < 1.0
        assert 0.0 <= report["decision_agreement"] <= 1.0

        # A shadow identical to production agrees everywhere.
        client.set_shadow(twin)
        _wait(
            lambda: running.models.shadow is not None and running.models.shadow.version == str(twin)
        )
        scoring.score_batch([user_request(world, int(u)) for u in users[:50]])
        assert running.decisions.flush()  # the report joins on logged decisions
        _wait(lambda: running.shadow.scored >= 170)
        same = client.shadow_report(twin)
        assert same["greedy_agreement"] == 1.0 and same["mean_abs_probability_diff"] == 0.0
        # The same policy with the same predictions and the decision's own seed decides alike.
        assert same["decision_agreement"] == 1.0
        assert client.set_shadow(0)["to_version"] == "0"
        _wait(lambda: running.models.shadow is None)
        with pytest.raises(grpc.RpcError) as err:
            client.shadow_report()
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_scoring_and_feedback_tokens_when_configured(
    sqlite_store: Store, tmp_path: Path, three_versions, world
) -> None:  # type: ignore[no-untyped-def]
    from clients.client import OutcomeEvent

    server = start(server_settings(sqlite_store, tmp_path, scoring_token="s", feedback_token="f"))
    target = f"127.0.0.1:{server.port}"
    event = [OutcomeEvent("e-1", "d-1", "click")]
    try:
        with CampaignLiftClient(target) as anonymous:
            for call in (
                lambda: anonymous.score(user_request(world, 0)),
                lambda: anonymous.log_outcomes(event),
            ):
                with pytest.raises(grpc.RpcError) as err:
                    call()
                assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with CampaignLiftClient(target, token="s") as scorer:
            assert scorer.score(user_request(world, 0)).decision.decision_id
            with pytest.raises(grpc.RpcError) as err:
                scorer.log_outcomes(event)  # the scoring token is not the feedback token
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with CampaignLiftClient(target, token="s", feedback_token="f") as both:
            assert both.log_outcomes(event) == (1, 0)
    finally:
        server.stop()


def test_archived_versions_stop_serving_pinned_requests(
    running: RunningServer, three_versions, world
) -> None:  # type: ignore[no-untyped-def]
    _, v2, _ = three_versions
    with CampaignLiftClient(f"127.0.0.1:{running.port}") as scoring:
        assert scoring.score(
            user_request(world, 0, model_version=str(v2))
        ).decision.model_version == str(v2)
        with admin(running) as client:
            client.archive(v2)

        def refused() -> bool:
            try:
                scoring.score(user_request(world, 0, model_version=str(v2)))
            except grpc.RpcError as exc:
                return exc.code() == grpc.StatusCode.NOT_FOUND and "archived" in (
                    exc.details() or ""
                )
            return False

        _wait(refused)


def test_canary_and_shadow_need_production_inputs(
    running: RunningServer, sqlite_store: Store, tmp_path: Path, history, sim_spec
) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    narrower = dataclasses.replace(
        sim_spec, user_features={k: v for k, v in sim_spec.user_features.items() if k != "gender"}
    )
    other = register(
        sqlite_store,
        train(history, narrower, family="logreg"),
        tmp_path / "artifacts",
        source="test",
    )
    with admin(running) as client:
        for call in (
            lambda: client.set_canary(other.version, 10.0),
            lambda: client.set_shadow(other.version),
        ):
            with pytest.raises(grpc.RpcError) as err:
                call()
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "takes other features than production" in err.value.details()
        # Promotion is the operator's call: allowed.
        assert client.promote(other.version)["to_version"] == str(other.version)


def test_retrain_jobs_are_listed(running: RunningServer, sqlite_store: Store) -> None:
    from datetime import UTC, datetime

    from feedback.outcomes import Outcome, log_outcomes
    from feedback.trigger import claim_retrain, finish_job

    log_outcomes(
        sqlite_store, [Outcome(f"e{i}", f"d{i}", "click", 1.0, datetime.now(UTC)) for i in range(3)]
    )
    job = claim_retrain(sqlite_store, min_new_outcomes=3)
    assert job is not None
    finish_job(sqlite_store, job.id, status="failed", message="no labelled decisions")
    with admin(running) as client:
        (listed,) = client.jobs()
    assert (listed["id"], listed["status"], listed["result_version"]) == (
        str(job.id),
        "failed",
        "0",
    )
    assert (
        listed["reason"] == "3 new outcomes (trigger at 3)"
        and listed["message"] == "no labelled decisions"
    )
    assert (listed["outcome_seq_from"], listed["outcome_seq_to"]) == ("0", "3")
    assert listed["finished_at"] >= listed["created_at"]
