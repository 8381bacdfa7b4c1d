import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from protos.campaignlift.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Candidate(_message.Message):
    __slots__ = ("campaign_id", "features")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    features: _containers.MessageMap[str, _common_pb2.FeatureValue]
    def __init__(self, campaign_id: _Optional[str] = ..., features: _Optional[_Mapping[str, _common_pb2.FeatureValue]] = ...) -> None: ...

class ScoreRequest(_message.Message):
    __slots__ = ("unit_id", "user_features", "candidates", "campaign_ids", "all_active_campaigns", "experiment", "model_version", "decision_id", "defer_activation")
    class UserFeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _common_pb2.FeatureValue
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_common_pb2.FeatureValue, _Mapping]] = ...) -> None: ...
    UNIT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_FEATURES_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_IDS_FIELD_NUMBER: _ClassVar[int]
    ALL_ACTIVE_CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    DEFER_ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    unit_id: str
    user_features: _containers.MessageMap[str, _common_pb2.FeatureValue]
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    campaign_ids: _containers.RepeatedScalarFieldContainer[str]
    all_active_campaigns: bool
    experiment: str
    model_version: str
    decision_id: str
    defer_activation: bool
    def __init__(self, unit_id: _Optional[str] = ..., user_features: _Optional[_Mapping[str, _common_pb2.FeatureValue]] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., campaign_ids: _Optional[_Iterable[str]] = ..., all_active_campaigns: bool = ..., experiment: _Optional[str] = ..., model_version: _Optional[str] = ..., decision_id: _Optional[str] = ..., defer_activation: bool = ...) -> None: ...

class CandidateScore(_message.Message):
    __slots__ = ("campaign_id", "probability", "uplift", "propensity", "control_probability", "expected", "expected_uplift")
    class ProbabilityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class UpliftEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ControlProbabilityEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ExpectedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ExpectedUpliftEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    UPLIFT_FIELD_NUMBER: _ClassVar[int]
    PROPENSITY_FIELD_NUMBER: _ClassVar[int]
    CONTROL_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_UPLIFT_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    probability: _containers.ScalarMap[str, float]
    uplift: _containers.ScalarMap[str, float]
    propensity: float
    control_probability: _containers.ScalarMap[str, float]
    expected: _containers.ScalarMap[str, float]
    expected_uplift: _containers.ScalarMap[str, float]
    def __init__(self, campaign_id: _Optional[str] = ..., probability: _Optional[_Mapping[str, float]] = ..., uplift: _Optional[_Mapping[str, float]] = ..., propensity: _Optional[float] = ..., control_probability: _Optional[_Mapping[str, float]] = ..., expected: _Optional[_Mapping[str, float]] = ..., expected_uplift: _Optional[_Mapping[str, float]] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("decision_id", "campaign_id", "no_campaign", "propensity", "experiment", "variant", "policy", "model_version", "decided_at", "no_campaign_propensity", "propensity_method")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    NO_CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    PROPENSITY_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    NO_CAMPAIGN_PROPENSITY_FIELD_NUMBER: _ClassVar[int]
    PROPENSITY_METHOD_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    campaign_id: str
    no_campaign: bool
    propensity: float
    experiment: str
    variant: str
    policy: str
    model_version: str
    decided_at: _timestamp_pb2.Timestamp
    no_campaign_propensity: float
    propensity_method: str
    def __init__(self, decision_id: _Optional[str] = ..., campaign_id: _Optional[str] = ..., no_campaign: bool = ..., propensity: _Optional[float] = ..., experiment: _Optional[str] = ..., variant: _Optional[str] = ..., policy: _Optional[str] = ..., model_version: _Optional[str] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., no_campaign_propensity: _Optional[float] = ..., propensity_method: _Optional[str] = ...) -> None: ...

class ExcludedCampaign(_message.Message):
    __slots__ = ("campaign_id", "reason")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    reason: str
    def __init__(self, campaign_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("scores", "decision", "excluded", "catalogue_version")
    SCORES_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_FIELD_NUMBER: _ClassVar[int]
    CATALOGUE_VERSION_FIELD_NUMBER: _ClassVar[int]
    scores: _containers.RepeatedCompositeFieldContainer[CandidateScore]
    decision: Decision
    excluded: _containers.RepeatedCompositeFieldContainer[ExcludedCampaign]
    catalogue_version: int
    def __init__(self, scores: _Optional[_Iterable[_Union[CandidateScore, _Mapping]]] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., excluded: _Optional[_Iterable[_Union[ExcludedCampaign, _Mapping]]] = ..., catalogue_version: _Optional[int] = ...) -> None: ...

class ScoreBatchRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[ScoreRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[ScoreRequest, _Mapping]]] = ...) -> None: ...

class ScoreBatchResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[ScoreResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[ScoreResponse, _Mapping]]] = ...) -> None: ...
