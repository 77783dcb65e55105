"""PostgreSQL transactions and faults (``ledger/postgres/database.py``), over a plain
connection as the transaction's operations."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from support import PostgresStorage

from rating_server.domain_errors import ConcurrentUpdateError, StorageUnavailableError
from rating_server.ledger.postgres import database, migrate
from rating_server.ledger.postgres.cluster import Cluster
from rating_server.ledger.postgres.database import PostgresDatabase

#: PostgreSQL's engine: every test here needs PostgreSQL, or an unreachable one's URL.
pytestmark = pytest.mark.postgres


def migrated(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.migrate(conn)
        conn.execute("CREATE TABLE counters (name text PRIMARY KEY, n bigint NOT NULL)")
        conn.execute("INSERT INTO counters VALUES ('a', 0), ('b', 0)")
    return url


@pytest.fixture
def db(postgres_database: str) -> Iterator[PostgresDatabase[psycopg.Connection]]:
    opened = PostgresDatabase(migrated(postgres_database), lambda conn: conn)
    yield opened
    opened.close()


def counter(db: PostgresDatabase[psycopg.Connection], name: str) -> int:
    with db.read() as conn:
        row = conn.execute("SELECT n FROM counters WHERE name = %s", [name]).fetchone()
    assert row is not None
    return int(row[0])


def test_a_schema_it_does_not_know_is_refused_at_open(postgres_database: str) -> None:
    with pytest.raises(migrate.SchemaError, match="rating-server db migrate"):
        PostgresDatabase(postgres_database, lambda conn: conn)


def test_a_database_it_cannot_reach_is_unavailable_at_open() -> None:
    with pytest.raises(StorageUnavailableError) as refused:
        PostgresDatabase("postgresql://rating@127.0.0.1:1/rating", lambda conn: conn)
    assert refused.value.cause.startswith("POSTGRES_")


def test_work_that_deadlocks_is_run_again_until_it_commits(
    db: PostgresDatabase[psycopg.Connection],
) -> None:
    # Two writers lock a and b in opposite orders, each waiting for the other at the
    # barrier: PostgreSQL kills one of them (40P01), which runs again and commits. The
    # run again waits for the other's commit: begun at once, it could lock its first row
    # before the other, woken, takes it, and deadlock a second time.
    barrier = threading.Barrier(2, timeout=30)
    runs = {"ab": 0, "ba": 0}
    committed = {order: threading.Event() for order in runs}

    def work(order: str) -> None:
        other = next(name for name in runs if name != order)

        def run(conn: psycopg.Connection) -> None:
            runs[order] += 1
            if runs[order] > 1:
                assert committed[other].wait(30), "the other writer never committed"
            first, second = order
            conn.execute("UPDATE counters SET n = n + 1 WHERE name = %s", [first])
            if runs[order] == 1:
                barrier.wait()
            conn.execute("UPDATE counters SET n = n + 1 WHERE name = %s", [second])

        db.grouped(run)
        committed[order].set()

    threads = [threading.Thread(target=work, args=(order,)) for order in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert counter(db, "a") == counter(db, "b") == 2
    assert sorted(runs.values()) == [1, 2]


def test_work_that_conflicts_every_time_is_aborted_after_its_attempts(
    db: PostgresDatabase[psycopg.Connection],
) -> None:
    runs = 0

    def run(conn: psycopg.Connection) -> None:
        nonlocal runs
        runs += 1
        conn.execute("INSERT INTO counters VALUES ('a', 1)")  # the key is taken: 23505

    with pytest.raises(ConcurrentUpdateError):
        db.grouped(run)
    assert runs == database.ATTEMPTS
    assert counter(db, "a") == 0


def test_a_database_gone_is_unavailable_and_health_follows_it_back(
    postgres_cluster: Cluster, postgres_database: str
) -> None:
    heard: list[bool] = []
    db = PostgresDatabase(
        migrated(postgres_database), lambda conn: conn, on_writable=lambda ok, _: heard.append(ok)
    )
    try:
        postgres_cluster.stop("immediate")
        try:
            with pytest.raises(StorageUnavailableError):
                db.grouped(lambda conn: conn.execute("UPDATE counters SET n = 1"))
            with pytest.raises(StorageUnavailableError):
                db.probe()
            assert not db.writable
            # Known unreachable: a call waits OUTAGE_TIMEOUT for a connection, not the
            # pool's full timeout, so callers hear UNAVAILABLE at once and retry.
            assert db.unreachable
            waits: list[float | None] = []
            pool_connection = db._pool.connection

            def connection(timeout: float | None = None):  # type: ignore[no-untyped-def]
                waits.append(timeout)
                return pool_connection(timeout=timeout)

            db._pool.connection = connection  # type: ignore[method-assign]
            with pytest.raises(StorageUnavailableError), db.read():
                pass
            assert waits == [database.OUTAGE_TIMEOUT]
            db._pool.connection = pool_connection  # type: ignore[method-assign]
        finally:
            postgres_cluster.start()
        # The pool reconnects in the background, backing off: wait for it, as health does.
        deadline = time.monotonic() + 120
        while not db.writable and time.monotonic() < deadline:
            with contextlib.suppress(StorageUnavailableError):
                db.probe()
        assert db.writable
        assert not db.unreachable
        assert heard == [False, True]
        assert counter(db, "a") == 0  # the refused write wrote nothing
    finally:
        db.close()


def test_commits_are_durable_even_where_the_database_says_otherwise(
    postgres_database: str,
) -> None:
    url = migrated(postgres_database)
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
    db = PostgresDatabase(url, lambda conn: conn)
    try:
        with db.read() as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
    finally:
        db.close()


def test_every_statement_is_planned_for_its_own_values(postgres_database: str) -> None:
    """A generic plan, kept from a young ledger's statistics, scanned an account's lines
    for each commit's duplicates: commits grew slower with every line."""
    db = PostgresDatabase(migrated(postgres_database), lambda conn: conn)
    try:
        with db.read() as conn:
            assert conn.execute("SHOW plan_cache_mode").fetchone() == ("force_custom_plan",)
        db.grouped(lambda conn: conn.execute("SELECT 1"))
        with db.read() as conn:  # the pool's connection, again
            assert conn.execute("SHOW plan_cache_mode").fetchone() == ("force_custom_plan",)
    finally:
        db.close()


def test_a_database_that_takes_no_writes_fails_the_probe_as_it_fails_writes(
    postgres_database: str,
) -> None:
    # A standby, a database set read-only by an operator, an old primary fenced off:
    # every transaction is read-only. The probe must not call that writable.
    db = PostgresDatabase(migrated(postgres_database), lambda conn: conn)
    storage = PostgresStorage(postgres_database)
    try:
        storage.refuse_writes()
        with pytest.raises(StorageUnavailableError) as by_write:
            db.grouped(lambda conn: conn.execute("UPDATE counters SET n = 1"))
        with pytest.raises(StorageUnavailableError) as by_probe:
            db.probe()
        assert by_write.value.cause == by_probe.value.cause == "POSTGRES_25006"
        assert not db.writable

        storage.refuse_writes(False)
        # The pool opens its connections again as they are asked for: on a busy machine
        # the first may not come within the probe's wait. Writable again, in time.
        assert probe_succeeds(db)
        assert db.writable
        assert counter(db, "a") == 0
    finally:
        db.close()


def probe_succeeds(db: PostgresDatabase, timeout: float = 60.0) -> bool:
    """Whether the probe succeeds within ``timeout`` seconds, trying again on a fault."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.probe()
            return True
        except StorageUnavailableError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
