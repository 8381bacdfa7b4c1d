"""Converters every service shares: feature maps and timestamps."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from common.errors import InvalidArgument
from protos.campaignlift.v1 import common_pb2
from server.handlers.features import FeatureMap


def features(values: Mapping[str, common_pb2.FeatureValue]) -> FeatureMap:
    out: dict[str, float | str | None] = {}
    for name, v in values.items():
        # ListFields holds the one set member of the oneof (number or text); unset: None.
        set_fields = v.ListFields()
        out[name] = set_fields[0][1] if set_fields else None
    return out


def timestamp(stamp: Timestamp, field: str) -> datetime:
    """A protobuf Timestamp as an aware datetime; one outside 0001..9999 (or with nanos outside
    0..999999999) is refused by field name instead of failing deep inside protobuf."""
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(
            f"{field} must be a timestamp between years 1 and 9999, "
            f"got seconds={stamp.seconds} nanos={stamp.nanos}"
        ) from exc
