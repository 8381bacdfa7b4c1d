"""Server reflection lists our services; a version whose graph disagrees with its registered
schema is refused at load."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from common.errors import ModelError
from feedback.registry import get_version
from feedback.store import Store
from server.runtime.app import start
from server.runtime.model import load_model
from tests.conftest import promote_new, server_settings


def test_a_reflection_client_lists_our_services(sqlite_store: Store, tmp_path: Path) -> None:
    running = start(server_settings(sqlite_store, tmp_path))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
            method = (
                ProtoReflectionDescriptorDatabase(channel)
                .FindFileContainingSymbol("campaignlift.v1.ScoringService")
                .name
            )
    finally:
        running.stop()
    assert {
        "campaignlift.v1.ScoringService",
        "campaignlift.v1.FeedbackService",
        "campaignlift.v1.ModelAdminService",
        "inference.GRPCInferenceService",
        "grpc.health.v1.Health",
    } <= services
    assert method == "protos/campaignlift/v1/scoring.proto"


def test_schema_incompatible_artifact_is_refused(
    sqlite_store: Store, tmp_path: Path, trained_logreg
) -> None:
    version = get_version(
        sqlite_store, promote_new(sqlite_store, trained_logreg, tmp_path / "a").version
    )
    assert load_model(version).version == str(version.version)
    schema = {
        **version.feature_schema,
        "user": {**version.feature_schema["user"], "age": "categorical"},
    }
    with pytest.raises(ModelError, match=r"graph inputs .* do not match schema"):
        load_model(dataclasses.replace(version, feature_schema=schema))
    with pytest.raises(ModelError, match="does not match the registered"):
        load_model(dataclasses.replace(version, sha256="0" * 64))
    with pytest.raises(ModelError, match="cannot read"):
        load_model(dataclasses.replace(version, artifact_path=str(tmp_path / "gone.onnx")))
