"""Helpers shared by the tests: building usage items and reading rich gRPC errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
from google.protobuf import duration_pb2, timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import strategies as st

from rating.v1 import usage_pb2
from rating_server.catalog.imports import import_file
from rating_server.catalog.stores import open_catalog
from rating_server.config import Settings
from rating_server.ledger.sqlite import database
from rating_server.server import RatingServer

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "server" / "catalog" / "seed.toml"
GIB = 2**30
NOON = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)  # noon in Asia/Shanghai


def timestamp(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def item(
    sku: str,
    quantity: int,
    *,
    usage_id: str = "u-1",
    account_id: str = "acct-1",
    occurred_at: datetime | None = NOON,
    duration_ms: int | None = None,
    **attributes: str,
) -> usage_pb2.UsageItem:
    message = usage_pb2.UsageItem(
        usage_id=usage_id, account_id=account_id, sku=sku, quantity=quantity, attributes=attributes
    )
    if occurred_at is not None:
        message.occurred_at.CopyFrom(timestamp(occurred_at))
    if duration_ms is not None:
        message.duration.CopyFrom(duration_pb2.Duration(seconds=0, nanos=0))
        message.duration.FromMilliseconds(duration_ms)
    return message


@dataclass
class RichError:
    code: grpc.StatusCode
    message: str
    info: error_details_pb2.ErrorInfo
    violations: list[error_details_pb2.BadRequest.FieldViolation]
    resource: error_details_pb2.ResourceInfo | None


def rich_error(error: grpc.RpcError) -> RichError:
    """The google.rpc details of a failed call: its ErrorInfo and BadRequest."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no rich status on {error!r}"
    info = error_details_pb2.ErrorInfo()
    violations: list[error_details_pb2.BadRequest.FieldViolation] = []
    resource = None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.extend(bad.field_violations)
        elif detail.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
            resource = error_details_pb2.ResourceInfo()
            detail.Unpack(resource)
    assert info.reason, "every error carries an ErrorInfo with a reason"
    return RichError(error.code(), status.message, info, violations, resource)  # type: ignore[attr-defined]


def seeded_database(path: Path) -> Path:
    """A database file at ``path`` holding the seed catalog as version 1."""
    store = open_catalog(path)
    try:
        import_file(store, SEED)
    finally:
        store.close()
    return path


@contextmanager
def running(settings: Settings) -> Iterator[RatingServer]:
    """The real server, in this process, started; stopped at the end."""
    server = RatingServer(settings)
    server.start()
    try:
        yield server
    finally:
        server.stop(grace=0)


def mostly(good: object, *bad: object) -> st.SearchStrategy[object]:
    """The good value most of the time, so that one bad field at a time is tried."""
    return st.sampled_from([good] * (3 * len(bad)) + list(bad))


class LedgerStorage:
    """Stands in for the ledger's ``connect`` and keeps every writer connection, so a
    test can make the database refuse writes, as a read-only file, mount or disk does.

    Making the file read-only does not stop a test running as root, so the writers are
    switched to ``PRAGMA query_only``: each write then fails as SQLite fails it on a
    file it could open for reading only (SQLITE_READONLY, "attempt to write a readonly
    database"), and reads go on."""

    def __init__(self) -> None:
        self.writers: list[sqlite3.Connection] = []

    def connect(self, path: str | Path, create: bool = True) -> sqlite3.Connection:
        if not create:  # a reader
            return database.open_connection(path, check_same_thread=False, create=False)
        conn = database.open_connection(path, check_same_thread=False)
        self.writers.append(conn)
        return conn

    def refuse_writes(self, refuse: bool = True) -> None:
        for conn in self.writers:
            conn.execute(f"PRAGMA query_only = {'ON' if refuse else 'OFF'}")
