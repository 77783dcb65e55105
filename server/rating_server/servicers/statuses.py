"""Rich gRPC errors (AIP-193): a status with an ErrorInfo and, where it helps, details.

Every error carries a ``google.rpc.ErrorInfo`` whose ``reason`` is a stable
UPPER_SNAKE code in the ``rating`` domain; bad requests add a ``BadRequest`` with
one field violation per bad field. Every reason, the ErrorInfo's and each field
violation's, is the name of a ``rating.v1.ErrorReason`` value (``REASONS``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from rating.v1 import error_reason_pb2
from rating_server import logs
from rating_server.domain_errors import (
    ConflictError,
    FailedPreconditionError,
    InvalidRequestError,
    InvalidUsageError,
    NotFoundError,
    Violation,
)

DOMAIN = "rating"
# The reasons an error may give: the names of rating.v1.ErrorReason's values (its zero
# value aside). A reason outside it is a bug of this server's: ``error_status`` raises,
# so the call fails INTERNAL (logged) rather than tell a caller a reason no document
# names, and tests/unit/test_error_reasons.py holds the source to it.
REASONS = frozenset(error_reason_pb2.ErrorReason.keys()) - {"ERROR_REASON_UNSPECIFIED"}
# The field violations that say the field names something that does not exist, with
# the type of what they name: an error of these alone is NOT_FOUND (``abort_bad``).
NOT_FOUND_REASONS = {"ACCOUNT_NOT_FOUND": "account", "RESERVATION_NOT_FOUND": "reservation"}
# What an error's status may take on the wire, in bytes: its message (the grpc-message
# trailer, percent-encoded: 3 bytes for each byte that is not printable ASCII) and its
# details (grpc-status-details-bin: the serialized google.rpc.Status, which holds the
# message again, in base64). gRPC implementations refuse a call whose trailers pass
# 8 KiB by default (grpc core's soft limit, grpc-java's limit): a refused error reaches
# the caller as RESOURCE_EXHAUSTED, which clients retry. Half of that leaves the rest
# of the trailers room.
TRAILER_BUDGET = 4096
# Longest message, and longest echoed value (a description, a resource name, a metadata
# value), in an error: bytes of UTF-8, cut at a character's boundary.
MAX_MESSAGE = 512
MAX_ECHO = 256
Response = TypeVar("Response")
# Field violations sent in one error at most; fewer when they do not fit TRAILER_BUDGET.
MAX_VIOLATIONS = 50
_CUT = "..."
# The bytes grpc-message percent-encodes: all but printable ASCII, and "%" itself.
_PERCENT_ENCODED = bytes([*range(0x20), 0x25, *range(0x7F, 0x100)])


def cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` bytes of UTF-8: whole, or cut at a character's
    boundary and ended with "..."."""
    if len(text) * 4 <= limit:  # no character takes more than 4 bytes
        return text
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    # The cut may fall inside a character: "ignore" drops its leading bytes.
    return data[: limit - len(_CUT)].decode("utf-8", "ignore") + _CUT


