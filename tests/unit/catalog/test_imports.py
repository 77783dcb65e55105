"""Importing catalog files, into SQLite and into PostgreSQL: versions, immutable prices,
refusals, and the import's turn among the database's writers."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import psycopg
import pytest
from support import NOON, SEED, ledger_snapshot

from rating_server.catalog.imports import ImportResult, import_file
from rating_server.catalog.model import CatalogError
from rating_server.catalog.postgres import store as catalog_postgres
from rating_server.catalog.snapshots import load_snapshot
from rating_server.catalog.store import CatalogStore
from rating_server.catalog.stores import open_catalog
from rating_server.config import is_postgres_url
from rating_server.engine import Usage, rate_batch

HEADER = """
schema = 1
[units.call]
price_unit = 1
label = "call"
[units.millisecond]
price_unit = 60000
label = "minute"
[plans.basic]
daily_free_points = "500"
free_storage_bytes = 10737418240
"""


def catalog_text(*skus: str) -> str:
    return HEADER + "\n".join(f"[[skus]]\n{body}" for body in skus)


AGENT_CALL = """
id = "agent.call"
name = "智能体调用费"
category = "agent"
unit = "call"
billed_by = "coze"
aliases = ["智能体调用费"]
prices = [{ effective_from = 1970-01-01T00:00:00Z, points = "2" }]
"""

TOKEN_UNIT = """
[units.token]
price_unit = 1000
label = "1000 tokens"
"""

ARK_INPUT = """
id = "model.ark.input"
name = "方舟模型（输入）"
category = "model"
unit = "token"
billed_by = "ark"
patterns = ["model.ark.*.input"]
aliases = []
prices = [{ effective_from = 1970-01-01T00:00:00Z, points = "0" }]
"""

# A new Ark SKU, as an operator might add one.
ARK_LITE = """
id = "model.ark-lite.input"
name = "方舟 Lite（输入）"
category = "model"
unit = "token"
billed_by = "ark"
prices = [{ effective_from = 1970-01-01T00:00:00Z, points = "0" }]
"""


BYTE_MS = """
[units.byte_millisecond]
price_unit = 3865470566400000
label = "GiB-hour"
"""

# Storage metering outside the knowledge base: it would be given the plan's free storage.
RECORDING_STORAGE = """
id = "rtc.recording.storage"
name = "录制存储"
category = "rtc"
unit = "byte_millisecond"
billed_by = "coze"
metering = "storage"
prices = [{ effective_from = 1970-01-01T00:00:00Z, points = "1" }]
"""


def with_tokens(*skus: str) -> str:
    return catalog_text(*skus).replace("[plans.basic]", TOKEN_UNIT + "[plans.basic]")


@pytest.fixture
def location(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database holding no catalog, of the test's engine: a SQLite file's path (made
    by the store), or a migrated PostgreSQL database's URL."""
    if engine == "sqlite":
        return str(tmp_path / "rating.db")
    return str(request.getfixturevalue("postgres_migrated"))


@pytest.fixture
def database(location: str) -> Iterator[CatalogStore]:
    """The catalog's store on ``location``; ``location`` is kept on it."""
    opened = open_catalog(location)
    opened.location = location  # type: ignore[attr-defined]
    yield opened
    opened.close()


