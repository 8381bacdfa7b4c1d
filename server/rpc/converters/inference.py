"""Open Inference Protocol tensors <-> model input columns and output arrays."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from common.errors import InvalidArgument
from protos.inference import open_inference_pb2 as pb
from server.handlers.features import FLOAT32_MAX

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


def tensor_column(msg: Any, raw: bytes | None, kind: str, where: str) -> np.ndarray:
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


def infer_response(
    model_name: str,
    version: str,
    request_id: str,
    outputs: list[tuple[str, np.ndarray]],
    raw: bool,
) -> pb.ModelInferResponse:
    """The outputs as FP32 tensors, raw when the request sent raw inputs."""
    response = pb.ModelInferResponse(model_name=model_name, model_version=version, id=request_id)
    for name, array in outputs:
        out = response.outputs.add(name=name, datatype="FP32", shape=list(array.shape))
        if raw:  # answer in the form the request used
            response.raw_output_contents.append(np.ascontiguousarray(array, dtype="<f4").tobytes())
        else:
            out.contents.fp32_contents.extend(array.astype(np.float32).ravel().tolist())
    return response
