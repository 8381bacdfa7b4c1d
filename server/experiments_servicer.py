"""ExperimentService: the A/B report of feedback/ab_report.py over gRPC."""

from __future__ import annotations

import grpc

from feedback.ab_report import METRICS, ExperimentReport, experiment_report
from feedback.store import Store
from protos.campaignlift.v1 import experiments_pb2, experiments_pb2_grpc
from server.errors import grpc_errors


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


class ExperimentServicer(experiments_pb2_grpc.ExperimentServiceServicer):
    def __init__(self, store: Store) -> None:
        self._store = store

    @grpc_errors
    def GetReport(
        self, request: experiments_pb2.GetReportRequest, context: grpc.ServicerContext
    ) -> experiments_pb2.ExperimentReport:
        return report_message(experiment_report(self._store, request.experiment))
