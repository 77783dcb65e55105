"""Rich gRPC errors (AIP-193): a status with an ErrorInfo and, where it helps, details.

Every error carries a ``google.rpc.ErrorInfo`` whose ``reason`` is a stable
UPPER_SNAKE code in the ``rating`` domain; bad requests add a ``BadRequest`` with
one field violation per bad field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NoReturn

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from rating_server.engine import Violation

DOMAIN = "rating"
# Field violations sent in one error; enough to fix a batch, small enough for a trailer.
MAX_VIOLATIONS = 50


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
    """End the RPC with ``code`` (a google.rpc.Code) and an ErrorInfo of ``reason``."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata or {})
    status = status_pb2.Status(
        code=code,
        message=message,
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
                resource_type=resource_type, resource_name=name, description="not found"
            )
        ],
    )
