"""What wakes the streams of a server process when the ledger changes.

One thread per process asks the ledger for the feed's end a few times a second (a
single indexed read, whatever the number of streams) and rings when it moved: every
stream waiting then reads its own events. A commit on another process or another node
is seen within ``INTERVAL`` seconds; nothing on the commit path waits for it. Where the
engine announces commits (PostgreSQL's LISTEN, ``LedgerStore.listen_feed``), each
announcement rings at once too. ``close``
rings a last time and makes every wait return False, so the streams end at once when
the server stops.
"""

from __future__ import annotations

import logging
import threading

from rating_server.errors import StorageUnavailableError
from rating_server.ledger.store import Closeable, LedgerStore

log = logging.getLogger("rating_server")

#: Seconds between two looks at the feed's end.
INTERVAL = 0.2


class FeedBell:
    def __init__(self, store: LedgerStore, interval: float = INTERVAL) -> None:
        self._store = store
        self._interval = interval
        self._changed = threading.Condition()
        self._rung = 0
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: Closeable | None = None

    def start(self) -> None:
        self._listener = self._store.listen_feed(self.ring)
        self._thread = threading.Thread(target=self._follow, name="feed-bell", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        end = None
        while not self._closed.wait(self._interval):
            try:
                with self._store.read() as tx:
                    now = tx.feed_end(None)
            except StorageUnavailableError as error:
                log.debug("the feed's end could not be read: %s", error)
                continue
            if now != end:
                end = now
                self.ring()

    def ring(self) -> None:
        with self._changed:
            self._rung += 1
            self._changed.notify_all()

    @property
    def rung(self) -> int:
        """How many times it has rung: a stream waits for a number past the one it saw."""
        return self._rung

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait until it rings past ``seen`` or ``timeout`` passes; False once closed."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._rung != seen or self._closed.is_set(), timeout=timeout
            )
        return not self._closed.is_set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()
        self.ring()
        if self._listener is not None:
            self._listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
