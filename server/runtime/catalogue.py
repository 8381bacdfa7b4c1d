"""The catalogue as a server holds it: a cached snapshot that follows the store's catalogue
version every poll interval (a failed poll keeps the snapshot: requests never fail for it),
budget pacing through leases taken from the store, and frequency caps per unit.

Pacing (feedback/catalogue.py): a budgeted campaign is sent only from what this server has
leased. Leases come in blocks of `lease_share` of the budget (at least one send, or the cost
of the send at hand), so that a server goes to the store once per block, not once per send.
Nothing is overspent across servers; a stopped server's unspent lease is under-delivered.

Frequency caps count the unit's sends of the campaign in the cap's window: those in the store
plus this server's own not yet written (the decision log writes asynchronously), by decision
id, so none is counted twice. Another server's sends count once its decision log has written
them (within `decision_flush_interval_s`, 50 ms by default): two requests for one unit on two
servers within that time may both pass a cap.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from feedback import catalogue as cat
from feedback.catalogue import Campaign, Snapshot
from feedback.decisions import sends_to_unit
from feedback.store import Store
from server.runtime.worker import BackgroundWorker

log = logging.getLogger(__name__)

OVER_BUDGET = "over_budget"
FREQUENCY_CAP = "frequency_cap"
UNKNOWN = "unknown"
UNSCORABLE = "unscorable"  # the served model cannot score the catalogue's features
# This server's own sends are remembered this long for caps (the store has them by then).
LOCAL_SENDS_S = 60.0
# A request naming a campaign the cached catalogue lacks re-reads it at most this often.
RECHECK_S = 0.05
# A budget found spent is asked for again after this long (another server may have stopped
# with unspent leases; the period may have turned).
SPENT_RECHECK_S = 5.0


class CatalogueCache:
    def __init__(
        self, store: Store, poll_interval_s: float = 1.0, *, lease_share: float = 0.02
    ) -> None:
        self._store = store
        self._snapshot: Snapshot | None = None
        self._rechecked = 0.0
        self._lock = threading.RLock()
        self._poller = _CataloguePoll(self, poll_interval_s)
        self.pacer = Pacer(store, lease_share)
        self.caps = FrequencyCaps(store)

    def start(self) -> None:
        self.refresh()
        self._poller.start()

    def stop(self) -> None:
        self._poller.stop(5)

    @property
    def snapshot(self) -> Snapshot:
        """The cached catalogue; read once from the store when nothing is cached yet."""
        if self._snapshot is None:
            self.refresh()
        assert self._snapshot is not None
        return self._snapshot

    def snapshot_knowing(self, campaign_ids: Sequence[str]) -> Snapshot:
        """The snapshot; when it lacks one of `campaign_ids` (just put through another
        server?), read the version again first — at most once per `RECHECK_S`, so that
        requests naming unknown ids cannot flood the store."""
        snap = self.snapshot
        if all(c in snap.campaigns for c in campaign_ids):
            return snap
        now = time.monotonic()
        if now - self._rechecked < RECHECK_S:
            with self._lock:  # a re-read under way: wait for it
                return self.snapshot
        self._rechecked = now
        self.refresh()
        return self.snapshot

    def refresh(self) -> bool:
        """Reads the catalogue again when its version moved; True when it changed."""
        with self._lock:
            version = cat.catalogue_version(self._store)
            if self._snapshot is not None and self._snapshot.version == version:
                return False
            self._snapshot = cat.snapshot(self._store)
            log.info("catalogue version %d: %d campaigns", version, len(self._snapshot.campaigns))
            return True


class _CataloguePoll(BackgroundWorker):
    def __init__(self, cache: CatalogueCache, interval_s: float) -> None:
        super().__init__("catalogue-poll", interval_s)
        self._cache = cache

    def step(self) -> None:
        self._cache.refresh()


class Pacer:
    """This server's leases of budgeted campaigns, per (campaign, budget key, period, limit):
    a changed limit is a new slot, so raising a budget takes effect at once."""

    def __init__(self, store: Store, lease_share: float) -> None:
        self._store = store
        self._share = lease_share
        self._left: dict[tuple[str, str, str, float], float] = {}
        # The store said "nothing left" at this monotonic time: not asked again for a while.
        self._spent: dict[tuple[str, str, str, float], float] = {}
        # One lock per campaign: a lease's store call holds up that campaign's sends only.
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _lock(self, campaign_id: str) -> threading.Lock:
        lock = self._locks.get(campaign_id)
        if lock is None:
            with self._locks_guard:
                lock = self._locks.setdefault(campaign_id, threading.Lock())
        return lock

    @staticmethod
    def _need(key: str, cost: float) -> float:
        return 1.0 if key.endswith("sends") else cost

    @staticmethod
    def _slot(campaign: Campaign, key: str, now: datetime) -> tuple[str, str, str, float]:
        return (campaign.campaign_id, key, cat.period_of(key, now), campaign.budget[key])

    def spent(self, campaign: Campaign, now: datetime) -> bool:
        """Whether a budget of the campaign was found spent lately and this server holds
        nothing of it (cheap: no store call; `reserve` finds out the rest)."""
        if not campaign.budget:
            return False
        recent = time.monotonic() - SPENT_RECHECK_S
        for key in campaign.budget:
            slot = self._slot(campaign, key, now)
            if self._spent.get(slot, -math.inf) > recent and self._left.get(slot, 0.0) < 1e-12:
                return True
        return False

    def reserve(self, campaign: Campaign, cost: float, now: datetime) -> bool:
        """Holds one send of `cost` against every budget of the campaign, taking leases from
        the store as needed; False (nothing held) when a budget cannot cover it."""
        if not campaign.budget:
            return True
        with self._lock(campaign.campaign_id):
            slots = []
            for key, limit in campaign.budget.items():
                slot = self._slot(campaign, key, now)
                need = self._need(key, cost)
                left = self._left.get(slot, 0.0)
                while left + 1e-12 < need:
                    block = max(need - left, limit * self._share)
                    if key.endswith("sends"):
                        block = float(math.ceil(block))
                    got = cat.take_lease(self._store, campaign.campaign_id, key, limit, block, now)
                    if got <= 0:
                        self._spent[slot] = time.monotonic()
                        self._left[slot] = left
                        return False
                    left += got
                self._left[slot] = left
                slots.append((slot, need))
            for slot, need in slots:
                self._left[slot] -= need
            return True

    def release(self, campaign: Campaign, cost: float, now: datetime) -> None:
        """Gives a held send back to this server's leases (the decision did not choose it)."""
        with self._lock(campaign.campaign_id):
            for key in campaign.budget:
                slot = self._slot(campaign, key, now)
                self._left[slot] = self._left.get(slot, 0.0) + self._need(key, cost)


