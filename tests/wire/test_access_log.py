"""The access log (``access_log.py``) of the real server in this process, its records
caught by caplog: one JSON line per call, bounded whatever a caller sends."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from scrape import RPC_TIMEOUT, agent_calls, parsed
from support import item

from rating import RatingClient
from rating.errors import RatingError
from rating.options import ClientOptions
from rating.v1 import rating_service_pb2, rating_service_pb2_grpc
from rating_server.auth import hash_token
from rating_server.config import Settings
from rating_server.logs import JsonFormatter
from rating_server.server import RatingServer, create_server

ACCESS_LOGGER = "rating_server.access"
#: A request id the server made (a UUID).
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


AGENT_TOKEN = "agent-secret-token-0123456789"
ADMIN_TOKEN = "console-secret-token-9876543210"


@pytest.fixture
def guarded_server(database: str, tmp_path: Path) -> Iterator[RatingServer]:
    """The real server in this process, with an access file of two principals."""
    access = tmp_path / "access.toml"
    access.write_text(
        "[[principals]]\n"
        'name = "agent-runtime"\n'
        f'token_sha256 = "{hash_token(AGENT_TOKEN)}"\n'
        'roles = ["quote", "charge", "read"]\n'
        "\n"
        "[[principals]]\n"
        'name = "console"\n'
        f'token_sha256 = "{hash_token(ADMIN_TOKEN)}"\n'
        'roles = ["admin"]\n'
    )
    running = create_server(Settings(listen="127.0.0.1:0", db_path=database, auth_file=str(access)))
    running.start()
    yield running
    running.stop(grace=0)


def access_lines(server: RatingServer, caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    server.access_log.flush()  # lines are logged off the RPC threads
    return [parsed(record) for record in caplog.records if record.name == ACCESS_LOGGER]


def test_access_log_has_one_json_line_per_call_with_code_request_ids_principal_and_peer(
    guarded_server: RatingServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    peer = re.compile(r"^ipv4:127\.0\.0\.1:\d+$")
    bearer = ("authorization", f"Bearer {AGENT_TOKEN}")
    agent = RatingClient(options=ClientOptions(target=guarded_server.address, token=AGENT_TOKEN))
    admin = RatingClient(options=ClientOptions(target=guarded_server.address, token=ADMIN_TOKEN))
    with agent, admin:
        admin.create_account("log-acct", plan="basic")
        receipt = agent.commit(agent_calls(2, "l", "log-acct"), request_id="log-commit-1")
        # The caller's x-request-id is the call's request id; without one, the server's.
        agent.rating_stub.Quote(
            rating_service_pb2.QuoteRequest(items=agent_calls(1, "q", "log-acct")),
            metadata=(bearer, ("x-request-id", "trace-42")),
            timeout=RPC_TIMEOUT,
        )
        with pytest.raises(grpc.RpcError) as failed:
            agent.rating_stub.Quote(
                rating_service_pb2.QuoteRequest(items=[item("no.such.sku", 1)]),
                metadata=(bearer, ("x-request-id", "trace-43")),
                timeout=RPC_TIMEOUT,
            )
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        with pytest.raises(RatingError) as denied:
            agent.create_account("not-allowed")
        assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED
        anonymous = RatingClient(guarded_server.address)
        with anonymous, pytest.raises(RatingError) as unauthenticated:
            anonymous.get_balance("log-acct")
        assert unauthenticated.value.code == grpc.StatusCode.UNAUTHENTICATED

    lines = access_lines(guarded_server, caplog)
    assert [(line["rpc"], line["code"]) for line in lines] == [
        ("/rating.v1.AccountService/CreateAccount", "OK"),
        ("/rating.v1.RatingService/CommitCharges", "OK"),
        ("/rating.v1.RatingService/Quote", "OK"),
        ("/rating.v1.RatingService/Quote", "INVALID_ARGUMENT"),
        ("/rating.v1.AccountService/CreateAccount", "PERMISSION_DENIED"),
        ("/rating.v1.AccountService/GetBalance", "UNAUTHENTICATED"),
    ]
    for line in lines:
        assert list(line) == [
            "time",
            "level",
            "logger",
            "message",
            "request_id",
            "rpc",
            "code",
            "ms",
            "idempotency_key",
            "principal",
            "peer",
        ], line
        assert (line["level"], line["logger"]) == ("INFO", ACCESS_LOGGER), line
        assert line["message"] == f"{line['rpc']} {line['code']}", line
        assert isinstance(line["ms"], int | float) and line["ms"] >= 0, line
        assert peer.match(str(line["peer"])), line
    assert [line["principal"] for line in lines[:4]] == [
        "console",
        "agent-runtime",
        "agent-runtime",
        "agent-runtime",
    ]
    assert lines[5]["principal"] is None
    assert receipt.request_id == "log-commit-1"
    # The commit's request_id has a field of its own; a call without one has null there.
    assert [line["idempotency_key"] for line in lines] == [None, "log-commit-1", *[None] * 4]
    made = [lines[0]["request_id"], lines[1]["request_id"], *(r["request_id"] for r in lines[4:])]
    assert [line["request_id"] for line in lines[2:4]] == ["trace-42", "trace-43"]
    assert all(UUID.fullmatch(str(request_id)) for request_id in made), made
    assert len(set(made)) == len(made)  # one of its own for each call
    # No token reaches any log, the access log or another.
    for record in caplog.records:
        assert AGENT_TOKEN not in record.getMessage()
        assert ADMIN_TOKEN not in record.getMessage()


def test_access_log_lines_are_bounded_whatever_request_id_a_caller_sends(
    guarded_server: RatingServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    bearer = ("authorization", f"Bearer {AGENT_TOKEN}")
    huge = "r" * (4 * 2**20)  # refused (over 128 characters), after it is read
    with grpc.insecure_channel(guarded_server.address) as channel:
        stub = rating_service_pb2_grpc.RatingServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.CommitCharges(
                rating_service_pb2.CommitChargesRequest(
                    request_id=huge, items=agent_calls(1, "h", "log-acct")
                ),
                metadata=(bearer,),
                timeout=RPC_TIMEOUT,
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        # No request_id in a Quote: the x-request-id is logged, cut as short.
        stub.Quote(
            rating_service_pb2.QuoteRequest(items=agent_calls(1, "q", "log-acct")),
            metadata=(bearer, ("x-request-id", "trace-" + "x" * 6000)),
            timeout=RPC_TIMEOUT,
        )

    commit, quote = access_lines(guarded_server, caplog)
    assert commit["idempotency_key"] == "r" * 128 + f"…(+{len(huge) - 128} bytes)"
    # An x-request-id that long is no request id: the server makes one instead.
    assert UUID.fullmatch(quote["request_id"]), quote
    assert "xxxx" not in json.dumps(quote)
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert all(len(line) < 800 for line in lines), lines
