"""The Open Inference Protocol (KServe V2 / Triton) on our port: the served ONNX graph, raw
features in, per-target probability, control probability and uplift out. No policy and no
decision: standard clients get the model's predictions; decisions stay on ScoringService."""

from __future__ import annotations

import struct
import time
from typing import Any

import grpc
import numpy as np

from common.errors import InvalidArgument, NotFound
from common.graph import all_outputs
from feedback.registry import list_versions
from feedback.store import Store
from protos.inference import open_inference_pb2 as pb
from protos.inference import open_inference_pb2_grpc as pb_grpc
from server.errors import grpc_errors
from server.features import FLOAT32_MAX
from server.metrics import ServerMetrics
from server.model import LoadedModel
from server.registry_client import ModelManager

MODEL_NAME = "campaign-lift"
NUMERIC_TYPES = {"FP32": "<f4", "FP64": "<f8", "INT32": "<i4", "INT64": "<i8"}
CONTENT_FIELDS = {
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "BYTES": "bytes_contents",
}


def decode_bytes(raw: bytes, where: str) -> list[bytes]:
    """BYTES tensors in raw form: each element is a 4-byte little-endian length, then the bytes."""
    out, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidArgument(f"{where}: truncated BYTES element length")
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + size > len(raw):
            raise InvalidArgument(f"{where}: BYTES element longer than the contents")
        out.append(raw[offset : offset + size])
        offset += size
    return out


def _tensor(msg: Any, raw: bytes | None, kind: str, where: str) -> np.ndarray:
    """One input tensor as a column: float32 for numeric features, str for categorical."""
    dtype = msg.datatype
    shape = list(msg.shape)
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1) or shape[0] < 0:
        raise InvalidArgument(f"{where}.shape must be [N] or [N, 1], got {shape}")
    if kind == "numeric":
        if dtype not in NUMERIC_TYPES:
            raise InvalidArgument(
                f"{where}.datatype must be one of {list(NUMERIC_TYPES)}, got {dtype!r}"
            )
        if raw is not None:
            if len(raw) % np.dtype(NUMERIC_TYPES[dtype]).itemsize:
                raise InvalidArgument(f"{where}: raw contents do not hold whole {dtype} values")
            values = np.frombuffer(raw, dtype=NUMERIC_TYPES[dtype]).astype(np.float64)
        else:
            values = np.asarray(getattr(msg.contents, CONTENT_FIELDS[dtype]), dtype=np.float64)
        if not np.isfinite(values).all() or (np.abs(values) > FLOAT32_MAX).any():
            raise InvalidArgument(f"{where} must hold finite float32-range numbers")
        column: np.ndarray = values.astype(np.float32)
    else:
        if dtype != "BYTES":
            raise InvalidArgument(f"{where}.datatype must be BYTES (text), got {dtype!r}")
        items = decode_bytes(raw, where) if raw is not None else list(msg.contents.bytes_contents)
        try:
            column = np.array([b.decode("utf-8") for b in items], dtype=object)
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"{where} holds text that is not UTF-8") from exc
    if len(column) != shape[0]:
        raise InvalidArgument(f"{where}: shape {shape} but {len(column)} values")
    return column.reshape(-1, 1)


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(
        self, models: ModelManager, store: Store, metrics: ServerMetrics | None = None
    ) -> None:
        self._models = models
        self._store = store
        self._metrics = metrics

    def _model(self, name: str, version: str) -> LoadedModel:
        if name != MODEL_NAME:
            raise NotFound(f"model {name!r} is not served here; the model is {MODEL_NAME!r}")
        return self._models.get(version)

    @grpc_errors
    def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.ServicerContext
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    @grpc_errors
    def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.ServicerContext
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self._models.current is not None)

    @grpc_errors
    def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.ServicerContext
    ) -> pb.ModelReadyResponse:
        try:
            self._model(request.name, request.version)
        except (NotFound, Exception):  # not loadable, for whatever reason, is "not ready"
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=True)

    @grpc_errors
    def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.ServicerContext
    ) -> pb.ServerMetadataResponse:
        from importlib.metadata import version

        return pb.ServerMetadataResponse(
            name="campaign-lift", version=version("campaign-lift"), extensions=[]
        )

    @grpc_errors
    def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.ServicerContext
    ) -> pb.ModelMetadataResponse:
        model = self._model(request.name, request.version)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        kinds = {**model.user_features, **model.campaign_features}
        return pb.ModelMetadataResponse(
            name=MODEL_NAME,
            versions=[str(v.version) for v in list_versions(self._store) if v.archived_at is None],
            platform="onnxruntime_onnx",
            inputs=[
                tensor(name=n, datatype="FP32" if k == "numeric" else "BYTES", shape=[-1, 1])
                for n, k in kinds.items()
            ],
            outputs=[
                tensor(name=name, datatype="FP32", shape=[-1])
                for name in all_outputs(model.targets)
            ],
        )

    @grpc_errors
    def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.ServicerContext
    ) -> pb.ModelInferResponse:
        model = self._model(request.model_name, request.model_version)
        kinds = {**model.user_features, **model.campaign_features}
        raw = list(request.raw_input_contents)
        if raw and len(raw) != len(request.inputs):
            raise InvalidArgument(
                f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs"
            )
        feeds: dict[str, np.ndarray] = {}
        for i, tensor in enumerate(request.inputs):
            where = f"inputs[{i}] ({tensor.name!r})"
            if tensor.name not in kinds:
                raise InvalidArgument(
                    f"{where} is not an input of the model; inputs: {list(kinds)}"
                )
            feeds[tensor.name] = _tensor(tensor, raw[i] if raw else None, kinds[tensor.name], where)
        missing = [n for n in kinds if n not in feeds]
        if missing:
            raise InvalidArgument(f"inputs lack {missing}")
        if len({len(v) for v in feeds.values()}) != 1:
            raise InvalidArgument("inputs must all have the same number of rows")
        available = all_outputs(model.targets)
        names = [o.name for o in request.outputs] or available
        unknown = [n for n in names if n not in available]
        if unknown:
            raise InvalidArgument(f"outputs {unknown} do not exist; outputs: {available}")
        began = time.perf_counter()
        values = model.run(names, feeds)
        if self._metrics is not None:
            self._metrics.model_seconds.labels(model.version).observe(time.perf_counter() - began)
            self._metrics.pairs.labels(model.version).inc(len(next(iter(feeds.values()))))
        response = pb.ModelInferResponse(
            model_name=MODEL_NAME, model_version=model.version, id=request.id
        )
        for name, array in zip(names, values, strict=True):
            out = response.outputs.add(name=name, datatype="FP32", shape=list(array.shape))
            if raw:  # answer in the form the request used
                response.raw_output_contents.append(
                    np.ascontiguousarray(array, dtype="<f4").tobytes()
                )
            else:
                out.contents.fp32_contents.extend(array.astype(np.float32).ravel().tolist())
        return response
