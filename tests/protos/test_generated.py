"""The committed generated modules must be exactly what `make proto` produces now."""

from __future__ import annotations

from protos.generate import ROOT, generated_files


def test_generated_modules_are_fresh() -> None:
    fresh = generated_files()
    assert fresh, "protoc produced nothing"
    stale = [
        rel
        for rel, data in fresh.items()
        if not (ROOT / rel).exists() or (ROOT / rel).read_bytes() != data
    ]
    assert not stale, f"generated code is stale, run `make proto`: {stale}"


def test_contract_is_versioned() -> None:
    from protos.campaignlift.v1 import feedback_pb2, scoring_pb2

    assert scoring_pb2.DESCRIPTOR.package == "campaignlift.v1"
    assert "ScoringService" in scoring_pb2.DESCRIPTOR.services_by_name
    assert "FeedbackService" in feedback_pb2.DESCRIPTOR.services_by_name
