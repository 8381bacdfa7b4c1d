"""Shared by every part: the process settings and the error tree with its status codes."""

from common.errors import (
    CampaignLiftError,
    FailedPrecondition,
    InvalidArgument,
    ModelError,
    NotFound,
    ResourceExhausted,
    Status,
    Unavailable,
)
from common.settings import Settings

__all__ = [
    "CampaignLiftError",
    "FailedPrecondition",
    "InvalidArgument",
    "ModelError",
    "NotFound",
    "ResourceExhausted",
    "Settings",
    "Status",
    "Unavailable",
]
