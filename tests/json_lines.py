"""The server's log as JSON lines, read back: every line an object with its time,
level, logger and message, and the request ids a call echoed."""

from __future__ import annotations

import json
import re
from typing import Any

RPC_TIMEOUT = 30.0
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
#: A request id the server made.
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


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
