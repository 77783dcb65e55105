"""Connections to PostgreSQL, transactions, and telling the database's faults from ours.

A pool of connections (psycopg_pool) serves every thread of a node; each call takes a
connection for one transaction and gives it back. Transactions run at READ COMMITTED
with explicit row locks: a commit locks its billing accounts' rows, in id order, before
it reads a balance (``lock_balances``), so commits of one account take turns and
commits of different accounts run at once, on any node, and two batches mixing
accounts never wait for each other in a cycle.

Faults: an error that is the database's (the server down, restarting or failing over,
a connection lost, a standby that takes no writes, a full disk, a pool with no
connection to give within ``POOL_TIMEOUT``) leaves as ``StorageUnavailableError``
(UNAVAILABLE, retryable: nothing was written, or, for a connection lost during
COMMIT, the outcome is unknown and a retry with the same request_id is answered
from the ledger either way). A conflict between transactions (a deadlock, a
serialization failure, a unique key another transaction took first) is retried here,
from the start of the work, up to ``ATTEMPTS`` times, then leaves as
``ConcurrentUpdateError`` (ABORTED, which the client retries).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from rating_server.domain_errors import ConcurrentUpdateError, StorageUnavailableError
from rating_server.ledger.postgres import migrate
from rating_server.ledger.write_health import WriteHealth

log = logging.getLogger("rating_server")

#: Seconds a call waits for a connection from the pool before UNAVAILABLE.
POOL_TIMEOUT = 5.0
#: Seconds a call waits for a connection while the database is known unreachable (the
#: last attempt to reach it failed): the caller hears UNAVAILABLE at once, and retries.
OUTAGE_TIMEOUT = 0.5
#: Seconds the pool keeps retrying one lost connection before it starts a new attempt
#: on the next call: psycopg_pool backs off 1, 2, 4, 8 ... s within an attempt, which
#: after a long outage would keep a node down for as long again.
RECONNECT_SECONDS = 2.0
#: Seconds to connect to the server.
CONNECT_TIMEOUT = 5
#: Runs of a write's work, at most, when it conflicts with another transaction.
ATTEMPTS = 5

# SQLSTATE classes and codes that are the database's fault, not the SQL's: a connection
# exception (08), insufficient resources (53: a full disk, too many connections), an
# operator's intervention (57: shutdown, crash, cannot connect now), a system error
# (58: I/O), a standby that takes no writes (25006).
_FAULT_CLASSES = ("08", "53", "57", "58")
_FAULT_CODES = frozenset({"25006"})
# A conflict with another transaction: running the work again resolves it.
_CONFLICT_CODES = frozenset({"40001", "40P01", "23505"})

# The probe's write: a transaction id, which its commit then writes. None when the
# transaction is read-only: a database set read-only refuses the ledger's writes (25006)
# but hands out transaction ids, and a standby fails to with an internal error.
_PROBE = (
    "SELECT CASE WHEN current_setting('transaction_read_only')::boolean THEN NULL "
    "ELSE pg_current_xact_id() END"
)

Tx = TypeVar("Tx")
T = TypeVar("T")


def is_fault(error: BaseException) -> bool:
    """Whether ``error`` is PostgreSQL (or the way to it) failing, not the SQL."""
    if isinstance(error, psycopg_pool.PoolTimeout):
        return True
    state = getattr(error, "sqlstate", None)
    if state:  # what the server said: only its faults, not a deadlock (also "operational")
        return state[:2] in _FAULT_CLASSES or state in _FAULT_CODES
    # No SQLSTATE: the client's side failed (no connection, a connection lost).
    return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)


def is_conflict(error: BaseException) -> bool:
    return (getattr(error, "sqlstate", None) or "") in _CONFLICT_CODES


def _unreached(error: BaseException) -> bool:
    """Whether ``error`` says the server could not be reached at all (no connection
    came, or one was lost), rather than that it refused one statement."""
    return isinstance(error, psycopg_pool.PoolTimeout) or not getattr(error, "sqlstate", None)


def _fault_name(error: BaseException) -> str:
    if isinstance(error, psycopg_pool.PoolTimeout):
        return "POSTGRES_NO_CONNECTION"
    state = getattr(error, "sqlstate", None)
    return f"POSTGRES_{state}" if state else "POSTGRES_UNREACHABLE"


def _durable(conn: psycopg.Connection) -> None:
    """Every connection commits durably: a database whose default is
    ``synchronous_commit = off`` (which acknowledges commits before their WAL is on
    disk) is overridden for the ledger's sessions; ``local``, ``on``, ``remote_write``
    and ``remote_apply`` are kept as the operator set them.

    And it plans each statement for its values (``plan_cache_mode``): psycopg prepares
    a statement run five times, and PostgreSQL may then keep one generic plan for it,
    made from the statistics of that moment. On a young ledger that plan found a
    batch's duplicates by scanning every line of the account, so that each commit took
    longer than the one before (8 ms to 43 ms over 8,000 lines) until the table was
    analyzed again."""
    row = conn.execute("SHOW synchronous_commit").fetchone()
    if row is not None and row[0] == "off":
        conn.execute("SET synchronous_commit = on")
    conn.execute("SET plan_cache_mode = force_custom_plan")


def _unavailable(error: BaseException, doing: str) -> StorageUnavailableError:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return StorageUnavailableError(
        f"the database cannot be {doing} now ({first_line})", _fault_name(error)
    )


class PostgresDatabase(WriteHealth, Generic[Tx]):
    """The PostgreSQL database at ``url``, as transactions of ``make_tx`` (the store's
    operations over one connection)."""

    def __init__(
        self,
        url: str,
        make_tx: Callable[[psycopg.Connection], Tx],
        observe: Callable[[float], object] | None = None,
        on_writable: Callable[[bool, StorageUnavailableError | None], object] | None = None,
        max_connections: int = 32,
    ) -> None:
        """StorageUnavailableError when the database cannot be reached;
        migrate.SchemaError when its schema is not the one this server knows."""
        super().__init__(on_writable)
        self.url = url
        self._make_tx = make_tx
        self._observe = observe
        self._pool = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
            configure=_durable,
            # A connection the server dropped (a restart, a failover) is found out
            # before a call uses it, not by the call.
            check=psycopg_pool.ConnectionPool.check_connection,
            timeout=POOL_TIMEOUT,
            reconnect_timeout=RECONNECT_SECONDS,
            open=False,
            name="rating-ledger",
        )
        self.unreachable = False
        try:
            self._pool.open(wait=True, timeout=POOL_TIMEOUT)
            with self._pool.connection() as conn:
                migrate.check(conn)
        except (psycopg_pool.PoolTimeout, psycopg.Error) as error:
            self._pool.close()
            raise _unavailable(error, "reached") from error
        except migrate.SchemaError:
            self._pool.close()
            raise

    @contextmanager
    def _connection(self, doing: str, wait: float | None = None) -> Iterator[psycopg.Connection]:
        """A connection of the pool for one transaction. It waits ``wait`` seconds for
        one (default: POOL_TIMEOUT, or OUTAGE_TIMEOUT while the database is unreachable)."""
        if wait is None:
            wait = OUTAGE_TIMEOUT if self.unreachable else POOL_TIMEOUT
        try:
            with self._pool.connection(timeout=wait) as conn:
                self.unreachable = False
                yield conn
        except (psycopg_pool.PoolTimeout, psycopg.Error) as error:
            if is_fault(error):
                if _unreached(error):
                    self.unreachable = True
                raise _unavailable(error, doing) from error
            raise

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only transaction over one snapshot (REPEATABLE READ)."""
        with self._connection("read") as conn:
            # Said in the BEGIN itself (one round trip, not two); only for this one.
            conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
            try:
                with conn.transaction():
                    yield self._make_tx(conn)
            finally:
                # A broken connection the pool discards: nothing to undo.
                if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                    conn.isolation_level, conn.read_only = None, None

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One write transaction; a conflict with another one is ConcurrentUpdateError
        (the body cannot be run again from here: ``grouped`` can)."""
        started = time.perf_counter()
        try:
            with self._connection("written") as conn, conn.transaction():
                yield self._make_tx(conn)
        except StorageUnavailableError as fault:
            self._set_writable(False, fault)
            raise
        except psycopg.Error as error:
            if is_conflict(error):
                raise ConcurrentUpdateError(str(error).strip()) from error
            raise
        self._wrote(started)

    def grouped(self, work: Callable[[Tx], T]) -> T:
        """Run ``work`` in a write transaction of its own, again from the start when it
        conflicts with another (up to ATTEMPTS runs). ``work`` must do nothing outside
        the transaction. (Named for SQLite's group commit: here the pool's connections
        commit concurrently, and there is nothing to group.)"""
        for attempt in range(1, ATTEMPTS + 1):
            started = time.perf_counter()
            try:
                with self._connection("written") as conn, conn.transaction():
                    result = work(self._make_tx(conn))
            except StorageUnavailableError as fault:
                self._set_writable(False, fault)
                raise
            except psycopg.Error as error:
                if not is_conflict(error):
                    raise
                if attempt == ATTEMPTS:
                    raise ConcurrentUpdateError(
                        f"the write conflicted with others {ATTEMPTS} times: retry"
                    ) from error
                log.debug("write conflicted (%s); running it again", error.sqlstate)
                continue
            self._wrote(started)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _wrote(self, started: float) -> None:
        self._set_writable(True)
        if self._observe is not None:
            self._observe(time.perf_counter() - started)

    def probe(self) -> None:
        """A transaction that must write (it takes a transaction id, and commits it):
        StorageUnavailableError when it fails, or when it is read-only (as every
        transaction is on a standby, or in a database set read-only), where the ledger's
        writes are refused. ``writable`` and ``on_writable`` hear of it either way."""
        try:
            # The full wait, even in an outage: the probe gives the pool time to reconnect.
            with self._connection("written", wait=POOL_TIMEOUT) as conn, conn.transaction():
                row = conn.execute(_PROBE).fetchone()
                if row is None or row[0] is None:
                    # What PostgreSQL answers the ledger's writes there.
                    raise pg_errors.ReadOnlySqlTransaction(
                        "cannot execute the write probe in a read-only transaction"
                    )
        except StorageUnavailableError as fault:
            self._set_writable(False, fault)
            raise
        except pg_errors.ReadOnlySqlTransaction as error:  # pragma: no cover (is_fault)
            refused = _unavailable(error, "written")
            self._set_writable(False, refused)
            raise refused from error
        self._set_writable(True)

    def close(self) -> None:
        self._stop_probing_thread()
        self._pool.close()
