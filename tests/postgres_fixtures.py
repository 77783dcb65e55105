"""The throwaway PostgreSQL cluster of a test session, from the machine's binaries.

One cluster for the whole session, started at the first test that asks for it and
stopped at the end. Where the machine has no PostgreSQL server programs, the tests
that need one are skipped, with the reason in pytest's summary; under ``CI=true`` they
fail instead, so CI never passes without its PostgreSQL half.
"""

from __future__ import annotations

import itertools
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from support import SEED

from rating_server.catalog.imports import import_file
from rating_server.catalog.stores import open_catalog
from rating_server.ledger.postgres import migrate
from rating_server.ledger.postgres.cluster import Cluster, ClusterError, find_binaries

NO_POSTGRES = "no PostgreSQL server programs on this machine: the PostgreSQL half is skipped"


def report_header() -> str:
    """The line pytest prints at the top: which PostgreSQL the PostgreSQL half uses."""
    binaries = find_binaries()
    if binaries is None:
        return f"postgresql: {NO_POSTGRES}"
    return f"postgresql: {binaries}"


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A running cluster with the ``rating`` database, for the session."""
    if find_binaries() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true, and {NO_POSTGRES}: install PostgreSQL")
        pytest.skip(NO_POSTGRES)
    # Not under pytest's tmp_path: under root, the cluster runs as the postgres user,
    # who must reach its folder, and pytest's folders are root's alone.
    folder = tempfile.mkdtemp(prefix="rating-pg-")
    cluster = Cluster(folder)
    try:
        cluster.create()
        cluster.start()
        cluster.create_database()
    except ClusterError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    yield cluster
    if cluster.running():
        cluster.stop("immediate")
    shutil.rmtree(folder, ignore_errors=True)


_numbers = itertools.count(1)
#: The database every seeded test database is copied from: migrated, seed imported.
SEEDED_TEMPLATE = "rating_seeded"


def database_url(cluster: Cluster, name: str) -> str:
    return cluster.url.rsplit("/", 1)[0] + "/" + name


def _new_name() -> str:
    return f"test_{os.getpid()}_{next(_numbers)}"


@pytest.fixture
def postgres_database(postgres_cluster: Cluster) -> str:
    """The URL of a new, empty database of the session's cluster (no schema)."""
    name = _new_name()
    postgres_cluster.create_database(name)
    return database_url(postgres_cluster, name)


@pytest.fixture(scope="session")
def postgres_seeded_template(postgres_cluster: Cluster) -> str:
    """The name of a database, migrated and holding the seed catalog as version 1, that
    the seeded test databases are copied from (nothing stays connected to it)."""
    postgres_cluster.create_database(SEEDED_TEMPLATE)
    url = database_url(postgres_cluster, SEEDED_TEMPLATE)
    migrate.migrate_url(url)
    store = open_catalog(url)
    try:
        import_file(store, SEED)
    finally:
        store.close()
    return SEEDED_TEMPLATE


def seeded_copy(cluster: Cluster, template: str) -> str:
    """The URL of a new database of ``cluster``, a copy of ``template``."""
    name = _new_name()
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return database_url(cluster, name)


def drop_database(cluster: Cluster, url: str) -> None:
    """Drop the database at ``url``, ending whatever is still connected to it."""
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(url.rsplit("/", 1)[1])
            )
        )


class TemplateCopies:
    """Copies of a template database, made ahead by a thread of their own while the
    tests run, so that a test seldom waits for its CREATE DATABASE (a fifth of a second:
    the copy's every page goes through the WAL); and the copies tests are done with,
    dropped by the same thread (else the session's cluster ends holding hundreds of
    databases of 8 MB, which take seconds to delete). Each copy is taken by one test
    only, fresh as ``seeded_copy`` makes it. While the cluster is down (a test stopping
    it), the thread waits and tries again; a test that finds none made in time makes its
    own."""

    AHEAD = 3  # copies kept ready
    RETRY_SECONDS = 0.2
    WAIT_SECONDS = 5.0  # for the copy under way, before a test makes its own

    def __init__(self, cluster: Cluster, template: str) -> None:
        self._cluster = cluster
        self._template = template
        self._ready: queue.Queue[str] = queue.Queue(maxsize=self.AHEAD)
        self._done: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"{template}-copies", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        made: str | None = None
        while not self._stop.is_set():
            try:
                self._drop_done()
                if made is None:
                    made = seeded_copy(self._cluster, self._template)
            except psycopg.Error:  # the cluster is down, or restarting: later
                self._stop.wait(self.RETRY_SECONDS)
                continue
            try:
                self._ready.put(made, timeout=self.RETRY_SECONDS)
                made = None
            except queue.Full:
                continue

    def _drop_done(self) -> None:
        while not self._done.empty():
            url = self._done.get()
            try:
                drop_database(self._cluster, url)
            except psycopg.Error:
                self._done.put(url)  # again once the cluster is back
                raise

    def take(self) -> str:
        """The URL of a new copy of the template."""
        try:
            return self._ready.get(timeout=self.WAIT_SECONDS if self._thread.is_alive() else 0)
        except queue.Empty:
            return seeded_copy(self._cluster, self._template)

    def discard(self, url: str) -> None:
        """The test is done with the copy at ``url``: it is dropped, soon."""
        self._done.put(url)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="session")
def postgres_seeded_copies(
    postgres_cluster: Cluster, postgres_seeded_template: str
) -> Iterator[TemplateCopies]:
    """New seeded databases, made ahead (``TemplateCopies.take``)."""
    copies = TemplateCopies(postgres_cluster, postgres_seeded_template)
    yield copies
    copies.close()


@pytest.fixture
def postgres_seeded(postgres_seeded_copies: TemplateCopies) -> Iterator[str]:
    """The URL of a new database holding the seed catalog as version 1 (a copy)."""
    url = postgres_seeded_copies.take()
    yield url
    postgres_seeded_copies.discard(url)


#: The database every migrated test database is copied from: migrated, no catalog.
MIGRATED_TEMPLATE = "rating_migrated"


@pytest.fixture(scope="session")
def postgres_migrated_copies(postgres_cluster: Cluster) -> Iterator[TemplateCopies]:
    """New migrated databases holding no catalog, made ahead."""
    postgres_cluster.create_database(MIGRATED_TEMPLATE)
    migrate.migrate_url(database_url(postgres_cluster, MIGRATED_TEMPLATE))
    copies = TemplateCopies(postgres_cluster, MIGRATED_TEMPLATE)
    yield copies
    copies.close()


@pytest.fixture
def postgres_migrated(postgres_migrated_copies: TemplateCopies) -> Iterator[str]:
    """The URL of a new database, its schema migrated, holding no catalog (a copy)."""
    url = postgres_migrated_copies.take()
    yield url
    postgres_migrated_copies.discard(url)
