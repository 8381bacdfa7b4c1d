import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetReportRequest(_message.Message):
    __slots__ = ("experiment", "covariate", "calibration_window_s")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    COVARIATE_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    experiment: str
    covariate: str
    calibration_window_s: float
    def __init__(self, experiment: _Optional[str] = ..., covariate: _Optional[str] = ..., calibration_window_s: _Optional[float] = ...) -> None: ...

class MetricResult(_message.Message):
    __slots__ = ("metric", "mean", "compared", "absolute", "absolute_ci_low", "absolute_ci_high", "absolute_p", "relative", "relative_ci_low", "relative_ci_high", "relative_p", "chance_to_beat_control", "test", "statistic", "p_value", "posterior_mean", "posterior_sd", "cuped", "cuped_theta", "cuped_mean", "cuped_absolute", "cuped_absolute_ci_low", "cuped_absolute_ci_high", "cuped_p", "cuped_variance_reduction")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    COMPARED_FIELD_NUMBER: _ClassVar[int]
    ABSOLUTE_FIELD_NUMBER: _ClassVar[int]
    ABSOLUTE_CI_LOW_FIELD_NUMBER: _ClassVar[int]
    ABSOLUTE_CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    ABSOLUTE_P_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_CI_LOW_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_P_FIELD_NUMBER: _ClassVar[int]
    CHANCE_TO_BEAT_CONTROL_FIELD_NUMBER: _ClassVar[int]
    TEST_FIELD_NUMBER: _ClassVar[int]
    STATISTIC_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    POSTERIOR_MEAN_FIELD_NUMBER: _ClassVar[int]
    POSTERIOR_SD_FIELD_NUMBER: _ClassVar[int]
    CUPED_FIELD_NUMBER: _ClassVar[int]
    CUPED_THETA_FIELD_NUMBER: _ClassVar[int]
    CUPED_MEAN_FIELD_NUMBER: _ClassVar[int]
    CUPED_ABSOLUTE_FIELD_NUMBER: _ClassVar[int]
    CUPED_ABSOLUTE_CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CUPED_ABSOLUTE_CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    CUPED_P_FIELD_NUMBER: _ClassVar[int]
    CUPED_VARIANCE_REDUCTION_FIELD_NUMBER: _ClassVar[int]
    metric: str
    mean: float
    compared: bool
    absolute: float
    absolute_ci_low: float
    absolute_ci_high: float
    absolute_p: float
    relative: float
    relative_ci_low: float
    relative_ci_high: float
    relative_p: float
    chance_to_beat_control: float
    test: str
    statistic: float
    p_value: float
    posterior_mean: float
    posterior_sd: float
    cuped: bool
    cuped_theta: float
    cuped_mean: float
    cuped_absolute: float
    cuped_absolute_ci_low: float
    cuped_absolute_ci_high: float
    cuped_p: float
    cuped_variance_reduction: float
    def __init__(self, metric: _Optional[str] = ..., mean: _Optional[float] = ..., compared: bool = ..., absolute: _Optional[float] = ..., absolute_ci_low: _Optional[float] = ..., absolute_ci_high: _Optional[float] = ..., absolute_p: _Optional[float] = ..., relative: _Optional[float] = ..., relative_ci_low: _Optional[float] = ..., relative_ci_high: _Optional[float] = ..., relative_p: _Optional[float] = ..., chance_to_beat_control: _Optional[float] = ..., test: _Optional[str] = ..., statistic: _Optional[float] = ..., p_value: _Optional[float] = ..., posterior_mean: _Optional[float] = ..., posterior_sd: _Optional[float] = ..., cuped: bool = ..., cuped_theta: _Optional[float] = ..., cuped_mean: _Optional[float] = ..., cuped_absolute: _Optional[float] = ..., cuped_absolute_ci_low: _Optional[float] = ..., cuped_absolute_ci_high: _Optional[float] = ..., cuped_p: _Optional[float] = ..., cuped_variance_reduction: _Optional[float] = ...) -> None: ...

