"""Helpers of the fuzz tests: every RPC of the server by path, a generic hypothesis strategy for
any protobuf message (adversarial scalars, missing fields), raw-bytes calls and the properties
every answer must have."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

from protos.campaignlift.v1 import (
    admin_pb2,
    evaluation_pb2,
    experiments_pb2,
    feedback_pb2,
    scoring_pb2,
)
from protos.inference import open_inference_pb2
from tests.conftest import ROOT

MODULES = (
    scoring_pb2,
    feedback_pb2,
    admin_pb2,
    experiments_pb2,
    evaluation_pb2,
    open_inference_pb2,
)

# Strings that have broken servers elsewhere: SQL, format strings, paths, control characters,
# right-to-left marks, very long text, numbers in disguise.
ADVERSARIAL_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "'; DROP TABLE decisions; --",
    '" OR 1=1 --',
    "%s%s%s%n",
    "{0}{1}{__class__}",
    "../../etc/passwd",
    "\u202etxt.exe",
    "\U0001f600" * 50,
    "nan",
    "inf",
    "-0",
    "1e309",
    "99999999999999999999999",
    "x" * 300,
    "y" * 70_000,
    "production",
    "campaign-lift",
    "fz",
]

INT_BOUNDS = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}

# Timestamps before 1970, far in the future, beyond what datetime holds, bad nanos.
EXTREME_SECONDS = [0, -1, -62_135_596_801, 253_402_300_800, 2**62, -(2**62), 4_000_000_000]


@dataclass(frozen=True)
class Rpc:
    path: str  # "/package.Service/Method"
    request: Descriptor
    client_streaming: bool
    server_streaming: bool

    @property
    def service(self) -> str:
        return self.path[1:].split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def all_rpcs() -> list[Rpc]:
    rpcs = []
    for module in MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                rpcs.append(
                    Rpc(
                        f"/{service.full_name}/{method.name}",
                        method.input_type,
                        method.client_streaming,
                        method.server_streaming,
                    )
                )
    return rpcs


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _is_map(field: FieldDescriptor) -> bool:
    return (
        field.type == FieldDescriptor.TYPE_MESSAGE
        and _repeated(field)
        and field.message_type.GetOptions().map_entry
    )


def scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        return st.one_of(st.sampled_from(ADVERSARIAL_TEXT), st.text(max_size=30))
    if t == FieldDescriptor.TYPE_BYTES:
        return st.one_of(st.binary(max_size=40), st.sampled_from([b"\xff\xfe", b"", b"\x00"]))
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_DOUBLE:
        return st.one_of(
            st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, -1e-308, 0.5, -1.0]),
            st.floats(allow_nan=True, allow_infinity=True),
        )
    if t == FieldDescriptor.TYPE_FLOAT:
        return st.floats(width=32, allow_nan=True, allow_infinity=True)
    if t == FieldDescriptor.TYPE_ENUM:
        return st.integers(-3, 40)
    low, high = INT_BOUNDS[t]
    edges = [v for v in (0, 1, -1, low, high, *EXTREME_SECONDS) if low <= v <= high]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of this type: each field present or missing, scalars from adversarial
    edges, up to 4 repeated entries, nesting capped at depth 4."""
    cls = message_factory.GetMessageClass(descriptor)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        msg = cls()
        for field in descriptor.fields:
            if not draw(st.booleans()):
                continue
            nested = field.type == FieldDescriptor.TYPE_MESSAGE
            if nested and depth >= 4:
                continue
            target = getattr(msg, field.name) if _repeated(field) or nested else None
            if _is_map(field):
                key_f = field.message_type.fields_by_name["key"]
                value_f = field.message_type.fields_by_name["value"]
                for _ in range(draw(st.integers(0, 4))):
                    key = draw(scalar(key_f))
                    if value_f.type == FieldDescriptor.TYPE_MESSAGE:
                        target[key].CopyFrom(draw(messages(value_f.message_type, depth + 1)))
                    else:
                        target[key] = draw(scalar(value_f))
            elif _repeated(field):
                for _ in range(draw(st.integers(0, 4))):
                    if nested:
                        target.add().CopyFrom(draw(messages(field.message_type, depth + 1)))
                    else:
                        target.append(draw(scalar(field)))
            elif nested:
                target.CopyFrom(draw(messages(field.message_type, depth + 1)))
            else:
                setattr(msg, field.name, draw(scalar(field)))
        return msg

    return build()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def length_delimited(number: int, payload: bytes) -> bytes:
    """One wire-format field (type 2): how a string with invalid UTF-8 reaches the server."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def string_fields(descriptor: Descriptor) -> list[int]:
    return [
        f.number
        for f in descriptor.fields
        if f.type == FieldDescriptor.TYPE_STRING and not _repeated(f)
    ]


@dataclass
class Answer:
    code: grpc.StatusCode
    details: str


def call(
    channel: grpc.Channel,
    rpc: Rpc,
    payloads: Iterable[bytes],
    metadata: tuple[tuple[str, str], ...] = (),
    timeout: float = 30.0,
) -> Answer:
    """Sends raw payloads (one for unary requests); the status and details of the answer."""
    items = list(payloads)
    try:
        if rpc.client_streaming and rpc.server_streaming:
            stream = channel.stream_stream(rpc.path)
            for _ in stream(iter(items), timeout=timeout, metadata=metadata):
                pass
        elif rpc.client_streaming:
            channel.stream_unary(rpc.path)(iter(items), timeout=timeout, metadata=metadata)
        elif rpc.server_streaming:
            for _ in channel.unary_stream(rpc.path)(items[0], timeout=timeout, metadata=metadata):
                pass
        else:
            channel.unary_unary(rpc.path)(items[0], timeout=timeout, metadata=metadata)
    except grpc.RpcError as err:
        return Answer(err.code(), err.details() or "")
    return Answer(grpc.StatusCode.OK, "")


def assert_handled(answer: Answer, what: str) -> None:
    """The properties: never INTERNAL/UNKNOWN, no traceback or source path in the details."""
    assert answer.code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (
        f"{what}: {answer.code.name} {answer.details[:500]}"
    )
    assert answer.code != grpc.StatusCode.DEADLINE_EXCEEDED, f"{what}: hung"
    for leak in ("Traceback", 'File "', "site-packages", str(ROOT)):
        assert leak not in answer.details, f"{what}: {leak!r} in {answer.details[:500]}"
