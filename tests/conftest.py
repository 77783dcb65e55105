"""What every folder of tests shares: the hypothesis profile, the storage engines and
their markers, a seeded ``database`` of the test's engine, the in-process ``server``
(tests/wire, and the tests of tests/process that call it with another program), and
``storage``. Each folder's own fixtures are in its conftest: tests/unit (the seed in
memory, the ledger), tests/wire (channels, stubs, new databases), tests/process
(``launch``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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
from support import LedgerStorage, PostgresStorage, running, seeded_database

from rating_server.config import Settings
from rating_server.ledger.sqlite import database as ledger_database
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


#: The markers, each with what it says of a test. ``unit``, ``wire`` and ``process`` are
#: given by each folder's conftest; ``postgres`` here, to every test that needs the
#: session's PostgreSQL cluster.
MARKERS = {
    "sqlite_only": "the test proves something of SQLite's engine alone",
    "postgres_only": "the test proves something of PostgreSQL's engine alone",
    "unit": "tests/unit: no server of the service, no subprocess",
    "wire": "tests/wire: the real server in this process, called over gRPC",
    "process": "tests/process: subprocesses, crashes, several nodes, the CLI",
    "postgres": "the test runs on PostgreSQL (the session's throwaway cluster)",
    "slow": "a unit test that takes more than a couple of seconds (make test-fast skips it)",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


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
        metafunc.parametrize(
            "engine",
            [pytest.param(name, marks=ENGINE_MARKS.get(name, ())) for name in engines],
            scope="module",
        )


#: What each engine's tests are marked with (``-m "not postgres"`` runs SQLite's alone).
ENGINE_MARKS = {"postgres": pytest.mark.postgres}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that takes a PostgreSQL fixture directly (``postgres_database``,
    ``postgres_seeded``, ``postgres_cluster``, ...), not through the ``engine``
    parameter, is marked ``postgres`` too."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if any(name.startswith("postgres_") for name in names):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def database(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database holding the seed catalog as version 1, of the test's engine: a
    SQLite file's path, or a PostgreSQL URL (a database of the session's cluster)."""
    if engine == "sqlite":
        return str(seeded_database(tmp_path / "rating.db"))
    return str(request.getfixturevalue("postgres_seeded"))


@pytest.fixture
def server(database: str) -> Iterator[RatingServer]:
    """The real server, in this process, on a free port of 127.0.0.1."""
    with running(Settings(listen="127.0.0.1:0", db_path=database)) as started:
        yield started


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
