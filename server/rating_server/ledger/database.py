"""The ledger's SQLite tables and the connections to them.

One writer connection, used under a lock inside ``BEGIN IMMEDIATE`` transactions,
serialises every change, so two commits never see the same balance; commits waiting
together share one transaction and one sync (``grouped``). Readers get a connection
of their own per thread and read a consistent snapshot (WAL).

Server processes sharing the database (``serve --workers``), and a catalog import,
also take turns through a lock file (``writer_turn``: ``flock`` on
``<database>-writer.lock``) before they begin a write: the kernel hands the turn
straight to the next process, where SQLite's own wait for a locked database polls with
sleeps of up to 100 ms (which put a second on commits' p99 with two workers).

Durability: the database runs in WAL mode with ``synchronous = FULL``, so SQLite
syncs the WAL at every commit and a charge acknowledged to a caller survives a crash
of the process and of the machine. (``NORMAL`` would survive a process crash only.)

The ledger tables (``charges``, ``charge_lines``, ``funding_entries``, ``voids``) are
append-only: triggers refuse UPDATE and DELETE. ``free_days``, ``pack_balances`` and
``payg_months`` are balances kept beside them in the same transactions; the invariant
check recomputes them from the entries.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from rating_server.db import open_connection
from rating_server.writer_turn import WriterTurn

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    parent_account_id TEXT REFERENCES accounts(account_id),
    pay_as_you_go INTEGER NOT NULL,
    create_time_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS accounts_by_parent ON accounts(parent_account_id);

CREATE TABLE IF NOT EXISTS packs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    pack_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    micros INTEGER NOT NULL CHECK (micros > 0),
    valid_from_ns INTEGER NOT NULL,
    expire_time_ns INTEGER,
    priority INTEGER NOT NULL,
    create_time_ns INTEGER NOT NULL,
    request_id TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS packs_by_account ON packs(account_id);
CREATE TABLE IF NOT EXISTS pack_balances (
    pack_id TEXT PRIMARY KEY REFERENCES packs(pack_id),
    remaining_micros INTEGER NOT NULL CHECK (remaining_micros >= 0)
);

CREATE TABLE IF NOT EXISTS charges (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    charge_id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    catalog_version INTEGER NOT NULL,
    commit_time_ns INTEGER NOT NULL,
    receipt BLOB NOT NULL
);
-- One row per charged line. UNIQUE (billing_account_id, usage_id) is the dedup key,
-- written in the same transaction as the charge.
CREATE TABLE IF NOT EXISTS charge_lines (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    charge_id TEXT NOT NULL REFERENCES charges(charge_id),
    line_number INTEGER NOT NULL,
    usage_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    billing_account_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    category TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    micros INTEGER NOT NULL,
    billed_by TEXT NOT NULL,
    occurred_at_ns INTEGER NOT NULL,
    month TEXT NOT NULL,
    commit_time_ns INTEGER NOT NULL,
    attributes TEXT,
    UNIQUE (billing_account_id, usage_id)
);
-- No read of the service finds lines by charge (funding_entries has that index), so
-- ledgers made with lines_by_charge lose it: it cost every line a B-tree insert.
DROP INDEX IF EXISTS lines_by_charge;
CREATE INDEX IF NOT EXISTS lines_by_month ON charge_lines(billing_account_id, month);
CREATE INDEX IF NOT EXISTS lines_by_account ON charge_lines(account_id, seq);
CREATE INDEX IF NOT EXISTS lines_by_billing_account ON charge_lines(billing_account_id, seq);

CREATE TABLE IF NOT EXISTS funding_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    charge_id TEXT NOT NULL REFERENCES charges(charge_id),
    line_number INTEGER NOT NULL,
    billing_account_id TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('free', 'pack', 'payg')),
    micros INTEGER NOT NULL,
    pack_id TEXT,
    day TEXT,
    month TEXT,
    reversal INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS funding_by_charge ON funding_entries(charge_id, line_number);

CREATE TABLE IF NOT EXISTS voids (
    charge_id TEXT PRIMARY KEY REFERENCES charges(charge_id),
    void_time_ns INTEGER NOT NULL,
    reason TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS free_days (
    billing_account_id TEXT NOT NULL,
    day TEXT NOT NULL,
    used_micros INTEGER NOT NULL CHECK (used_micros >= 0),
    PRIMARY KEY (billing_account_id, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS payg_months (
    billing_account_id TEXT NOT NULL,
    month TEXT NOT NULL,
    micros INTEGER NOT NULL,
    PRIMARY KEY (billing_account_id, month)
) WITHOUT ROWID;
"""

_APPEND_ONLY = ("charges", "charge_lines", "funding_entries", "voids")


def _append_only_triggers() -> str:
    return "".join(
        f"""
CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table}
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {table} rows never change'); END;
"""
        for table in _APPEND_ONLY
        for verb in ("UPDATE", "DELETE")
    )


def connect(path: str | Path) -> sqlite3.Connection:
    return open_connection(path, check_same_thread=False)


T = TypeVar("T")


class _Work:
    """One caller's part of a group commit."""

    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], object]) -> None:
        self.work = work
        self.done = False
        self.result: object = None
        self.error: BaseException | None = None


class LedgerDatabase:
    def __init__(self, path: str | Path, observe: Callable[[float], object] | None = None) -> None:
        """``observe`` is told the seconds each write transaction took."""
        self.path = path
        self._observe = observe
        self._write_lock = threading.Lock()
        self._turn = WriterTurn(path)
        self._writer = connect(path)
        with self._turn.taken():
            self._writer.executescript(SCHEMA + _append_only_triggers())
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._waiting: list[_Work] = []
        self._waiting_lock = threading.Lock()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE), committed at the end, or rolled back."""
        with self._write_lock, self._turn.taken():
            started = time.perf_counter()
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            if self._observe is not None:
                self._observe(time.perf_counter() - started)

    def grouped(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in a write transaction it may share with the calls waiting now
        (group commit): one COMMIT, so one sync to disk, for the whole group.

        Each call's work runs in a savepoint of its own, in arrival order, and sees what
        the earlier ones wrote: an exception rolls back that call's writes only and is
        raised to its caller. Nobody gets a result before the COMMIT succeeds; if it
        fails, every call of the group gets the error and nothing is written.
        """
        item = _Work(work)
        with self._waiting_lock:
            self._waiting.append(item)
        with self._write_lock:  # the first to get it runs everyone waiting by then
            if not item.done:
                with self._waiting_lock:
                    group, self._waiting = self._waiting, []
                with self._turn.taken():
                    self._run_group(group)
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[return-value]

    def _run_group(self, group: list[_Work]) -> None:
        started = time.perf_counter()
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in group:
                conn.execute("SAVEPOINT work")
                try:
                    item.result = item.work(conn)
                    conn.execute("RELEASE work")
                except Exception as error:
                    conn.execute("ROLLBACK TO work")
                    conn.execute("RELEASE work")
                    item.error = error
            conn.execute("COMMIT")
        except BaseException as error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for item in group:
                item.result, item.error = None, item.error or error
            if not isinstance(error, Exception):
                raise
        finally:
            for item in group:
                item.done = True
        if self._observe is not None:
            self._observe(time.perf_counter() - started)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction on this thread's own connection: one consistent snapshot."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("ROLLBACK")

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()
            self._turn.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
