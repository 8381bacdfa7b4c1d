"""The campaign catalogue over real gRPC: campaigns put by the admin, Score by id (or every
active campaign) agreeing exactly with inline features, schedules, pause/resume/archive,
unknown ids, budgets paced across two servers on one store, frequency caps, the profit
objective, and catalogue changes under load failing no request."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from sqlalchemy import func, select

from clients.catalogue import CatalogueClient
from clients.client import CampaignLiftClient, UserRequest
from clients.simulator import World
from feedback.models import DecisionRow
from feedback.store import Store
from server.runtime.app import RunningServer, start
from tests.conftest import promote_new, server_settings
from tests.e2e.helpers import user_request

TOKEN = "catalogue-admin-token"
UNIFORM = json.dumps({"type": "epsilon_greedy", "epsilon": 1.0})
GREEDY = json.dumps({"type": "epsilon_greedy", "epsilon": 0.0})


def _start(store: Store, tmp_path: Path, **overrides: object) -> RunningServer:
    values: dict[str, object] = {"admin_token": TOKEN, "catalogue_poll_interval_s": 0.1}
    values.update(overrides)
    return start(server_settings(store, tmp_path, **values))


@pytest.fixture
def served(sqlite_store: Store, tmp_path: Path, trained_logreg) -> Iterator[RunningServer]:  # type: ignore[no-untyped-def]
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    server = _start(sqlite_store, tmp_path)
    yield server
    server.stop()


def catalogue(server: RunningServer, token: str = TOKEN) -> CatalogueClient:
    return CatalogueClient(f"127.0.0.1:{server.port}", token, actor="carol@test")


def scoring(server: RunningServer) -> CampaignLiftClient:
    return CampaignLiftClient(f"127.0.0.1:{server.port}")


def put_world(client: CatalogueClient, world: World, **fields: object) -> None:
    for c in world.campaigns:
        client.put(c.campaign_id, c.features(), **fields)  # type: ignore[arg-type]


def by_id(world: World, i: int, ids: list[str] | None = None, **kw: object) -> UserRequest:
    inline = user_request(world, i)
    return UserRequest(
        unit_id=inline.unit_id,
        user_features=inline.user_features,
        campaign_ids=ids if ids is not None else [c for c, _ in inline.candidates],
        **kw,  # type: ignore[arg-type]
    )


def test_score_by_id_agrees_exactly_with_inline_features(
    served: RunningServer, world: World
) -> None:
    with catalogue(served) as admin:
        put_world(admin, world)
        listed = admin.list()
    assert [c["campaign"]["campaign_id"] for c in listed["campaigns"]] == sorted(
        c.campaign_id for c in world.campaigns
    )
    assert int(listed["catalogue_version"]) == len(world.campaigns)
    with scoring(served) as client:
        for i in range(5):
            inline = client.score(user_request(world, i))
            named = client.score(by_id(world, i))
            every = client.score(
                UserRequest(
                    world.users.unit_id.iat[i], world.user_features(i), all_active_campaigns=True
                )
            )
            assert named.excluded == {} and named.catalogue_version == len(world.campaigns)
            assert inline.catalogue_version == 0
            for result in (named, every):
                got = {c.campaign_id: c for c in result.candidates}
                for want in inline.candidates:
                    assert got[want.campaign_id].probability == want.probability
                    assert got[want.campaign_id].uplift == want.uplift
                    assert got[want.campaign_id].propensity == want.propensity


def test_schedule_status_and_unknown_ids_are_excluded_with_the_reason(
    served: RunningServer, world: World
) -> None:
    now = datetime.now(UTC)
    first, second, third, fourth = world.campaigns[:4]
    with catalogue(served) as admin:
        admin.put(first.campaign_id, first.features())
        admin.put(second.campaign_id, second.features(), starts_at=now + timedelta(days=1))
        admin.put(
            third.campaign_id,
            third.features(),
            ends_at=now - timedelta(seconds=1),
            starts_at=now - timedelta(days=3),
        )
        admin.put(fourth.campaign_id, fourth.features())
        admin.pause(fourth.campaign_id)
    ids = [c.campaign_id for c in (first, second, third, fourth)] + ["no-such-campaign"]
    with scoring(served) as client:
        result = client.score(by_id(world, 0, ids))
        assert [c.campaign_id for c in result.candidates] == [first.campaign_id]
        assert result.excluded == {
            second.campaign_id: "not_started",
            third.campaign_id: "ended",
            fourth.campaign_id: "paused",
            "no-such-campaign": "unknown",
        }
        with catalogue(served) as admin:
            admin.resume(fourth.campaign_id)
        resumed = client.score(by_id(world, 0, ids))
        assert {c.campaign_id for c in resumed.candidates} == {
            first.campaign_id,
            fourth.campaign_id,
        }
        with catalogue(served) as admin:
            admin.archive(first.campaign_id)
            admin.archive(fourth.campaign_id)
        with pytest.raises(grpc.RpcError) as none_left:
            client.score(by_id(world, 0, ids))
        assert none_left.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "archived" in none_left.value.details()
        with pytest.raises(grpc.RpcError) as unknown:
            client.score(by_id(world, 0, ["nope-1", "nope-2"]))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as both:
            client.score(
                UserRequest(
                    "u",
                    world.user_features(0),
                    candidates=[("x", first.features())],
                    campaign_ids=[first.campaign_id],
                )
            )
        assert both.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "exclusive" in both.value.details()
        # The server still serves.
        assert client.score(user_request(world, 1)).decision.decision_id


def test_catalogue_changes_need_the_admin_token_and_bad_definitions_are_named(
    served: RunningServer, world: World
) -> None:
    c = world.campaigns[0]
    with catalogue(served, token="") as anonymous:
        with pytest.raises(grpc.RpcError) as err:
            anonymous.put(c.campaign_id, c.features())
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert anonymous.list()["campaigns"] == []  # reads are open without a reader token
    with catalogue(served) as admin:
        for fields, named in [
            ({"cost_share": 1.5}, "cost_share"),
            ({"budget": {"daily_sends": -1.0}}, "daily_sends"),
            ({"cap_sends": 2}, "cap"),
            ({"status": "running"}, "status"),
            (
                {
                    "starts_at": datetime(2027, 1, 2, tzinfo=UTC),
                    "ends_at": datetime(2027, 1, 1, tzinfo=UTC),
                },
                "ends_at",
            ),
        ]:
            with pytest.raises(grpc.RpcError) as bad:
                admin.put(c.campaign_id, c.features(), **fields)  # type: ignore[arg-type]
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert named in bad.value.details()
        with pytest.raises(grpc.RpcError) as missing:
            admin.pause("never-put")
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        info = admin.put(c.campaign_id, c.features(), budget={"total_sends": 10.0})
        assert (
            info["updated_by"] == "carol@test" and info["campaign"]["budget"]["total_sends"] == 10
        )


def _sends(store: Store, campaign_id: str) -> int:
    with store.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(DecisionRow)
                .where(DecisionRow.campaign_id == campaign_id)
            )
        )


def test_a_budget_is_never_overspent_by_two_servers_on_one_store(
    store: Store, tmp_path: Path, trained_logreg, world: World
) -> None:
    """Two servers, one store (SQLite and PostgreSQL); a campaign with 40 sends in total, one
    without a budget, every choice uniform: the budgeted campaign is sent at most 40 times
    and, with leases of 4 (10%), at least 40 - 2 x 4; then it is excluded as over budget."""
    promote_new(store, trained_logreg, tmp_path / "artifacts")
    servers = [
        _start(
            store, tmp_path, policy=UNIFORM, budget_lease_share=0.1, decision_flush_interval_s=0.01
        )
        for _ in range(2)
    ]
    budgeted, free = world.campaigns[0], world.campaigns[1]
    try:
        with catalogue(servers[0]) as admin:
            admin.put(budgeted.campaign_id, budgeted.features(), budget={"total_sends": 40.0})
            admin.put(free.campaign_id, free.features())
        ids = [budgeted.campaign_id, free.campaign_id]
        errors: list[BaseException] = []
        excluded: list[str] = []

        def traffic(server: RunningServer, offset: int) -> None:
            try:
                with scoring(server) as client:
                    for i in range(offset, offset + 150):
                        result = client.score(by_id(world, i, ids))
                        excluded.extend(result.excluded.values())
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [
            threading.Thread(target=traffic, args=(s, k * 150))
            for k, s in enumerate(servers)
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert "over_budget" in excluded
    finally:
        for s in servers:
            s.stop()
    sent = _sends(store, budgeted.campaign_id)
    assert 40 - 2 * 4 <= sent <= 40
    assert _sends(store, free.campaign_id) > 100  # the rest of the traffic went on


def test_a_frequency_cap_holds_per_unit(
    sqlite_store: Store, tmp_path: Path, trained_logreg, world: World
) -> None:
    """At most 2 sends in a day to one unit; every choice uniform, so the capped campaign is
    chosen while it may be (P(< 2 sends in 60 tries) is below 1e-9), then left out."""
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    server = _start(sqlite_store, tmp_path, policy=UNIFORM)
    capped, free = world.campaigns[0], world.campaigns[1]
    try:
        with catalogue(server) as admin:
            admin.put(capped.campaign_id, capped.features(), cap_sends=2, cap_days=1.0)
            admin.put(free.campaign_id, free.features())
        ids = [capped.campaign_id, free.campaign_id]
        with scoring(server) as client:
            results = [client.score(by_id(world, 7, ids)) for _ in range(60)]
            other_unit = client.score(by_id(world, 8, ids))
    finally:
        server.stop()
    chosen = [r.decision.campaign_id for r in results]
    assert chosen.count(capped.campaign_id) == 2
    assert results[-1].excluded == {capped.campaign_id: "frequency_cap"}
    assert other_unit.excluded == {}  # the cap is per unit


def test_profit_sends_no_campaign_whose_value_does_not_cover_its_cost(
    sqlite_store: Store, tmp_path: Path, trained_logreg, world: World
) -> None:
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    server = _start(sqlite_store, tmp_path, policy=GREEDY, profit=True, conversion_value=100.0)
    try:
        with catalogue(server) as admin:
            put_world(admin, world, cost_per_send=0.0)
        with scoring(server) as client:
            free = [client.score(by_id(world, i)) for i in range(40)]
            with catalogue(server) as admin:
                put_world(admin, world, cost_per_send=1_000.0)
            dear = [client.score(by_id(world, i)) for i in range(40)]
    finally:
        server.stop()
    # Free campaigns go to whoever they lift; at 1,000 a send, no lift of a probability
    # worth 100 covers the cost: no campaign for anyone.
    assert any(r.decision.campaign_id for r in free)
    for r in free:
        best = max(c.uplift["conversion"] for c in r.candidates)
        assert (r.decision.campaign_id is not None) == (best > 0)
    assert all(r.decision.campaign_id is None for r in dear)


def test_catalogue_changes_under_load_fail_no_request(served: RunningServer, world: World) -> None:
    steady, flapping = world.campaigns[0], world.campaigns[1]
    with catalogue(served) as admin:
        admin.put(steady.campaign_id, steady.features())
        admin.put(flapping.campaign_id, flapping.features())
    stop = threading.Event()
    errors: list[BaseException] = []
    served_n = [0]

    def traffic() -> None:
        try:
            with scoring(served) as client:
                i = 0
                while not stop.is_set():
                    client.score(
                        UserRequest(
                            world.users.unit_id.iat[i % 400],
                            world.user_features(i % 400),
                            all_active_campaigns=True,
                        )
                    )
                    served_n[0] += 1
                    i += 1
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=traffic) for _ in range(3)]
    for t in threads:
        t.start()
    with catalogue(served) as admin:
        for k in range(30):
            admin.put(flapping.campaign_id, flapping.features(), cost_per_send=float(k))
            (admin.pause if k % 2 else admin.resume)(flapping.campaign_id)
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert served_n[0] > 50


def test_a_campaign_the_model_cannot_score_is_excluded_not_fatal(
    served: RunningServer, world: World
) -> None:
    first = world.campaigns[0]
    with catalogue(served) as admin:
        admin.put(first.campaign_id, first.features())
        admin.put("sms-blast", {**first.features(), "campaign_type": "sms"})  # never trained on
    with scoring(served) as client:
        every = UserRequest(
            world.users.unit_id.iat[0], world.user_features(0), all_active_campaigns=True
        )
        result = client.score(every)
        assert [c.campaign_id for c in result.candidates] == [first.campaign_id]
        assert result.excluded == {"sms-blast": "unscorable"}
        with pytest.raises(grpc.RpcError) as only:
            client.score(by_id(world, 0, ["sms-blast"]))
        assert only.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "sms" in only.value.details()
