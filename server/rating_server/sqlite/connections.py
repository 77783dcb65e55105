"""Opening the SQLite database the service keeps its catalog and its ledger in, and
telling the database's faults from the program's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database

from rating_server.domain_errors import StorageUnavailableError

# SQLite's primary result codes that say the storage failed, not the SQL: access denied
# (PERM), locked too long (BUSY, LOCKED), out of memory (NOMEM), read-only (READONLY),
# an I/O error (IOERR), a damaged file (CORRUPT, NOTADB), a full disk (FULL), a file it
# cannot open (CANTOPEN), a broken lock protocol (PROTOCOL), a file too large (NOLFS).
# Every other code (a constraint, an SQL error, a misuse) is the program's fault.
_STORAGE_FAULTS = frozenset({3, 5, 6, 7, 8, 10, 11, 13, 14, 15, 22, 26})


def is_storage_fault(error: BaseException) -> bool:
    """Whether ``error`` is SQLite saying the database's storage failed (a read-only
    or full disk, an I/O error, a damaged or vanished file, a lock held too long)."""
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.Error) and code is not None and code & 0xFF in _STORAGE_FAULTS


def storage_fault_name(error: BaseException) -> str:
    """SQLite's name of the fault (``SQLITE_READONLY``, ...)."""
    return str(getattr(error, "sqlite_errorname", "")) or type(error).__name__


def unavailable(error: BaseException, doing: str) -> StorageUnavailableError:
    """What a storage fault of SQLite (``is_storage_fault``) leaves a store as: the
    database "cannot be {doing} now"."""
    return StorageUnavailableError(
        f"the database cannot be {doing} now ({error})", storage_fault_name(error)
    )


def open_connection(
    path: str | Path, check_same_thread: bool = True, create: bool = True
) -> sqlite3.Connection:
    """A connection to the database at ``path`` (created if needed, unless ``create``
    is False: then a missing file is an error, SQLITE_CANTOPEN): WAL, durable commits
    (``synchronous = FULL``), foreign keys, autocommit mode (every transaction is
    explicit). Unless ``check_same_thread`` is False (and the caller serialises its
    use), only the thread that made it may use it."""
    target = str(path) if create else Path(path).absolute().as_uri() + "?mode=rw"
    conn = sqlite3.connect(
        target,
        isolation_level=None,
        timeout=30.0,
        check_same_thread=check_same_thread,
        uri=not create,
    )
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def open_catalog_database(path: str | Path, check_same_thread: bool = True) -> Database:
    """The database at ``path`` as sqlite-utils wraps it, for the catalog's store (the
    ledger's uses plain connections: ``ledger.sqlite.database``); writes go through
    ``Database.atomic()``."""
    return Database(open_connection(path, check_same_thread))
