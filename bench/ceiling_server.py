"""The ceiling: the least per-item work a correct rating server must do, in Python.

The floor (``null_server.py``) shows what gRPC costs; this shows what Python costs on
top of it, with every rule but the arithmetic left out. Per item, Quote reads the five
fields a line needs (usage_id, account_id, sku, quantity, occurred_at) and touches the
attributes, finds the price in a dict, multiplies and rounds, and writes the line's
bytes; CommitCharges does the same and stores each line into one table with the
request_id in a second, in one durable transaction. No id, range, time, attribute or
catalog rule runs, no account is funded, nothing is logged or counted: a real server
can only be slower.

The ledger is on either engine (``--db``):

- a SQLite file: the lines keyed by usage_id, one transaction per request
  (synchronous=FULL, WAL), processes taking turns to write with ``flock``, as the real
  server's workers do;
- a ``postgresql://`` URL: the lines keyed by ``(account_id, usage_id)``, one
  transaction per request, ``synchronous_commit`` on, over a few connections per
  process (as many requests write at once as callers send). The fastest path psycopg 3
  offers, measured (1,000-line requests: binary COPY about 125,000 to 140,000 lines/s,
  text COPY 120,000, ``executemany`` in pipeline mode 42,000 to 52,000, plain
  ``executemany`` 35,000 to 38,000): a request of several lines is binary COPY
  (``cursor.copy`` with ``write_row``) after the request row's INSERT, in one
  transaction; a single line is one statement that inserts both rows (one round
  trip, p50 0.25 to 0.3 ms against 0.5 ms for the COPY or a pipeline).

Its responses are the floor's: a Quote byte for byte, a commit within a few bytes (its
ids and time); the bench checks both. With ``--processes N`` it runs N processes on one
port (SO_REUSEPORT), sharing the database.

    python bench/ceiling_server.py --listen 127.0.0.1:0 --db /tmp/ceiling.db --processes 2
    python bench/ceiling_server.py --listen 127.0.0.1:0 --db postgresql://u@host:port/db

prints ``ceiling-server listening on HOST:PORT`` on stderr and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import fcntl
import multiprocessing
import os
import queue
import secrets
import signal
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import grpc
import null_server
import workload
from google.protobuf import timestamp_pb2

from rating.v1 import rating_service_pb2, usage_pb2

_INT64 = (1 << 64) - 1

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS charge (request_id TEXT PRIMARY KEY, total_micros INTEGER) STRICT;
CREATE TABLE IF NOT EXISTS line (
    usage_id TEXT PRIMARY KEY, request_id TEXT, account_id TEXT, sku TEXT,
    quantity INTEGER, micros INTEGER
) STRICT;
"""


_varint = workload.varint
#: Varints up to 2^14, looked up.
VARINT = tuple(_varint(n) for n in range(1 << 14))


class Price:
    """A requested SKU's price and the parts of its line that follow from it."""

    __slots__ = ("head", "middle", "numerator", "price_unit", "sku", "tail")

    def __init__(self, kind: workload.Sample) -> None:
        self.sku = kind.sku
        self.price_unit = kind.price_unit
        # unit price in micro-points: points = quantity * numerator / price_unit / 10^6
        whole, _, fraction = kind.unit_price.partition(".")
        self.numerator = int(whole) * 1_000_000 + int((fraction + "000000")[:6])
        line = usage_pb2.RatedLine
        self.head = line(
            sku=kind.sku, requested_sku=kind.requested_sku, category=kind.category
        ).SerializeToString()
        self.middle = line(
            unit=kind.unit,
            price_unit=kind.price_unit,
            price_unit_label=kind.price_unit_label,
            unit_price=kind.unit_price,
        ).SerializeToString()
        self.tail = line(
            billed_by=kind.billed_by, price_effective_from=timestamp_pb2.Timestamp()
        ).SerializeToString()


PRICES = {kind.requested_sku: Price(kind) for kind in workload.MIX}
#: The pack that funds each account's lines (the floor's responses name the same ones).
PACKS = {account: b"pack-%d" % n for n, account in enumerate(workload.ACCOUNTS, 1)}


def _decimal(micros: int, places: int) -> bytes:
    whole, fraction = divmod(micros, 10**places)
    return (b"%d.%0*d" % (whole, places, fraction)).rstrip(b"0") if fraction else b"%d" % whole


