"""Opening the catalog's store: the engine is chosen by what names the database."""

from __future__ import annotations

from pathlib import Path

from rating_server.catalog.sqlite.store import SqliteCatalogStore
from rating_server.catalog.store import CatalogStore


def open_catalog(database: str | Path) -> CatalogStore:
    """The catalog in ``database``: a file's path, SQLite's (made if need be, with the
    catalog's tables). StorageUnavailableError when the database cannot be opened;
    CatalogError when it holds no catalog this program can read."""
    return SqliteCatalogStore(database)
