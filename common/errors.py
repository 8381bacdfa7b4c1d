"""The project's error tree: each error carries the status a gRPC boundary must answer with."""

from __future__ import annotations

from enum import Enum


class Status(Enum):
    """Transport-free status codes; server/errors.py maps them onto grpc.StatusCode."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


class CampaignLiftError(Exception):
    """Base of every error the project raises on purpose."""

    status: Status = Status.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(CampaignLiftError):
    """The caller sent something wrong; the message names the field and the bad value."""

    status = Status.INVALID_ARGUMENT


class NotFound(CampaignLiftError):
    status = Status.NOT_FOUND


class FailedPrecondition(CampaignLiftError):
    """The system is not in a state that allows the call (e.g. no production model yet)."""

    status = Status.FAILED_PRECONDITION


class ResourceExhausted(CampaignLiftError):
    status = Status.RESOURCE_EXHAUSTED


class Unavailable(CampaignLiftError):
    """A dependency (the store) cannot be reached; the caller may retry."""

    status = Status.UNAVAILABLE


class ModelError(CampaignLiftError):
    """A model artifact could not be built, checked, loaded or run."""

    status = Status.FAILED_PRECONDITION
