"""The domain's errors, which the servicers turn into gRPC statuses
(``servicers/statuses.py``), and the ``Violation`` a bad field is named by. No gRPC
here."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Violation:
    """What is wrong with one field of a request, as google.rpc.BadRequest names it.

    ``resource`` is the id of what the field names and does not exist, for a reason
    that says so (``ACCOUNT_NOT_FOUND``, ``RESERVATION_NOT_FOUND``): an error of only
    such violations is NOT_FOUND, naming it."""

    field: str
    reason: str
    description: str
    resource: str = dataclasses.field(default="", compare=False)


class InvalidUsageError(ValueError):
    """The batch cannot be rated; ``violations`` names every bad field."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))


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