def rate(items: Any, funded: bool) -> tuple[list[bytes], list[tuple[Any, ...]], int]:
    """Each item's line bytes (field 1 of its response, or 2 with ``funded``), its
    ledger row, and the total micro-points."""
    out: list[bytes] = []
    rows: list[tuple[Any, ...]] = []
    total = 0
    tag = b"\x12" if funded else b"\x0a"
    for item in items:
        usage_id = item.usage_id
        account_id = item.account_id
        price = PRICES[item.sku]
        quantity = item.quantity
        stamp = item.occurred_at
        _ = stamp.seconds, stamp.nanos, item.attributes
        micros = (quantity * price.numerator * 2 + price.price_unit) // (price.price_unit * 2)
        total += micros
        uid = usage_id.encode()
        account = account_id.encode()
        rated = b"%d" % quantity
        points = _decimal(micros, 6)
        yuan = _decimal(micros, 9)
        parts = [
            b"\x0a",
            VARINT[len(uid)],
            uid,
            b"\x12",
            VARINT[len(account)],
            account,
            price.head,
            b"\x30" + _varint(quantity) if quantity else b"",
            b"\x3a",
            VARINT[len(rated)],
            rated,
            price.middle,
            b"\x62",
            VARINT[len(points)],
            points,
            b"\x6a",
            VARINT[len(yuan)],
            yuan,
            price.tail,
        ]
        if funded:
            rows.append((usage_id, account_id, price.sku, quantity, micros))
            if micros:
                pack = PACKS[account_id]
                funding = b"\x08\x02\x12%b%b\x1a%b%b" % (
                    VARINT[len(points)],
                    points,
                    VARINT[len(pack)],
                    pack,
                )
                parts += (b"\x82\x01", VARINT[len(funding)], funding)
            parts += (b"\x9a\x01", VARINT[len(account)], account)
        body = b"".join(parts)
        out += (tag, _varint(len(body)), body)
    return out, rows, total


def totals(total: int, first_tag: int) -> bytes:
    """The total in points and yuan and the catalog version (1, as the floor's), as the
    response's fields ``first_tag`` on."""
    points, yuan = _decimal(total, 6), _decimal(total, 9)
    return b"%c%b%b%c%b%b%c\x01" % (
        first_tag << 3 | 2,
        VARINT[len(points)],
        points,
        (first_tag + 1) << 3 | 2,
        VARINT[len(yuan)],
        yuan,
        (first_tag + 2) << 3,
    )


POSTGRES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ceiling_charge (request_id text PRIMARY KEY, total_micros bigint)",
    "CREATE TABLE IF NOT EXISTS ceiling_line (account_id text, usage_id text, "
    "request_id text, sku text, quantity bigint, micros bigint, "
    "PRIMARY KEY (account_id, usage_id))",
)
#: A line's columns as ``rate`` gives them, the request_id second.
LINE_COLUMNS = "usage_id, request_id, account_id, sku, quantity, micros"
_COPY_LINES = f"COPY ceiling_line ({LINE_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = ("text", "text", "text", "text", "int8", "int8")
_ONE_LINE = (
    "WITH charge AS (INSERT INTO ceiling_charge VALUES (%s, %s)) "
    f"INSERT INTO ceiling_line ({LINE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)"
)
#: Connections a PostgreSQL ceiling process opens at most (as its callers need them).
POSTGRES_CONNECTIONS = 16


class Ledger(Protocol):
    def commit(self, request_id: str, rows: list[tuple[Any, ...]], total: int) -> None: ...


def open_ledger(db: str) -> Ledger:
    if db.startswith(("postgresql://", "postgres://")):
        return PostgresLedger(db)
    return SqliteLedger(db)


class PostgresLedger:
    """One table of lines keyed by (account_id, usage_id), written durably by each
    request in its own transaction, as many at once as there are callers."""

    def __init__(self, url: str) -> None:
        import psycopg  # only where the ceiling runs on PostgreSQL

        self._psycopg = psycopg
        self._url = url
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._opened = 0
        self._lock = threading.Lock()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET synchronous_commit = on")
            for statement in POSTGRES_SCHEMA:
                conn.execute(statement)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                opening = self._opened < POSTGRES_CONNECTIONS
                self._opened += opening
            if opening:
                conn = self._psycopg.connect(self._url, autocommit=True)
                conn.execute("SET synchronous_commit = on")
            else:
                conn = self._idle.get()
        try:
            yield conn
        except BaseException:
            if not conn.closed and conn.info.transaction_status != 0:  # not idle: drop it
                conn.close()
            raise
        finally:
            if conn.closed:
                with self._lock:
                    self._opened -= 1
            else:
                self._idle.put(conn)

    def commit(self, request_id: str, rows: list[tuple[Any, ...]], total: int) -> None:
        with self._connection() as conn:
            if len(rows) == 1:  # one statement, one round trip
                conn.execute(_ONE_LINE, (request_id, total, rows[0][0], request_id, *rows[0][1:]))
                return
            with conn.transaction(), conn.cursor() as cursor:
                cursor.execute("INSERT INTO ceiling_charge VALUES (%s, %s)", (request_id, total))
                with cursor.copy(_COPY_LINES) as copy:
                    copy.set_types(_COPY_TYPES)
                    write = copy.write_row
                    for row in rows:
                        write((row[0], request_id, *row[1:]))


