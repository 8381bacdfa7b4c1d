"""The catalogue client: campaigns Score can send by id (features, schedule, status, cost,
budgets, frequency caps). Changes need the admin token; reads the reader's (or none when the
server leaves reads open). Results are plain dicts (JSON-ready)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp

from clients.admin import ACTOR_HEADER, default_actor
from clients.client import _value, open_channel
from protos.campaignlift.v1 import catalogue_pb2, catalogue_pb2_grpc

BUDGET_KEYS = ("daily_sends", "total_sends", "daily_cost", "total_cost")


def _stamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(value)
    return out


def campaign_message(
    campaign_id: str,
    features: Mapping[str, float | int | str],
    *,
    status: str = "active",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    cost_per_send: float = 0.0,
    cost_share: float = 0.0,
    budget: Mapping[str, float] | None = None,
    cap_sends: int = 0,
    cap_days: float = 0.0,
) -> catalogue_pb2.Campaign:
    unknown = set(budget or {}) - set(BUDGET_KEYS)
    if unknown:
        raise ValueError(f"budget keys must be among {BUDGET_KEYS}, got {sorted(unknown)}")
    return catalogue_pb2.Campaign(
        campaign_id=campaign_id,
        features={k: _value(v) for k, v in features.items()},
        status=status,
        starts_at=_stamp(starts_at),
        ends_at=_stamp(ends_at),
        cost_per_send=cost_per_send,
        cost_share=cost_share,
        budget=catalogue_pb2.Budget(**dict(budget or {})),
        cap_sends=cap_sends,
        cap_days=cap_days,
    )


class CatalogueClient:
    def __init__(
        self,
        target: str,
        token: str = "",
        *,
        actor: str | None = None,
        timeout_s: float = 10.0,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self._channel = open_channel(target, credentials)
        self._stub = catalogue_pb2_grpc.CatalogueServiceStub(self._channel)
        self._metadata: tuple[tuple[str, str], ...] = ((ACTOR_HEADER, actor or default_actor()),)
        if token:
            self._metadata += (("authorization", f"Bearer {token}"),)
        self.timeout_s = timeout_s

    def __enter__(self) -> CatalogueClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._channel.close()

    def _call(self, method: str, request: Any) -> dict[str, Any]:
        reply = getattr(self._stub, method)(
            request, timeout=self.timeout_s, metadata=self._metadata
        )
        return MessageToDict(
            reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )

    def put(
        self, campaign_id: str, features: Mapping[str, float | int | str], **fields: Any
    ) -> dict[str, Any]:
        """Creates the campaign or replaces its whole definition (fields: campaign_message's)."""
        return self.put_message(campaign_message(campaign_id, features, **fields))

    def put_message(self, message: catalogue_pb2.Campaign) -> dict[str, Any]:
        return self._call("PutCampaign", catalogue_pb2.PutCampaignRequest(campaign=message))

    def get(self, campaign_id: str) -> dict[str, Any]:
        return self._call("GetCampaign", catalogue_pb2.GetCampaignRequest(campaign_id=campaign_id))

    def list(self) -> dict[str, Any]:
        """{"campaigns": [...], "catalogue_version": "..."}."""
        return self._call("ListCampaigns", catalogue_pb2.ListCampaignsRequest())

    def set_status(self, campaign_id: str, status: str) -> dict[str, Any]:
        return self._call(
            "SetCampaignStatus",
            catalogue_pb2.SetCampaignStatusRequest(campaign_id=campaign_id, status=status),
        )

    def pause(self, campaign_id: str) -> dict[str, Any]:
        return self.set_status(campaign_id, "paused")

    def resume(self, campaign_id: str) -> dict[str, Any]:
        return self.set_status(campaign_id, "active")

    def archive(self, campaign_id: str) -> dict[str, Any]:
        return self.set_status(campaign_id, "archived")
