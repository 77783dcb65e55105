"""The access log: one JSON line per call, on the ``rating_server.access`` logger,
written by a thread of its own.

An RPC thread only queues the call's figures (a tuple); this thread turns them into
the JSON line and logs it. Logging on the RPC thread (JSON, a log record, a write)
cost single-item Quotes with eight callers about 15% of their throughput: Python
under the GIL, in the middle of the call. The thread wakes every few milliseconds,
so that it holds the GIL in short bursts (long ones showed in the calls' p99) and not
once per call (each wake-up costs the calls too).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time

LOGGER = logging.getLogger("rating_server.access")

#: How long the thread lets entries gather between two rounds of logging them.
GATHER_SECONDS = 0.005
#: Entries waiting at most: past it (a log that cannot keep up), entries are counted
#: and dropped, and the count is logged, rather than memory growing without bound.
MAX_PENDING = 100_000

#: A string as a JSON string (json.dumps' own encoder, in C).
_quoted = json.encoder.encode_basestring  # type: ignore[attr-defined]

_Entry = tuple[str, str, float, str, "str | None", str]


class AccessLog:
    """Queues entries and logs them in order, on one thread. ``flush`` waits until
    everything queued so far is logged; ``close`` flushes and stops."""

    def __init__(self, logger: logging.Logger = LOGGER, max_pending: int = MAX_PENDING) -> None:
        self._logger = logger
        self._max_pending = max_pending
        self._dropped = 0
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
        principal: str | None,
        peer: str,
    ) -> None:
        if self._entries.qsize() >= self._max_pending:
            self._dropped += 1  # not exact under races: a count for the operator
            return
        self._entries.put((method, code, seconds, request_id, principal, peer))

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
            for entry in batch:
                if entry is None:
                    return
                if isinstance(entry, threading.Event):
                    entry.set()
                else:
                    self._log(entry)
            # Let entries gather, a few milliseconds' worth (see the module's notes).
            time.sleep(GATHER_SECONDS)

    def _log(self, entry: _Entry) -> None:
        method, code, seconds, request_id, principal, peer = entry
        line = (
            f'{{"rpc": {_quoted(method)}, "code": "{code}", "ms": {round(seconds * 1000, 3)}, '
            f'"request_id": {_quoted(request_id)}, '
            f'"principal": {"null" if principal is None else _quoted(principal)}, '
            f'"peer": {_quoted(peer)}}}'
        )
        logger = self._logger
        try:
            # What logger.info does, less the search of the stack for the caller (this
            # thread, every time): a fifth of the cost of a line.
            if logger.isEnabledFor(logging.INFO):
                logger.handle(logger.makeRecord(logger.name, logging.INFO, "", 0, line, None, None))
        except Exception:  # a broken handler must not stop the log
            logging.getLogger("rating_server").exception("access log entry lost")
