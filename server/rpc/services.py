"""The gRPC services this server registers, by full name (health, reflection and auth use them)."""

from __future__ import annotations

from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection

from protos.campaignlift.v1 import (
    admin_pb2,
    catalogue_pb2,
    evaluation_pb2,
    experiments_pb2,
    feedback_pb2,
    scoring_pb2,
)
from protos.inference import open_inference_pb2


def _name(module: object, service: str) -> str:
    return str(module.DESCRIPTOR.services_by_name[service].full_name)  # type: ignore[attr-defined]


SCORING = _name(scoring_pb2, "ScoringService")
FEEDBACK = _name(feedback_pb2, "FeedbackService")
ADMIN = _name(admin_pb2, "ModelAdminService")
CATALOGUE = _name(catalogue_pb2, "CatalogueService")
EXPERIMENTS = _name(experiments_pb2, "ExperimentService")
EVALUATION = _name(evaluation_pb2, "EvaluationService")
INFERENCE = _name(open_inference_pb2, "GRPCInferenceService")
HEALTH = _name(health_pb2, "Health")

# Services that answer whether or not a model is loaded (health says SERVING from the start).
ALWAYS_SERVING = (FEEDBACK, ADMIN, EXPERIMENTS, EVALUATION, CATALOGUE)
REFLECTED = (
    SCORING,
    FEEDBACK,
    ADMIN,
    CATALOGUE,
    INFERENCE,
    EXPERIMENTS,
    EVALUATION,
    HEALTH,
    reflection.SERVICE_NAME,
)
