"""``create_server`` builds a server bound to its address and not yet serving;
``RatingServer.start`` serves it, and ``stop`` drains its calls, then closes what it
opened. A step that fails leaves nothing open."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support import seeded_database

from rating.v1 import rating_service_pb2, rating_service_pb2_grpc
from rating_server import ports
from rating_server.config import Settings
from rating_server.ledger.sqlite import database as ledger_database
from rating_server.server import RatingServer, StartupError, create_server
from rating_server.servicers.rating import RatingServicer

#: Generous: a loaded 2-core machine may be slow, but never this slow.
TIMEOUT = 30.0
#: How long a call waits on a server that is bound but not serving: it gets no answer.
UNANSWERED = 1.0
CHECK = health_pb2.HealthCheckRequest(service="")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(listen="127.0.0.1:0", db_path=str(seeded_database(tmp_path / "r.db")))


@pytest.fixture
def built(settings: Settings) -> Iterator[RatingServer]:
    server = create_server(settings)
    try:
        yield server
    finally:
        server.stop(grace=0)


def _threads_named(name: str) -> int:
    return sum(thread.name == name and thread.is_alive() for thread in threading.enumerate())


def test_a_created_server_holds_its_port_and_answers_no_call_until_started(
    built: RatingServer,
) -> None:
    assert built.port > 0  # port 0: the system's choice, claimed and bound already
    with pytest.raises(ports.ListenError):  # no other server may have it meanwhile
        ports.claim(built.address)
    with grpc.insecure_channel(built.address) as channel:
        with pytest.raises(grpc.RpcError) as unanswered:
            health_pb2_grpc.HealthStub(channel).Check(CHECK, timeout=UNANSWERED)
        assert unanswered.value.code() in (  # type: ignore[attr-defined]
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.UNAVAILABLE,
        )

    built.start()

    with grpc.insecure_channel(built.address) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(CHECK, timeout=TIMEOUT)
        limits = rating_service_pb2_grpc.RatingServiceStub(channel).GetLimits(
            rating_service_pb2.GetLimitsRequest(), timeout=TIMEOUT
        )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert limits.max_message_bytes == built.settings.max_message_bytes


def test_stop_lets_the_call_in_flight_finish_then_closes_and_frees_the_address(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    answer_limits = RatingServicer.GetLimits

    def held(
        self: RatingServicer,
        request: rating_service_pb2.GetLimitsRequest,
        context: grpc.ServicerContext,
    ) -> rating_service_pb2.GetLimitsResponse:
        entered.set()
        release.wait(TIMEOUT)  # the timeout only guards a broken test
        return answer_limits(self, request, context)

    monkeypatch.setattr(RatingServicer, "GetLimits", held)  # before the services are added
    server = create_server(settings)
    server.start()
    stopper = threading.Thread(target=server.stop, kwargs={"grace": TIMEOUT}, name="stopper")
    with grpc.insecure_channel(server.address) as channel:
        call = rating_service_pb2_grpc.RatingServiceStub(channel).GetLimits.future(
            rating_service_pb2.GetLimitsRequest(), timeout=TIMEOUT
        )
        try:
            assert entered.wait(TIMEOUT), "the call never reached the servicer"
            stopper.start()
            stopper.join(0.2)
            assert stopper.is_alive(), "stop() returned with a call in flight"
            assert not call.done()
        finally:
            release.set()
        assert call.result(timeout=TIMEOUT).max_message_bytes > 0  # it finished, answered
    stopper.join(TIMEOUT)
    assert not stopper.is_alive(), "stop() did not return once the call finished"
    status = server.health.Check(CHECK, None).status
    assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    ports.claim(server.address).close()  # the address is free again
    server.stop()  # a second stop does nothing


def _read_only(path: str | Path, create: bool = True) -> sqlite3.Connection:
    """How SQLite opens a file it may read but not write (chmod does not stop root)."""
    uri = Path(path).absolute().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)


@pytest.mark.parametrize("failing", ["ledger", "address"])
def test_a_step_that_fails_leaves_nothing_it_opened_open(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    access_logs = _threads_named("access-log")
    with contextlib.ExitStack() as undo:
        if failing == "ledger":  # the catalog, tracing and the access log are open by then
            with monkeypatch.context() as patched:
                patched.setattr(ledger_database, "open_ledger_connection", _read_only)
                with pytest.raises(StartupError, match="cannot write the database"):
                    create_server(settings)
        else:  # every step done but the address's claim
            taken = ports.claim(settings.listen)
            undo.callback(taken.close)
            occupied = dataclasses.replace(settings, listen=taken.address)
            with pytest.raises(StartupError, match=taken.address):
                create_server(occupied)
    assert _threads_named("access-log") == access_logs
    # The database is left neither locked nor half open: a server on it serves.
    again = create_server(settings)
    try:
        again.start()
        with grpc.insecure_channel(again.address) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(CHECK, timeout=TIMEOUT)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        again.stop(grace=0)
