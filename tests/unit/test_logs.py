"""The server's log (``logs``): one JSON object per line on stderr, the call's request id
(its x-request-id, else the server's) on the call's lines and echoed to the caller, a
traceback inside its line.

A server process's stderr is read as an operator's log pipeline reads it (every line
through json.loads); the call that fails for a fault of ours runs in this process, where
a method can be made to raise."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from processes import Launch
from support import item

from rating.v1 import (
    catalog_service_pb2,
    catalog_service_pb2_grpc,
    rating_service_pb2,
    rating_service_pb2_grpc,
)
from rating_server import logs
from rating_server.config import Settings
from rating_server.server import RatingServer
from rating_server.servicers.catalog import CatalogServicer

RPC_TIMEOUT = 30.0
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
#: A request id the server made.
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
QUOTE = rating_service_pb2.QuoteRequest(items=[item("model.doubao-lite-32k.input", 1234)])


def lines_of(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as JSON: a line that is not one fails the test."""
    parsed = [json.loads(line) for line in text.splitlines()]
    for line in parsed:
        assert isinstance(line, dict), line
        assert {"time", "level", "logger", "message"} <= set(line), line
        assert TIME.fullmatch(line["time"]), line
    return parsed


def echoed(metadata: Any) -> list[str]:
    return [value for key, value in metadata or () if key == "x-request-id"]


@pytest.mark.parametrize(
    "sent",
    ["", "x" * 129, "trace 42", "trace\t42", "trace\x0142", "trace-é"],
    ids=["empty", "too-long", "space", "tab", "control", "not-ascii"],
)
def test_an_x_request_id_that_is_not_a_plain_id_is_replaced_by_the_servers(sent: str) -> None:
    made = logs.request_id_of((("x-request-id", sent),))
    assert UUID.fullmatch(made), made
    assert made != logs.request_id_of((("x-request-id", sent),))  # one for each call


def test_the_callers_x_request_id_is_the_calls_request_id_else_the_server_makes_one() -> None:
    assert logs.request_id_of((("a", "b"), ("x-request-id", "Trace-42_a.b:c/d"))) == (
        "Trace-42_a.b:c/d"
    )
    assert logs.request_id_of((("x-request-id", "x" * 128),)) == "x" * 128
    assert logs.request_id_of((("x-request-id", "first"), ("x-request-id", "second"))) == "first"
    assert UUID.fullmatch(logs.request_id_of(()))


def test_a_record_is_one_json_line_with_its_traceback_and_the_running_calls_request_id() -> None:
    formatter = logs.JsonFormatter()
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        failed = logging.LogRecord(
            "rating_server", logging.ERROR, __file__, 1, "it failed: %s", ("why",), sys.exc_info()
        )
    token = logs.REQUEST_ID.set("trace-7")
    try:
        line = formatter.format(failed)
    finally:
        logs.REQUEST_ID.reset(token)
    plain = logging.LogRecord("rating_server", logging.INFO, __file__, 1, 'say "é"', None, None)

    assert "\n" not in line
    entry = json.loads(line)
    assert list(entry) == ["time", "level", "logger", "message", "request_id", "exception"]
    assert TIME.fullmatch(entry["time"])
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "ERROR",
        "rating_server",
        "it failed: why",
    )
    assert entry["request_id"] == "trace-7"
    assert entry["exception"].startswith("Traceback (most recent call last):\n")
    assert entry["exception"].endswith("ZeroDivisionError: division by zero")
    # Outside a call, a line has no request_id.
    assert json.loads(formatter.format(plain)) == {
        "time": logs.rfc3339(plain.created),
        "level": "INFO",
        "logger": "rating_server",
        "message": 'say "é"',
    }


def test_rfc3339_is_utc_to_the_millisecond() -> None:
    assert logs.rfc3339(0.0) == "1970-01-01T00:00:00.000Z"
    assert logs.rfc3339(1_795_842_226.9541) == "2026-11-28T05:03:46.954Z"


