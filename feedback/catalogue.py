"""The campaign catalogue: the campaigns Score may send by id, with their features, schedule,
status, cost, budgets and frequency caps; a version raised by every change, which servers poll;
budget leases through which several servers share one budget without overspending it.

Budgets are paced by leases: a server sends a budgeted campaign only from a block of the
budget it has taken from the store (`take_lease`, atomic), so the sends or cost booked across
every server never exceed the budget. What a lease held by a stopped server had left is not
spent: the budget is under-delivered by at most one lease per server and period, never
overspent. Cost is booked when the decision is made: the fixed cost per send plus
`cost_share` times the expected basket with the campaign (the model's revenue output).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common.errors import InvalidArgument, NotFound, Unavailable
from feedback.models import ID_LENGTH, BudgetLeaseRow, CampaignRow, CatalogueStateRow, utcnow
from feedback.store import Store

ACTIVE, PAUSED, ARCHIVED = "active", "paused", "archived"
STATUSES = (ACTIVE, PAUSED, ARCHIVED)
# Budget keys: what is counted (sends, booked cost) per UTC day and in total.
BUDGET_KEYS = ("daily_sends", "total_sends", "daily_cost", "total_cost")
TOTAL = "total"
# A lease taken concurrently by another server makes a take read again, this many times.
LEASE_ATTEMPTS = 20


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    features: Mapping[str, float | str]
    status: str = ACTIVE
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    cost_per_send: float = 0.0
    cost_share: float = 0.0
    budget: Mapping[str, float] = field(default_factory=dict)
    cap_sends: int = 0
    cap_days: float = 0.0
    revision: int = 0
    updated_at: datetime | None = None
    updated_by: str = ""

    def check(self) -> None:
        """Refuses a definition that cannot be served, naming the field and the value."""
        cid = self.campaign_id
        if not cid or len(cid) > ID_LENGTH:
            raise InvalidArgument(f"campaign_id must be 1 to {ID_LENGTH} characters, got {cid!r}")
        if not self.features:
            raise InvalidArgument(f"campaign {cid!r}: features must not be empty")
        for name, value in self.features.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidArgument(f"campaign {cid!r}: features[{name!r}] must be finite")
        if self.status not in STATUSES:
            raise InvalidArgument(
                f"campaign {cid!r}: status must be one of {list(STATUSES)}, got {self.status!r}"
            )
        for when, at in (("starts_at", self.starts_at), ("ends_at", self.ends_at)):
            if at is not None and at.tzinfo is None:
                raise InvalidArgument(f"campaign {cid!r}: {when} must carry a time zone")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise InvalidArgument(
                f"campaign {cid!r}: ends_at {self.ends_at.isoformat()} is not after starts_at "
                f"{self.starts_at.isoformat()}"
            )
        for name, amount in (
            ("cost_per_send", self.cost_per_send),
            ("cost_share", self.cost_share),
        ):
            if not math.isfinite(amount) or amount < 0:
                raise InvalidArgument(f"campaign {cid!r}: {name} must be ≥ 0, got {amount!r}")
        if self.cost_share > 1:
            raise InvalidArgument(
                f"campaign {cid!r}: cost_share is a share of the basket, ≤ 1, got {self.cost_share}"
            )
        for key, limit in self.budget.items():
            if key not in BUDGET_KEYS:
                raise InvalidArgument(
                    f"campaign {cid!r}: budget key must be one of {list(BUDGET_KEYS)}, got {key!r}"
                )
            if not math.isfinite(limit) or limit <= 0:
                raise InvalidArgument(f"campaign {cid!r}: budget[{key!r}] must be > 0, got {limit}")
        if self.cap_sends < 0 or not math.isfinite(self.cap_days) or self.cap_days < 0:
            raise InvalidArgument(
                f"campaign {cid!r}: frequency cap must be ≥ 0 sends in ≥ 0 days, got "
                f"{self.cap_sends} in {self.cap_days}"
            )
        if (self.cap_sends > 0) != (self.cap_days > 0):
            raise InvalidArgument(
                f"campaign {cid!r}: a frequency cap needs both cap_sends and cap_days, got "
                f"{self.cap_sends} in {self.cap_days}"
            )

    def unavailable(self, now: datetime) -> str | None:
        """Why the campaign cannot be sent at `now` by its status and schedule, or None."""
        if self.status != ACTIVE:
            return self.status
        if self.starts_at is not None and now < self.starts_at:
            return "not_started"
        if self.ends_at is not None and now >= self.ends_at:
            return "ended"
        return None

    @property
    def capped(self) -> bool:
        return self.cap_sends > 0


def _number_or_text(value: Any) -> float | str:
    """A stored feature as Score reads it: JSON keeps 25.0 as 25, the model wants a float."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return str(value)


