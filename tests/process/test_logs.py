"""The log of a server process, read as an operator's log pipeline reads it (every
line of stderr through json.loads): only JSON lines, each call's request id echoed,
an uncaught exception's traceback inside its line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from json_lines import RPC_TIMEOUT, UUID, echoed, lines_of
from processes import Launch
from support import item

from rating.v1 import (
    rating_service_pb2,
    rating_service_pb2_grpc,
)

QUOTE = rating_service_pb2.QuoteRequest(items=[item("model.doubao-lite-32k.input", 1234)])


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
