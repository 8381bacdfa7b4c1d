"""ExperimentService messages <-> feedback's experiments, reports and policy state."""

from __future__ import annotations

import json
import math

from common.errors import InvalidArgument
from feedback.ab_report import (
    BestSingle,
    CampaignSummary,
    DailyPoint,
    ExperimentReport,
    VariantSummary,
)
from feedback.experiments import Condition, Experiment, Namespace, Variant
from feedback.monitoring import CalibrationRow
from feedback.registry import StageEvent
from feedback.report_data import METRICS
from feedback.rewards import DEFAULT_ATTRIBUTION_WINDOW_S
from protos.campaignlift.v1 import experiments_pb2
from server.handlers.experiments import PolicyStateView


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


def _variant_message(v: VariantSummary) -> experiments_pb2.VariantResult:
    return experiments_pb2.VariantResult(
        name=v.name,
        weight=v.weight,
        units=v.units,
        decisions=v.decisions,
        outcomes=v.outcomes,
        metrics=[_metric_message(v, m) for m in METRICS],
    )


def _campaign_message(c: CampaignSummary) -> experiments_pb2.CampaignResult:
    return experiments_pb2.CampaignResult(
        variant=c.variant,
        campaign_id=c.campaign_id or "",
        units=c.units,
        decisions=c.decisions,
        outcomes=c.outcomes,
        click_rate=c.means["click"],
        conversion_rate=c.means["conversion"],
        revenue_per_decision=c.means["revenue"],
    )


def _daily_message(d: DailyPoint) -> experiments_pb2.DailyResult:
    # NaN means no value (no units yet, control's own lift): such keys are left out.
    return experiments_pb2.DailyResult(
        day=d.day,
        variant=d.variant,
        units=d.units,
        means={m: x for m, x in d.means.items() if math.isfinite(x)},
        relative_lift={m: x for m, x in d.relative_lift.items() if math.isfinite(x)},
    )


def _timeline_message(e: StageEvent) -> experiments_pb2.TimelineEvent:
    return experiments_pb2.TimelineEvent(
        at=e.at.isoformat(),
        stage=e.stage,
        from_version=e.from_version or 0,
        to_version=e.to_version or 0,
        actor=e.actor,
        reason=e.reason,
    )


def _calibration_message(c: CalibrationRow) -> experiments_pb2.CalibrationResult:
    return experiments_pb2.CalibrationResult(
        campaign_id=c.campaign_id or "",
        model_version=c.model_version,
        target=c.target,
        count=c.count,
        predicted=c.predicted,
        observed=c.observed,
        ratio=c.ratio,
    )


def _best_single_message(b: BestSingle) -> experiments_pb2.BestSingleResult:
    return experiments_pb2.BestSingleResult(
        metric=b.metric,
        campaign_id=b.campaign_id or "",
        value=b.value,
        ci_low=b.ci[0],
        ci_high=b.ci[1],
        decisions=b.decisions,
        variants=[
            experiments_pb2.VersusBestSingle(
                variant=v.variant,
                mean=v.mean,
                difference=v.difference,
                ci_low=v.ci[0],
                ci_high=v.ci[1],
            )
            for v in b.versus
        ],
    )


def report_message(report: ExperimentReport) -> experiments_pb2.ExperimentReport:
    return experiments_pb2.ExperimentReport(
        experiment=report.experiment,
        control=report.control,
        variants=[_variant_message(v) for v in report.variants],
        srm_chi2=report.srm_chi2,
        srm_p=report.srm_p,
        srm_warning=report.srm_warning,
        campaigns=[_campaign_message(c) for c in report.campaigns],
        daily=[_daily_message(d) for d in report.daily],
        covariate=report.covariate,
        timeline=[_timeline_message(e) for e in report.timeline],
        calibration=[_calibration_message(c) for c in report.calibration],
        best_single=[_best_single_message(b) for b in report.best_single],
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
    """The experiment a definition describes; its policies are checked when it is saved."""
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


def policy_state_message(view: PolicyStateView) -> experiments_pb2.PolicyStateResponse:
    msg = experiments_pb2.PolicyStateResponse(
        experiment=view.experiment, variant=view.variant, policy=view.policy
    )
    if view.settled_through is None:
        return msg
    msg.settled_through.FromDatetime(view.settled_through)
    msg.decisions, msg.rewards, msg.updates = view.decisions, view.rewards, view.updates
    for a in view.arms:
        msg.arms.add(
            arm=a.arm,
            successes=a.successes,
            failures=a.failures,
            posterior_mean=a.posterior_mean,
            observations=a.observations,
        )
    return msg