class SqliteLedger:
    """One table of lines keyed by usage_id, written durably; processes take turns."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=60000")
        self._db.executescript(SQLITE_SCHEMA)
        self._turn = open(path + "-writer.lock", "wb")  # noqa: SIM115 (open while serving)
        self._lock = threading.Lock()

    def commit(self, request_id: str, rows: list[tuple[Any, ...]], total: int) -> None:
        with self._lock:
            fcntl.flock(self._turn, fcntl.LOCK_EX)
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute("INSERT INTO charge VALUES (?, ?)", (request_id, total))
                    self._db.executemany(
                        "INSERT INTO line VALUES (?, ?, ?, ?, ?, ?)",
                        [(row[0], request_id, *row[1:]) for row in rows],
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            finally:
                fcntl.flock(self._turn, fcntl.LOCK_UN)


class Handlers(grpc.GenericRpcHandler):
    """Quote and CommitCharges on raw bytes in, raw bytes out (parsed by upb, as gRPC
    would parse them for a servicer)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._methods = {
            workload.QUOTE: grpc.unary_unary_rpc_method_handler(self.quote),
            workload.COMMIT: grpc.unary_unary_rpc_method_handler(self.commit),
        }

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        return self._methods.get(handler_call_details.method)  # type: ignore[attr-defined]

    def quote(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        request = rating_service_pb2.QuoteRequest.FromString(data)
        lines, _rows, total = rate(request.items, funded=False)
        return b"".join(lines) + totals(total, 2)

    def commit(self, data: bytes, context: grpc.ServicerContext) -> bytes:
        request = rating_service_pb2.CommitChargesRequest.FromString(data)
        lines, rows, total = rate(request.items, funded=True)
        self._ledger.commit(request.request_id, rows, total)
        charge = ("ch_" + secrets.token_hex(12)).encode()
        seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
        stamp = b"\x08%b\x10%b" % (_varint(seconds), _varint(nanos))
        return (
            b"\x0a%b%b" % (VARINT[len(charge)], charge)
            + b"".join(lines)
            + totals(total, 3)
            + b"\x32%b%b" % (VARINT[len(stamp)], stamp)
        )


def serve(port: int, db: str, ready: Any) -> None:
    """One process: a gRPC server on ``port`` (shared) until SIGTERM."""
    server = null_server.grpc_server(reuse_port=True)
    server.add_generic_rpc_handlers((Handlers(open_ledger(db)),))
    if server.add_insecure_port(f"127.0.0.1:{port}") != port:
        raise SystemExit(f"ceiling-server cannot listen on port {port}")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _number, _frame: stopping.set())
    server.start()
    ready.set()
    parent = os.getppid()
    while not stopping.wait(0.5):
        if os.getppid() != parent:  # the parent is gone
            break
    server.stop(1.0).wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="127.0.0.1:port (0: a free one)")
    parser.add_argument(
        "--db", required=True, help="the SQLite file or postgresql:// URL commits go to"
    )
    parser.add_argument("--processes", type=int, default=1, help="server processes on the port")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    reservation = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reservation.bind((host, int(port)))
    port = reservation.getsockname()[1]
    open_ledger(args.db)  # the tables, once, before the processes race to make them
    context = multiprocessing.get_context("spawn")
    children = []
    for _ in range(args.processes):
        ready = context.Event()
        child = context.Process(target=serve, args=(port, args.db, ready), daemon=True)
        child.start()
        if not ready.wait(30):
            raise SystemExit("a ceiling-server process did not start")
        children.append(child)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _number, _frame: stopping.set())
    print(f"ceiling-server listening on {host}:{port}", file=sys.stderr, flush=True)
    while not stopping.wait(0.5):
        pass
    for child in children:
        child.terminate()
    for child in children:
        child.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