class VariantResult(_message.Message):
    __slots__ = ("name", "weight", "units", "decisions", "metrics", "outcomes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    name: str
    weight: float
    units: int
    decisions: int
    metrics: _containers.RepeatedCompositeFieldContainer[MetricResult]
    outcomes: int
    def __init__(self, name: _Optional[str] = ..., weight: _Optional[float] = ..., units: _Optional[int] = ..., decisions: _Optional[int] = ..., metrics: _Optional[_Iterable[_Union[MetricResult, _Mapping]]] = ..., outcomes: _Optional[int] = ...) -> None: ...

class CampaignResult(_message.Message):
    __slots__ = ("variant", "campaign_id", "units", "decisions", "outcomes", "click_rate", "conversion_rate", "revenue_per_decision")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    CLICK_RATE_FIELD_NUMBER: _ClassVar[int]
    CONVERSION_RATE_FIELD_NUMBER: _ClassVar[int]
    REVENUE_PER_DECISION_FIELD_NUMBER: _ClassVar[int]
    variant: str
    campaign_id: str
    units: int
    decisions: int
    outcomes: int
    click_rate: float
    conversion_rate: float
    revenue_per_decision: float
    def __init__(self, variant: _Optional[str] = ..., campaign_id: _Optional[str] = ..., units: _Optional[int] = ..., decisions: _Optional[int] = ..., outcomes: _Optional[int] = ..., click_rate: _Optional[float] = ..., conversion_rate: _Optional[float] = ..., revenue_per_decision: _Optional[float] = ...) -> None: ...

class DailyResult(_message.Message):
    __slots__ = ("day", "variant", "units", "means", "relative_lift")
    class MeansEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class RelativeLiftEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    DAY_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    MEANS_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_LIFT_FIELD_NUMBER: _ClassVar[int]
    day: str
    variant: str
    units: int
    means: _containers.ScalarMap[str, float]
    relative_lift: _containers.ScalarMap[str, float]
    def __init__(self, day: _Optional[str] = ..., variant: _Optional[str] = ..., units: _Optional[int] = ..., means: _Optional[_Mapping[str, float]] = ..., relative_lift: _Optional[_Mapping[str, float]] = ...) -> None: ...

class TimelineEvent(_message.Message):
    __slots__ = ("at", "stage", "from_version", "to_version", "actor", "reason")
    AT_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    at: str
    stage: str
    from_version: int
    to_version: int
    actor: str
    reason: str
    def __init__(self, at: _Optional[str] = ..., stage: _Optional[str] = ..., from_version: _Optional[int] = ..., to_version: _Optional[int] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ExperimentReport(_message.Message):
    __slots__ = ("experiment", "control", "variants", "srm_chi2", "srm_p", "srm_warning", "campaigns", "daily", "covariate", "timeline", "calibration", "best_single")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    SRM_CHI2_FIELD_NUMBER: _ClassVar[int]
    SRM_P_FIELD_NUMBER: _ClassVar[int]
    SRM_WARNING_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    DAILY_FIELD_NUMBER: _ClassVar[int]
    COVARIATE_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_FIELD_NUMBER: _ClassVar[int]
    BEST_SINGLE_FIELD_NUMBER: _ClassVar[int]
    experiment: str
    control: str
    variants: _containers.RepeatedCompositeFieldContainer[VariantResult]
    srm_chi2: float
    srm_p: float
    srm_warning: bool
    campaigns: _containers.RepeatedCompositeFieldContainer[CampaignResult]
    daily: _containers.RepeatedCompositeFieldContainer[DailyResult]
    covariate: str
    timeline: _containers.RepeatedCompositeFieldContainer[TimelineEvent]
    calibration: _containers.RepeatedCompositeFieldContainer[CalibrationResult]
    best_single: _containers.RepeatedCompositeFieldContainer[BestSingleResult]
    def __init__(self, experiment: _Optional[str] = ..., control: _Optional[str] = ..., variants: _Optional[_Iterable[_Union[VariantResult, _Mapping]]] = ..., srm_chi2: _Optional[float] = ..., srm_p: _Optional[float] = ..., srm_warning: bool = ..., campaigns: _Optional[_Iterable[_Union[CampaignResult, _Mapping]]] = ..., daily: _Optional[_Iterable[_Union[DailyResult, _Mapping]]] = ..., covariate: _Optional[str] = ..., timeline: _Optional[_Iterable[_Union[TimelineEvent, _Mapping]]] = ..., calibration: _Optional[_Iterable[_Union[CalibrationResult, _Mapping]]] = ..., best_single: _Optional[_Iterable[_Union[BestSingleResult, _Mapping]]] = ...) -> None: ...

class BestSingleResult(_message.Message):
    __slots__ = ("metric", "campaign_id", "value", "ci_low", "ci_high", "decisions", "variants")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    metric: str
    campaign_id: str
    value: float
    ci_low: float
    ci_high: float
    decisions: int
    variants: _containers.RepeatedCompositeFieldContainer[VersusBestSingle]
    def __init__(self, metric: _Optional[str] = ..., campaign_id: _Optional[str] = ..., value: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., decisions: _Optional[int] = ..., variants: _Optional[_Iterable[_Union[VersusBestSingle, _Mapping]]] = ...) -> None: ...

class VersusBestSingle(_message.Message):
    __slots__ = ("variant", "mean", "difference", "ci_low", "ci_high")
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    variant: str
    mean: float
    difference: float
    ci_low: float
    ci_high: float
    def __init__(self, variant: _Optional[str] = ..., mean: _Optional[float] = ..., difference: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ...) -> None: ...

class CalibrationResult(_message.Message):
    __slots__ = ("campaign_id", "model_version", "target", "count", "predicted", "observed", "ratio")
    CAMPAIGN_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_FIELD_NUMBER: _ClassVar[int]
    RATIO_FIELD_NUMBER: _ClassVar[int]
    campaign_id: str
    model_version: str
    target: str
    count: int
    predicted: float
    observed: float
    ratio: float
    def __init__(self, campaign_id: _Optional[str] = ..., model_version: _Optional[str] = ..., target: _Optional[str] = ..., count: _Optional[int] = ..., predicted: _Optional[float] = ..., observed: _Optional[float] = ..., ratio: _Optional[float] = ...) -> None: ...

class VariantDefinition(_message.Message):
    __slots__ = ("name", "weight", "policy_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    POLICY_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    weight: float
    policy_json: str
    def __init__(self, name: _Optional[str] = ..., weight: _Optional[float] = ..., policy_json: _Optional[str] = ...) -> None: ...

class Namespace(_message.Message):
    __slots__ = ("name", "start", "end")
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    name: str
    start: float
    end: float
    def __init__(self, name: _Optional[str] = ..., start: _Optional[float] = ..., end: _Optional[float] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("feature", "op", "value_json")
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    feature: str
    op: str
    value_json: str
    def __init__(self, feature: _Optional[str] = ..., op: _Optional[str] = ..., value_json: _Optional[str] = ...) -> None: ...

class ExperimentDefinition(_message.Message):
    __slots__ = ("name", "salt", "variants", "status", "attribution_window_s", "default_reward", "coverage", "namespace", "eligibility", "release", "covariate")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTION_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_REWARD_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ELIGIBILITY_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    COVARIATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    salt: str
    variants: _containers.RepeatedCompositeFieldContainer[VariantDefinition]
    status: str
    attribution_window_s: float
    default_reward: float
    coverage: float
    namespace: Namespace
    eligibility: _containers.RepeatedCompositeFieldContainer[Condition]
    release: str
    covariate: str
    def __init__(self, name: _Optional[str] = ..., salt: _Optional[str] = ..., variants: _Optional[_Iterable[_Union[VariantDefinition, _Mapping]]] = ..., status: _Optional[str] = ..., attribution_window_s: _Optional[float] = ..., default_reward: _Optional[float] = ..., coverage: _Optional[float] = ..., namespace: _Optional[_Union[Namespace, _Mapping]] = ..., eligibility: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., release: _Optional[str] = ..., covariate: _Optional[str] = ...) -> None: ...

class ListExperimentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListExperimentsResponse(_message.Message):
    __slots__ = ("experiments",)
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    experiments: _containers.RepeatedCompositeFieldContainer[ExperimentDefinition]
    def __init__(self, experiments: _Optional[_Iterable[_Union[ExperimentDefinition, _Mapping]]] = ...) -> None: ...

class SetExperimentStatusRequest(_message.Message):
    __slots__ = ("name", "status", "release")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: str
    release: str
    def __init__(self, name: _Optional[str] = ..., status: _Optional[str] = ..., release: _Optional[str] = ...) -> None: ...

class GetPolicyStateRequest(_message.Message):
    __slots__ = ("experiment", "variant")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    experiment: str
    variant: str
    def __init__(self, experiment: _Optional[str] = ..., variant: _Optional[str] = ...) -> None: ...

class ArmState(_message.Message):
    __slots__ = ("arm", "successes", "failures", "posterior_mean", "observations")
    ARM_FIELD_NUMBER: _ClassVar[int]
    SUCCESSES_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    POSTERIOR_MEAN_FIELD_NUMBER: _ClassVar[int]
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    arm: str
    successes: float
    failures: float
    posterior_mean: float
    observations: int
    def __init__(self, arm: _Optional[str] = ..., successes: _Optional[float] = ..., failures: _Optional[float] = ..., posterior_mean: _Optional[float] = ..., observations: _Optional[int] = ...) -> None: ...

class PolicyStateResponse(_message.Message):
    __slots__ = ("experiment", "variant", "policy", "settled_through", "decisions", "rewards", "updates", "arms")
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    SETTLED_THROUGH_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    REWARDS_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    ARMS_FIELD_NUMBER: _ClassVar[int]
    experiment: str
    variant: str
    policy: str
    settled_through: _timestamp_pb2.Timestamp
    decisions: int
    rewards: float
    updates: int
    arms: _containers.RepeatedCompositeFieldContainer[ArmState]
    def __init__(self, experiment: _Optional[str] = ..., variant: _Optional[str] = ..., policy: _Optional[str] = ..., settled_through: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decisions: _Optional[int] = ..., rewards: _Optional[float] = ..., updates: _Optional[int] = ..., arms: _Optional[_Iterable[_Union[ArmState, _Mapping]]] = ...) -> None: ...

class SaveExperimentRequest(_message.Message):
    __slots__ = ("experiment",)
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: ExperimentDefinition
    def __init__(self, experiment: _Optional[_Union[ExperimentDefinition, _Mapping]] = ...) -> None: ...

class GetExperimentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...
