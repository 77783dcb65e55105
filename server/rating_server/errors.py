"""Domain errors the servicers turn into gRPC statuses. No gRPC here."""

from __future__ import annotations

from collections.abc import Sequence

from rating_server.engine import InvalidUsageError, Violation
from rating_server.ids import id_problem

__all__ = [
    "CatalogChangedError",
    "ConflictError",
    "FailedPreconditionError",
    "InvalidRequestError",
    "InvalidUsageError",
    "NotFoundError",
    "StorageUnavailableError",
    "Violation",
    "check_id",
    "require_ids",
]


# The reason an unusable id of each request field is refused with: each a value of
# rating.v1.ErrorReason, written out so that the reasons the server gives can be read
# off its source (tests/unit/test_error_reasons.py).
ID_INVALID_REASONS = {
    "account_id": "ACCOUNT_ID_INVALID",
    "charge_id": "CHARGE_ID_INVALID",
    "parent_account_id": "PARENT_ACCOUNT_ID_INVALID",
    "request_id": "REQUEST_ID_INVALID",
    "reservation_id": "RESERVATION_ID_INVALID",
}


def check_id(field: str, value: str, violations: list[Violation]) -> None:
    """Add ``{FIELD}_INVALID`` (``ID_INVALID_REASONS``) to ``violations`` when ``value``
    is not a usable id (``ids.id_problem``: 1 to 128 printable characters, no spaces).
    Every id a request names goes through here before it is looked up, so an empty or
    malformed one is the caller's mistake (INVALID_ARGUMENT), never a NOT_FOUND."""
    problem = id_problem(value)
    if problem:
        violations.append(Violation(field, ID_INVALID_REASONS[field], f"{field} {problem}"))


def require_ids(**ids: str) -> None:
    """InvalidRequestError naming each of these id fields that is not a usable id."""
    violations: list[Violation] = []
    for field, value in ids.items():
        check_id(field, value, violations)
    if violations:
        raise InvalidRequestError(violations)


class InvalidRequestError(ValueError):
    """A request field (not a usage item) is wrong; ``violations`` names each."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))


class NotFoundError(LookupError):
    """The named resource does not exist."""

    def __init__(self, kind: str, name: str, reason: str) -> None:
        self.kind, self.name, self.reason = kind, name, reason
        super().__init__(f"{kind} {name!r} not found")


class ConflictError(RuntimeError):
    """The request contradicts what was recorded before (a reused request_id, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class FailedPreconditionError(RuntimeError):
    """The request is well formed but the system is not in a state to do it."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class SchemaError(RuntimeError):
    """The database's schema is not the one this server runs on (PostgreSQL's, under
    versioned migrations); the message says why and what to do."""


class ConcurrentUpdateError(RuntimeError):
    """The write met other writes to the same balances and could not finish after
    running again (a deadlock, a serialization failure); nothing was written, and the
    same call may succeed at once (ABORTED, retryable)."""


class CatalogChangedError(ConcurrentUpdateError):
    """The batch was rated with catalog version ``rated_with``, and the database holds a
    newer one (``newest``, imported since the node last loaded it): nothing was written.
    Rated again with the newest catalog, the same commit succeeds (the rating servicer
    does so itself, a few times, then answers ABORTED like any other conflict)."""

    def __init__(self, rated_with: int, newest: int) -> None:
        self.rated_with, self.newest = rated_with, newest
        super().__init__(
            f"the batch was rated with catalog version {rated_with}, "
            f"and version {newest} was imported since"
        )


class StorageUnavailableError(RuntimeError):
    """The database cannot do what the call needs now: it is read-only, full, failing
    I/O, damaged, gone, or locked too long. The dependency's fault, not the request's;
    nothing was written, and the same call may succeed later. ``cause`` names the fault
    (SQLite's name, such as ``SQLITE_READONLY``)."""

    def __init__(self, message: str, cause: str) -> None:
        self.cause = cause
        super().__init__(message)
