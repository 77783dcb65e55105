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


def import_text(db_path: Path, tmp_path: Path, text: str) -> int:
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


def wait_for_version(rating, version: int, limit: float = 5.0) -> float:
    started = time.monotonic()
    while quote_calls(rating, 1).catalog_version != version:
        assert time.monotonic() - started < limit, f"catalog version {version} never arrived"
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_new_price_version_is_used_after_its_effective_from_without_a_restart(
    rating, seeded_db: Path, tmp_path: Path
) -> None:
    text = CATALOG.format(start="2026-11-27T04:00:00Z", points="3")
    assert import_text(seeded_db, tmp_path, text) == 2
    waited = wait_for_version(rating, 2)
    assert waited < 3.0  # the server polls every 0.2 s; generous for a loaded machine
    before = quote_calls(rating, 1, occurred_at=NOON - timedelta(microseconds=1))
    after = quote_calls(rating, 1, occurred_at=NOON)
    assert (before.lines[0].unit_price, before.lines[0].points) == ("2", "2")
    assert (after.lines[0].unit_price, after.lines[0].points) == ("3", "3")
    assert after.lines[0].price_effective_from.ToDatetime().isoformat() == "2026-11-27T04:00:00"


def test_a_refused_import_leaves_the_serving_catalog_as_it_was(
    rating, seeded_db: Path, tmp_path: Path
) -> None:
    broken = CATALOG.format(start="1970-01-01T00:00:00Z", points="9")  # rewrites history
    with pytest.raises(CatalogError):
        import_text(seeded_db, tmp_path, broken)
    time.sleep(0.5)
    response = quote_calls(rating, 1)
    assert (response.catalog_version, response.total_points) == (1, "2")


def test_every_batch_is_rated_against_one_catalog_version_while_imports_land(
    rating, seeded_db: Path, tmp_path: Path
) -> None:
    # Version v (from 2 on) prices an agent call at v + 1 points from an instant
    # before NOON; the seed (version 1) at 2.
    stop = threading.Event()
    failures: list[BaseException] = []

    def importer() -> None:
        try:
            for version in range(2, 12):
                start = f"2026-01-{version:02d}T00:00:00Z"
                text = CATALOG.format(start=start, points=version + 1)
                assert import_text(seeded_db, tmp_path / f"v{version}", text) == version
                time.sleep(0.05)
        except BaseException as error:  # surfaced below
            failures.append(error)
        finally:
            stop.set()

    for version in range(2, 12):
        (tmp_path / f"v{version}").mkdir()
    thread = threading.Thread(target=importer)
    thread.start()
    seen = set()
    while not stop.is_set():
        response = quote_calls(rating, 2000)
        unit_prices = {line.unit_price for line in response.lines}
        version = response.catalog_version
        expected = "2" if version == 1 else str(version + 1)
        assert unit_prices == {expected}, (version, unit_prices)
        seen.add(version)
    thread.join()
    assert not failures
    wait_for_version(rating, 11)
    assert quote_calls(rating, 1).total_points == "12"
    assert len(seen) >= 2