def write(tmp_path: Path, text: str, name: str = "catalog.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def table_counts(database: CatalogStore) -> dict[str, int]:
    """The rows of every table of the store's database, by table."""
    location = database.location  # type: ignore[attr-defined]
    return {table: len(rows) for table, rows in ledger_snapshot(location).items()}


def test_importing_the_same_file_twice_keeps_one_version(database: CatalogStore) -> None:
    first = import_file(database, SEED)
    second = import_file(database, SEED)
    assert (first.version, first.changed) == (1, True)
    assert (second.version, second.changed) == (1, False)
    assert table_counts(database)["price_versions"] == 39


def test_a_later_price_version_keeps_the_earlier_price_for_earlier_usage(
    database: CatalogStore, tmp_path: Path
) -> None:
    import_file(database, SEED)
    raised = AGENT_CALL.replace(
        'prices = [{ effective_from = 1970-01-01T00:00:00Z, points = "2" }]',
        'prices = [{ effective_from = 2026-11-27T04:00:00Z, points = "3" }]',
    )
    an_hour_before = NOON - timedelta(hours=1)
    result = import_file(database, write(tmp_path, catalog_text(raised)), now=an_hour_before)
    assert (result.version, result.changed) == (2, True)
    snapshot = load_snapshot(database)
    noon_ns = int(NOON.timestamp()) * 10**9
    lines = rate_batch(
        snapshot,
        [
            Usage("before", "a", "agent.call", 1, noon_ns - 1),
            Usage("after", "a", "agent.call", 1, noon_ns),
        ],
    ).lines
    assert [line.points for line in lines] == [Decimal(2), Decimal(3)]
    assert snapshot.version == 2
    # SKUs the second file does not mention are untouched.
    assert snapshot.resolve("rtc.video.4k") is not None


@pytest.mark.parametrize("imported_at", [NOON, NOON + timedelta(days=1)])
def test_a_new_price_that_would_reprice_past_usage_is_refused(
    database: CatalogStore, tmp_path: Path, imported_at: datetime
) -> None:
    import_file(database, SEED)
    before = table_counts(database)
    backdated = AGENT_CALL.replace(
        'prices = [{ effective_from = 1970-01-01T00:00:00Z, points = "2" }]',
        'prices = [{ effective_from = 2026-11-27T04:00:00Z, points = "3" }]',
    )
    with pytest.raises(CatalogError, match="would re-price usage that already happened"):
        import_file(database, write(tmp_path, catalog_text(backdated)), now=imported_at)
    assert table_counts(database) == before


def test_a_new_skus_first_price_may_start_in_the_past(
    database: CatalogStore, tmp_path: Path
) -> None:
    import_file(database, SEED)
    fresh = AGENT_CALL.replace('id = "agent.call"', 'id = "agent.call.batch"').replace(
        'aliases = ["智能体调用费"]', "aliases = []"
    )
    assert import_file(database, write(tmp_path, catalog_text(fresh))).version == 2


def test_a_price_version_never_changes(database: CatalogStore, tmp_path: Path) -> None:
    import_file(database, SEED)
    before = table_counts(database)
    changed = AGENT_CALL.replace('points = "2"', 'points = "2.5"')
    with pytest.raises(CatalogError, match=r"agent\.call.*never change"):
        import_file(database, write(tmp_path, catalog_text(changed)))
    assert table_counts(database) == before
    assert database.current_version() == 1


def test_an_alias_taken_by_another_sku_is_refused_and_nothing_changes(
    database: CatalogStore, tmp_path: Path
) -> None:
    import_file(database, SEED)
    before = table_counts(database)
    thief = AGENT_CALL.replace('id = "agent.call"', 'id = "agent.call2"').replace(
        'aliases = ["智能体调用费"]', 'aliases = ["语音通话"]'
    )
    with pytest.raises(CatalogError, match="语音通话"):
        import_file(database, write(tmp_path, catalog_text(thief)))
    assert table_counts(database) == before


def test_an_alias_that_differs_only_in_case_from_another_name_is_refused(
    database: CatalogStore, tmp_path: Path
) -> None:
    import_file(database, SEED)
    clash = AGENT_CALL.replace('id = "agent.call"', 'id = "agent.other"').replace(
        'aliases = ["智能体调用费"]', 'aliases = ["Agent.Call"]'
    )
    with pytest.raises(CatalogError, match=r"Agent\.Call"):
        import_file(database, write(tmp_path, catalog_text(clash)))
    assert database.current_version() == 1


def test_an_alias_may_move_between_skus_of_one_file(database: CatalogStore, tmp_path: Path) -> None:
    import_file(database, SEED)
    moved_from = AGENT_CALL.replace('aliases = ["智能体调用费"]', "aliases = []")
    moved_to = AGENT_CALL.replace('id = "agent.call"', 'id = "agent.call.v2"')
    import_file(database, write(tmp_path, catalog_text(moved_to, moved_from)))
    sku = load_snapshot(database).resolve("智能体调用费")
    assert sku is not None and sku.id == "agent.call.v2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema = [", "not valid TOML"),
        (catalog_text(AGENT_CALL).replace("schema = 1", "schema = 2"), "schema must be 1"),
        (catalog_text(AGENT_CALL.replace('"agent"', '"food"')), "category: 'food' is not one of"),
        (catalog_text(AGENT_CALL.replace('unit = "call"', 'unit = "token"')), "unit: 'token'"),
        (catalog_text(AGENT_CALL.replace('"2"', '"-2"')), "points: cannot be negative"),
        (catalog_text(AGENT_CALL.replace('"2"', "2")), "points: has the wrong type"),
        (catalog_text(AGENT_CALL.replace('"2"', '"2e3"')), "not a plain decimal"),
        (catalog_text(AGENT_CALL.replace("00:00:00Z", "00:00:00")), "needs a UTC offset"),
        (catalog_text(AGENT_CALL, AGENT_CALL), "'agent.call' is defined twice"),
        (catalog_text(AGENT_CALL.replace('billed_by = "coze"', "")), "billed_by: is required"),
        (
            catalog_text(AGENT_CALL + 'metering = "storage"\n'),
            "storage SKUs must use unit byte_millisecond",
        ),
        (catalog_text(AGENT_CALL + 'patterns = ["agent.call.x"]\n'), "exactly one '*'"),
        (catalog_text(AGENT_CALL.replace("agent.call", "Agent.Call", 1)), "lower case"),
        (HEADER, "skus must be a non-empty array"),
        # What the rules forbid, though the file can say it:
        (catalog_text(AGENT_CALL + "increment = 0\n"), "increment: must be a positive number"),
        (catalog_text(AGENT_CALL + "increment = -1000\n"), "increment: must be a positive"),
        (catalog_text(AGENT_CALL + "incremnet = 1000\n"), r"incremnet: is not a key of skus\[0\]"),
        (catalog_text(AGENT_CALL).replace("price_unit = 1\n", "price_unit = 0\n", 1), "positive"),
        (catalog_text(AGENT_CALL).replace("label =", "lable =", 1), "lable: is not a key"),
        (catalog_text(AGENT_CALL).replace("free_storage_bytes", "free_bytes"), "free_bytes"),
        (catalog_text(AGENT_CALL).replace("schema = 1", "schema = 1\nversion = 2"), "version"),
        (
            catalog_text(AGENT_CALL.replace('points = "2" }', 'points = "2", until = 3 }')),
            "until: is not a key",
        ),
        (catalog_text(AGENT_CALL.replace('"2"', '" 2"')), "not a plain decimal"),
        (catalog_text(AGENT_CALL.replace('"2"', '"1_000"')), "not a plain decimal"),
        (catalog_text(AGENT_CALL.replace('"2"', '"+2"')), "not a plain decimal"),
        (catalog_text(AGENT_CALL.replace('"2"', '"Infinity"')), "not a plain decimal"),
        (
            catalog_text(AGENT_CALL).replace('"500"', '"0.0000005"'),
            "daily_free_points: has more than 6 decimals",
        ),
        (catalog_text(AGENT_CALL.replace("agent.call", "agent call", 1)), "without spaces"),
        (catalog_text(AGENT_CALL.replace('name = "智能体调用费"', 'name = " "')), "name: must not"),
        (
            catalog_text(AGENT_CALL.replace('["智能体调用费"]', '["agent\\u0007call"]')),
            "aliases: must be non-empty printable",
        ),
        (catalog_text(AGENT_CALL + 'patterns = ["*"]\n'), "would match every name"),
        (
            catalog_text(AGENT_CALL + 'patterns = ["model.ark.x*"]\n'),
            r"'model\.ark\.input' and a pattern of 'agent\.call' can match the same name",
        ),
        (
            catalog_text(RECORDING_STORAGE).replace("[plans.basic]", BYTE_MS + "[plans.basic]"),
            "storage is knowledge-base storage",
        ),
        (with_tokens(ARK_LITE.replace('"model"', '"agent"')), "only models are billed by Ark"),
        (with_tokens(ARK_LITE.replace('points = "0"', 'points = "0.8"')), "billed by Ark"),
        (
            with_tokens(
                ARK_LITE.replace(
                    'prices = [{ effective_from = 1970-01-01T00:00:00Z, points = "0" }]',
                    "prices = []",
                )
            ),
            'needs a price of "0"',
        ),
    ],
)
def test_a_malformed_catalog_is_refused_naming_what_is_wrong(
    database: CatalogStore, tmp_path: Path, text: str, message: str
) -> None:
    import_file(database, SEED)
    before = table_counts(database)
    with pytest.raises(CatalogError, match=message):
        import_file(database, write(tmp_path, text))
    assert table_counts(database) == before


