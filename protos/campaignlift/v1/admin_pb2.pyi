import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelVersionInfo(_message.Message):
    __slots__ = ("version", "family", "targets", "sha256", "artifact_path", "metrics", "parent_version", "created_at", "stages", "archived", "feature_schema", "lineage", "canary_percent")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_PATH_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    PARENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    CANARY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    version: int
    family: str
    targets: _containers.RepeatedScalarFieldContainer[str]
    sha256: str
    artifact_path: str
    metrics: _containers.ScalarMap[str, float]
    parent_version: int
    created_at: _timestamp_pb2.Timestamp
    stages: _containers.RepeatedScalarFieldContainer[str]
    archived: bool
    feature_schema: _struct_pb2.Struct
    lineage: _struct_pb2.Struct
    canary_percent: float
    def __init__(self, version: _Optional[int] = ..., family: _Optional[str] = ..., targets: _Optional[_Iterable[str]] = ..., sha256: _Optional[str] = ..., artifact_path: _Optional[str] = ..., metrics: _Optional[_Mapping[str, float]] = ..., parent_version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stages: _Optional[_Iterable[str]] = ..., archived: bool = ..., feature_schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., lineage: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., canary_percent: _Optional[float] = ...) -> None: ...

class ListVersionsRequest(_message.Message):
    __slots__ = ("include_archived",)
    INCLUDE_ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    include_archived: bool
    def __init__(self, include_archived: bool = ...) -> None: ...

class ListVersionsResponse(_message.Message):
    __slots__ = ("versions",)
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[ModelVersionInfo]
    def __init__(self, versions: _Optional[_Iterable[_Union[ModelVersionInfo, _Mapping]]] = ...) -> None: ...

