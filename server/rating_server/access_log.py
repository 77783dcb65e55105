"""The access log: one JSON line per call, on the ``rating_server.access`` logger,
written by a thread of its own.

A line has the fields of every line of the server's log (``logs``: time, level, logger,
message, and the call's request_id: its x-request-id, else one the server made), then
the call's: rpc, code, ms, idempotency_key (the request message's own ``request_id``,
null if it has none), principal and peer.

An RPC thread only queues the call's figures (a tuple); this thread turns them into
JSON lines. Logging on the RPC thread cost single-item Quotes with eight callers about
15% of their throughput: Python under the GIL, in the middle of the call. The thread
wakes every few milliseconds, so that it holds the GIL in short bursts (long ones
showed in the calls' p99) and not once per call (each wake-up costs the calls too).

In the server process (``logs.configure``) the lines go straight to stderr, laid out
as ``logs.JsonFormatter`` lays out the others, one write per round: a log record per
line cost about 50 us of CPU per call, more than rating a single item, and added a
quarter of a millisecond to the p99 of one. Elsewhere (tests, an embedding program)
each line is a record on the logger, for its handlers: its message, its ``request_id``
and its ``fields`` (the call's), as attributes.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import TextIO

LOGGER = logging.getLogger("rating_server.access")

#: How long the thread lets entries gather between two rounds of logging them.
GATHER_SECONDS = 0.005
#: Entries waiting at most: past it (a log that cannot keep up), entries are counted
#: and dropped, and the count is logged, rather than memory growing without bound.
MAX_PENDING = 100_000
#: Bytes (UTF-8) of each string of an entry, at most: a caller chooses its request_id
#: (a rejected one may be megabytes), so a line is bounded whatever a caller sends.
#: What is cut off is told by a marker, "…(+N bytes)".
MAX_FIELD_BYTES = 128

#: A string as a JSON string (json.dumps' own encoder, in C).
_quoted = json.encoder.encode_basestring

#: (when, method, code, seconds, request_id, idempotency_key, principal, peer)
_Entry = tuple[float, str, str, float, str, "str | None", "str | None", str]

#: Where the lines go straight, when the process says so (``write_directly``).
_direct: TextIO | None = None


def bounded(text: str, limit: int = MAX_FIELD_BYTES) -> str:
    """``text`` if it is at most ``limit`` bytes of UTF-8, else its first ``limit``
    bytes (whole characters) and "…(+N bytes)" for the N bytes left out."""
    if (len(text) <= limit and text.isascii()) or len(text) * 4 <= limit:
        return text  # (no character takes more than 4 bytes)
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    # The cut may fall inside a character: "ignore" drops its leading bytes.
    kept = data[:limit].decode("utf-8", "ignore")
    return f"{kept}…(+{len(data) - len(kept.encode())} bytes)"


def write_directly(stream: TextIO) -> None:
    """Write the access lines of this process straight to ``stream``, one write a round,
    each as ``logs.JsonFormatter`` lays out a record of the access logger."""
    global _direct
    _direct = stream


class _Clock:
    """A time as ``logs.rfc3339`` writes it (UTC, ``2026-11-28T03:17:06.954Z``), the part
    down to the second made once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self, when: float) -> str:
        second = int(when)
        if second != self._second:
            self._second = second
            self._text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._text}.{int((when - second) * 1000):03d}Z"


def _nullable(text: str | None) -> str:
    return "null" if text is None else _quoted(text)


def _message(entry: _Entry) -> str:
    return f"{entry[1]} {entry[2]}"


def _fields(entry: _Entry) -> dict[str, object]:
    """The call's fields of an entry's line, as a record carries them."""
    _when, method, code, seconds, _request_id, key, principal, peer = entry
    return {
        "rpc": method,
        "code": code,
        "ms": round(seconds * 1000, 3),
        "idempotency_key": key,
        "principal": principal,
        "peer": peer,
    }


