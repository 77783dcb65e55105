from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import grpc
import pytest
from processes import Launch, ServerProcess
from support import SEED, LedgerStorage, running, seeded_database

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


@pytest.fixture
def seeded_db(tmp_path: Path) -> Path:
    """A database file holding the seed catalog as version 1."""
    return seeded_database(tmp_path / "rating.db")


@pytest.fixture
def server(seeded_db: Path) -> Iterator[RatingServer]:
    """The real server, in this process, on a free port of 127.0.0.1."""
    with running(Settings(listen="127.0.0.1:0", db_path=str(seeded_db))) as started:
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
def ledger(seeded_db: Path) -> Iterator[LedgerStore]:
    """The ledger in the seeded database, used directly (no gRPC)."""
    opened = open_ledger(seeded_db)
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
def storage(monkeypatch: pytest.MonkeyPatch) -> LedgerStorage:
    """The connections of every ledger opened from now on, to make its writes fail."""
    stand_in = LedgerStorage()
    monkeypatch.setattr(ledger_database, "connect", stand_in.connect)
    return stand_in
