"""Helpers shared by the tests: building usage items, reading rich gRPC errors, and
reading or breaking a test's database of either engine."""

from __future__ import annotations

import atexit
import base64
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import strategies as st
from psycopg import sql as pg_sql

from rating.v1 import account_service_pb2, account_service_pb2_grpc, columns_pb2, usage_pb2
from rating_server.catalog.imports import import_file
from rating_server.catalog.stores import open_catalog
from rating_server.config import Settings, is_postgres_url
from rating_server.ledger.sqlite import database
from rating_server.server import RatingServer, create_server

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
    """A database file at ``path`` holding the seed catalog as version 1: a copy of one
    made once per test process (an import takes some 50 ms, a copy well under one)."""
    shutil.copyfile(_seeded_template(), path)
    return path


@cache
def _seeded_template() -> Path:
    folder = tempfile.mkdtemp(prefix="rating-seeded-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = Path(folder) / "rating.db"
    store = open_catalog(path)
    try:
        import_file(store, SEED)
    finally:
        store.close()
    return path


@contextmanager
def running(settings: Settings) -> Iterator[RatingServer]:
    """The real server, in this process, started; stopped at the end."""
    server = create_server(settings)
    server.start()
    try:
        yield server
    finally:
        server.stop(grace=0)


def mostly(good: object, *bad: object) -> st.SearchStrategy[object]:
    """The good value most of the time, so that one bad field at a time is tried."""
    return st.sampled_from([good] * (3 * len(bad)) + list(bad))


class LedgerStorage:
    """Stands in for the ledger's ``open_ledger_connection`` and keeps every writer connection, so a
    test can make the database refuse writes, as a read-only file, mount or disk does.

    Making the file read-only does not stop a test running as root, so the writers are
    switched to ``PRAGMA query_only``: each write then fails as SQLite fails it on a
    file it could open for reading only (SQLITE_READONLY, "attempt to write a readonly
    database"), and reads go on."""

    #: The cause a refused write's error names.
    cause = "SQLITE_READONLY"
    #: What the engine says of a refused write, between the parentheses of the error's
    #: message (a regular expression).
    refusal = "attempt to write a readonly database"

    def __init__(self) -> None:
        self.writers: list[sqlite3.Connection] = []

    def open_ledger_connection(self, path: str | Path, create: bool = True) -> sqlite3.Connection:
        if not create:  # a reader
            return database.open_connection(path, check_same_thread=False, create=False)
        conn = database.open_connection(path, check_same_thread=False)
        self.writers.append(conn)
        return conn

    def refuse_writes(self, refuse: bool = True) -> None:
        for conn in self.writers:
            conn.execute(f"PRAGMA query_only = {'ON' if refuse else 'OFF'}")


class PostgresStorage:
    """``LedgerStorage`` for a PostgreSQL database: makes the database refuse writes as
    a standby, a database an operator set read-only or one fenced off in a failover
    does (SQLSTATE 25006, "cannot execute ... in a read-only transaction"), and reads go
    on.

    The database's sessions become read-only by default, and its open sessions are
    ended (each pool finds its connections dead before it hands them out, and opens
    new ones, read-only), so no connection opened before slips through."""

    cause = "POSTGRES_25006"
    refusal = "cannot execute .+ in a read-only transaction"

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = url.rsplit("/", 1)[1]
        self._maintenance = url.rsplit("/", 1)[0] + "/postgres"

    def refuse_writes(self, refuse: bool = True) -> None:
        with psycopg.connect(self._maintenance, autocommit=True) as conn:
            conn.execute(
                pg_sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = {}").format(
                    pg_sql.Identifier(self.name), pg_sql.SQL("on" if refuse else "off")
                )
            )
            # Ended, and waited for (up to 10 s each): none is left when this returns.
            conn.execute(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.name],
            )


#: Every row of every table of a database, by table: rows sorted, for comparing.
LedgerState = dict[str, list[tuple[Any, ...]]]


