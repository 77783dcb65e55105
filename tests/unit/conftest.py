"""What the unit tests share: the seed catalog in memory and the ledger used directly
(no gRPC). Every test here is marked ``unit``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import SEED, mark_folder

from rating_server.catalog.imports import import_file
from rating_server.catalog.model import CatalogSnapshot
from rating_server.catalog.snapshots import load_snapshot
from rating_server.catalog.stores import open_catalog
from rating_server.ledger.store import LedgerStore
from rating_server.ledger.stores import open_ledger


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_folder(items, Path(__file__).parent, pytest.mark.unit)


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
