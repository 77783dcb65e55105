"""Opening the ledger's store: the engine is chosen by what names the database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rating_server.errors import StorageUnavailableError
from rating_server.ledger.sqlite.store import SqliteLedgerStore
from rating_server.ledger.store import LedgerStore


def open_ledger(
    database: str | Path,
    observe: Callable[[float], object] | None = None,
    on_writable: Callable[[bool, StorageUnavailableError | None], object] | None = None,
) -> LedgerStore:
    """The ledger in ``database``: a file's path, SQLite's. ``observe`` is told the
    seconds each write transaction took; ``on_writable`` is ``LedgerStore.on_writable``.

    StorageUnavailableError when the database cannot be opened or its tables made;
    OSError when a file beside it that the engine needs cannot be."""
    return SqliteLedgerStore(database, observe, on_writable)