def _from_row(row: CampaignRow) -> Campaign:
    return Campaign(
        campaign_id=row.campaign_id,
        features={k: _number_or_text(v) for k, v in row.features.items()},
        status=row.status,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        cost_per_send=row.cost_per_send,
        cost_share=row.cost_share,
        budget={k: float(v) for k, v in row.budget.items()},
        cap_sends=row.cap_sends,
        cap_days=row.cap_days,
        revision=row.revision,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _bump(session: Session) -> int:
    """Raises the catalogue's version in the change's own transaction (a row lock on
    PostgreSQL orders concurrent changes); returns the new version."""
    state = session.get(CatalogueStateRow, 1, with_for_update=True)
    if state is None:
        state = CatalogueStateRow(id=1, version=0)
        session.add(state)
    state.version += 1
    session.flush()
    return state.version


def put_campaign(store: Store, campaign: Campaign, *, actor: str = "") -> Campaign:
    """Creates the campaign or replaces its definition; returns it with its revision."""
    campaign.check()
    with store.transaction() as session:
        version = _bump(session)
        row = session.get(CampaignRow, campaign.campaign_id)
        if row is None:
            row = CampaignRow(campaign_id=campaign.campaign_id)
            session.add(row)
        row.features = dict(campaign.features)
        row.status = campaign.status
        row.starts_at = campaign.starts_at
        row.ends_at = campaign.ends_at
        row.cost_per_send = campaign.cost_per_send
        row.cost_share = campaign.cost_share
        row.budget = dict(campaign.budget)
        row.cap_sends = campaign.cap_sends
        row.cap_days = campaign.cap_days
        row.revision = version
        row.updated_at = utcnow()
        row.updated_by = actor
        session.flush()
        return _from_row(row)


def set_status(store: Store, campaign_id: str, status: str, *, actor: str = "") -> Campaign:
    """Pauses, resumes (active) or archives a campaign."""
    if status not in STATUSES:
        raise InvalidArgument(f"status must be one of {list(STATUSES)}, got {status!r}")
    with store.transaction() as session:
        row = session.get(CampaignRow, campaign_id)
        if row is None:
            raise NotFound(f"campaign {campaign_id!r} is not in the catalogue")
        row.revision = _bump(session)
        row.status = status
        row.updated_at = utcnow()
        row.updated_by = actor
        session.flush()
        return _from_row(row)


def get_campaign(store: Store, campaign_id: str) -> Campaign:
    with store.transaction() as session:
        row = session.get(CampaignRow, campaign_id)
        if row is None:
            raise NotFound(f"campaign {campaign_id!r} is not in the catalogue")
        return _from_row(row)


def list_campaigns(store: Store) -> list[Campaign]:
    with store.transaction() as session:
        rows = session.scalars(select(CampaignRow).order_by(CampaignRow.campaign_id))
        return [_from_row(r) for r in rows]


def catalogue_version(store: Store) -> int:
    """The catalogue's version: 0 before the first campaign, then raised by every change."""
    with store.transaction() as session:
        state = session.get(CatalogueStateRow, 1)
        return 0 if state is None else int(state.version)


@dataclass(frozen=True)
class Snapshot:
    """The whole catalogue at one version, as a server caches it."""

    version: int
    campaigns: Mapping[str, Campaign]


def snapshot(store: Store) -> Snapshot:
    """Every campaign, and the version they make up: every change gives the campaign it
    touched the new version as its revision, so the largest revision read IS the version of
    these rows (one statement: no change can fall between reading the rows and the version)."""
    with store.transaction() as session:
        campaigns = {r.campaign_id: _from_row(r) for r in session.scalars(select(CampaignRow))}
    return Snapshot(max((c.revision for c in campaigns.values()), default=0), campaigns)


def period_of(key: str, now: datetime) -> str:
    """A budget key's period: the UTC day for daily budgets, "total" otherwise."""
    return now.astimezone(UTC).strftime("%Y-%m-%d") if key.startswith("daily") else TOTAL


def take_lease(
    store: Store, campaign_id: str, key: str, limit: float, block: float, now: datetime
) -> float:
    """Takes up to `block` of a campaign's budget `key` (≤ `limit` over every lease of the
    period) for one server; returns what it got, 0 when the budget is spent. Atomic: a
    conditional update, so two servers can never both take the last block."""
    unit = key.split("_", 1)[1]
    period = period_of(key, now)
    pk = {"campaign_id": campaign_id, "period": period, "unit": unit}
    for _ in range(LEASE_ATTEMPTS):
        with store.transaction() as session:
            # Locked on PostgreSQL; on SQLite the conditional update below decides.
            row = session.get(BudgetLeaseRow, (campaign_id, period, unit), with_for_update=True)
            if row is None:
                try:
                    with session.begin_nested():
                        session.add(BudgetLeaseRow(**pk, leased=0.0))
                except IntegrityError:
                    continue  # another server created it: read it again
                leased = 0.0
            else:
                leased = row.leased
            grant = min(block, limit - leased)
            if grant <= 0:
                return 0.0
            done = session.execute(
                update(BudgetLeaseRow)
                .where(
                    BudgetLeaseRow.campaign_id == campaign_id,
                    BudgetLeaseRow.period == period,
                    BudgetLeaseRow.unit == unit,
                    BudgetLeaseRow.leased == leased,
                )
                .values(leased=leased + grant)
            )
            if done.rowcount == 1:  # type: ignore[attr-defined]
                return grant
        # Another server took a lease between the read and the update: read it again.
    raise Unavailable(
        f"campaign {campaign_id!r}: the budget lease stayed contended for {LEASE_ATTEMPTS} "
        "attempts; try again"
    )


def leased(store: Store, campaign_id: str, now: datetime) -> dict[str, float]:
    """Per budget key: how much of the current period's budget servers have taken."""
    out = {}
    with store.transaction() as session:
        for key in BUDGET_KEYS:
            unit = key.split("_", 1)[1]
            row = session.get(BudgetLeaseRow, (campaign_id, period_of(key, now), unit))
            out[key] = 0.0 if row is None else row.leased
    return out
