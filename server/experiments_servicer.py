"""ExperimentService: the A/B report of feedback/ab_report.py over gRPC."""

from __future__ import annotations

import json

import grpc

from common.errors import InvalidArgument
from feedback.ab_report import METRICS, ExperimentReport, experiment_report
from feedback.experiments import Experiment, Variant, get_experiment, save_experiment
from feedback.store import Store
from protos.campaignlift.v1 import experiments_pb2, experiments_pb2_grpc
from server.errors import grpc_errors
from server.policy import build_policy


def report_message(report: ExperimentReport) -> experiments_pb2.ExperimentReport:
    variants = []
    for v in report.variants:
        metrics = []
        for m in METRICS:
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
            metrics.append(result)
        variants.append(
            experiments_pb2.VariantResult(
                name=v.name, weight=v.weight, units=v.units, decisions=v.decisions, metrics=metrics
            )
        )
    return experiments_pb2.ExperimentReport(
        experiment=report.experiment,
        control=report.control,
        variants=variants,
        srm_chi2=report.srm_chi2,
        srm_p=report.srm_p,
        srm_warning=report.srm_warning,
    )


def definition_message(experiment: Experiment) -> experiments_pb2.ExperimentDefinition:
    return experiments_pb2.ExperimentDefinition(
        name=experiment.name,
        salt=experiment.salt,
        variants=[
            experiments_pb2.VariantDefinition(
                name=v.name, weight=v.weight, policy_json=json.dumps(v.policy, sort_keys=True)
            )
            for v in experiment.variants
        ],
    )


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
    return Experiment(msg.name, msg.salt or msg.name, tuple(variants))


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
    def GetReport(
        self, request: experiments_pb2.GetReportRequest, context: grpc.ServicerContext
    ) -> experiments_pb2.ExperimentReport:
        return report_message(experiment_report(self._store, request.experiment))
