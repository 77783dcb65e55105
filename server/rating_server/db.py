"""Opening the SQLite database the service keeps its catalog (and later its ledger) in."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database


def connect(path: str | Path, check_same_thread: bool = True) -> Database:
    """Open (creating if needed) the database at ``path`` in WAL mode.

    The connection is in autocommit mode: every write goes through
    ``Database.atomic()``, which opens an explicit transaction. Unless
    ``check_same_thread`` is False (and the caller serialises its use), it may be
    used from the thread that made it only.
    """
    conn = sqlite3.connect(
        str(path), isolation_level=None, timeout=10.0, check_same_thread=check_same_thread
    )
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return Database(conn)