def _line(entry: _Entry, clock: _Clock) -> str:
    """An entry's whole line, as ``logs.JsonFormatter`` would write its record."""
    when, method, code, seconds, request_id, key, principal, peer = entry
    return (
        f'{{"time": "{clock(when)}", "level": "INFO", "logger": "{LOGGER.name}", '
        f'"message": {_quoted(_message(entry))}, "request_id": {_quoted(request_id)}, '
        f'"rpc": {_quoted(method)}, "code": "{code}", "ms": {round(seconds * 1000, 3)}, '
        f'"idempotency_key": {_nullable(key)}, "principal": {_nullable(principal)}, '
        f'"peer": {_quoted(peer)}}}\n'
    )


class AccessLog:
    """Queues entries and logs them in order, on one thread. ``flush`` waits until
    everything queued so far is logged; ``close`` flushes and stops."""

    def __init__(self, logger: logging.Logger = LOGGER, max_pending: int = MAX_PENDING) -> None:
        self._logger = logger
        self._max_pending = max_pending
        self._dropped = 0
        self._clock = _Clock()
        self._entries: queue.SimpleQueue[_Entry | threading.Event | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
        self._thread.start()

    @property
    def enabled(self) -> bool:
        return self._logger.isEnabledFor(logging.INFO)

    def record(
        self,
        method: str,
        code: str,
        seconds: float,
        request_id: str,
        idempotency_key: str | None,
        principal: str | None,
        peer: str,
    ) -> None:
        """Queue a call's line: ``request_id`` the call's (``logs.request_id_of``),
        ``idempotency_key`` its request message's request_id, if it has one."""
        if self._entries.qsize() >= self._max_pending:
            self._dropped += 1  # not exact under races: a count for the operator
            return
        # Cut here, on the RPC thread: a waiting entry holds no more than its line needs.
        self._entries.put(
            (
                time.time(),
                bounded(method),
                code,
                seconds,
                bounded(request_id),
                bounded(idempotency_key) if idempotency_key else None,
                None if principal is None else bounded(principal),
                bounded(peer),
            )
        )

    def flush(self, timeout: float = 5.0) -> None:
        done = threading.Event()
        self._entries.put(done)
        done.wait(timeout)

    def close(self) -> None:
        if self._thread.is_alive():
            self._entries.put(None)
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while True:
            batch = [self._entries.get()]
            while True:
                try:
                    batch.append(self._entries.get_nowait())
                except queue.Empty:
                    break
            dropped, self._dropped = self._dropped, 0
            if dropped:
                logging.getLogger("rating_server").warning(
                    "access log: %d lines dropped, more than %d were waiting",
                    dropped,
                    self._max_pending,
                )
            entries: list[_Entry] = []
            for item in batch:
                if isinstance(item, tuple):
                    entries.append(item)
                    continue
                self._write(entries)  # what came before a flush or the end
                entries = []
                if item is None:
                    return
                item.set()
            self._write(entries)
            # Let entries gather, a few milliseconds' worth (see the module's notes).
            time.sleep(GATHER_SECONDS)

    def _write(self, entries: list[_Entry]) -> None:
        if not entries or not self.enabled:
            return
        if _direct is not None and self._logger is LOGGER:
            clock = self._clock
            try:
                _direct.write("".join(_line(e, clock) for e in entries))
                _direct.flush()
            except (OSError, ValueError):  # stderr is gone: nobody to tell
                pass
            return
        logger = self._logger
        for entry in entries:
            # What logger.info does, less the search of the stack for a caller.
            message = _message(entry)
            record = logger.makeRecord(logger.name, logging.INFO, "", 0, message, (), None)
            record.created = entry[0]  # when the call ended, not now
            record.msecs = (entry[0] - int(entry[0])) * 1000
            record.request_id = entry[4]
            record.fields = _fields(entry)
            try:
                logger.handle(record)
            except Exception:  # a broken handler must not stop the log
                logging.getLogger("rating_server").exception("access log entry lost")