@pytest.mark.parametrize(
    "ark",
    [
        ARK_LITE.replace('points = "0"', 'points = "1"'),
        ARK_INPUT.replace(
            'prices = [{ effective_from = 1970-01-01T00:00:00Z, points = "0" }]',
            'prices = [{ effective_from = 1970-01-01T00:00:00Z, points = "0" },'
            ' { effective_from = 2030-01-01T00:00:00Z, points = "0.5" }]',
        ),
    ],
    ids=["new-ark-sku", "new-price-version-of-the-seeds-ark-sku"],
)
def test_an_ark_sku_given_a_price_is_refused_naming_the_sku_and_nothing_changes(
    database: CatalogStore, tmp_path: Path, ark: str
) -> None:
    """Ark models are billed by Volcano Ark: rated 0 points here, whatever a file says."""
    import_file(database, SEED)
    before = table_counts(database)
    with pytest.raises(CatalogError, match=r"'model\.ark[-\w]*\.input' is billed by Ark") as caught:
        import_file(database, write(tmp_path, with_tokens(ark)))
    assert ".points" in str(caught.value) and "catalog.toml:" in str(caught.value)
    assert table_counts(database) == before
    # A zero price (the seed's) is what an Ark SKU takes.
    assert import_file(database, write(tmp_path, with_tokens(ARK_LITE))).changed


