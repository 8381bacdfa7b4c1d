import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from protos.campaignlift.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Budget(_message.Message):
    __slots__ = ("daily_sends", "total_sends", "daily_cost", "total_cost")
    DAILY_SENDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SENDS_FIELD_NUMBER: _ClassVar[int]
    DAILY_COST_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_FIELD_NUMBER: _ClassVar[int]
    daily_sends: float
    total_sends: float
    daily_cost: float
    total_cost: float
    def __init__(self, daily_sends: _Optional[float] = ..., total_sends: _Optional[float] = ..., daily_cost: _Optional[float] = ..., total_cost: _Optional[float] = ...) -> None: ...

class Campaign(_message.Message):
    __slots__ = ("campaign_id", "features", "status", "starts_at", "ends_at", "cost_per_send", "cost_share", "budget", "cap_sends", "cap_days")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STARTS_AT_FIELD_NUMBER: _ClassVar[int]
    ENDS_AT_FIELD_NUMBER: _ClassVar[int]
    COST_PER_SEND_FIELD_NUMBER: _ClassVar[int]
    COST_SHARE_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    CAP_SENDS_FIELD_NUMBER: _ClassVar[int]
    CAP_DAYS_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    features: _containers.MessageMap[str, _common_pb2.FeatureValue]
    status: str
    starts_at: _timestamp_pb2.Timestamp
    ends_at: _timestamp_pb2.Timestamp
    cost_per_send: float
    cost_share: float
    budget: Budget
    cap_sends: int
    cap_days: float
    def __init__(self, campaign_id: _Optional[str] = ..., features: _Optional[_Mapping[str, _common_pb2.FeatureValue]] = ..., status: _Optional[str] = ..., starts_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ends_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cost_per_send: _Optional[float] = ..., cost_share: _Optional[float] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ..., cap_sends: _Optional[int] = ..., cap_days: _Optional[float] = ...) -> None: ...

class CampaignInfo(_message.Message):
    __slots__ = ("campaign", "revision", "updated_at", "updated_by", "leased")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    LEASED_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    revision: int
    updated_at: _timestamp_pb2.Timestamp
    updated_by: str
    leased: Budget
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ..., revision: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ..., leased: _Optional[_Union[Budget, _Mapping]] = ...) -> None: ...

class PutCampaignRequest(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: Campaign
    def __init__(self, campaign: _Optional[_Union[Campaign, _Mapping]] = ...) -> None: ...

class GetCampaignRequest(_message.Message):
    __slots__ = ("campaign_id",)
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    def __init__(self, campaign_id: _Optional[str] = ...) -> None: ...

class ListCampaignsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCampaignsResponse(_message.Message):
    __slots__ = ("campaigns", "catalogue_version")
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    CATALOGUE_VERSION_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[CampaignInfo]
    catalogue_version: int
    def __init__(self, campaigns: _Optional[_Iterable[_Union[CampaignInfo, _Mapping]]] = ..., catalogue_version: _Optional[int] = ...) -> None: ...

class SetCampaignStatusRequest(_message.Message):
    __slots__ = ("campaign_id", "status")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    status: str
    def __init__(self, campaign_id: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...
