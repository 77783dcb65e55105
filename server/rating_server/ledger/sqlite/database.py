"""The connections to the ledger's SQLite database, below the store (``store.py``):
transactions on ``sqlite3`` connections.

One writer connection, used under a lock inside ``BEGIN IMMEDIATE`` transactions,
serialises every change, so two commits never see the same balance; commits waiting
together share one transaction and one sync (``grouped``). Readers get a connection
of their own per thread and read a consistent snapshot (WAL).

Server processes sharing the database (``serve --workers``), and a catalog import,
also take turns through a lock file (``writer_turn``: ``flock`` on
``<database>-writer.lock``) before they begin a write: the kernel hands the turn
straight to the next process, where SQLite's own wait for a locked database polls with
sleeps of up to 100 ms (which put a second on commits' p99 with two workers).

Storage faults: an error of SQLite that is the storage's fault (a read-only or full
disk, an I/O error, a damaged or vanished file, a lock held too long; see
``connections.is_storage_fault``) leaves ``read``, ``write`` and ``grouped`` as a
``StorageUnavailableError``, with nothing written. ``writable`` says whether the last
write succeeded, and ``on_writable`` hears when that changes; ``probe`` writes one row
to find out, and ``start_probing`` does so in a thread whenever no write has succeeded
for ``PROBE_SECONDS`` (every ``RETRY_SECONDS`` while writes fail; ``write_health``).

Durability: the database runs in WAL mode with ``synchronous = FULL``, so SQLite
syncs the WAL at every commit and a charge acknowledged to a caller survives a crash
of the process and of the machine. (``NORMAL`` would survive a process crash only.)

The tables are ``schema.py``'s, made (or brought up to date) when the database opens.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TypeVar

from rating_server.domain_errors import StorageUnavailableError
from rating_server.ledger.sqlite.schema import (
    ADDED_COLUMNS,
    PROBE,
    SCHEMA,
    append_only_triggers,
)
from rating_server.ledger.write_health import WriteHealth
from rating_server.sqlite.connections import is_storage_fault, open_connection, unavailable
from rating_server.sqlite.writer_turn import WriterTurn

log = logging.getLogger("rating_server")


def open_ledger_connection(path: str | Path, create: bool = True) -> sqlite3.Connection:
    """A connection to the ledger's database at ``path`` (``open_connection``), which
    any thread may use: the writer's, used under the write lock, and each reader's.
    The one place the ledger opens its connections (tests stand in for it)."""
    return open_connection(path, check_same_thread=False, create=create)


def _file_of(path: str | Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


T = TypeVar("T")


class _Work:
    """One caller's part of a group commit."""

    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], object]) -> None:
        self.work = work
        self.done = False
        self.result: object = None
        self.error: BaseException | None = None


