import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
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
