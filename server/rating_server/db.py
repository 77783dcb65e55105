"""Opening the SQLite database the service keeps its catalog and its ledger in."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database


def open_connection(path: str | Path, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection to the database at ``path`` (created if needed): WAL, durable
    commits (``synchronous = FULL``), foreign keys, autocommit mode (every transaction
    is explicit). Unless ``check_same_thread`` is False (and the caller serialises its
    use), only the thread that made it may use it."""
    conn = sqlite3.connect(
        str(path), isolation_level=None, timeout=30.0, check_same_thread=check_same_thread
    )
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def connect(path: str | Path, check_same_thread: bool = True) -> Database:
    """The database at ``path`` for sqlite-utils (the catalog); writes go through
    ``Database.atomic()``."""
    return Database(open_connection(path, check_same_thread))