def test_a_database_holding_a_priced_ark_sku_is_refused_when_loaded(
    database: CatalogStore,
) -> None:
    """A price written before the import refused them is not rated either."""
    import_file(database, SEED)
    write_directly(
        database.location,  # type: ignore[attr-defined]
        "INSERT INTO price_versions (sku_id, effective_from, unit_price, catalog_version) "
        "VALUES ('model.ark.input', '2030-01-01T00:00:00.000000Z', '0.8', 1)",
    )
    with pytest.raises(CatalogError, match=r"'model\.ark\.input' is billed by Ark"):
        load_snapshot(database)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            catalog_text(AGENT_CALL.replace('"agent"', '"food"')),
            ":16: skus[0] (agent.call).category",
        ),
        (
            catalog_text(AGENT_CALL, AGENT_CALL.replace('"2"', '"x"')),
            ":30: skus[1] (agent.call).prices",
        ),
        (
            HEADER.replace("price_unit = 1\n", "price_unit = -1\n", 1) + "[[skus]]" + AGENT_CALL,
            ":4: units.call.price_unit",
        ),
        (HEADER.replace('"500"', '"lots"') + "[[skus]]" + AGENT_CALL, ":10: plans.basic.daily"),
    ],
)
def test_a_malformed_catalog_names_the_line_of_the_bad_field(
    database: CatalogStore, tmp_path: Path, text: str, where: str
) -> None:
    with pytest.raises(CatalogError) as caught:
        import_file(database, write(tmp_path, text))
    assert where in str(caught.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda t: t.replace("price_unit = 60000", "price_unit = 1000"),
            "units.millisecond.price_unit",
        ),
        (
            lambda t: t.replace('daily_free_points = "500"', 'daily_free_points = "900"', 1),
            "plans.basic.daily_free_points",
        ),
        (lambda t: t.replace('billed_by = "ark"', 'billed_by = "coze"', 1), "billed_by"),
        (lambda t: t.replace('unit = "token"', 'unit = "call"', 1), ".unit:"),
    ],
    ids=["unit-size", "plan-free-points", "sku-biller", "sku-unit"],
)
def test_an_import_cannot_change_what_earlier_usage_was_rated_or_funded_with(
    database: CatalogStore, tmp_path: Path, change: object, field: str
) -> None:
    import_file(database, SEED)
    before = table_counts(database)
    changed = change(SEED.read_text(encoding="utf-8"))  # type: ignore[operator]
    with pytest.raises(CatalogError, match="cannot change") as caught:
        import_file(database, write(tmp_path, changed))
    assert field in str(caught.value)
    assert table_counts(database) == before