def test_a_server_process_logs_only_json_lines_and_echoes_each_calls_request_id(
    launch: Launch, seeded_db: Path
) -> None:
    server = launch("--db", str(seeded_db), "serve", "--listen", "127.0.0.1:0")
    address = server.wait_started()["address"]
    with grpc.insecure_channel(address) as channel:
        stub = rating_service_pb2_grpc.RatingServiceStub(channel)
        _, ok = stub.Quote.with_call(
            QUOTE, metadata=(("x-request-id", "trace-ok"),), timeout=RPC_TIMEOUT
        )
        with pytest.raises(grpc.RpcError) as refused:
            stub.Quote(
                rating_service_pb2.QuoteRequest(items=[item("no.such.sku", 1)]),
                metadata=(("x-request-id", "trace-refused"),),
                timeout=RPC_TIMEOUT,
            )
        bad = "trace-" + "x" * 200
        _, replaced = stub.Quote.with_call(
            QUOTE, metadata=(("x-request-id", bad),), timeout=RPC_TIMEOUT
        )
        _, anonymous = stub.Quote.with_call(QUOTE, timeout=RPC_TIMEOUT)
    assert server.terminate() == 0, server.stderr

    # The caller's x-request-id comes back, on a failed call too.
    assert echoed(ok.trailing_metadata()) == ["trace-ok"]
    error: Any = refused.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert echoed(error.trailing_metadata()) == ["trace-refused"]
    # One that is no plain id is never echoed: the server's own comes back instead.
    [made] = echoed(replaced.trailing_metadata())
    [other] = echoed(anonymous.trailing_metadata())
    assert UUID.fullmatch(made) and UUID.fullmatch(other) and made != other
    assert bad not in server.stderr and "x" * 100 not in server.stderr

    lines = lines_of(server.stderr)
    messages = [line["message"] for line in lines if line["logger"] == "rating_server"]
    assert messages[0].startswith("rating-server listening on 127.0.0.1:")
    assert messages[-2:] == [
        "rating-server stopping: draining calls for up to 10.0s",
        "rating-server stopped",
    ]
    access = [line for line in lines if line["logger"] == "rating_server.access"]
    assert [(line["request_id"], line["code"]) for line in access] == [
        ("trace-ok", "OK"),
        ("trace-refused", "INVALID_ARGUMENT"),
        (made, "OK"),
        (other, "OK"),
    ]
    assert access[0]["message"] == "/rating.v1.RatingService/Quote OK"
    assert access[0]["level"] == "INFO"


def test_an_uncaught_exception_is_a_json_line_with_its_traceback_inside() -> None:
    program = (
        "import threading\n"
        "from rating_server import logs\n"
        "logs.configure()\n"
        "def fail():\n"
        "    raise ValueError('in a thread')\n"
        "thread = threading.Thread(target=fail, name='worker-x')\n"
        "thread.start()\n"
        "thread.join()\n"
        "raise RuntimeError('at the top')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 1
    in_thread, top = lines_of(done.stderr)
    assert in_thread["message"] == "uncaught ValueError in thread worker-x: in a thread"
    assert in_thread["level"] == "ERROR"
    assert in_thread["exception"].endswith("ValueError: in a thread")
    assert top["message"] == "uncaught RuntimeError: at the top"
    assert top["level"] == "CRITICAL"
    assert "Traceback (most recent call last):" in top["exception"]
    assert top["exception"].endswith("RuntimeError: at the top")


@pytest.fixture
def failing_server(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RatingServer]:
    """A server whose GetSku fails with a fault of ours."""

    def get_sku(self: CatalogServicer, request: Any, context: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(CatalogServicer, "GetSku", get_sku)
    running = RatingServer(Settings(listen="127.0.0.1:0", db_path=str(seeded_db)))
    running.start()
    yield running
    running.stop(grace=0)


def test_a_fault_of_ours_is_logged_with_the_calls_request_id_and_traceback_in_one_line(
    failing_server: RatingServer,
) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("rating_server")
    logger.addHandler(handler)
    try:
        with grpc.insecure_channel(failing_server.address) as channel:
            stub = catalog_service_pb2_grpc.CatalogServiceStub(channel)
            with pytest.raises(grpc.RpcError) as failed:
                stub.GetSku(
                    catalog_service_pb2.GetSkuRequest(sku="x"),
                    metadata=(("x-request-id", "trace-bug"),),
                    timeout=RPC_TIMEOUT,
                )
    finally:
        logger.removeHandler(handler)

    error: Any = failed.value
    assert error.code() == grpc.StatusCode.INTERNAL
    assert echoed(error.trailing_metadata()) == ["trace-bug"]
    [line] = lines_of(out.getvalue())
    assert line["message"] == "unexpected error in /rating.v1.CatalogService/GetSku"
    assert (line["level"], line["request_id"]) == ("ERROR", "trace-bug")
    assert line["exception"].endswith("KeyError: 'a bug'")