class LedgerReader:
    """Reads a test's database directly, behind the server's back, on one read-only
    connection kept open: a SQLite file's path or a PostgreSQL URL. Queries take ``?``
    placeholders on either engine. Each query (and each ``snapshot``) sees what was
    committed when it began."""

    def __init__(self, database: str | Path) -> None:
        self.postgres = is_postgres_url(database)
        self._pg: psycopg.Connection | None = None
        self._sqlite: sqlite3.Connection | None = None
        if self.postgres:
            self._pg = psycopg.connect(str(database), autocommit=True)
        else:
            uri = Path(database).resolve().as_uri() + "?mode=ro"
            self._sqlite = sqlite3.connect(uri, uri=True, isolation_level=None)

    def rows(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        if self._pg is not None:
            return list(self._pg.execute(query.replace("?", "%s"), params).fetchall())
        assert self._sqlite is not None
        return self._sqlite.execute(query, params).fetchall()

    def value(self, query: str, *params: object) -> Any:
        """The first column of the first row (None when there is no row)."""
        found = self.rows(query, *params)
        return found[0][0] if found else None

    def snapshot(self) -> LedgerState:
        """Every row of every table (the ledger's and the catalog's), in one snapshot."""
        if self._pg is not None:
            with self._pg.transaction():
                self._pg.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                return self._tables(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
                )
        assert self._sqlite is not None
        self._sqlite.execute("BEGIN")
        try:
            return self._tables("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        finally:
            self._sqlite.execute("ROLLBACK")

    def _tables(self, listing: str) -> LedgerState:
        return {
            table: sorted(self.rows(f'SELECT * FROM "{table}"'), key=repr)
            for (table,) in self.rows(listing)
        }

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
        if self._sqlite is not None:
            self._sqlite.close()

    def __enter__(self) -> LedgerReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def ledger_snapshot(database: str | Path) -> LedgerState:
    """Every row of every ledger and catalog table of ``database``, either engine."""
    with LedgerReader(database) as reader:
        return reader.snapshot()


def query(database: str | Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """The rows of one read-only query on ``database`` (``?`` placeholders)."""
    with LedgerReader(database) as reader:
        return reader.rows(sql, *params)


#: A catalog file of one SKU, agent.call, whose one price is ``points`` from ``start``
#: (str.format); the seed's unit and plan as they are, so it imports over the seed.
CATALOG = """
schema = 1
[units.call]
price_unit = 1
label = "call"
[plans.basic]
daily_free_points = "500"
free_storage_bytes = 10737418240
[[skus]]
id = "agent.call"
name = "智能体调用费"
category = "agent"
unit = "call"
billed_by = "coze"
aliases = ["智能体调用费"]
prices = [{{ effective_from = {start}, points = "{points}" }}]
"""


# The columnar form (rating.v1.UsageColumns / RatedColumns), built and read here by
# hand, apart from the client's builder, so that the tests hold both to the protos.

NANOS = 1_000_000_000


def to_columns(items: list[usage_pb2.UsageItem]) -> columns_pb2.UsageColumns:
    """The columns of ``items``: what the row form says, item for item. An unset
    occurred_at is 0; items must hold valid Timestamps and Durations (which the columns'
    integers cannot hold otherwise)."""
    columns = columns_pb2.UsageColumns()
    accounts: dict[str, int] = {}
    skus: dict[str, int] = {}
    sets: dict[tuple[tuple[str, str], ...], int] = {}
    any_attributes = any(item.attributes for item in items)
    any_reservation = any(item.reservation_id for item in items)
    for index, item in enumerate(items):
        columns.usage_ids.append(item.usage_id)
        columns.account_indices.append(accounts.setdefault(item.account_id, len(accounts)))
        columns.sku_indices.append(skus.setdefault(item.sku, len(skus)))
        columns.quantities.append(item.quantity)
        at = item.occurred_at
        columns.occurred_at_unix_nanos.append(
            at.seconds * NANOS + at.nanos if item.HasField("occurred_at") else 0
        )
        if item.HasField("duration"):
            columns.duration_items.append(index)
            columns.durations_nanos.append(item.duration.seconds * NANOS + item.duration.nanos)
        if any_attributes:
            key = tuple(sorted(item.attributes.items()))
            columns.attribute_set_indices.append(sets.setdefault(key, len(sets)))
        if any_reservation:
            columns.reservation_ids.append(item.reservation_id)
    columns.accounts.extend(accounts)
    columns.skus.extend(skus)
    for key in sets:
        columns.attribute_sets.add().attributes.update(dict(key))
    return columns


def lines_of(
    rated: columns_pb2.RatedColumns, sent: columns_pb2.UsageColumns
) -> list[usage_pb2.RatedLine]:
    """The RatedLine messages a row response would hold, read from its columns and the
    request's (which the lines echo)."""
    wide = dict(zip(rated.wide_lines, rated.wide_rated_quantities, strict=True))
    duplicates = dict(zip(rated.duplicate_lines, rated.original_charge_ids, strict=True))
    funding: dict[int, list[usage_pb2.Funding]] = {}
    for line, target, micros in zip(
        rated.funding_lines, rated.funding_target_indices, rated.funding_micros, strict=True
    ):
        place = rated.funding_targets[target]
        funding.setdefault(line, []).append(
            usage_pb2.Funding(
                source=place.source,
                points=points_text(micros, 6),
                pack_id=place.pack_id,
                day=place.day,
                month=place.month,
            )
        )
    lines = []
    for index, (price_index, quantity, micros) in enumerate(
        zip(rated.price_indices, rated.rated_quantities, rated.micros, strict=True)
    ):
        price = rated.prices[price_index]
        line = usage_pb2.RatedLine(
            usage_id=sent.usage_ids[index],
            account_id=sent.accounts[sent.account_indices[index]],
            sku=price.sku,
            requested_sku=price.requested_sku,
            category=price.category,
            quantity=sent.quantities[index],
            rated_quantity=wide.get(index, str(quantity)),
            unit=price.unit,
            price_unit=price.price_unit,
            price_unit_label=price.price_unit_label,
            unit_price=price.unit_price,
            points=points_text(micros, 6),
            yuan=points_text(micros, 9),
            billed_by=price.billed_by,
            price_effective_from=price.price_effective_from,
            funding=funding.get(index, []),
            duplicate=index in duplicates,
            original_charge_id=duplicates.get(index, ""),
        )
        if rated.billing_account_indices:
            line.billing_account_id = rated.billing_accounts[rated.billing_account_indices[index]]
        lines.append(line)
    return lines


def points_text(micros: int, places: int) -> str:
    """An amount of micro-points as the API writes it: points (places 6) or yuan (9),
    canonical (no trailing zeros, no point for a whole number)."""
    sign = "-" if micros < 0 else ""
    whole, fraction = divmod(abs(micros), 10**places)
    text = f"{whole}.{fraction:0{places}d}".rstrip("0").rstrip(".")
    return sign + text


def wire_size(message: str, details: bytes) -> int:
    """The bytes a status takes in the trailers: grpc-message (percent-encoded: every
    byte but printable ASCII, and "%", is three) and grpc-status-details-bin (base64)."""
    data = message.encode()
    percent = sum(1 for byte in data if not 0x20 <= byte < 0x7F or byte == 0x25)
    return len(data) + 2 * percent + len(base64.b64encode(details))


# How long a test waits for a condition before it fails. Generous: a loaded 2-core
# machine may be slow, but never this slow.
WAIT = 90.0


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Whether ``condition`` came true within ``timeout`` seconds (polled every 50 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# The imports below happen "at" this instant, so prices from 2026 on are new ones
# and may be added (a SKU's new price never starts before its import).
IMPORTED_AT = datetime(2025, 12, 31, tzinfo=UTC)


def import_text(db_path: str, tmp_path: Path, text: str) -> int:
    """Import the catalog file ``text`` into the database; the version it made."""
    source = tmp_path / "change.toml"
    source.write_text(text, encoding="utf-8")
    store = open_catalog(db_path)
    try:
        return import_file(store, source, now=IMPORTED_AT).version
    finally:
        store.close()


def list_lines(
    channel: grpc.Channel, account_id: str, timeout: float = 30.0
) -> list[account_service_pb2.ChargeEntry]:
    """Every committed line a main account funds, its sub-accounts' too, page by page."""
    accounts = account_service_pb2_grpc.AccountServiceStub(channel)
    lines: list[account_service_pb2.ChargeEntry] = []
    token = ""
    while True:
        page = accounts.ListCharges(
            account_service_pb2.ListChargesRequest(
                account_id=account_id, page_size=1000, page_token=token
            ),
            timeout=timeout,
        )
        lines.extend(page.charges)
        token = page.next_page_token
        if not token:
            return lines


NewDatabase = Callable[[str], str]
"""Makes a new seeded database of the module's engine, named for what it is for (the
``new_database`` fixture of tests/wire)."""


def mark_folder(items: list[pytest.Item], folder: Path, mark: pytest.MarkDecorator) -> None:
    """Mark every test collected under ``folder``: how a folder's conftest gives its tests
    their folder's marker (``unit``, ``wire``, ``process``)."""
    for item in items:
        if item.path.is_relative_to(folder):
            item.add_marker(mark)