def trailer_size(status: status_pb2.Status) -> int:
    """The bytes ``status`` takes on the wire: its message, percent-encoded, and the
    whole status, serialized, in base64."""
    message = status.message.encode("utf-8", "replace")
    percent_encoded = len(message) - len(message.translate(None, _PERCENT_ENCODED))
    size: int = status.ByteSize()  # (google.rpc ships no type information)
    return len(message) + 2 * percent_encoded + 4 * -(-size // 3)


def _packed(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _bounded(detail: Message) -> Message:
    """A copy of ``detail`` with every value a caller may have sent cut to MAX_ECHO."""
    bounded = type(detail)()
    bounded.CopyFrom(detail)
    if isinstance(bounded, error_details_pb2.BadRequest):
        for violation in bounded.field_violations:
            violation.field = cut(violation.field, MAX_ECHO)
            violation.description = cut(violation.description, MAX_ECHO)
    elif isinstance(bounded, error_details_pb2.ResourceInfo):
        bounded.resource_name = cut(bounded.resource_name, MAX_ECHO)
        bounded.description = cut(bounded.description, MAX_ECHO)
    return bounded


def error_status(
    code: int,
    message: str,
    reason: str,
    metadata: Mapping[str, str] | None = None,
    details: Sequence[Message] = (),
) -> status_pb2.Status:
    """The google.rpc.Status of an error: ``code``, ``message``, an ErrorInfo of
    ``reason`` and ``metadata``, then ``details``; within TRAILER_BUDGET, however long
    what a caller sent and however many field violations there are.

    The message and each echoed value are cut short (MAX_MESSAGE, MAX_ECHO bytes).
    Field violations that do not fit are left out, the last first; ErrorInfo.metadata
    then says how many were sent ("violations_shown"; "violations" counts them all).
    ValueError when a reason, ``reason`` or a field violation's, is not in ``REASONS``.
    """
    _check_reasons(reason, details)
    info = error_details_pb2.ErrorInfo(
        reason=reason,
        domain=DOMAIN,
        metadata={k: cut(v, MAX_ECHO) for k, v in (metadata or {}).items()},
    )
    bounded = [_bounded(d) for d in details]
    bad_requests = [d for d in bounded if isinstance(d, error_details_pb2.BadRequest)]
    every = [list(b.field_violations) for b in bad_requests]
    total = sum(map(len, every))

    def built(shown: int) -> status_pb2.Status:
        """The status with the first ``shown`` field violations."""
        left = shown
        for bad_request, violations in zip(bad_requests, every, strict=True):
            del bad_request.field_violations[:]
            bad_request.field_violations.extend(violations[:left])
            left = max(0, left - len(violations))
        if shown < total:
            info.metadata["violations_shown"] = str(shown)
        return status_pb2.Status(
            code=code,
            message=cut(message, MAX_MESSAGE),
            details=[_packed(info), *(_packed(d) for d in bounded)],
        )

    status = built(total)
    if trailer_size(status) <= TRAILER_BUDGET:
        return status
    # The most violations that fit: at least none, fewer than all.
    low, high = 0, total
    while high - low > 1:
        middle = (low + high) // 2
        if trailer_size(built(middle)) <= TRAILER_BUDGET:
            low = middle
        else:
            high = middle
    status = built(low)
    if trailer_size(status) <= TRAILER_BUDGET:
        return status
    # Not even with no violation (no error of this server's comes here): the code and
    # the reason, which are the server's own, and the message, cut to what fits.
    return status_pb2.Status(
        code=code,
        message=cut(message, MAX_ECHO),
        details=[_packed(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN))],
    )


def _check_reasons(reason: str, details: Sequence[Message]) -> None:
    unknown = {reason} - REASONS
    for detail in details:
        if isinstance(detail, error_details_pb2.BadRequest):
            unknown.update(v.reason for v in detail.field_violations if v.reason not in REASONS)
    if unknown:
        raise ValueError(f"not rating.v1.ErrorReason values: {', '.join(sorted(unknown))}")


def abort(
    context: grpc.ServicerContext,
    code: int,
    message: str,
    reason: str,
    metadata: Mapping[str, str] | None = None,
    details: Sequence[Message] = (),
) -> NoReturn:
    """End the RPC with ``code`` (a google.rpc.Code) and an ErrorInfo of ``reason``.

    What a caller sent may be echoed in the message, the metadata and the details; the
    status is bounded (``error_status``), so it always fits the trailers every client
    accepts, and the caller gets this error and not one about the trailers' size.
    """
    status = rpc_status.to_status(error_status(code, message, reason, metadata, details))
    request_id = logs.REQUEST_ID.get()
    if request_id:  # the call's, echoed with its status (the guard's, on success)
        status = _Status(
            status.code,
            status.details,
            (*status.trailing_metadata, (logs.REQUEST_ID_KEY, request_id)),
        )
    context.abort_with_status(status)
    raise AssertionError("abort_with_status returned")  # pragma: no cover


class _Status(grpc.Status):
    """A status to end a call with: its code, message and trailing metadata."""

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        trailing_metadata: tuple[tuple[str, str | bytes], ...],
    ) -> None:
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def _bad_request(
    violations: Sequence[Violation],
) -> tuple[str, dict[str, str], error_details_pb2.BadRequest]:
    """The message, the ErrorInfo.metadata and the BadRequest naming ``violations``.

    The details travel in a trailer, which clients cap at a few KiB, so the first
    MAX_VIOLATIONS, or as many as fit it, are sent (ErrorInfo.metadata
    "violations_shown"); ErrorInfo.metadata["violations"] counts them all.
    """
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field=v.field, description=v.description, reason=v.reason
            )
            for v in violations[:MAX_VIOLATIONS]
        ]
    )
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    metadata = {"violations": str(len(violations))}
    if len(violations) > MAX_VIOLATIONS:
        metadata["violations_shown"] = str(MAX_VIOLATIONS)
    return f"{first.field}: {first.description}{more}", metadata, bad_request


