"""The server process's logging: every line on stderr is one JSON object, for log
pipelines to read as they are.

Each line has ``time`` (RFC 3339, UTC, to the millisecond), ``level``, ``logger`` and
``message``; a line logged while a call runs has the call's ``request_id`` too (the
caller's ``x-request-id``, else one the server made: ``request_id_of``); a traceback is
the line's ``exception`` field, never lines of its own. The access log writes its lines
itself, from its own thread, with the same fields (``access_log``).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TextIO

#: The request id of the call the current thread runs, set by the guard while it runs.
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

#: The metadata key a call's request id comes in and is echoed back under.
REQUEST_ID_KEY = "x-request-id"

#: Characters of a caller's x-request-id, at most: a longer one is replaced.
MAX_REQUEST_ID = 128


def request_id_of(metadata: Sequence[tuple[str, Any]]) -> str:
    """The call's request id: its ``x-request-id`` (the first, if several) when that is 1
    to 128 printable ASCII characters without spaces, else a new UUID. What a caller
    sends is never logged or echoed unchecked."""
    for key, value in metadata:
        if key == REQUEST_ID_KEY:
            if (
                isinstance(value, str)
                and 0 < len(value) <= MAX_REQUEST_ID
                and value.isascii()
                and value.isprintable()
                and " " not in value
            ):
                return value
            break
    return str(uuid.uuid4())


def rfc3339(when: float) -> str:
    """``when`` (seconds since the epoch) as ``2026-11-28T03:17:06.954Z``."""
    second = int(when)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{stamp}.{int((when - second) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: time, level, logger, message; the call's request_id
    (the record's own, else the running call's); a record's ``fields`` (a dict), each a
    field of the line; the traceback, if any, as ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": rfc3339(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(stream: TextIO | None = None) -> None:
    """INFO and above to ``stream`` (default: stderr) as JSON lines, the access log's
    included; warnings and uncaught exceptions (of any thread) logged as well, their
    tracebacks inside their lines."""
    out = stream or sys.stderr
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    # The connection pool warns of every failed connect while PostgreSQL is down; the
    # server says once that writes fail, and once that they succeed again.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    sys.unraisablehook = _log_unraisable
    from rating_server import access_log  # (which lays its lines out as this module does)

    access_log.write_directly(out)


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    logging.getLogger("rating_server").critical(
        "uncaught %s: %s", kind.__name__, error, exc_info=(kind, error, traceback)
    )


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("rating_server").error(
        "uncaught %s in thread %s: %s",
        args.exc_type.__name__,
        name,
        args.exc_value,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


def _log_unraisable(unraisable: Any) -> None:
    """What Python cannot raise (an error in a finalizer, say), logged with its traceback."""
    error = unraisable.exc_value
    kind = unraisable.exc_type
    logging.getLogger("rating_server").error(
        "%s: %s: %s",
        unraisable.err_msg or "exception ignored",
        kind.__name__,
        error,
        exc_info=(kind, error, unraisable.exc_traceback) if error is not None else None,
    )
