"""The Open Inference Protocol (KServe V2 / Triton) on our port: thin over
server/handlers/inference.py — raw features in, per-target probability, control probability and
uplift out. Standard clients get the model's predictions; decisions stay on ScoringService."""

from __future__ import annotations

from importlib.metadata import version as package_version

import grpc
import numpy as np

from common.errors import InvalidArgument
from common.graph import all_outputs
from protos.inference import open_inference_pb2 as pb
from protos.inference import open_inference_pb2_grpc as pb_grpc
from server.handlers.inference import MODEL_NAME, InferenceHandler
from server.rpc.converters.inference import infer_response, tensor_column
from server.rpc.errors import grpc_errors


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, handler: InferenceHandler) -> None:
        self._handler = handler

    @grpc_errors
    def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.ServicerContext
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    @grpc_errors
    def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.ServicerContext
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self._handler.ready)

    @grpc_errors
    def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.ServicerContext
    ) -> pb.ModelReadyResponse:
        return pb.ModelReadyResponse(ready=self._handler.model_ready(request.name, request.version))

    @grpc_errors
    def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.ServicerContext
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(
            name="campaign-lift", version=package_version("campaign-lift"), extensions=[]
        )

    @grpc_errors
    def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.ServicerContext
    ) -> pb.ModelMetadataResponse:
        model = self._handler.model(request.name, request.version)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=MODEL_NAME,
            versions=self._handler.versions(),
            platform="onnxruntime_onnx",
            inputs=[
                tensor(name=n, datatype="FP32" if k == "numeric" else "BYTES", shape=[-1, 1])
                for n, k in model.feature_kinds.items()
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
        model = self._handler.model(request.model_name, request.model_version)
        kinds = model.feature_kinds
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
            feeds[tensor.name] = tensor_column(
                tensor, raw[i] if raw else None, kinds[tensor.name], where
            )
        outputs = self._handler.infer(model, feeds, [o.name for o in request.outputs])
        return infer_response(MODEL_NAME, model.version, request.id, outputs, bool(raw))
