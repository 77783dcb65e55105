"""What the tests of the real server in this process share: a channel to the ``server``
fixture's server and the stubs of its services, and new databases for a module's own
long-lived servers. Every test here is marked ``wire``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from support import NewDatabase, mark_folder, seeded_database

from rating.v1 import (
    account_service_pb2_grpc,
    catalog_service_pb2_grpc,
    rating_service_pb2_grpc,
)
from rating_server.server import RatingServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_folder(items, Path(__file__).parent, pytest.mark.wire)


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
def channel(server: RatingServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.address) as opened:
        yield opened


@pytest.fixture
def rating(channel: grpc.Channel) -> rating_service_pb2_grpc.RatingServiceStub:
    return rating_service_pb2_grpc.RatingServiceStub(channel)


@pytest.fixture
def catalog(channel: grpc.Channel) -> catalog_service_pb2_grpc.CatalogServiceStub:
    return catalog_service_pb2_grpc.CatalogServiceStub(channel)


@pytest.fixture
def account_service(channel: grpc.Channel) -> account_service_pb2_grpc.AccountServiceStub:
    return account_service_pb2_grpc.AccountServiceStub(channel)
