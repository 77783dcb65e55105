"""The fake server and the clients connected to it, for every test of the client."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from rating import RatingClient
from rating.v1 import (
    account_service_pb2_grpc,
    catalog_service_pb2_grpc,
    rating_service_pb2_grpc,
)

from .fake import Fake, FakeAccountService, FakeCatalogService, FakeRatingService, connect

# Fixtures.


@pytest.fixture
def fake() -> Iterator[Fake]:
    fake = Fake()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    rating_service_pb2_grpc.add_RatingServiceServicer_to_server(FakeRatingService(fake), server)
    account_service_pb2_grpc.add_AccountServiceServicer_to_server(FakeAccountService(fake), server)
    catalog_service_pb2_grpc.add_CatalogServiceServicer_to_server(FakeCatalogService(fake), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    fake.target = f"127.0.0.1:{port}"
    yield fake
    fake.released.set()
    server.stop(grace=None).wait()


@pytest.fixture
def client(fake: Fake) -> Iterator[RatingClient]:
    with connect(fake) as opened:
        yield opened
