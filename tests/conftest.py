from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, settings
from postgres_fixtures import (  # noqa: F401 (fixtures)
    postgres_cluster,
    postgres_database,
    postgres_migrated,
    postgres_migrated_copies,
    postgres_seeded,
    postgres_seeded_copies,
    postgres_seeded_template,
    report_header,
)
from processes import Launch, ServerProcess
from support import SEED, LedgerStorage, PostgresStorage, running, seeded_database

from rating.v1 import (
    account_service_pb2_grpc,
    catalog_service_pb2_grpc,
    rating_service_pb2_grpc,
)
from rating_server.catalog.imports import import_file
from rating_server.catalog.model import CatalogSnapshot
from rating_server.catalog.snapshots import load_snapshot
from rating_server.catalog.stores import open_catalog
from rating_server.config import Settings
from rating_server.ledger.sqlite import database as ledger_database
from rating_server.ledger.store import LedgerStore
from rating_server.ledger.stores import open_ledger
from rating_server.server import RatingServer

# Hypothesis, for every test: no test may fail by timing, so no deadline and no
# too_slow health check (both measure the machine, and a shared 2-core CI machine is
# slow at times); and CI runs the same examples every time (derandomize), so a run
# that passes passes again. HYPOTHESIS_PROFILE=explore is for developers hunting new
# failures: random examples, remembered in .hypothesis/, and more of them. Loaded
# here, before the test modules are imported: a test's own @settings inherits what it
# does not set from the profile loaded when the decorator runs.
_NOT_TIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("repeatable", derandomize=True, **_NOT_TIMED)
settings.register_profile("explore", derandomize=False, max_examples=1000, **_NOT_TIMED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "repeatable")


@pytest.fixture
def seeded_db(tmp_path: Path) -> Path:
    """A database file holding the seed catalog as version 1."""
    return seeded_database(tmp_path / "rating.db")


#: The storage engines every test of storage runs on, by the ``engine`` parameter.
ENGINES = ("sqlite", "postgres")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: the test proves something of SQLite's engine alone"
    )
    config.addinivalue_line(
        "markers", "postgres_only: the test proves something of PostgreSQL's engine alone"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses the ``database`` fixture (also through ``server``,
    ``ledger``, ``new_database``, ``storage``, ...) runs once per engine, but those
    marked ``sqlite_only`` or ``postgres_only``. The engine is a module-scoped
    parameter, so that a module's own long-lived server (``new_database``) runs once per
    engine too."""
    if "engine" in metafunc.fixturenames:
        engines = ENGINES
        if metafunc.definition.get_closest_marker("sqlite_only"):
            engines = ENGINES[:1]
        elif metafunc.definition.get_closest_marker("postgres_only"):
            engines = ENGINES[1:]
        metafunc.parametrize("engine", engines, scope="module")


@pytest.fixture
def database(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database holding the seed catalog as version 1, of the test's engine: a
    SQLite file's path, or a PostgreSQL URL (a database of the session's cluster)."""
    if engine == "sqlite":
        return str(seeded_database(tmp_path / "rating.db"))
    return str(request.getfixturevalue("postgres_seeded"))


NewDatabase = Callable[[str], str]
"""Makes a new seeded database of the module's engine, named for what it is for."""


@pytest.fixture(scope="module")
def new_database(
    engine: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[NewDatabase]:
    """``database`` for a module's long-lived servers: each call, a new database
    holding the seed catalog as version 1, of the module's engine."""
    if engine == "sqlite":
        yield lambda name: str(seeded_database(tmp_path_factory.mktemp(name) / "rating.db"))
        return
    copies = request.getfixturevalue("postgres_seeded_copies")
    made: list[str] = []

    def new(_name: str) -> str:
        made.append(copies.take())
        return made[-1]

    yield new
    for url in made:
        copies.discard(url)


@pytest.fixture
def server(database: str) -> Iterator[RatingServer]:
    """The real server, in this process, on a free port of 127.0.0.1."""
    with running(Settings(listen="127.0.0.1:0", db_path=database)) as started:
        yield started


@pytest.fixture
def channel(server: RatingServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.address) as opened:
        yield opened


@pytest.fixture
def rating(channel: grpc.Channel) -> rating_service_pb2_grpc.RatingServiceStub:
    return rating_service_pb2_grpc.RatingServiceStub(channel)


@pytest.fixture
def catalog(channel: grpc.Channel) -> catalog_service_pb2_grpc.CatalogServiceStub:
    return catalog_service_pb2_grpc.CatalogServiceStub(channel)


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogSnapshot]:
    """The seed catalog, in memory, once per test module (hypothesis tests take it)."""
    store = open_catalog(tmp_path_factory.mktemp("seed") / "rating.db")
    import_file(store, SEED)
    yield load_snapshot(store)
    store.close()


@pytest.fixture
def catalog_snapshot(seeded_db: Path) -> CatalogSnapshot:
    """The seed catalog, in memory."""
    store = open_catalog(seeded_db)
    try:
        return load_snapshot(store)
    finally:
        store.close()


@pytest.fixture
def ledger(database: str) -> Iterator[LedgerStore]:
    """The ledger in the seeded database, used directly (no gRPC)."""
    opened = open_ledger(database)
    yield opened
    opened.close()


@pytest.fixture
def account_service(channel: grpc.Channel) -> account_service_pb2_grpc.AccountServiceStub:
    return account_service_pb2_grpc.AccountServiceStub(channel)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start ``python -m rating_server ARGS...``; whatever still runs is killed at teardown."""
    started: list[ServerProcess] = []

    def start(*args: str, env: Mapping[str, str] = os.environ) -> ServerProcess:
        process = ServerProcess(list(args), cwd=tmp_path, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


@pytest.fixture
def storage(
    engine: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[LedgerStorage | PostgresStorage]:
    """What makes the test's database refuse writes, and take them again
    (``refuse_writes``). SQLite: the connections of every ledger opened from now on;
    PostgreSQL: the ``database`` of the test."""
    if engine == "sqlite":
        stand_in = LedgerStorage()
        monkeypatch.setattr(
            ledger_database, "open_ledger_connection", stand_in.open_ledger_connection
        )
        yield stand_in
        return
    yield PostgresStorage(request.getfixturevalue("database"))


def pytest_report_header() -> str:
    return report_header()
