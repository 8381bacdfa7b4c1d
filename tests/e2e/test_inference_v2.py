"""The Open Inference Protocol on our port: tritonclient (in its own process) and typed contents
get the same predictions as ScoringService for the same user x campaign pairs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from clients.client import CampaignLiftClient
from feedback.store import Store
from protos.inference import open_inference_pb2 as pb
from protos.inference import open_inference_pb2_grpc as pb_grpc
from server.runtime.app import RunningServer, start
from tests.conftest import ROOT, promote_new, server_settings
from tests.e2e.helpers import user_request


@pytest.fixture
def running(sqlite_store: Store, tmp_path: Path, trained_logreg) -> Iterator[RunningServer]:  # type: ignore[no-untyped-def]
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    server = start(server_settings(sqlite_store, tmp_path))
    yield server
    server.stop()


def pairs(world, users: range) -> dict[str, list[object]]:  # type: ignore[no-untyped-def]
    """Columns of every (user, campaign) pair, in ScoringService's row order."""
    rows: dict[str, list[object]] = {}
    for u in users:
        for c in world.campaigns:
            for name, value in {**world.user_features(u), **c.features()}.items():
                rows.setdefault(name, []).append(value if isinstance(value, str) else float(value))
    return rows


def scored(running: RunningServer, world, users: range) -> np.ndarray:  # type: ignore[no-untyped-def]
    with CampaignLiftClient(f"127.0.0.1:{running.port}") as client:
        results = client.score_batch([user_request(world, u) for u in users])
    return np.array([c.uplift["conversion"] for r in results for c in r.candidates])


def test_tritonclient_works_unchanged(running: RunningServer, world) -> None:  # type: ignore[no-untyped-def]
    users = range(4)
    probe = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "e2e" / "tritonclient_probe.py"),
            f"127.0.0.1:{running.port}",
            json.dumps(pairs(world, users)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout)
    assert seen["live"] and seen["ready"] and seen["model_ready"]
    assert seen["other_model_ready"] is False
    assert seen["server"] == "campaign-lift" and seen["platform"] == "onnxruntime_onnx"
    assert seen["versions"] == ["1"] and seen["model_version"] == "1" and seen["id"] == "r-1"
    uplift = np.array(seen["outputs"]["conversion_uplift"])
    assert uplift.shape == (len(users) * len(world.campaigns),)
    np.testing.assert_allclose(uplift, scored(running, world, users), atol=1e-6)


def _typed_request(world, users: range) -> pb.ModelInferRequest:  # type: ignore[no-untyped-def]
    request = pb.ModelInferRequest(model_name="campaign-lift")
    for name, values in pairs(world, users).items():
        tensor = request.inputs.add(name=name, shape=[len(values), 1])
        if isinstance(values[0], str):
            tensor.datatype = "BYTES"
            tensor.contents.bytes_contents.extend(v.encode() for v in values)  # type: ignore[union-attr]
        else:
            tensor.datatype = "FP64"
            tensor.contents.fp64_contents.extend(values)  # type: ignore[arg-type]
    return request


def test_typed_contents_and_bad_requests(running: RunningServer, world) -> None:  # type: ignore[no-untyped-def]
    users = range(3)
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        reply = stub.ModelInfer(_typed_request(world, users), timeout=5)
        by_name = {o.name: np.array(o.contents.fp32_contents) for o in reply.outputs}
        assert set(by_name) == {
            f"{t}_{s}"
            for t in ("click", "conversion")
            for s in ("probability", "control_probability", "uplift")
        }
        np.testing.assert_allclose(
            by_name["conversion_uplift"], scored(running, world, users), atol=1e-6
        )

        def fails(request: pb.ModelInferRequest, code: grpc.StatusCode, message: str) -> None:
            with pytest.raises(grpc.RpcError) as err:
                stub.ModelInfer(request, timeout=5)
            assert err.value.code() == code
            assert message in err.value.details()

        unknown = _typed_request(world, users)
        unknown.model_name = "other"
        fails(unknown, grpc.StatusCode.NOT_FOUND, "model 'other' is not served here")
        missing = _typed_request(world, users)
        del missing.inputs[0]
        fails(missing, grpc.StatusCode.INVALID_ARGUMENT, "inputs lack ['age']")
        nan = _typed_request(world, users)
        nan.inputs[0].contents.fp64_contents[0] = float("nan")
        fails(nan, grpc.StatusCode.INVALID_ARGUMENT, "inputs[0] ('age') must hold finite")
        wrong_type = _typed_request(world, users)
        wrong_type.inputs[4].datatype = "FP32"  # gender is text
        fails(
            wrong_type,
            grpc.StatusCode.INVALID_ARGUMENT,
            "inputs[4] ('gender').datatype must be BYTES",
        )
        short = _typed_request(world, users)
        short.inputs[0].shape[0] = 99
        fails(short, grpc.StatusCode.INVALID_ARGUMENT, "shape [99, 1] but 15 values")
        bad_output = _typed_request(world, users)
        bad_output.outputs.add(name="revenue_uplift")
        fails(
            bad_output, grpc.StatusCode.INVALID_ARGUMENT, "outputs ['revenue_uplift'] do not exist"
        )
        # Still serving.
        assert stub.ModelInfer(_typed_request(world, users), timeout=5).model_version == "1"
