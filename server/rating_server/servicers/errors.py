"""Rich gRPC errors (AIP-193): a status with an ErrorInfo and, where it helps, details.

Every error carries a ``google.rpc.ErrorInfo`` whose ``reason`` is a stable
UPPER_SNAKE code in the ``rating`` domain; bad requests add a ``BadRequest`` with
one field violation per bad field.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from rating_server.errors import (
    ConflictError,
    FailedPreconditionError,
    InvalidRequestError,
    InvalidUsageError,
    NotFoundError,
    Violation,
)

DOMAIN = "rating"
# Longest message, and longest echoed value, in an error (characters).
MAX_MESSAGE = 512
MAX_ECHO = 160
Response = TypeVar("Response")
# Field violations sent in one error; enough to fix a batch, small enough for a trailer.
MAX_VIOLATIONS = 50


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _packed(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def abort(
    context: grpc.ServicerContext,
    code: int,
    message: str,
    reason: str,
    metadata: Mapping[str, str] | None = None,
    details: Sequence[Message] = (),
) -> NoReturn:
    """End the RPC with ``code`` (a google.rpc.Code) and an ErrorInfo of ``reason``.

    What a caller sent may be echoed in the message, the metadata and the details; it
    is cut short, so the status always fits the trailer clients accept (a few KiB).
    """
    info = error_details_pb2.ErrorInfo(
        reason=reason,
        domain=DOMAIN,
        metadata={k: _short(v, MAX_ECHO) for k, v in (metadata or {}).items()},
    )
    status = status_pb2.Status(
        code=code,
        message=_short(message, MAX_MESSAGE),
        details=[_packed(info), *(_packed(d) for d in details)],
    )
    context.abort_with_status(rpc_status.to_status(status))
    raise AssertionError("abort_with_status returned")  # pragma: no cover


def abort_invalid(
    context: grpc.ServicerContext, violations: Sequence[Violation], reason: str
) -> NoReturn:
    """INVALID_ARGUMENT naming the bad fields in a BadRequest.

    The details travel in a trailer, which clients cap at a few KiB, so the first
    MAX_VIOLATIONS are sent; ErrorInfo.metadata["violations"] counts them all.
    """
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field=v.field, description=_short(v.description, MAX_ECHO), reason=v.reason
            )
            for v in violations[:MAX_VIOLATIONS]
        ]
    )
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    metadata = {"violations": str(len(violations))}
    if len(violations) > MAX_VIOLATIONS:
        metadata["violations_shown"] = str(MAX_VIOLATIONS)
    abort(
        context,
        code_pb2.INVALID_ARGUMENT,
        f"{first.field}: {first.description}{more}",
        reason,
        metadata=metadata,
        details=[bad_request],
    )


def abort_not_found(
    context: grpc.ServicerContext, resource_type: str, name: str, reason: str
) -> NoReturn:
    abort(
        context,
        code_pb2.NOT_FOUND,
        f"{resource_type} {name!r} not found",
        reason,
        metadata={resource_type: name},
        details=[
            error_details_pb2.ResourceInfo(
                resource_type=resource_type,
                resource_name=_short(name, MAX_ECHO),
                description="not found",
            )
        ],
    )


def domain_errors(method: Callable[..., Response]) -> Callable[..., Response]:
    """Turn the domain's errors, raised inside a servicer method, into rich statuses."""

    @functools.wraps(method)
    def wrapper(self: object, request: object, context: grpc.ServicerContext) -> Response:
        try:
            return method(self, request, context)
        except InvalidUsageError as error:
            abort_invalid(context, error.violations, "INVALID_USAGE")
        except InvalidRequestError as error:
            abort_invalid(context, error.violations, "INVALID_REQUEST")
        except NotFoundError as error:
            abort_not_found(context, error.kind, error.name, error.reason)
        except ConflictError as error:
            abort(context, code_pb2.ALREADY_EXISTS, str(error), error.reason)
        except FailedPreconditionError as error:
            abort(context, code_pb2.FAILED_PRECONDITION, str(error), error.reason)

    return wrapper
