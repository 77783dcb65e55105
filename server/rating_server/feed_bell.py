"""What wakes the streams of a server process when the ledger changes.

One thread per process follows the charges feed a few times a second: it reads the
events after the last it saw (one indexed read, whatever the number of streams) and
rings for the billing accounts they concern. A stream waits for its own account's ring
(a stream of every account, for any), so streams on accounts nothing happens to stay
asleep. A commit on another process or another node is heard within ``INTERVAL``
seconds, and nothing on the commit path waits for it, nor does anything for it. (Not
PostgreSQL's NOTIFY: a transaction that notifies takes a lock at commit that every other
notifying one waits for, and it halved concurrent commits in the bench.) ``close``
wakes every stream, and every wait then returns False, so the streams end at once when
the server stops.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from rating_server.domain_errors import StorageUnavailableError
from rating_server.ledger.store import LedgerStore

log = logging.getLogger("rating_server")

#: Seconds between two looks at the feed.
INTERVAL = 0.2
#: Events read at once by the look.
EVENTS_PER_LOOK = 1000


class FeedBell:
    def __init__(self, store: LedgerStore, interval: float = INTERVAL) -> None:
        self._store = store
        self._interval = interval
        self._changed = threading.Condition()
        #: Rings by billing account; None's counts every ring.
        self._rungs: Counter[str | None] = Counter()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._looking = threading.Lock()
        self._end: tuple[int, int] | None = None

    def start(self) -> None:
        self.look()  # where the feed ends now
        self._thread = threading.Thread(target=self._follow, name="feed-bell", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        while not self._closed.wait(self._interval):
            self.look()

    def look(self) -> None:
        """Read the events after the last seen, and ring for their accounts."""
        with self._looking:
            try:
                with self._store.read() as tx:
                    if self._end is None:
                        self._end = tx.feed_end(None)
                        return
                    events = tx.feed_events(self._end, None, EVENTS_PER_LOOK)
            except StorageUnavailableError as error:
                log.debug("the charges feed could not be read: %s", error)
                return
            if events:
                self._end = events[-1].position
                self.ring({event.billing_account_id for event in events})

    def ring(self, accounts: set[str]) -> None:
        with self._changed:
            for account in accounts:
                self._rungs[account] += 1
            self._rungs[None] += 1
            self._changed.notify_all()

    def rung(self, account: str | None) -> int:
        """How many times it has rung for ``account`` (None: for any): a stream waits for
        a number past the one it saw before it read."""
        return self._rungs[account]

    def wait(self, account: str | None, seen: int, timeout: float) -> bool:
        """Wait until it rings for ``account`` past ``seen``, or ``timeout`` passes;
        False once closed."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._rungs[account] != seen or self._closed.is_set(), timeout=timeout
            )
        return not self._closed.is_set()

    def close(self) -> None:
        self._closed.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
