"""ExperimentService: the A/B report of feedback/ab_report.py over gRPC."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import grpc

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from feedback.ab_report import ExperimentReport, VariantSummary, experiment_report
from feedback.experiments import (
    Condition,
    Experiment,
    Namespace,
    Variant,
    get_experiment,
    list_experiments,
    save_experiment,
    set_status,
)
from feedback.policies import LinUCB, ThompsonSampling, build_policy
from feedback.policy_state import PolicyState, get_policy_state
from feedback.report_data import METRICS
from feedback.rewards import DEFAULT_ATTRIBUTION_WINDOW_S
from feedback.store import Store
from protos.campaignlift.v1 import experiments_pb2, experiments_pb2_grpc
from server.errors import grpc_errors

# Ten years: longer calibration windows mean "everything" and overflow timedelta.
MAX_WINDOW_S = 10 * 365 * 86_400.0


def _metric_message(v: VariantSummary, m: str) -> experiments_pb2.MetricResult:
    result = experiments_pb2.MetricResult(metric=m, mean=v.means[m])
    c = v.versus_control.get(m)
    if c is not None:
        result.compared = True
        result.absolute = c.absolute
        result.absolute_ci_low, result.absolute_ci_high = c.absolute_ci
        result.absolute_p = c.absolute_p
        result.relative = c.relative
        result.relative_ci_low, result.relative_ci_high = c.relative_ci
        result.relative_p = c.relative_p
        result.chance_to_beat_control = c.chance_to_beat_control
    if m in v.tests:
        t = v.tests[m]
        result.test, result.statistic, result.p_value = t.name, t.statistic, t.p
    if m in v.posterior:
        result.posterior_mean, result.posterior_sd = v.posterior[m]
    if m in v.cuped:
        k = v.cuped[m]
        result.cuped = True
        result.cuped_theta, result.cuped_mean = k.theta, k.adjusted_mean
        result.cuped_absolute = k.absolute
        result.cuped_absolute_ci_low, result.cuped_absolute_ci_high = k.absolute_ci
        result.cuped_p, result.cuped_variance_reduction = k.p, k.variance_reduction
    return result


def report_message(report: ExperimentReport) -> experiments_pb2.ExperimentReport:
    variants = [
        experiments_pb2.VariantResult(
            name=v.name,
            weight=v.weight,
            units=v.units,
            decisions=v.decisions,
            outcomes=v.outcomes,
            metrics=[_metric_message(v, m) for m in METRICS],
        )
        for v in report.variants
    ]
    campaigns = [
        experiments_pb2.CampaignResult(
            variant=c.variant,
            campaign_id=c.campaign_id or "",
            units=c.units,
            decisions=c.decisions,
            outcomes=c.outcomes,
            click_rate=c.means["click"],
            conversion_rate=c.means["conversion"],
            revenue_per_decision=c.means["revenue"],
        )
        for c in report.campaigns
    ]
    daily = [
        experiments_pb2.DailyResult(
            day=d.day,
            variant=d.variant,
            units=d.units,
            means={m: x for m, x in d.means.items() if math.isfinite(x)},
            relative_lift={m: x for m, x in d.relative_lift.items() if math.isfinite(x)},
        )
        for d in report.daily
    ]
    timeline = [
        experiments_pb2.TimelineEvent(
            at=e.at.isoformat(),
            stage=e.stage,
            from_version=e.from_version or 0,
            to_version=e.to_version or 0,
            actor=e.actor,
            reason=e.reason,
        )
        for e in report.timeline
    ]
    return experiments_pb2.ExperimentReport(
        experiment=report.experiment,
        control=report.control,
        variants=variants,
        srm_chi2=report.srm_chi2,
        srm_p=report.srm_p,
        srm_warning=report.srm_warning,
        campaigns=campaigns,
        daily=daily,
        covariate=report.covariate,
        timeline=timeline,
        calibration=[
            experiments_pb2.CalibrationResult(
                campaign_id=c.campaign_id or "",
                model_version=c.model_version,
                target=c.target,
                count=c.count,
                predicted=c.predicted,
                observed=c.observed,
                ratio=c.ratio,
            )
            for c in report.calibration
        ],
    )


def definition_message(experiment: Experiment) -> experiments_pb2.ExperimentDefinition:
    msg = experiments_pb2.ExperimentDefinition(
        name=experiment.name,
        salt=experiment.salt,
        variants=[
            experiments_pb2.VariantDefinition(
                name=v.name, weight=v.weight, policy_json=json.dumps(v.policy, sort_keys=True)
            )
            for v in experiment.variants
        ],
        status=experiment.status,
        attribution_window_s=experiment.attribution_window_s,
        default_reward=experiment.default_reward,
        coverage=experiment.coverage,
        eligibility=[
            experiments_pb2.Condition(feature=c.feature, op=c.op, value_json=json.dumps(c.value))
            for c in experiment.eligibility
        ],
        release=experiment.release,
        covariate=experiment.covariate,
    )
    if experiment.namespace is not None:
        msg.namespace.CopyFrom(
            experiments_pb2.Namespace(
                name=experiment.namespace.name,
                start=experiment.namespace.start,
                end=experiment.namespace.end,
            )
        )
    return msg


def experiment_from(msg: experiments_pb2.ExperimentDefinition) -> Experiment:
    """Checks every variant's policy by building it: a bad config is refused when saved."""
    variants = []
    for i, v in enumerate(msg.variants):
        try:
            policy = json.loads(v.policy_json or "{}")
        except json.JSONDecodeError as exc:
            raise InvalidArgument(
                f"experiment.variants[{i}].policy_json is not JSON: {exc}"
            ) from exc
        if not isinstance(policy, dict):
            raise InvalidArgument(f"experiment.variants[{i}].policy_json must be a JSON object")
        try:
            build_policy(policy)
        except InvalidArgument as exc:
            raise InvalidArgument(f"experiment.variants[{i}]: {exc.message}") from exc
        variants.append(Variant(v.name, v.weight, policy))
    conditions = []
    for i, c in enumerate(msg.eligibility):
        try:
            value = json.loads(c.value_json)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(
                f"experiment.eligibility[{i}].value_json is not JSON: {c.value_json!r}"
            ) from exc
        conditions.append(Condition(c.feature, c.op, value))
    return Experiment(
        name=msg.name,
        salt=msg.salt or msg.name,
        variants=tuple(variants),
        status=msg.status or "running",
        attribution_window_s=msg.attribution_window_s or DEFAULT_ATTRIBUTION_WINDOW_S,
        default_reward=msg.default_reward,
        coverage=msg.coverage or 1.0,
        namespace=Namespace(msg.namespace.name, msg.namespace.start, msg.namespace.end)
        if msg.HasField("namespace")
        else None,
        eligibility=tuple(conditions),
        release=msg.release,
        covariate=msg.covariate,
    )


