"""The server in this process (``server.py``, ``serving.py``): a graceful drain when it
stops, and a start on a database it cannot write refused in one line."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from processes import STOP_TIMEOUT
from support import PostgresStorage, item

import rating_server.ledger.sqlite.database
import rating_server.servicers.plain_quote
import rating_server.servicers.rating
import rating_server.serving
from rating.v1 import rating_service_pb2, rating_service_pb2_grpc
from rating_server.config import Settings
from rating_server.ledger.sqlite.database import LedgerDatabase
from rating_server.server import create_server


def quote_points(address: str) -> list[str]:
    """Quote the pricing page's example, 1234 input tokens, at ``address``; the lines' points."""
    request = rating_service_pb2.QuoteRequest(items=[item("model.doubao-lite-32k.input", 1234)])
    with grpc.insecure_channel(address) as channel:
        response = rating_service_pb2_grpc.RatingServiceStub(channel).Quote(request, timeout=30)
    assert response.catalog_version == 1
    return [line.points for line in response.lines]


def test_an_idle_server_stops_at_once_without_waiting_out_its_grace_period(
    seeded_db: Path,
) -> None:
    # A grace period no test waits for: stop() returning at all shows it did not.
    server = create_server(
        Settings(listen="127.0.0.1:0", db_path=str(seeded_db), grace_seconds=DRAIN_GRACE)
    )
    server.start()
    assert quote_points(server.address) == ["0.3702"]
    stopper = threading.Thread(target=server.stop, name="stopper", daemon=True)
    stopper.start()
    stopper.join(STOP_TIMEOUT)
    assert not stopper.is_alive(), "stop() waited for its grace period with no call in flight"


# How grpcio refuses a new call once server.stop() has begun: it cancels it, or the
# client finds the listener closed.
REFUSED = (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
# Longer than any test runs: a call cancelled by the end of the grace period, or a
# stop() that waited for it, is then a failure, never a slow machine's luck.
DRAIN_GRACE = 3600.0
# Generous: a loaded 2-core machine may be slow, but never this slow.
CALL_TIMEOUT = 30.0


def wire_health(health: health_pb2_grpc.HealthStub) -> str:
    """The server's overall health over the wire: SERVING, NOT_SERVING or refused."""
    try:
        response = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=CALL_TIMEOUT)
    except grpc.RpcError as error:
        assert error.code() in REFUSED, error  # type: ignore[attr-defined]
        return "refused"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def test_stop_turns_health_not_serving_and_lets_the_in_flight_quote_finish(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_rate_batch = rating_server.servicers.rating.rate_batch
    in_flight = threading.Event()
    release = threading.Event()

    def held_rate_batch(*args: object, **kwargs: object) -> object:
        in_flight.set()
        # Held until the test has seen the server stopping, so the order of events
        # never depends on timing; the timeout only guards a broken test.
        release.wait(DRAIN_GRACE)
        return real_rate_batch(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rating_server.servicers.rating, "rate_batch", held_rate_batch)
    # Plain quotes skip rate_batch (plain_quote): this one takes the general path.
    quoter = rating_server.servicers.plain_quote.PlainQuoter
    monkeypatch.setattr(quoter, "quote", lambda *_args: None)
    server = create_server(Settings(listen="127.0.0.1:0", db_path=str(seeded_db)))
    server.start()
    stopper = threading.Thread(target=server.stop, kwargs={"grace": DRAIN_GRACE}, name="stopper")
    request = rating_service_pb2.QuoteRequest(
        items=[
            item("model.doubao-lite-32k.input", 1234, usage_id="a"),
            item("speech.asr.streaming", 90500, usage_id="b"),
        ]
    )
    quoting = grpc.insecure_channel(server.address)
    checking = grpc.insecure_channel(server.address)
    try:
        health = health_pb2_grpc.HealthStub(checking)
        assert wire_health(health) == "SERVING"

        call = rating_service_pb2_grpc.RatingServiceStub(quoting).Quote.future(
            request, timeout=DRAIN_GRACE
        )
        assert in_flight.wait(STOP_TIMEOUT), "the Quote never reached rate_batch"

        give_up = time.monotonic() + STOP_TIMEOUT
        stopper.start()
        # Until stop() has begun, Check says SERVING; then NOT_SERVING, and once the
        # gRPC server takes no new RPCs, the call is refused (grpcio cancels it).
        seen = [wire_health(health)]
        while seen[-1] != "refused":
            # Well inside the grace, so the held call cannot have been cancelled yet.
            assert time.monotonic() < give_up, f"never refused; health was {seen}"
            time.sleep(0.01)
            seen.append(wire_health(health))
        # Once it left SERVING it never came back.
        left = next(index for index, state in enumerate(seen) if state != "SERVING")
        assert "SERVING" not in seen[left:], seen
        # The health servicer itself reports NOT_SERVING for the server and for every
        # service, so load balancers stop routing here.
        for service in ("", "rating.v1.RatingService", "rating.v1.CatalogService"):
            reported = server.health.Check(health_pb2.HealthCheckRequest(service=service), None)
            assert reported.status == health_pb2.HealthCheckResponse.NOT_SERVING, service
        # New Quotes are refused too while the drain goes on.
        with pytest.raises(grpc.RpcError) as refused_quote:
            rating_service_pb2_grpc.RatingServiceStub(checking).Quote(request, timeout=CALL_TIMEOUT)
        assert refused_quote.value.code() in REFUSED  # type: ignore[attr-defined]

        # The drain waits for the held call: neither it nor stop() has finished.
        assert not call.done()
        assert stopper.is_alive()

        release.set()
        response = call.result(timeout=CALL_TIMEOUT)
        assert [line.usage_id for line in response.lines] == ["a", "b"]
        assert [line.points for line in response.lines] == ["0.3702", "113.125"]
        assert response.total_points == "113.4952"
        assert response.catalog_version == 1

        stopper.join(STOP_TIMEOUT)
        assert not stopper.is_alive(), "stop() did not return once the call finished"
    finally:
        release.set()
        quoting.close()
        checking.close()
        if stopper.is_alive():
            stopper.join(STOP_TIMEOUT)
        elif stopper.ident is None:
            server.stop(grace=0)


class _Stopped:
    """Stands for StopSignals with a SIGTERM already received."""

    def wait(self, timeout: float) -> bool:
        return True


@pytest.mark.parametrize("ledger_made", [False, True], ids=["fresh", "ledger-made"])
def test_serve_on_a_database_it_cannot_write_exits_1_saying_so_in_one_line(
    seeded_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    ledger_made: bool,
) -> None:
    if ledger_made:  # its tables made, so only a write finds the database read-only
        LedgerDatabase(seeded_db).close()

    def read_only(path: str | Path, create: bool = True) -> sqlite3.Connection:
        # How SQLite opens a file it may read but not write (chmod does not stop root).
        uri = Path(path).absolute().as_uri() + "?mode=ro"
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)

    monkeypatch.setattr(rating_server.ledger.sqlite.database, "open_ledger_connection", read_only)
    monkeypatch.setattr(rating_server.serving, "StopSignals", _Stopped)  # never wait
    caplog.set_level(logging.INFO, logger="rating_server")
    settings = Settings(listen="127.0.0.1:0", db_path=str(seeded_db))
    assert rating_server.serving.serve(settings) == 1
    assert [record.getMessage() for record in caplog.records] == [
        f"rating-server cannot start: cannot write the database {seeded_db}: "
        "attempt to write a readonly database"
    ]


def test_serve_on_a_postgresql_database_that_takes_no_writes_exits_1_saying_so_in_one_line(
    postgres_seeded: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A standby, or a database set read-only: it answers reads, and takes no writes.
    PostgresStorage(postgres_seeded).refuse_writes()
    monkeypatch.setattr(rating_server.serving, "StopSignals", _Stopped)  # never wait
    caplog.set_level(logging.INFO, logger="rating_server")
    settings = Settings(listen="127.0.0.1:0", db_path=postgres_seeded)
    assert rating_server.serving.serve(settings) == 1
    assert [record.getMessage() for record in caplog.records] == [
        f"rating-server cannot start: cannot write the database {settings.database}: "
        "cannot execute the write probe in a read-only transaction"
    ]