def write_directly(location: str, statement: str) -> None:
    """Run ``statement`` on the database, behind the store's back, and commit it."""
    if is_postgres_url(location):
        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute(statement)
        return
    with sqlite3.connect(location) as conn:
        conn.execute(statement)
    conn.close()


class WritersTurn(Protocol):
    """The turn an import waits for, held by the test as another writer would."""

    def hold(self) -> None: ...

    def someone_waits(self) -> bool: ...

    def release(self) -> None: ...


class SqliteWritersTurn:
    """SQLite: the lock file every writer of the database takes turns through, held as
    a server process holds it while it commits."""

    def __init__(self, location: str) -> None:
        self.path = os.path.realpath(location) + "-writer.lock"
        self._held = -1

    def hold(self) -> None:
        self._held = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._held, fcntl.LOCK_EX)

    def someone_waits(self) -> bool:
        """Whether a process or thread waits for an flock on the lock file: the kernel
        lists each waiter in /proc/locks, marked ``->``, with the file's inode."""
        inode = os.stat(self.path).st_ino
        with open("/proc/locks", encoding="ascii") as locks:
            return any("->" in line and f":{inode} " in line for line in locks)

    def release(self) -> None:
        if self._held >= 0:
            fcntl.flock(self._held, fcntl.LOCK_UN)
            os.close(self._held)
            self._held = -1


class PostgresWritersTurn:
    """PostgreSQL: the advisory lock imports take turns on, held in a transaction as
    another node's import holds it."""

    def __init__(self, location: str) -> None:
        self._holder = psycopg.connect(location, autocommit=True)
        self._watcher = psycopg.connect(location, autocommit=True)

    def hold(self) -> None:
        self._holder.execute("BEGIN")
        self._holder.execute("SELECT pg_advisory_xact_lock(%s)", [catalog_postgres._IMPORT_LOCK])

    def someone_waits(self) -> bool:
        waiting = self._watcher.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
        return bool(waiting and waiting[0])

    def release(self) -> None:
        if not self._holder.closed:
            self._holder.execute("COMMIT")
            self._holder.close()
            self._watcher.close()


def import_alone(location: str, catalog: Path) -> ImportResult:
    """``import_file`` on a connection of its own, as ``rating-server catalog import``."""
    opened = open_catalog(location)
    try:
        return import_file(opened, catalog)
    finally:
        opened.close()


def test_an_import_waits_for_the_writers_turn_however_long_then_succeeds(
    database: CatalogStore, location: str, engine: str, tmp_path: Path
) -> None:
    import_file(database, write(tmp_path, catalog_text(AGENT_CALL)))
    renamed = write(tmp_path, catalog_text(AGENT_CALL.replace('name = "', 'name = "New ')), "b")
    turn: WritersTurn = (
        SqliteWritersTurn(location) if engine == "sqlite" else PostgresWritersTurn(location)
    )
    turn.hold()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            importing = pool.submit(import_alone, location, renamed)
            deadline = time.monotonic() + 60  # only a broken import takes this long
            while not (importing.done() or turn.someone_waits()):
                assert time.monotonic() < deadline, "the import neither waited nor ended"
                time.sleep(0.01)
            assert not importing.done(), f"the import did not wait its turn: {importing}"
            assert database.current_version() == 1  # it waits before it writes anything
            turn.release()
            assert importing.result(60) == ImportResult(version=2, changed=True)
    finally:
        turn.release()
    assert load_snapshot(database).skus["agent.call"].name == "New 智能体调用费"