class GetVersionRequest(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class CompareVersionsRequest(_message.Message):
    __slots__ = ("base", "other")
    BASE_FIELD_NUMBER: _ClassVar[int]
    OTHER_FIELD_NUMBER: _ClassVar[int]
    base: int
    other: int
    def __init__(self, base: _Optional[int] = ..., other: _Optional[int] = ...) -> None: ...

class MetricComparison(_message.Message):
    __slots__ = ("metric", "base", "other", "difference", "in_both")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    BASE_FIELD_NUMBER: _ClassVar[int]
    OTHER_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    IN_BOTH_FIELD_NUMBER: _ClassVar[int]
    metric: str
    base: float
    other: float
    difference: float
    in_both: bool
    def __init__(self, metric: _Optional[str] = ..., base: _Optional[float] = ..., other: _Optional[float] = ..., difference: _Optional[float] = ..., in_both: bool = ...) -> None: ...

class CompareVersionsResponse(_message.Message):
    __slots__ = ("base", "other", "metrics", "same_feature_schema")
    BASE_FIELD_NUMBER: _ClassVar[int]
    OTHER_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    SAME_FEATURE_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    base: ModelVersionInfo
    other: ModelVersionInfo
    metrics: _containers.RepeatedCompositeFieldContainer[MetricComparison]
    same_feature_schema: bool
    def __init__(self, base: _Optional[_Union[ModelVersionInfo, _Mapping]] = ..., other: _Optional[_Union[ModelVersionInfo, _Mapping]] = ..., metrics: _Optional[_Iterable[_Union[MetricComparison, _Mapping]]] = ..., same_feature_schema: bool = ...) -> None: ...

class PromoteRequest(_message.Message):
    __slots__ = ("version", "reason")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    version: int
    reason: str
    def __init__(self, version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class SetCanaryRequest(_message.Message):
    __slots__ = ("version", "percent", "reason")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    version: int
    percent: float
    reason: str
    def __init__(self, version: _Optional[int] = ..., percent: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class ArchiveRequest(_message.Message):
    __slots__ = ("version", "reason")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    version: int
    reason: str
    def __init__(self, version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class StageChange(_message.Message):
    __slots__ = ("stage", "from_version", "to_version", "traffic_percent")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_PERCENT_FIELD_NUMBER: _ClassVar[int]
    stage: str
    from_version: int
    to_version: int
    traffic_percent: float
    def __init__(self, stage: _Optional[str] = ..., from_version: _Optional[int] = ..., to_version: _Optional[int] = ..., traffic_percent: _Optional[float] = ...) -> None: ...

class ListStageEventsRequest(_message.Message):
    __slots__ = ("stage",)
    STAGE_FIELD_NUMBER: _ClassVar[int]
    stage: str
    def __init__(self, stage: _Optional[str] = ...) -> None: ...

class StageEvent(_message.Message):
    __slots__ = ("id", "stage", "from_version", "to_version", "traffic_percent", "actor", "reason", "at")
    ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_PERCENT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    stage: str
    from_version: int
    to_version: int
    traffic_percent: float
    actor: str
    reason: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., stage: _Optional[str] = ..., from_version: _Optional[int] = ..., to_version: _Optional[int] = ..., traffic_percent: _Optional[float] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListStageEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[StageEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[StageEvent, _Mapping]]] = ...) -> None: ...

class SetShadowRequest(_message.Message):
    __slots__ = ("version", "reason")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    version: int
    reason: str
    def __init__(self, version: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ShadowReportRequest(_message.Message):
    __slots__ = ("version", "target")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    version: int
    target: str
    def __init__(self, version: _Optional[int] = ..., target: _Optional[str] = ...) -> None: ...

class ShadowReportResponse(_message.Message):
    __slots__ = ("shadow_version", "production_version", "target", "decisions", "mean_abs_probability_diff", "greedy_agreement", "labelled", "shadow_mean_prediction", "production_mean_prediction", "observed_rate", "production_versions", "decision_agreement")
    SHADOW_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRODUCTION_VERSION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    MEAN_ABS_PROBABILITY_DIFF_FIELD_NUMBER: _ClassVar[int]
    GREEDY_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    LABELLED_FIELD_NUMBER: _ClassVar[int]
    SHADOW_MEAN_PREDICTION_FIELD_NUMBER: _ClassVar[int]
    PRODUCTION_MEAN_PREDICTION_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_RATE_FIELD_NUMBER: _ClassVar[int]
    PRODUCTION_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    DECISION_AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    shadow_version: int
    production_version: int
    target: str
    decisions: int
    mean_abs_probability_diff: float
    greedy_agreement: float
    labelled: int
    shadow_mean_prediction: float
    production_mean_prediction: float
    observed_rate: float
    production_versions: _containers.RepeatedScalarFieldContainer[int]
    decision_agreement: float
    def __init__(self, shadow_version: _Optional[int] = ..., production_version: _Optional[int] = ..., target: _Optional[str] = ..., decisions: _Optional[int] = ..., mean_abs_probability_diff: _Optional[float] = ..., greedy_agreement: _Optional[float] = ..., labelled: _Optional[int] = ..., shadow_mean_prediction: _Optional[float] = ..., production_mean_prediction: _Optional[float] = ..., observed_rate: _Optional[float] = ..., production_versions: _Optional[_Iterable[int]] = ..., decision_agreement: _Optional[float] = ...) -> None: ...

class ListRetrainJobsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RetrainJob(_message.Message):
    __slots__ = ("id", "status", "reason", "outcome_seq_from", "outcome_seq_to", "result_version", "promoted", "message", "created_at", "finished_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_SEQ_FROM_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_SEQ_TO_FIELD_NUMBER: _ClassVar[int]
    RESULT_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROMOTED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    status: str
    reason: str
    outcome_seq_from: int
    outcome_seq_to: int
    result_version: int
    promoted: bool
    message: str
    created_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., outcome_seq_from: _Optional[int] = ..., outcome_seq_to: _Optional[int] = ..., result_version: _Optional[int] = ..., promoted: bool = ..., message: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListRetrainJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[RetrainJob]
    def __init__(self, jobs: _Optional[_Iterable[_Union[RetrainJob, _Mapping]]] = ...) -> None: ...
