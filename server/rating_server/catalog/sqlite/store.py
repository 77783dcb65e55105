"""``CatalogStore`` on SQLite, through sqlite-utils: every statement on the catalog's
tables, and an import's turn among the database's writers (``writer_turn``)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from rating_server.catalog.model import CatalogError
from rating_server.catalog.sqlite.schema import ensure_schema
from rating_server.catalog.store import ALIASES, PATTERNS, TABLES, Record
from rating_server.sqlite.connections import (
    is_storage_fault,
    open_catalog_database,
    unavailable,
)
from rating_server.sqlite.writer_turn import turn_taken


def _table(name: str, among: Collection[str] = TABLES) -> str:
    if name not in among:
        raise ValueError(f"no catalog table {name!r}")
    return name


class SqliteCatalogTx:
    """The catalog's operations on ``db``, inside a transaction begun by its owner."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def current_version(self) -> int:
        row = self.db.execute("SELECT max(version) FROM catalog_versions").fetchone()
        return row[0] or 0

    def records(self, table: str) -> list[Record]:
        return list(self.db[_table(table)].rows)

    def upsert(self, table: str, key: str, records: Sequence[Record]) -> None:
        self.db.table(_table(table)).upsert_all(records, pk=key)

    def insert(self, table: str, records: Sequence[Record]) -> None:
        self.db.table(_table(table)).insert_all(records)

    def delete_names(self, table: str, sku_ids: Collection[str]) -> None:
        name = _table(table, (ALIASES, PATTERNS))
        for sku_id in sku_ids:
            self.db.execute(f"DELETE FROM {name} WHERE sku_id = ?", [sku_id])

    def add_version(self, imported_at: str, source: str, sha256: str) -> int:
        version = (
            self.db.table("catalog_versions")
            .insert({"imported_at": imported_at, "source": source, "sha256": sha256})
            .last_pk
        )
        assert isinstance(version, int)
        return version


class SqliteCatalogStore:
    """The catalog in the SQLite database at ``path`` (its tables made if need be);
    ``db`` is its connection, for sqlite-utils, used by one thread at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        with self._faults("opened", unreadable=True):
            self.db = open_catalog_database(path, check_same_thread=False)
            try:
                ensure_schema(self.db)
            except BaseException:
                self.db.close()
                raise

    @contextmanager
    def _faults(self, doing: str, unreadable: bool = False) -> Iterator[None]:
        """SQLite's storage faults as StorageUnavailableError; when ``unreadable``, its
        other errors as CatalogError (a database whose catalog cannot be read)."""
        try:
            yield
        except sqlite3.Error as error:
            if is_storage_fault(error):
                raise unavailable(error, doing) from error
            if unreadable:
                raise CatalogError(f"cannot open the database {self.path}: {error}") from error
            raise

    def current_version(self) -> int:
        with self._lock, self._faults("read", unreadable=True):
            return SqliteCatalogTx(self.db).current_version()

    @contextmanager
    def read(self) -> Iterator[SqliteCatalogTx]:
        with self._lock, self._faults("read", unreadable=True), self.db.atomic():
            yield SqliteCatalogTx(self.db)

    @contextmanager
    def importing(self) -> Iterator[SqliteCatalogTx]:
        with self._lock, self._faults("written"), self._writers_turn():
            ensure_schema(self.db)
            with self.db.atomic():
                yield SqliteCatalogTx(self.db)

    @contextmanager
    def _writers_turn(self) -> Iterator[None]:
        """The writers' turn of the file the database is (``writer_turn``); a database
        in memory has no other writer."""
        file = self.db.execute("PRAGMA database_list").fetchone()[2]
        if not file:
            yield
            return
        with turn_taken(file):
            yield

    def close(self) -> None:
        with self._lock:
            self.db.close()