def abort_bad(
    context: grpc.ServicerContext, violations: Sequence[Violation], reason: str
) -> NoReturn:
    """INVALID_ARGUMENT naming the bad fields; NOT_FOUND when each of them names
    something that does not exist (``NOT_FOUND_REASONS``: an item's unknown account is
    NOT_FOUND ACCOUNT_NOT_FOUND, as a request's own is), the fields still named."""
    first = violations[0]
    if all(v.reason in NOT_FOUND_REASONS for v in violations):
        resource_type = NOT_FOUND_REASONS[first.reason]
        abort_not_found(context, resource_type, first.resource, first.reason, violations)
    abort_invalid(context, violations, reason)


def abort_invalid(
    context: grpc.ServicerContext, violations: Sequence[Violation], reason: str
) -> NoReturn:
    """INVALID_ARGUMENT naming the bad fields in a BadRequest (``_bad_request``)."""
    message, metadata, bad_request = _bad_request(violations)
    abort(
        context,
        code_pb2.INVALID_ARGUMENT,
        message,
        reason,
        metadata=metadata,
        details=[bad_request],
    )


def abort_not_found(
    context: grpc.ServicerContext,
    resource_type: str,
    name: str,
    reason: str,
    violations: Sequence[Violation] = (),
) -> NoReturn:
    """NOT_FOUND with a ResourceInfo of ``name``; with ``violations``, the fields that
    name it (and others that do not exist) in a BadRequest as well."""
    message = f"{resource_type} {name!r} not found"
    metadata = {resource_type: name}
    details: list[Message] = [
        error_details_pb2.ResourceInfo(
            resource_type=resource_type,
            resource_name=name,
            description="not found",
        )
    ]
    if violations:
        message, counts, bad_request = _bad_request(violations)
        metadata.update(counts)
        details.append(bad_request)
    abort(context, code_pb2.NOT_FOUND, message, reason, metadata=metadata, details=details)


def domain_errors(method: Callable[..., Response]) -> Callable[..., Response]:
    """Turn the domain's errors, raised inside a servicer method, into rich statuses."""

    @functools.wraps(method)
    def wrapper(self: object, request: object, context: grpc.ServicerContext) -> Response:
        with domain_errors_of(context):
            return method(self, request, context)
        raise AssertionError("unreachable")  # pragma: no cover (the block returns or aborts)

    return wrapper


@contextlib.contextmanager
def domain_errors_of(context: grpc.ServicerContext) -> Iterator[None]:
    """``domain_errors`` for a block: in a streaming method, around each read."""
    try:
        yield
    except InvalidUsageError as error:
        abort_bad(context, error.violations, "INVALID_USAGE")
    except InvalidRequestError as error:
        abort_bad(context, error.violations, "INVALID_REQUEST")
    except NotFoundError as error:
        abort_not_found(context, error.kind, error.name, error.reason)
    except ConflictError as error:
        abort(context, code_pb2.ALREADY_EXISTS, str(error), error.reason)
    except FailedPreconditionError as error:
        abort(context, code_pb2.FAILED_PRECONDITION, str(error), error.reason)
