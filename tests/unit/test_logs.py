"""The server's log (``logs.py``): one JSON object per line, the call's request id
(its x-request-id, else the server's) on the call's lines, a traceback inside its line."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from json_lines import TIME, UUID

from rating_server import logs


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
