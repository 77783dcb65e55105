"""The in-memory catalog: the hot path reads a snapshot, never the database.

A background thread asks the database for its catalog version a few times a second
and, when an import has added a new one, loads it and swaps the snapshot in one
reference assignment. A caller takes ``cache.snapshot`` once per batch, so one
batch is always rated against one consistent catalog.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from rating_server.catalog.model import CatalogError, CatalogSnapshot
from rating_server.catalog.snapshots import load_snapshot
from rating_server.catalog.stores import open_catalog

log = logging.getLogger(__name__)


class CatalogCache:
    def __init__(self, path: str | Path, poll_interval: float = 0.2) -> None:
        self._path = path
        self._poll_interval = poll_interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._store = open_catalog(path)
        try:
            if self._store.current_version() == 0:
                raise CatalogError(
                    f"the database {path} holds no catalog: import one first "
                    "(rating-server catalog import FILE)"
                )
            self._snapshot = load_snapshot(self._store)
        except BaseException:
            self._store.close()
            raise

    @property
    def snapshot(self) -> CatalogSnapshot:
        """The catalog in force now. Take it once and rate a whole batch with it."""
        return self._snapshot

    def refresh(self) -> bool:
        """Load the newest catalog version if it differs; True when it changed."""
        with self._lock:
            if self._store.current_version() == self._snapshot.version:
                return False
            snapshot = load_snapshot(self._store)
            previous, self._snapshot = self._snapshot.version, snapshot
        log.info("catalog reloaded: version %d -> %d", previous, snapshot.version)
        return True

    def start(self) -> None:
        """Start watching the database for new catalog versions."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="catalog-watch", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._store.close()

    def _watch(self) -> None:
        while not self._stop.wait(self._poll_interval):
            try:
                self.refresh()
            except Exception:  # keep serving the last good snapshot
                log.exception(
                    "catalog reload failed; still serving version %d", self._snapshot.version
                )
