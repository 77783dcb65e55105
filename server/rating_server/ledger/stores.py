"""Opening the ledger's store: the engine is chosen by what names the database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rating_server.config import is_postgres_url
from rating_server.domain_errors import StorageUnavailableError
from rating_server.ledger.sqlite.store import SqliteLedgerStore
from rating_server.ledger.store import LedgerStore


def open_ledger(
    database: str | Path,
    observe: Callable[[float], object] | None = None,
    on_writable: Callable[[bool, StorageUnavailableError | None], object] | None = None,
) -> LedgerStore:
    """The ledger in ``database``: a ``postgresql://`` URL, PostgreSQL's; else a file's
    path, SQLite's. ``observe`` is told the seconds each write transaction took;
    ``on_writable`` is ``LedgerStore.on_writable``.

    StorageUnavailableError when the database cannot be opened or its tables made;
    migrate.SchemaError when a PostgreSQL schema is not this server's; OSError when a
    file beside a SQLite database that the engine needs cannot be."""
    if is_postgres_url(database):
        from rating_server.ledger.postgres.store import PostgresLedgerStore

        return PostgresLedgerStore(str(database), observe, on_writable)
    return SqliteLedgerStore(database, observe, on_writable)
