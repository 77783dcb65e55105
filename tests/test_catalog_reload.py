"""A catalog import reaches the running server with no restart, one snapshot per batch."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import NOON, item

from rating.v1 import rating_service_pb2
from rating_server.catalog.imports import import_file
from rating_server.catalog.model import CatalogError
from rating_server.catalog.stores import open_catalog
from rating_server.config import Settings
from rating_server.server import RatingServer

CATALOG = """
schema = 1
[units.call]
price_unit = 1
label = "call"
[plans.basic]
daily_free_points = "500"
free_storage_bytes = 10737418240
[[skus]]
id = "agent.call"
name = "智能体调用费"
category = "agent"
unit = "call"
billed_by = "coze"
aliases = ["智能体调用费"]
prices = [{{ effective_from = {start}, points = "{points}" }}]
"""


# The imports below happen "at" this instant, so prices from 2026 on are new ones
# and may be added (a SKU's new price never starts before its import).
IMPORTED_AT = datetime(2025, 12, 31, tzinfo=UTC)


def import_text(db_path: str, tmp_path: Path, text: str) -> int:
    source = tmp_path / "change.toml"
    source.write_text(text, encoding="utf-8")
    store = open_catalog(db_path)
    try:
        return import_file(store, source, now=IMPORTED_AT).version
    finally:
        store.close()


def quote_calls(rating, count: int, **fields) -> rating_service_pb2.QuoteResponse:
    request = rating_service_pb2.QuoteRequest(items=[item("agent.call", 1, **fields)] * count)
    return rating.Quote(request, timeout=30)


# Generous: a loaded 2-core machine may be slow, but never this slow. How soon a new
# version is served is the poll interval's matter (proved without a clock below).
WAIT = 60.0


def wait_for_version(rating, version: int) -> None:
    give_up = time.monotonic() + WAIT
    while quote_calls(rating, 1).catalog_version != version:
        assert time.monotonic() < give_up, f"catalog version {version} never arrived"
        time.sleep(0.02)


class Polls:
    """Stands in for the catalog watcher's stop event, whose wait is its timer: the
    intervals it was asked to wait, and each wait lets one poll happen, ``count`` times,
    then stops the watcher. No time passes."""

    def __init__(self, count: int) -> None:
        self.intervals: list[float] = []
        self._count = count

    def wait(self, timeout: float) -> bool:
        self.intervals.append(timeout)
        return len(self.intervals) > self._count

    def set(self) -> None:
        pass


def test_the_server_watches_the_catalog_every_0_2_s_and_serves_a_new_version_on_the_next_poll(
    database: str, tmp_path: Path
) -> None:
    server = RatingServer(Settings(listen="127.0.0.1:0", db_path=database))
    try:
        polls = Polls(count=1)
        server.catalog._stop = polls  # type: ignore[assignment]
        text = CATALOG.format(start="2026-11-27T04:00:00Z", points="3")
        assert import_text(database, tmp_path, text) == 2
        assert server.catalog.snapshot.version == 1
        server.catalog.start()
        server.catalog.close()  # once the watcher has had its one poll
        assert server.catalog.snapshot.version == 2
        assert polls.intervals == [0.2, 0.2]  # the README's "every 0.2 s"
    finally:
        server.stop(grace=0)


def test_a_new_price_version_is_used_after_its_effective_from_without_a_restart(
    rating, database: str, tmp_path: Path
) -> None:
    text = CATALOG.format(start="2026-11-27T04:00:00Z", points="3")
    assert import_text(database, tmp_path, text) == 2
    wait_for_version(rating, 2)
    before = quote_calls(rating, 1, occurred_at=NOON - timedelta(microseconds=1))
    after = quote_calls(rating, 1, occurred_at=NOON)
    assert (before.lines[0].unit_price, before.lines[0].points) == ("2", "2")
    assert (after.lines[0].unit_price, after.lines[0].points) == ("3", "3")
    assert after.lines[0].price_effective_from.ToDatetime().isoformat() == "2026-11-27T04:00:00"


def test_a_refused_import_leaves_the_serving_catalog_as_it_was(
    server: RatingServer, rating, database: str, tmp_path: Path
) -> None:
    broken = CATALOG.format(start="1970-01-01T00:00:00Z", points="9")  # rewrites history
    with pytest.raises(CatalogError):
        import_text(database, tmp_path, broken)
    assert server.catalog.refresh() is False  # what the watcher's next poll does
    response = quote_calls(rating, 1)
    assert (response.catalog_version, response.total_points) == (1, "2")


def test_every_batch_is_rated_against_one_catalog_version_while_imports_land(
    rating, database: str, tmp_path: Path
) -> None:
    # Version v (from 2 on) prices an agent call at v + 1 points from an instant
    # before NOON; the seed (version 1) at 2.
    stop = threading.Event()
    failures: list[BaseException] = []
    seen: set[int] = set()
    served = threading.Condition()

    def importer() -> None:
        try:
            for version in range(2, 12):
                start = f"2026-01-{version:02d}T00:00:00Z"
                text = CATALOG.format(start=start, points=version + 1)
                assert import_text(database, tmp_path / f"v{version}", text) == version
                # The next import only once a batch was rated with this version: every
                # version lands while batches are being rated, however slow the machine.
                with served:
                    arrived = served.wait_for(lambda v=version: v in seen, WAIT)
                assert arrived, f"catalog version {version} never served"
        except BaseException as error:  # surfaced below
            failures.append(error)
        finally:
            stop.set()

    for version in range(2, 12):
        (tmp_path / f"v{version}").mkdir()
    thread = threading.Thread(target=importer, daemon=True)
    thread.start()
    while not stop.is_set():
        response = quote_calls(rating, 2000)
        unit_prices = {line.unit_price for line in response.lines}
        version = response.catalog_version
        expected = "2" if version == 1 else str(version + 1)
        assert unit_prices == {expected}, (version, unit_prices)
        with served:
            seen.add(version)
            served.notify_all()
    thread.join()
    assert not failures
    assert seen >= set(range(2, 12))
    assert quote_calls(rating, 1).total_points == "12"