class LedgerDatabase(WriteHealth):
    def __init__(
        self,
        path: str | Path,
        observe: Callable[[float], object] | None = None,
        on_writable: Callable[[bool, StorageUnavailableError | None], object] | None = None,
    ) -> None:
        """``observe`` is told the seconds each write transaction took; ``on_writable``
        is told ``(False, the fault)`` when a write fails for a storage fault and
        ``(True, None)`` when one succeeds again (under the write lock, so in the order
        they happened).

        StorageUnavailableError when the database cannot be opened or its tables made;
        OSError when the writers' lock file cannot be opened."""
        super().__init__(on_writable)
        self.path = path
        self._observe = observe
        self._write_lock = threading.Lock()
        self._turn = WriterTurn(path)
        writer = None
        try:
            writer = open_ledger_connection(path)
            with self._turn.taken():
                writer.executescript(SCHEMA + append_only_triggers())
                _add_columns(writer)
        except sqlite3.Error as error:
            if writer is not None:
                writer.close()
            self._turn.close()
            if is_storage_fault(error):
                raise unavailable(error, "opened") from error
            raise
        self._writer = writer
        # The file written to: a write to a file since deleted or replaced would be lost.
        self._file = _file_of(path)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._waiting: list[_Work] = []
        self._waiting_lock = threading.Lock()

    def _check_file(self) -> None:
        """StorageUnavailableError when the path no longer names the file written to."""
        if _file_of(self.path) != self._file:
            raise StorageUnavailableError(
                "the database cannot be written now (its file was deleted or replaced)",
                "FILE_REPLACED",
            )

    def _write_fault(self, error: BaseException) -> StorageUnavailableError | None:
        """What a failed write raises when ``error`` is a storage fault (None when not);
        writes are then not ``writable``. Under ``_write_lock``."""
        if isinstance(error, StorageUnavailableError):
            fault = error
        elif is_storage_fault(error):
            fault = unavailable(error, "written")
        else:
            return None
        self._set_writable(False, fault)
        return fault

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE), committed at the end, or rolled back."""
        return self._transaction(observe=True)

    @contextmanager
    def _transaction(self, observe: bool) -> Iterator[sqlite3.Connection]:
        with self._write_lock, self._turn.taken():
            started = time.perf_counter()
            conn = self._writer
            try:
                self._check_file()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except Exception as error:
                fault = self._write_fault(error)
                if fault is None or fault is error:
                    raise
                raise fault from error
            self._set_writable(True)
            if observe and self._observe is not None:
                self._observe(time.perf_counter() - started)

    def grouped(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in a write transaction it may share with the calls waiting now
        (group commit): one COMMIT, so one sync to disk, for the whole group.

        Each call's work runs in a savepoint of its own, in arrival order, and sees what
        the earlier ones wrote: an exception rolls back that call's writes only and is
        raised to its caller. Nobody gets a result before the COMMIT succeeds; if it
        fails, or the storage fails in any call's work, every call of the group gets
        the error and nothing is written.
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
        error = item.error
        if error is not None:
            if is_storage_fault(error):  # one error per caller, for its own traceback
                raise unavailable(error, "written") from error
            raise error
        return item.result  # type: ignore[return-value]  # the work of this caller returned it

    def _run_group(self, group: list[_Work]) -> None:
        started = time.perf_counter()
        conn = self._writer
        try:
            self._check_file()
            conn.execute("BEGIN IMMEDIATE")
            for item in group:
                conn.execute("SAVEPOINT work")
                try:
                    item.result = item.work(conn)
                    conn.execute("RELEASE work")
                except Exception as error:
                    if is_storage_fault(error):
                        raise  # the storage's fault, not this call's: the group fails
                    conn.execute("ROLLBACK TO work")
                    conn.execute("RELEASE work")
                    item.error = error
            conn.execute("COMMIT")
        except BaseException as error:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    log.exception("rolling back a failed group commit failed")
            if isinstance(error, Exception):
                self._write_fault(error)
            for item in group:
                item.result, item.error = None, item.error or error
            if not isinstance(error, Exception):
                raise
        else:
            self._set_writable(True)
        finally:
            for item in group:
                item.done = True
        if self._observe is not None:
            self._observe(time.perf_counter() - started)

    def probe(self) -> None:
        """Write one row (the ``write_probe`` table's) to learn whether the database
        takes writes: StorageUnavailableError when it does not. Either way ``writable``
        and ``on_writable`` hear of it, as of any write; ``observe`` does not."""
        with self._transaction(observe=False) as conn:
            for statement in PROBE:
                conn.execute(statement)

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # Never created here: a database that vanished is a fault, not a new file.
            conn = open_ledger_connection(self.path, create=False)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _forget_reader(self, conn: sqlite3.Connection) -> None:
        """Drop this thread's connection after a fault, so the next read opens anew."""
        self._local.conn = None
        with self._readers_lock:
            if conn in self._readers:
                self._readers.remove(conn)
        conn.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction on this thread's own connection: one consistent snapshot."""
        conn = None
        try:
            conn = self._reader()
            conn.execute("BEGIN")
        except sqlite3.Error as error:
            if conn is not None:
                self._forget_reader(conn)
            if is_storage_fault(error):
                raise unavailable(error, "read") from error
            raise
        fault: sqlite3.Error | None = None
        try:
            yield conn
        except sqlite3.Error as error:
            if not is_storage_fault(error):
                raise
            fault = error
        finally:
            if fault is None and conn.in_transaction:
                conn.execute("ROLLBACK")
        if fault is not None:
            self._forget_reader(conn)  # closing it ends its transaction
            raise unavailable(fault, "read") from fault

    def close(self) -> None:
        self._stop_probing_thread()
        with self._write_lock:
            self._writer.close()
            self._turn.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()


def _add_columns(conn: sqlite3.Connection) -> None:
    """Give a ledger made by an earlier version the columns it lacks."""
    for table, column, kind in ADDED_COLUMNS:
        if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
