"""The access log's writer (``access_log.py``) without a server: every string cut to
its bound, entries in order, lines dropped and counted when it cannot keep up."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time

import pytest
from scrape import parsed

from rating_server import access_log
from rating_server.access_log import AccessLog
from rating_server.logs import JsonFormatter

# How long a test waits for a condition before it fails.
WAIT = 60.0


def test_every_string_of_an_access_line_is_cut_to_its_bound_at_a_character(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.bounded-access")
    caplog.set_level(logging.INFO, logger="test.bounded-access")
    access = AccessLog(logger)
    access.record(
        "/m/" + "价" * 500, "OK", 0.001, "r-1", "😀" * 500, "é" * 500, "unix:/" + "p" * 500
    )
    access.record("/m", "OK", 0.001, "r-2", "r-" + "a" * 126, "agent", "ipv4:127.0.0.1:1")
    access.close()

    long, short = (parsed(r) for r in caplog.records)
    limit = access_log.MAX_FIELD_BYTES
    # As many whole characters as fit in the bound: never half of one.
    assert long["rpc"] == "/m/" + "价" * 41 + f"…(+{1503 - 126} bytes)"
    assert long["idempotency_key"] == "😀" * 32 + f"…(+{2000 - 128} bytes)"
    assert long["principal"] == "é" * 64 + f"…(+{1000 - 128} bytes)"
    assert long["peer"] == "unix:/" + "p" * 122 + f"…(+{506 - 128} bytes)"
    for value in (long["rpc"], long["idempotency_key"], long["principal"], long["peer"]):
        assert len(str(value).split("…")[0].encode()) <= limit
    # A value of MAX_FIELD_BYTES is written whole.
    assert short["idempotency_key"] == "r-" + "a" * 126 and short["principal"] == "agent"


def test_the_access_log_writes_every_entry_in_order_by_close_and_survives_a_broken_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.access")

    class Broken(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if getattr(record, "request_id", None) == "x-3":
                raise RuntimeError("disk full")

    broken = Broken()
    broken.handleError = Broken.emit.__get__(broken)  # type: ignore[method-assign]
    logger.addHandler(broken)
    caplog.set_level(logging.INFO, logger="test.access")
    try:
        access = AccessLog(logger)
        for number in range(200):
            access.record("/m", "OK", 0.001, f"x-{number}", None, None, "ipv4:127.0.0.1:1")
        access.close()
    finally:
        logger.removeHandler(broken)
    ids = [parsed(r)["request_id"] for r in caplog.records if r.name == "test.access"]
    # The entry the handler choked on is lost, with a log line that says so; the
    # thread goes on with the rest.
    assert ids == [f"x-{number}" for number in range(200) if number != 3]


def test_an_access_log_that_cannot_keep_up_drops_lines_and_says_how_many(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.slow-access")
    release = threading.Event()

    class Stuck(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            release.wait(WAIT)  # the disk is slow, until the test is done with it

    stuck = Stuck()
    logger.addHandler(stuck)
    caplog.set_level(logging.INFO, logger="test.slow-access")
    try:
        access = AccessLog(logger, max_pending=10)
        access.record("/m", "OK", 0.001, "first", None, None, "peer")
        deadline = time.monotonic() + WAIT
        while access._entries.qsize():  # until the thread took it, and is stuck with it
            assert time.monotonic() < deadline, "the access log thread never took a line"
            time.sleep(0.01)
        for number in range(49):
            access.record("/m", "OK", 0.001, f"x-{number}", None, None, "peer")
        release.set()
        access.close()
    finally:
        logger.removeHandler(stuck)
    logged = [r for r in caplog.records if r.name == "test.slow-access"]
    warnings = [r.getMessage() for r in caplog.records if "lines dropped" in r.getMessage()]
    assert len(logged) == 11  # the first, then the ten that could wait
    assert warnings == ["access log: 39 lines dropped, more than 10 were waiting"]


def test_a_line_written_directly_is_the_json_formatters_line_of_the_same_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entries = [
        ("/rating.v1.RatingService/Quote", "OK", 0.0012, "r-7", None, None, "peer"),
        ("/m/价", "INVALID_ARGUMENT", 1.5, 'r-"8"', "键-1", "é\\", "ipv4:127.0.0.1:1"),
    ]
    stream = io.StringIO()
    saved = access_log._direct
    caplog.set_level(logging.INFO, logger=access_log.LOGGER.name)
    try:
        access_log.write_directly(stream)
        direct = AccessLog()
        for entry in entries:
            direct.record(*entry)
        direct.close()
    finally:
        access_log._direct = saved
    assert not caplog.records  # written straight, not as records
    recorded = AccessLog()  # (not written directly now: as records, for the handlers)
    for entry in entries:
        recorded.record(*entry)
    recorded.close()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    # Byte for byte what the server's formatter writes of the records, but the time,
    # which is when each call was recorded.
    for line, record in zip(lines, caplog.records, strict=True):
        written, formatted = json.loads(line), parsed(record)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", written["time"])
        assert line == JsonFormatter().format(record).replace(formatted["time"], written["time"])
    assert [json.loads(line)["request_id"] for line in lines] == ["r-7", 'r-"8"']
