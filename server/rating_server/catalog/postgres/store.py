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
import select
import socket
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

import psycopg
from psycopg import sql

from rating_server.catalog.store import ALIASES, PATTERNS, PLANS, PRICES, SKUS, UNITS, Record
from rating_server.ledger.postgres.database import CONNECT_TIMEOUT, PostgresDatabase
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
#: Seconds before the first new try at listening after the connection is lost, doubled
#: at each failed try up to ``LISTEN_RETRY_MOST``.
LISTEN_RETRY_FIRST = 0.1
LISTEN_RETRY_MOST = 5.0
#: Seconds of silence after which the listening connection is asked whether it stands
#: (a connection the network dropped says nothing by itself).
LISTEN_CHECK_SECONDS = 10.0
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
        return Announcements(self.url, heard)

    @contextmanager
    def importing(self) -> Iterator[PostgresCatalogTx]:
        with self.database.write() as tx:
            tx.conn.execute("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK])
            yield tx

    def close(self) -> None:
        self.database.close()


class Announcements:
    """``LISTEN catalog_version`` on a connection of its own, in a thread of its own:
    ``heard()`` at each notification, and each time it listens (again). A lost
    connection (the server restarting, failing over, a network fault) is replaced,
    after 0.1 s, then twice as long each failed try, up to 5 s; no error leaves the
    thread. ``close`` wakes it at once (a socket pair it waits on beside the
    connection)."""

    def __init__(self, url: str, heard: Callable[[], object]) -> None:
        self._url = url
        self._heard = heard
        self._stopping = threading.Event()
        #: Set while a connection listens (for tests and health's curious).
        self.listening = threading.Event()
        self._wake_lock = threading.Lock()
        self._waker, self._woken = socket.socketpair()
        self._woken.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="catalog-listen", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()
        with self._wake_lock:
            if self._waker.fileno() != -1:
                self._waker.send(b"!")
        # A connection being opened to an unreachable host gives up by itself.
        self._thread.join(CONNECT_TIMEOUT + 1)

    def _run(self) -> None:
        delay = LISTEN_RETRY_FIRST
        lost = False
        try:
            while not self._stopping.is_set():
                try:
                    with psycopg.connect(
                        self._url,
                        autocommit=True,
                        connect_timeout=CONNECT_TIMEOUT,
                        application_name=LISTENER_NAME,
                    ) as conn:
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                        self.listening.set()
                        if lost:
                            log.warning("listening for catalog announcements again")
                        lost, delay = False, LISTEN_RETRY_FIRST
                        self._heard()  # what was announced while nobody listened
                        self._listen(conn)
                except Exception as error:  # never out of the thread: polling goes on
                    if self._stopping.is_set():
                        break
                    if not lost:
                        log.warning(
                            "not listening for catalog announcements (%s): polling only, "
                            "and trying again",
                            str(error).strip().splitlines()[0] if str(error).strip() else error,
                            exc_info=not isinstance(error, psycopg.Error),
                        )
                    lost = True
                finally:
                    self.listening.clear()
                self._sleep(delay)
                delay = min(delay * 2, LISTEN_RETRY_MOST)
        finally:
            with self._wake_lock:
                self._waker.close()
                self._woken.close()

    def _listen(self, conn: psycopg.Connection) -> None:
        """Until stopped (returns) or the connection fails (raises)."""
        while not self._stopping.is_set():
            ready, _, _ = select.select([conn.fileno(), self._woken], [], [], LISTEN_CHECK_SECONDS)
            if self._stopping.is_set():
                return
            if not ready:
                conn.execute("SELECT 1")  # raises when the connection is gone
            if any(True for _ in conn.notifies(timeout=0)):  # reads what came; raises at EOF
                self._heard()
            if conn.broken or conn.closed:
                raise psycopg.OperationalError("the listening connection was lost")

    def _sleep(self, seconds: float) -> None:
        """``seconds``, or less when closed."""
        if not self._stopping.is_set():
            select.select([self._woken], [], [], seconds)
