"""The catalogue in the store: definitions checked by field, a version raised by every change,
and budget leases that never add up to more than the budget under concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from common.errors import InvalidArgument, NotFound
from feedback import catalogue as cat
from feedback.catalogue import Campaign
from feedback.store import Store

FEATURES = {"campaign_type": "coupon", "discount_pct": 25.0}
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_every_change_raises_the_version_and_features_read_back_as_numbers(store: Store) -> None:
    assert cat.catalogue_version(store) == 0
    first = cat.put_campaign(store, Campaign("c1", {"campaign_type": "coupon", "discount_pct": 25}))
    second = cat.put_campaign(store, Campaign("c2", FEATURES), actor="bob")
    paused = cat.set_status(store, "c1", cat.PAUSED, actor="eve")
    assert (first.revision, second.revision, paused.revision) == (1, 2, 3)
    assert cat.catalogue_version(store) == 3
    snap = cat.snapshot(store)
    assert snap.version == 3 and set(snap.campaigns) == {"c1", "c2"}
    assert snap.campaigns["c1"].features["discount_pct"] == 25.0
    assert isinstance(snap.campaigns["c1"].features["discount_pct"], float)
    assert snap.campaigns["c1"].status == "paused" and snap.campaigns["c1"].updated_by == "eve"
    with pytest.raises(NotFound, match="'nope'"):
        cat.set_status(store, "nope", cat.ACTIVE)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"campaign_id": ""}, "campaign_id"),
        ({"features": {}}, "features"),
        ({"status": "live"}, "status"),
        ({"starts_at": datetime(2026, 1, 1)}, "time zone"),
        ({"starts_at": NOW, "ends_at": NOW}, "ends_at"),
        ({"cost_per_send": -1.0}, "cost_per_send"),
        ({"cost_share": 2.0}, "cost_share"),
        ({"budget": {"weekly_sends": 5.0}}, "budget key"),
        ({"budget": {"total_cost": 0.0}}, "total_cost"),
        ({"cap_sends": 3}, "frequency cap"),
    ],
)
def test_a_definition_that_cannot_be_served_is_refused_by_name(
    fields: dict[str, object], named: str
) -> None:
    values: dict[str, object] = {"campaign_id": "c1", "features": FEATURES, **fields}
    with pytest.raises(InvalidArgument, match=named):
        Campaign(**values).check()  # type: ignore[arg-type]


def test_schedule_and_status_decide_availability() -> None:
    c = Campaign("c", FEATURES, starts_at=NOW, ends_at=NOW + timedelta(days=1))
    assert c.unavailable(NOW - timedelta(seconds=1)) == "not_started"
    assert c.unavailable(NOW) is None  # the start is inclusive
    assert c.unavailable(NOW + timedelta(days=1)) == "ended"  # the end is not
    assert Campaign("c", FEATURES, status=cat.PAUSED).unavailable(NOW) == "paused"


def test_leases_never_exceed_the_budget_under_concurrency(store: Store) -> None:
    """Eight threads take blocks of 3 from a budget of 100 until it is spent: the grants add
    up to exactly 100, daily and total periods are apart."""
    grants: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        while (got := cat.take_lease(store, "c1", "total_sends", 100.0, 3.0, NOW)) > 0:
            with lock:
                grants.append(got)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(grants) == 100.0 and max(grants) == 3.0
    assert cat.leased(store, "c1", NOW)["total_sends"] == 100.0
    assert cat.take_lease(store, "c1", "daily_sends", 10.0, 4.0, NOW) == 4.0
    assert cat.take_lease(store, "c1", "daily_sends", 10.0, 4.0, NOW + timedelta(days=1)) == 4.0
    assert cat.leased(store, "c1", NOW)["daily_sends"] == 4.0
