"""The catalogue's RPCs, transport-free: changes go to the store (raising its version, which
every server polls); this server's cache follows at once."""

from __future__ import annotations

from dataclasses import dataclass

from feedback import catalogue as cat
from feedback.catalogue import Campaign
from feedback.models import utcnow
from feedback.store import Store
from server.runtime.catalogue import CatalogueCache


@dataclass(frozen=True, slots=True)
class CampaignView:
    campaign: Campaign
    leased: dict[str, float]  # of the current period's budgets


class CatalogueHandler:
    def __init__(self, store: Store, cache: CatalogueCache) -> None:
        self._store = store
        self._cache = cache

    def _view(self, campaign: Campaign) -> CampaignView:
        leased = cat.leased(self._store, campaign.campaign_id, utcnow()) if campaign.budget else {}
        return CampaignView(campaign, leased)

    def put(self, campaign: Campaign, *, actor: str) -> CampaignView:
        saved = cat.put_campaign(self._store, campaign, actor=actor)
        self._cache.refresh()
        return self._view(saved)

    def set_status(self, campaign_id: str, status: str, *, actor: str) -> CampaignView:
        saved = cat.set_status(self._store, campaign_id, status, actor=actor)
        self._cache.refresh()
        return self._view(saved)

    def get(self, campaign_id: str) -> CampaignView:
        return self._view(cat.get_campaign(self._store, campaign_id))

    def list(self) -> tuple[list[CampaignView], int]:
        version = cat.catalogue_version(self._store)
        return [self._view(c) for c in cat.list_campaigns(self._store)], version
