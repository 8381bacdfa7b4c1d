import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EvaluatePolicyRequest(_message.Message):
    __slots__ = ("experiment", "model_version", "policy_json", "objective", "reward", "variant", "decided_after", "decided_before", "confidence", "bootstrap_samples", "seed", "raw_reward")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_JSON_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AFTER_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    BOOTSTRAP_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    RAW_REWARD_FIELD_NUMBER: _ClassVar[int]
    experiment: str
    model_version: str
    policy_json: str
    objective: str
    reward: str
    variant: str
    decided_after: _timestamp_pb2.Timestamp
    decided_before: _timestamp_pb2.Timestamp
    confidence: float
    bootstrap_samples: int
    seed: int
    raw_reward: bool
    def __init__(self, experiment: _Optional[str] = ..., model_version: _Optional[str] = ..., policy_json: _Optional[str] = ..., objective: _Optional[str] = ..., reward: _Optional[str] = ..., variant: _Optional[str] = ..., decided_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., confidence: _Optional[float] = ..., bootstrap_samples: _Optional[int] = ..., seed: _Optional[int] = ..., raw_reward: bool = ...) -> None: ...

class Estimate(_message.Message):
    __slots__ = ("estimator", "value", "std_error", "ci_low", "ci_high", "effective_sample_size", "interval")
    ESTIMATOR_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    STD_ERROR_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    estimator: str
    value: float
    std_error: float
    ci_low: float
    ci_high: float
    effective_sample_size: float
    interval: str
    def __init__(self, estimator: _Optional[str] = ..., value: _Optional[float] = ..., std_error: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., effective_sample_size: _Optional[float] = ..., interval: _Optional[str] = ...) -> None: ...

class PolicyEvaluation(_message.Message):
    __slots__ = ("experiment", "model_version", "policy", "objective", "reward", "decisions", "logged_mean_reward", "logged_ci_low", "logged_ci_high", "confidence", "estimates", "raw_reward")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    LOGGED_MEAN_REWARD_FIELD_NUMBER: _ClassVar[int]
    LOGGED_CI_LOW_FIELD_NUMBER: _ClassVar[int]
    LOGGED_CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ESTIMATES_FIELD_NUMBER: _ClassVar[int]
    RAW_REWARD_FIELD_NUMBER: _ClassVar[int]
    experiment: str
    model_version: str
    policy: str
    objective: str
    reward: str
    decisions: int
    logged_mean_reward: float
    logged_ci_low: float
    logged_ci_high: float
    confidence: float
    estimates: _containers.RepeatedCompositeFieldContainer[Estimate]
    raw_reward: bool
    def __init__(self, experiment: _Optional[str] = ..., model_version: _Optional[str] = ..., policy: _Optional[str] = ..., objective: _Optional[str] = ..., reward: _Optional[str] = ..., decisions: _Optional[int] = ..., logged_mean_reward: _Optional[float] = ..., logged_ci_low: _Optional[float] = ..., logged_ci_high: _Optional[float] = ..., confidence: _Optional[float] = ..., estimates: _Optional[_Iterable[_Union[Estimate, _Mapping]]] = ..., raw_reward: bool = ...) -> None: ...