def policy_state_message(
    experiment: Experiment, variant: str, state: PolicyState | None
) -> experiments_pb2.PolicyStateResponse:
    names = [v.name for v in experiment.variants]
    if variant not in names:
        raise NotFound(f"experiment {experiment.name!r} has no variant {variant!r} (has {names})")
    policy = build_policy(experiment.variants[names.index(variant)].policy)
    if not policy.stateful:
        raise FailedPrecondition(
            f"variant {variant!r} of {experiment.name!r} runs {policy.name!r}, which learns nothing"
        )
    msg = experiments_pb2.PolicyStateResponse(
        experiment=experiment.name, variant=variant, policy=policy.name
    )
    if state is None:
        return msg
    msg.settled_through.FromDatetime(state.settled_through)
    msg.decisions, msg.rewards, msg.updates = state.decisions, state.rewards, state.updates
    for arm, stats in sorted(state.state.get("arms", {}).items()):
        if isinstance(policy, ThompsonSampling):
            s, f = stats
            msg.arms.add(
                arm=arm,
                successes=s,
                failures=f,
                posterior_mean=policy.posterior_mean(s, f),
                observations=int(s + f),
            )
        elif isinstance(policy, LinUCB):
            mean, n = policy.arm_summary(stats)
            msg.arms.add(arm=arm, posterior_mean=mean, observations=n)
    return msg


class ExperimentServicer(experiments_pb2_grpc.ExperimentServiceServicer):
    def __init__(self, store: Store) -> None:
        self._store = store

    @grpc_errors
    def SaveExperiment(
        self, request: experiments_pb2.SaveExperimentRequest, context: grpc.ServicerContext
    ) -> experiments_pb2.ExperimentDefinition:
        experiment = experiment_from(request.experiment)
        save_experiment(self._store, experiment)
        return definition_message(get_experiment(self._store, experiment.name))

    @grpc_errors
    def GetExperiment(
        self, request: experiments_pb2.GetExperimentRequest, context: grpc.ServicerContext
    ) -> experiments_pb2.ExperimentDefinition:
        return definition_message(get_experiment(self._store, request.name))

    @grpc_errors
    def ListExperiments(
        self, request: experiments_pb2.ListExperimentsRequest, context: grpc.ServicerContext
    ) -> experiments_pb2.ListExperimentsResponse:
        return experiments_pb2.ListExperimentsResponse(
            experiments=[definition_message(e) for e in list_experiments(self._store)]
        )

    @grpc_errors
    def SetExperimentStatus(
        self, request: experiments_pb2.SetExperimentStatusRequest, context: grpc.ServicerContext
    ) -> experiments_pb2.ExperimentDefinition:
        return definition_message(
            set_status(self._store, request.name, request.status, request.release or None)
        )

    @grpc_errors
    def GetPolicyState(
        self, request: experiments_pb2.GetPolicyStateRequest, context: grpc.ServicerContext
    ) -> experiments_pb2.PolicyStateResponse:
        experiment = get_experiment(self._store, request.experiment)
        state = get_policy_state(self._store, request.experiment, request.variant)
        return policy_state_message(experiment, request.variant, state)

    @grpc_errors
    def GetReport(
        self, request: experiments_pb2.GetReportRequest, context: grpc.ServicerContext
    ) -> experiments_pb2.ExperimentReport:
        covariate = request.covariate if request.HasField("covariate") else None
        window_s = request.calibration_window_s
        if not (math.isfinite(window_s) and window_s >= 0):
            raise InvalidArgument(f"calibration_window_s must be >= 0, got {window_s}")
        if window_s > MAX_WINDOW_S:
            raise InvalidArgument(
                f"calibration_window_s must be at most {MAX_WINDOW_S:.0f}, got {window_s}"
            )
        window = timedelta(seconds=window_s) if window_s else None
        try:
            report = experiment_report(self._store, request.experiment, covariate, window)
        except InvalidArgument as exc:
            if covariate:  # the covariate's values are the only user data a report computes on
                exc.message = f"covariate {covariate!r}: {exc.message}"
            raise
        return report_message(report)