class FrequencyCaps:
    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        # (stored unit id, campaign id) -> decision ids this server sent lately, with when.
        self._local: dict[tuple[str, str], deque[tuple[float, str, datetime]]] = {}
        self._lock = threading.Lock()

    def capped(self, unit_id: str, campaigns: Sequence[Campaign], now: datetime) -> set[str]:
        """The campaigns whose cap the unit (its stored id) has reached."""
        capped = [c for c in campaigns if c.capped]
        if not capped:
            return set()
        since = now - timedelta(days=max(c.cap_days for c in capped))
        stored = sends_to_unit(self._store, unit_id, [c.campaign_id for c in capped], since)
        out = set()
        with self._lock:
            self._forget()
            for c in capped:
                start = now - timedelta(days=c.cap_days)
                local = {
                    d for _, d, at in self._local.get((unit_id, c.campaign_id), ()) if at >= start
                }
                if len(stored[c.campaign_id] | local) >= c.cap_sends:
                    out.add(c.campaign_id)
        return out

    def sent(self, unit_id: str, campaign_id: str, decision_id: str, at: datetime) -> None:
        with self._lock:
            sends = self._local.setdefault((unit_id, campaign_id), deque())
            sends.append((self._clock(), decision_id, at))

    def _forget(self) -> None:
        horizon = self._clock() - LOCAL_SENDS_S
        for key in [k for k, q in self._local.items() if q and q[-1][0] < horizon]:
            del self._local[key]
        for q in self._local.values():
            while q and q[0][0] < horizon:
                q.popleft()


__all__ = [
    "FREQUENCY_CAP",
    "OVER_BUDGET",
    "UNKNOWN",
    "UNSCORABLE",
    "CatalogueCache",
    "FrequencyCaps",
    "Pacer",
]
