"""Whether a ledger database takes writes, as its last write found, and the probe that
finds out when none comes: what every engine's database shares (no SQL here).

Each write tells the outcome (``_set_writable``); ``on_writable`` hears when it changes,
in the order the outcomes happened. ``start_probing`` runs the engine's ``probe`` (one
write outside the ledger) in a thread whenever no write has succeeded for
PROBE_SECONDS, and every RETRY_SECONDS while writes fail, so health follows an idle
database too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from rating_server.domain_errors import StorageUnavailableError

log = logging.getLogger("rating_server")

#: Seconds without a successful write after which ``start_probing`` probes one.
PROBE_SECONDS = 5.0
#: Seconds between probes while writes fail.
RETRY_SECONDS = 1.0

OnWritable = Callable[[bool, StorageUnavailableError | None], object]


class WriteHealth:
    """The writes' health of a database; the database defines ``probe``."""

    def __init__(self, on_writable: OnWritable | None = None) -> None:
        self.on_writable = on_writable
        self.writable = True
        self._last_write = time.monotonic()
        self._health_lock = threading.Lock()
        self._stop_probing = threading.Event()
        self._prober: threading.Thread | None = None

    def probe(self) -> None:
        """Write once, outside the ledger: StorageUnavailableError when the database
        takes no writes (the engine's)."""
        raise NotImplementedError

    def _set_writable(self, writable: bool, fault: StorageUnavailableError | None = None) -> None:
        """A write's outcome: ``on_writable`` hears a change, under this object's lock,
        so in the order the outcomes happened."""
        with self._health_lock:
            if writable:
                self._last_write = time.monotonic()
            if writable == self.writable:
                return
            self.writable = writable
            if self.on_writable is not None:
                self.on_writable(writable, fault)

    def start_probing(
        self, seconds: float = PROBE_SECONDS, retry_seconds: float = RETRY_SECONDS
    ) -> None:
        """Probe in a thread of its own, until ``_stop_probing_thread``: after
        ``seconds`` without a successful write, and every ``retry_seconds`` while
        writes fail."""
        if self._prober is not None:
            return

        def probing() -> None:
            while not self._stop_probing.wait(seconds if self.writable else retry_seconds):
                if self.writable and time.monotonic() - self._last_write < seconds:
                    continue  # a write succeeded meanwhile: nothing to learn
                try:
                    self.probe()
                except StorageUnavailableError:
                    pass  # on_writable heard it when writes stopped succeeding
                except Exception:
                    log.exception("the database's write probe failed")

        self._prober = threading.Thread(target=probing, name="write-probe", daemon=True)
        self._prober.start()

    def _stop_probing_thread(self) -> None:
        self._stop_probing.set()
        if self._prober is not None:
            self._prober.join()
