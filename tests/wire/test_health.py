"""Health: ``grpc.health.v1.Health/List`` answers every service's status, as
Check does, over the wire and without a traceback in the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support import LedgerStorage, running, seeded_database

from rating_server.config import Settings
from rating_server.domain_errors import StorageUnavailableError
from rating_server.server import SERVICE_NAMES, RatingServer

TIMEOUT = 30
ServingStatus = health_pb2.HealthCheckResponse.ServingStatus


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RatingServer]:
    """The real server, on SQLite: health is the same on every engine."""
    settings = Settings(listen="127.0.0.1:0", db_path=str(seeded_database(tmp_path / "r.db")))
    with running(settings) as started:
        yield started


def listed(server: RatingServer) -> dict[str, str]:
    with grpc.insecure_channel(server.address) as channel:
        answer = health_pb2_grpc.HealthStub(channel).List(
            health_pb2.HealthListRequest(), timeout=TIMEOUT
        )
    return {name: ServingStatus.Name(health.status) for name, health in answer.statuses.items()}


def checked(server: RatingServer, service: str) -> str:
    with grpc.insecure_channel(server.address) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT
        )
    return ServingStatus.Name(answer.status)


def test_health_list_answers_the_server_and_every_rating_service_serving_without_a_traceback(
    server: RatingServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        statuses = listed(server)
    assert statuses == {
        "": "SERVING",
        "rating.v1.AccountService": "SERVING",
        "rating.v1.CatalogService": "SERVING",
        "rating.v1.RatingService": "SERVING",
    }
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.mark.sqlite_only
def test_health_list_says_the_writers_do_not_serve_while_the_database_takes_no_writes(
    storage: LedgerStorage, database: str
) -> None:
    with running(Settings(listen="127.0.0.1:0", db_path=database)) as server:
        storage.refuse_writes()
        with pytest.raises(StorageUnavailableError):
            server.ledger.probe()  # what the server's probe does every second
        statuses = listed(server)
        assert statuses == {
            "": "NOT_SERVING",
            "rating.v1.AccountService": "NOT_SERVING",
            "rating.v1.CatalogService": "SERVING",
            "rating.v1.RatingService": "NOT_SERVING",
        }
        assert statuses == {name: checked(server, name) for name in ("", *SERVICE_NAMES)}
        storage.refuse_writes(False)
        server.ledger.probe()
        assert set(listed(server).values()) == {"SERVING"}


def test_health_list_says_nothing_serves_once_the_server_shuts_down_gracefully(
    server: RatingServer,
) -> None:
    server.health.enter_graceful_shutdown()  # the first thing stop() does
    server.health.set("rating.v1.RatingService", health_pb2.HealthCheckResponse.SERVING)
    statuses = listed(server)
    assert statuses == dict.fromkeys(("", *SERVICE_NAMES), "NOT_SERVING")
    assert statuses == {name: checked(server, name) for name in statuses}
