"""Opening the catalog's store: the engine is chosen by what names the database."""

from __future__ import annotations

from pathlib import Path

from rating_server.catalog.sqlite.store import SqliteCatalogStore
from rating_server.catalog.store import CatalogStore
from rating_server.config import is_postgres_url


def open_catalog(database: str | Path) -> CatalogStore:
    """The catalog in ``database``: a ``postgresql://`` URL, PostgreSQL's (its schema
    migrated: ``rating-server db migrate``); else a file's path, SQLite's (made if need
    be, with the catalog's tables). StorageUnavailableError when the database cannot be
    opened; CatalogError when it holds no catalog this program can read;
    migrate.SchemaError when a PostgreSQL schema is not this server's."""
    if is_postgres_url(database):
        from rating_server.catalog.postgres.store import PostgresCatalogStore

        return PostgresCatalogStore(str(database))
    return SqliteCatalogStore(database)
