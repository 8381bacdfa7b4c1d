import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from protos.campaignlift.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OutcomeType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_TYPE_UNSPECIFIED: _ClassVar[OutcomeType]
    OUTCOME_TYPE_CLICK: _ClassVar[OutcomeType]
    OUTCOME_TYPE_CONVERSION: _ClassVar[OutcomeType]
    OUTCOME_TYPE_REVENUE: _ClassVar[OutcomeType]
OUTCOME_TYPE_UNSPECIFIED: OutcomeType
OUTCOME_TYPE_CLICK: OutcomeType
OUTCOME_TYPE_CONVERSION: OutcomeType
OUTCOME_TYPE_REVENUE: OutcomeType

class ActivateDecisionsRequest(_message.Message):
    __slots__ = ("decision_ids",)
    DECISION_IDS_FIELD_NUMBER: _ClassVar[int]
    decision_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, decision_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ActivateDecisionsResponse(_message.Message):
    __slots__ = ("activated", "pending")
    ACTIVATED_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    activated: int
    pending: int
    def __init__(self, activated: _Optional[int] = ..., pending: _Optional[int] = ...) -> None: ...

class LoggedDecision(_message.Message):
    __slots__ = ("decision_id", "unit_id", "experiment", "variant", "policy", "campaign_id", "no_campaign", "propensity", "user_features", "campaign_features", "decided_at", "model_version")
    class UserFeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    class CampaignFeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    UNIT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    NO_CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    PROPENSITY_FIELD_NUMBER: _ClassVar[int]
    USER_FEATURES_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FEATURES_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    unit_id: str
    experiment: str
    variant: str
    policy: str
    campaign_id: str
    no_campaign: bool
    propensity: float
    user_features: _containers.MessageMap[str, _common_pb2.FeatureValue]
    campaign_features: _containers.MessageMap[str, _common_pb2.FeatureValue]
    decided_at: _timestamp_pb2.Timestamp
    model_version: str
    def __init__(self, decision_id: _Optional[str] = ..., unit_id: _Optional[str] = ..., experiment: _Optional[str] = ..., variant: _Optional[str] = ..., policy: _Optional[str] = ..., campaign_id: _Optional[str] = ..., no_campaign: bool = ..., propensity: _Optional[float] = ..., user_features: _Optional[_Mapping[str, _common_pb2.FeatureValue]] = ..., campaign_features: _Optional[_Mapping[str, _common_pb2.FeatureValue]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., model_version: _Optional[str] = ...) -> None: ...

class LogDecisionsRequest(_message.Message):
    __slots__ = ("decisions",)
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[LoggedDecision]
    def __init__(self, decisions: _Optional[_Iterable[_Union[LoggedDecision, _Mapping]]] = ...) -> None: ...

class LogDecisionsResponse(_message.Message):
    __slots__ = ("accepted", "duplicates")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ...) -> None: ...

class Outcome(_message.Message):
    __slots__ = ("event_id", "decision_id", "type", "value", "occurred_at")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    decision_id: str
    type: OutcomeType
    value: float
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., decision_id: _Optional[str] = ..., type: _Optional[_Union[OutcomeType, str]] = ..., value: _Optional[float] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LogOutcomesRequest(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[Outcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[Outcome, _Mapping]]] = ...) -> None: ...

class LogOutcomesResponse(_message.Message):
    __slots__ = ("accepted", "duplicates", "batch")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    batch: int
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., batch: _Optional[int] = ...) -> None: ...
