"""``CatalogStore`` on PostgreSQL: the catalog's tables of ``ledger/postgres/migrations``,
over the same connections and faults as the ledger's (``PostgresDatabase``).

An import takes a transaction-scoped advisory lock first, so two imports at once
(from two nodes' operators) take turns, and the second reads what the first wrote.
A new catalog version is announced at its commit (``NOTIFY catalog_version``, by a
trigger), for the nodes that listen: ``watch`` listens on a connection of its own
(``Announcements``), outside the pool, and opens a new one, with backoff, whenever
that one is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

import psycopg
from psycopg import sql

from rating_server.catalog.store import ALIASES, PATTERNS, PLANS, PRICES, SKUS, UNITS, Record
from rating_server.ledger.postgres.announcements import Announcements
from rating_server.ledger.postgres.database import PostgresDatabase
from rating_server.ledger.postgres.tx import CATALOG_VERSION_LOCK

#: Each table's fields, as the records carry them.
COLUMNS = {
    UNITS: ("name", "price_unit", "label"),
    PLANS: ("name", "daily_free_points", "free_storage_bytes"),
    SKUS: ("id", "name", "category", "unit", "billed_by", "increment", "metering"),
    ALIASES: ("alias", "sku_id"),
    PATTERNS: ("pattern", "sku_id"),
    PRICES: ("sku_id", "effective_from", "unit_price", "catalog_version"),
}
# The advisory lock imports take turns on ("catl").
_IMPORT_LOCK = 0x6361746C

#: The channel the migration's trigger announces each new catalog version on.
CHANNEL = "catalog_version"
#: The listening connection's name in ``pg_stat_activity``.
LISTENER_NAME = "rating-catalog-listener"

log = logging.getLogger(__name__)


def _columns(table: str) -> tuple[str, ...]:
    if table not in COLUMNS:
        raise ValueError(f"no catalog table {table!r}")
    return COLUMNS[table]


class PostgresCatalogTx:
    """The catalog's operations on ``conn``, inside a transaction begun by its owner."""

    __slots__ = ("conn",)

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def current_version(self) -> int:
        row = self.conn.execute("SELECT coalesce(max(version), 0) FROM catalog_versions").fetchone()
        return int(row[0]) if row else 0

    def records(self, table: str) -> list[Record]:
        columns = _columns(table)
        query = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table)
        )
        return [dict(zip(columns, row, strict=True)) for row in self.conn.execute(query)]

    def upsert(self, table: str, key: str, records: Sequence[Record]) -> None:
        columns = _columns(table)
        others = [column for column in columns if column != key]
        query = sql.SQL(
            "INSERT INTO {table} ({columns}) VALUES ({values}) "
            "ON CONFLICT ({key}) DO UPDATE SET {updates}"
        ).format(
            table=sql.Identifier(table),
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
            values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            key=sql.Identifier(key),
            updates=sql.SQL(", ").join(
                sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in others
            ),
        )
        self._many(query, [[record[c] for c in columns] for record in records])

    def insert(self, table: str, records: Sequence[Record]) -> None:
        columns = _columns(table)
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        )
        self._many(query, [[record[c] for c in columns] for record in records])

    def delete_names(self, table: str, sku_ids: Collection[str]) -> None:
        if table not in (ALIASES, PATTERNS):
            raise ValueError(f"no catalog table of names {table!r}")
        if sku_ids:
            self.conn.execute(
                sql.SQL("DELETE FROM {} WHERE sku_id = ANY(%s)").format(sql.Identifier(table)),
                [list(sku_ids)],
            )

    def add_version(self, imported_at: str, source: str, sha256: str) -> int:
        """After the commits that may not have seen it (``PostgresLedgerTx.catalog_version``),
        which the lock waits for; the commits after wait for the import's end."""
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", [CATALOG_VERSION_LOCK])
        # One more than the last, as on SQLite, not the column's sequence: a sequence
        # skips the numbers of refused imports (rolled back) and 32 after a crash.
        # Imports take turns (``importing``), so no other takes the same number.
        row = self.conn.execute(
            "INSERT INTO catalog_versions (version, imported_at, source, sha256) "
            "OVERRIDING SYSTEM VALUE "
            "SELECT coalesce(max(version), 0) + 1, %s, %s, %s FROM catalog_versions "
            "RETURNING version",
            [imported_at, source, sha256],
        ).fetchone()
        assert row is not None
        return int(row[0])

    def _many(self, query: sql.Composed, rows: list[list[object]]) -> None:
        if rows:
            with self.conn.cursor() as cursor:
                cursor.executemany(query, rows)


class PostgresCatalogStore:
    """The catalog in the PostgreSQL database at ``url``. StorageUnavailableError when it
    cannot be reached; migrate.SchemaError when its schema is not this server's."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.database: PostgresDatabase[PostgresCatalogTx] = PostgresDatabase(
            url, PostgresCatalogTx, max_connections=2
        )

    def current_version(self) -> int:
        with self.database.read() as tx:
            return tx.current_version()

    def read(self) -> AbstractContextManager[PostgresCatalogTx]:
        return self.database.read()

    def watch(self, heard: Callable[[], object]) -> Announcements:
        return Announcements(self.url, heard, CHANNEL, LISTENER_NAME)

    @contextmanager
    def importing(self) -> Iterator[PostgresCatalogTx]:
        with self.database.write() as tx:
            tx.conn.execute("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK])
            yield tx

    def close(self) -> None:
        self.database.close()
