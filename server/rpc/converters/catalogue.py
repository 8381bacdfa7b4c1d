"""CatalogueService messages <-> feedback/catalogue.py's campaigns."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from common.errors import InvalidArgument
from feedback.catalogue import ACTIVE, BUDGET_KEYS, Campaign
from protos.campaignlift.v1 import catalogue_pb2, common_pb2
from server.handlers.catalogue import CampaignView
from server.rpc.converters.common import features, timestamp


def _stamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(value)
    return out


def campaign(msg: catalogue_pb2.Campaign) -> Campaign:
    values = features(msg.features)
    for name, value in values.items():
        if value is None:
            raise InvalidArgument(f"campaign.features[{name!r}] has no value")
    budget = {k: getattr(msg.budget, k) for k in BUDGET_KEYS if getattr(msg.budget, k)}
    return Campaign(
        campaign_id=msg.campaign_id,
        features={k: v for k, v in values.items() if v is not None},
        status=msg.status or ACTIVE,
        starts_at=timestamp(msg.starts_at, "campaign.starts_at")
        if msg.HasField("starts_at")
        else None,
        ends_at=timestamp(msg.ends_at, "campaign.ends_at") if msg.HasField("ends_at") else None,
        cost_per_send=msg.cost_per_send,
        cost_share=msg.cost_share,
        budget=budget,
        cap_sends=msg.cap_sends,
        cap_days=msg.cap_days,
    )


def _feature(value: float | str) -> common_pb2.FeatureValue:
    if isinstance(value, str):
        return common_pb2.FeatureValue(text=value)
    return common_pb2.FeatureValue(number=float(value))


def campaign_info(view: CampaignView) -> catalogue_pb2.CampaignInfo:
    c = view.campaign
    msg = catalogue_pb2.Campaign(
        campaign_id=c.campaign_id,
        features={k: _feature(v) for k, v in c.features.items()},
        status=c.status,
        starts_at=_stamp(c.starts_at),
        ends_at=_stamp(c.ends_at),
        cost_per_send=c.cost_per_send,
        cost_share=c.cost_share,
        budget=catalogue_pb2.Budget(**dict(c.budget)),
        cap_sends=c.cap_sends,
        cap_days=c.cap_days,
    )
    return catalogue_pb2.CampaignInfo(
        campaign=msg,
        revision=c.revision,
        updated_at=_stamp(c.updated_at),
        updated_by=c.updated_by,
        leased=catalogue_pb2.Budget(**{k: v for k, v in view.leased.items() if k in c.budget}),
    )
