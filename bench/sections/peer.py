"""Peer: Seldon MLServer with its scikit-learn runtime serving the same model (the trainer's
pipelines, see bench/peer_model.py), driven by the same load generator over the same V2
ModelInfer requests. MLServer cannot share our pins (protobuf, grpcio): it runs from its own
venv (`make bench-peer-venv`); without it this section is skipped and says why."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import grpc
import joblib

from bench.context import MODEL_INFER, ROOT, BenchContext, Row, free_port, load_row
from bench.loadgen import LoadResult
from bench.peer_model import UpliftPipelines
from protos.inference import open_inference_pb2 as v2
from protos.inference import open_inference_pb2_grpc as v2_grpc

PEER_VENV = Path(os.environ.get("CAMPAIGN_LIFT_PEER_VENV", ROOT / ".venv-peer"))
PEER_MODEL = "campaign-lift-peer"
ROWS = 100


class Skipped(Exception):
    """The section cannot run here; the message says why."""


def mlserver_command() -> Path:
    exe = PEER_VENV / "bin" / "mlserver"
    if not exe.exists():
        raise Skipped(
            f"MLServer is not installed ({exe} is absent): run `make bench-peer-venv` first"
        )
    return exe


def _write_model(ctx: BenchContext, folder: Path) -> None:
    model_dir = folder / PEER_MODEL
    model_dir.mkdir(parents=True)
    joblib.dump(
        UpliftPipelines(ctx.trained.pipelines, dict(ctx.spec.control)), model_dir / "model.joblib"
    )
    (model_dir / "model-settings.json").write_text(
        json.dumps(
            {
                "name": PEER_MODEL,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib"},
            }
        )
    )


def _wait_ready(target: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Skipped(f"MLServer exited ({proc.returncode}): {log.read_text()[-1500:]}")
        with grpc.insecure_channel(target) as channel:
            stub = v2_grpc.GRPCInferenceServiceStub(channel)
            try:
                if stub.ModelReady(v2.ModelReadyRequest(name=PEER_MODEL), timeout=2).ready:
                    return
            except grpc.RpcError:
                pass
        time.sleep(0.3)
    raise Skipped(f"MLServer did not become ready in 120 s: {log.read_text()[-1500:]}")


def _write_settings(folder: Path) -> int:
    """MLServer's settings on free local ports; returns its gRPC port."""
    port = free_port()
    (folder / "settings.json").write_text(
        json.dumps(
            {
                "grpc_port": port,
                "http_port": free_port(),
                "metrics_port": free_port(),
                "host": "127.0.0.1",
            }
        )
    )
    return port


def _start(exe: Path, folder: Path, log: Path) -> subprocess.Popen[bytes]:
    # The model's class lives in bench/. One OpenMP thread per inference, as our onnxruntime
    # sessions use: on 2 shared cores more threads only spin against each other.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(exe), "start", str(folder)], env=env, stdout=out, stderr=out, cwd=folder
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _requests_with_outputs(ctx: BenchContext) -> list[bytes]:
    """The shared ModelInfer requests, asking for the scikit-learn runtime's predict_proba."""
    with_outputs = []
    for raw in ctx.infer_requests(ROWS, PEER_MODEL):
        msg = v2.ModelInferRequest.FromString(raw)
        msg.outputs.add(name="predict_proba")
        with_outputs.append(msg.SerializeToString())
    return with_outputs


def _rows(lat: LoadResult, thr: LoadResult) -> list[Row]:
    note = "MLServer sklearn runtime, default settings, OMP_NUM_THREADS=1"
    return [
        load_row(
            "peer", f"MLServer V2 ModelInfer {ROWS} rows, 1 client", lat, pairs=ROWS, note=note
        ),
        load_row(
            "peer", f"MLServer V2 ModelInfer {ROWS} rows, under load", thr, pairs=ROWS, note=note
        ),
    ]


def run(ctx: BenchContext) -> list[Row]:
    try:
        exe = mlserver_command()
    except Skipped as exc:
        ctx.skipped["peer"] = str(exc)
        return []
    folder = ctx.workdir / "peer"
    _write_model(ctx, folder)
    port = _write_settings(folder)
    log = ctx.workdir / "peer.log"
    proc = _start(exe, folder, log)
    target = f"127.0.0.1:{port}"
    try:
        try:
            _wait_ready(target, proc, log)
        except Skipped as exc:
            ctx.skipped["peer"] = str(exc)
            return []
        with_outputs = _requests_with_outputs(ctx)
        lat = ctx.latency(target, MODEL_INFER, with_outputs)
        thr = ctx.throughput(target, MODEL_INFER, with_outputs)
    finally:
        _stop(proc)
    ctx.record(
        "peer",
        v2_100_p50_ms=lat.percentile_ms(50),
        pairs_per_s=thr.calls_per_s * ROWS,
    )
    return _rows(lat, thr)
