"""The server as an operator runs it: a process started by the CLI, stopped by signals.

Also the catalog commands of the CLI, and a graceful drain of the in-process server.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from processes import CLI_TIMEOUT, STOP_TIMEOUT, Launch, cli
from support import SEED, PostgresStorage, item

import rating_server.ledger.sqlite.database
import rating_server.server
import rating_server.servicers.plain_quote
import rating_server.servicers.rating
from rating.v1 import rating_service_pb2, rating_service_pb2_grpc
from rating_server.config import Settings
from rating_server.ledger.sqlite.database import LedgerDatabase
from rating_server.server import RatingServer, freeze_startup_heap


def quote_points(address: str) -> list[str]:
    """Quote the SPEC's 1234 input tokens at ``address``; the lines' points."""
    request = rating_service_pb2.QuoteRequest(items=[item("model.doubao-lite-32k.input", 1234)])
    with grpc.insecure_channel(address) as channel:
        response = rating_service_pb2_grpc.RatingServiceStub(channel).Quote(request, timeout=30)
    assert response.catalog_version == 1
    return [line.points for line in response.lines]


def test_start_line_names_address_database_and_catalog_version_and_the_address_serves_quotes(
    launch: Launch, seeded_db: Path
) -> None:
    server = launch("--db", str(seeded_db), "serve", "--listen", "127.0.0.1:0")
    started = server.wait_started()
    host, port = started["address"].rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0  # the port the OS chose, not the 0 asked for
    assert started["database"] == str(seeded_db)
    assert started["version"] == "1"
    assert quote_points(started["address"]) == ["0.3702"]


def test_env_vars_set_database_and_listen_address_when_flags_are_absent(
    launch: Launch, seeded_db: Path
) -> None:
    server = launch(
        "serve", env={**os.environ, "RATING_DB": str(seeded_db), "RATING_LISTEN": "127.0.0.1:0"}
    )
    started = server.wait_started()
    assert started["database"] == str(seeded_db)
    assert started["address"].startswith("127.0.0.1:")
    assert quote_points(started["address"]) == ["0.3702"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_server_gracefully_with_exit_status_0(
    launch: Launch, seeded_db: Path, signum: signal.Signals
) -> None:
    server = launch("--db", str(seeded_db), "serve", "--listen", "127.0.0.1:0")
    address = server.wait_started()["address"]
    assert quote_points(address) == ["0.3702"]
    server.process.send_signal(signum)
    assert server.wait_exit(timeout=STOP_TIMEOUT) == 0, server.stderr
    server.wait_for_line("rating-server stopping: draining calls", timeout=0)
    assert json.loads(server.stderr.splitlines()[-1])["message"] == "rating-server stopped"
    assert "Traceback" not in server.stderr


def test_second_server_on_a_taken_port_refuses_to_start_and_the_first_keeps_serving(
    launch: Launch, seeded_db: Path
) -> None:
    first = launch("--db", str(seeded_db), "serve", "--listen", "127.0.0.1:0")
    address = first.wait_started()["address"]

    second = launch("--db", str(seeded_db), "serve", "--listen", address)
    assert second.wait_exit(timeout=CLI_TIMEOUT) == 1, second.stderr
    assert f"rating-server cannot start: cannot listen on {address}" in second.stderr
    assert "listening on" not in second.stderr

    assert first.process.poll() is None, first.stderr
    assert quote_points(address) == ["0.3702"]


def test_a_name_is_refused_when_one_of_its_addresses_is_taken_not_served_on_another(
    launch: Launch, seeded_db: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = launch("--db", str(seeded_db), "serve", "--listen", f"localhost:{port}")
        assert server.wait_exit(timeout=CLI_TIMEOUT) == 1, server.stderr
    assert f"cannot listen on localhost:{port}: 127.0.0.1:{port}: " in server.stderr
    assert "listening on" not in server.stderr


def test_serve_on_a_database_without_catalog_exits_1_telling_to_import_one(
    launch: Launch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.db"
    assert cli("--db", str(empty), "catalog", "version", cwd=tmp_path).stdout == "0\n"
    server = launch("--db", str(empty), "serve", "--listen", "127.0.0.1:0")
    assert server.wait_exit(timeout=CLI_TIMEOUT) == 1, server.stderr
    assert "rating-server cannot start" in server.stderr
    assert f"the database {empty} holds no catalog" in server.stderr
    assert "import one first (rating-server catalog import FILE)" in server.stderr
    assert "listening on" not in server.stderr


def test_serve_without_a_database_file_refuses_and_creates_nothing(
    launch: Launch, tmp_path: Path
) -> None:
    missing = tmp_path / "typo.db"
    server = launch("--db", str(missing), "serve", "--listen", "127.0.0.1:0")
    assert server.wait_exit(timeout=CLI_TIMEOUT) == 1, server.stderr
    assert f"there is no database at {missing}: import a catalog first" in server.stderr
    assert "Traceback" not in server.stderr
    assert not missing.exists()


@pytest.mark.parametrize("listen", ["127.0.0.1:99999", "127.0.0.1:65536", "localhost", ":50051"])
def test_an_address_grpc_would_wrap_or_cannot_parse_is_refused(
    launch: Launch, seeded_db: Path, listen: str
) -> None:
    server = launch("--db", str(seeded_db), "serve", "--listen", listen)
    assert server.wait_exit(timeout=CLI_TIMEOUT) == 2, server.stderr
    assert f"--listen) must be host:port, port 0 to 65535, not {listen!r}" in server.stderr
    assert "listening on" not in server.stderr


def test_catalog_import_if_empty_imports_into_a_fresh_database_then_leaves_it_alone(
    tmp_path: Path,
) -> None:
    database = str(tmp_path / "fresh.db")
    assert cli("--db", database, "catalog", "version", cwd=tmp_path).stdout == "0\n"

    first = cli("--db", database, "catalog", "import", "--if-empty", str(SEED), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"{database}: imported {SEED} as catalog version 1\n"

    second = cli("--db", database, "catalog", "import", "--if-empty", str(SEED), cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout == f"{database}: catalog version 1 present; not importing\n"

    version = cli("--db", database, "catalog", "version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout == "1\n"


def test_reimporting_the_same_catalog_changes_nothing(seeded_db: Path, tmp_path: Path) -> None:
    again = cli("--db", str(seeded_db), "catalog", "import", str(SEED), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"{seeded_db}: {SEED} changes nothing; catalog version 1\n"


def _unknown_category(seed: str) -> str:
    bad, count = re.subn(
        r'^category = "model"$', 'category = "hologram"', seed, count=1, flags=re.M
    )
    assert count == 1
    return bad


@pytest.mark.parametrize(
    ("make_file", "complaint"),
    [
        pytest.param(
            lambda _seed: 'schema = 1\n[units\nprice_unit = "',
            "not valid TOML",
            id="invalid-toml",
        ),
        pytest.param(
            _unknown_category,
            # the line of the bad field, the table and the field
            "bad.toml:60: skus[0] (model.doubao-pro-32k.input).category: 'hologram' is not one of",
            id="unknown-category",
        ),
    ],
)
def test_importing_a_malformed_catalog_exits_1_and_changes_nothing(
    seeded_db: Path, tmp_path: Path, make_file: Callable[[str], str], complaint: str
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(make_file(SEED.read_text(encoding="utf-8")), encoding="utf-8")

    result = cli("--db", str(seeded_db), "catalog", "import", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("catalog import failed, nothing changed: ")
    assert complaint in result.stderr

    version = cli("--db", str(seeded_db), "catalog", "version", cwd=tmp_path)
    assert version.stdout == "1\n"


def test_the_cli_on_a_damaged_database_says_so_in_one_line_and_exits_1(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database, not any more " * 64)
    for command in (
        ("catalog", "import", str(SEED)),
        ("catalog", "version"),
        ("ledger", "check"),
    ):
        result = cli("--db", str(damaged), *command, cwd=tmp_path)
        assert result.returncode == 1, command
        assert result.stdout == "", command
        assert result.stderr.count("\n") == 1, result.stderr
        assert "file is not a database" in result.stderr, command
        assert str(damaged) in result.stderr, command


def test_an_idle_server_stops_at_once_without_waiting_out_its_grace_period(
    seeded_db: Path,
) -> None:
    # A grace period no test waits for: stop() returning at all shows it did not.
    server = RatingServer(
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
    monkeypatch.setattr(rating_server.servicers.plain_quote, "quote", lambda *_args: None)
    server = RatingServer(Settings(listen="127.0.0.1:0", db_path=str(seeded_db)))
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


def test_freezing_the_startup_heap_collects_its_garbage_and_keeps_the_rest_out_of_gc() -> None:
    class Node:
        other: Node | None = None

    garbage, kept = Node(), Node()
    garbage.other = garbage  # a cycle: only the collector frees it
    gone = weakref.ref(garbage)
    del garbage
    frozen_before = gc.get_freeze_count()
    try:
        freeze_startup_heap()

        assert gone() is None
        assert gc.get_freeze_count() > frozen_before
        assert kept not in gc.get_objects()  # frozen objects are in no generation
    finally:
        gc.unfreeze()


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

    monkeypatch.setattr(rating_server.ledger.sqlite.database, "connect", read_only)
    monkeypatch.setattr(rating_server.server, "StopSignals", _Stopped)  # never wait
    caplog.set_level(logging.INFO, logger="rating_server")
    settings = Settings(listen="127.0.0.1:0", db_path=str(seeded_db))
    assert rating_server.server.serve(settings) == 1
    assert [record.getMessage() for record in caplog.records] == [
        f"rating-server cannot start: cannot write the database {seeded_db}: "
        "attempt to write a readonly database"
    ]


def test_serve_on_a_postgresql_database_that_takes_no_writes_exits_1_saying_so_in_one_line(
    postgres_seeded: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A standby, or a database set read-only: it answers reads, and takes no writes.
    PostgresStorage(postgres_seeded).refuse_writes()
    monkeypatch.setattr(rating_server.server, "StopSignals", _Stopped)  # never wait
    caplog.set_level(logging.INFO, logger="rating_server")
    settings = Settings(listen="127.0.0.1:0", db_path=postgres_seeded)
    assert rating_server.server.serve(settings) == 1
    assert [record.getMessage() for record in caplog.records] == [
        f"rating-server cannot start: cannot write the database {settings.database}: "
        "cannot execute the write probe in a read-only transaction"
    ]
