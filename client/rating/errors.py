"""One exception class per family of gRPC status codes, with the google.rpc details.

Every error the rating service returns carries an ``ErrorInfo`` reason (a stable
UPPER_SNAKE code) and, for bad requests, one ``FieldViolation`` per bad field::

    try:
        client.commit(items)
    except InvalidArgumentError as error:
        for violation in error.violations:      # fix your item 3
            print(violation.field, violation.reason, violation.description)
    except UnavailableError:                    # try again later
        ...
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc

from rating import _rpc_details


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field of a request, such as ``items[3].sku`` (``columns.items[3].sku``
    when the items were sent as columns)."""

    field: str
    reason: str
    description: str

    @property
    def item_index(self) -> int | None:
        """The index of the usage item the field belongs to, if it is one: 3 for
        ``items[3].sku`` and for ``columns.items[3].sku`` (the same item sent as
        columns)."""
        found = _ITEM_FIELD.match(self.field)
        return int(found[1]) if found else None


_ITEM_FIELD = re.compile(r"(?:columns\.)?items\[([0-9]+)\]")


@dataclass(eq=False)
class RatingError(Exception):
    """A failed call. ``code`` is the gRPC status; ``reason`` the ErrorInfo reason."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    domain: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    violations: tuple[FieldViolation, ...] = ()
    resource_type: str = ""
    resource_name: str = ""
    #: For a failed commit: the request_id it was sent with (generated if you gave
    #: none). Resend the same items with it and a commit the server did make is not
    #: made again. The same for a failed reserve or extend.
    request_id: str = ""

    #: Whether sending the same request again may succeed.
    retryable = False

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)

    def __str__(self) -> str:
        reason = f" [{self.reason}]" if self.reason else ""
        return f"{self.code.name}{reason}: {self.message}"


class InvalidArgumentError(RatingError):
    """INVALID_ARGUMENT, OUT_OF_RANGE: fix the request (see ``violations``)."""


class NotFoundError(RatingError):
    """NOT_FOUND: the account, reservation, charge or SKU does not exist (see
    ``resource_name``; reason ``ACCOUNT_NOT_FOUND``, ...). When items of a batch name
    it, ``violations`` names each (``items[1].account_id``, the same reason)."""


class AlreadyExistsError(RatingError):
    """ALREADY_EXISTS: it was created before."""


class FailedPreconditionError(RatingError):
    """FAILED_PRECONDITION: the request conflicts with what is recorded, e.g. a
    request_id reused with other items."""


class AbortedError(RatingError):
    """ABORTED: the write met concurrent writes to the same balances (reason
    CONCURRENT_UPDATE; nothing was written); retry."""

    retryable = True


class UnauthenticatedError(RatingError):
    """UNAUTHENTICATED: no or bad credentials."""


class PermissionDeniedError(RatingError):
    """PERMISSION_DENIED: the credentials do not allow this call."""


class ResourceExhaustedError(RatingError):
    """RESOURCE_EXHAUSTED: too much at once; slow down and retry."""

    retryable = True


class UnavailableError(RatingError):
    """UNAVAILABLE: the server could not be reached, is shutting down, or its database
    takes no writes now (reason STORAGE_UNAVAILABLE; nothing was written); retry."""

    retryable = True


class DeadlineExceededError(RatingError):
    """DEADLINE_EXCEEDED: no answer in time. A commit may or may not have happened:
    retry it with the same request_id."""

    retryable = True


class CancelledError(RatingError):
    """CANCELLED: the call was cancelled."""


class InternalError(RatingError):
    """INTERNAL, UNKNOWN, DATA_LOSS, UNIMPLEMENTED: a fault on the server's side."""


_CLASSES: dict[grpc.StatusCode, type[RatingError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: AbortedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.CANCELLED: CancelledError,
}


class MessageTooLargeError(ValueError):
    """A request the client will not send: encoded, it is larger than the largest
    message the server takes (``rating.options.MAX_MESSAGE_BYTES``), which gRPC would
    refuse with RESOURCE_EXHAUSTED. Nothing was sent; split the batch (``items``)."""

    def __init__(self, method: str, size: int, limit: int, items: int) -> None:
        self.method = method
        self.size = size
        self.limit = limit
        self.items = items
        super().__init__(
            f"{method}: the request is {size:,} bytes encoded, over the server's message "
            f"limit of {limit:,} bytes; nothing was sent: split its {items:,} items "
            "into smaller batches"
        )


def error_class(code: grpc.StatusCode) -> type[RatingError]:
    return _CLASSES.get(code, InternalError)


def from_call(code: grpc.StatusCode, details: str | None, trailers: object) -> RatingError:
    """The exception for a failed call, its google.rpc details parsed."""
    status = _rpc_details.status_from_trailers(trailers)
    fields: dict[str, Any] = {"code": code, "message": details or code.name}
    if status is not None:
        fields["message"] = status.message or fields["message"]
        violations: list[FieldViolation] = []
        for detail in status.details:
            info = _rpc_details.unpack(detail, _rpc_details.ErrorInfo)
            if info is not None:
                fields.update(reason=info.reason, domain=info.domain, metadata=dict(info.metadata))
            bad = _rpc_details.unpack(detail, _rpc_details.BadRequest)
            if bad is not None:
                violations.extend(
                    FieldViolation(v.field, v.reason, v.description) for v in bad.field_violations
                )
            resource = _rpc_details.unpack(detail, _rpc_details.ResourceInfo)
            if resource is not None:
                fields.update(
                    resource_type=resource.resource_type, resource_name=resource.resource_name
                )
        fields["violations"] = tuple(violations)
    return error_class(code)(**fields)


def from_rpc_error(error: grpc.RpcError) -> RatingError:
    """The exception for a grpc.RpcError raised by a sync stub."""
    call = error  # a grpc.Call as well, for errors from calls
    return from_call(
        call.code(),
        call.details(),
        call.trailing_metadata(),
    )
