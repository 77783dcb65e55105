"""The in-memory catalog: the hot path reads a snapshot, never the database.

A background thread asks the database for its catalog version and, when an import
has added a new one, loads it and swaps the snapshot in one reference assignment. A
caller takes ``cache.snapshot`` once per batch, so one batch is always rated against
one consistent catalog.

When does it ask? A store that announces new versions (``AnnouncingStore``:
PostgreSQL's LISTEN/NOTIFY, so an import through any node reaches every node at
once) wakes the thread at each announcement, and the thread polls every second
besides, for an announcement lost while the listening connection was down. A store
that does not (SQLite: the importer is on this machine) is polled 5 times a second.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from rating_server.catalog.model import CatalogError, CatalogSnapshot
from rating_server.catalog.snapshots import load_snapshot
from rating_server.catalog.store import AnnouncingStore, Watch
from rating_server.catalog.stores import open_catalog
from rating_server.domain_errors import StorageUnavailableError

log = logging.getLogger(__name__)

#: Seconds between polls of a store that does not announce new versions.
POLL_SECONDS = 0.2
#: Seconds between polls of a store that does: the fallback for a lost announcement.
FALLBACK_POLL_SECONDS = 1.0


class CatalogCache:
    def __init__(self, path: str | Path, poll_interval: float | None = None) -> None:
        """``poll_interval``: seconds between polls (by default, as the store needs)."""
        self._path = path
        self._lock = threading.Lock()
        # Set by an announcement and by stop: the watcher's timer, cut short.
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._announcements: Watch | None = None
        self._store = open_catalog(path)
        announcing = isinstance(self._store, AnnouncingStore)
        if poll_interval is None:
            poll_interval = FALLBACK_POLL_SECONDS if announcing else POLL_SECONDS
        self._poll_interval = poll_interval
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
        if self._thread is not None:
            return
        self._stopping = False
        if isinstance(self._store, AnnouncingStore):
            self._announcements = self._store.watch(self._wake.set)
        self._thread = threading.Thread(target=self._watch, name="catalog-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; the snapshot stays, and ``refresh`` still loads a new one."""
        if self._announcements is not None:
            self._announcements.close()
            self._announcements = None
        if self._thread is not None:
            self._stopping = True
            self._wake.set()
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        self.stop()
        with self._lock:
            self._store.close()

    def _watch(self) -> None:
        failing = False
        while True:
            self._wake.wait(self._poll_interval)
            self._wake.clear()  # before the refresh: an announcement after it wakes again
            if self._stopping:
                return
            try:
                self.refresh()
            except Exception as error:  # keep serving the last good snapshot
                if not failing:  # once, not at every poll of an outage
                    log.warning(
                        "catalog reload failed (%s); still serving version %d",
                        error,
                        self._snapshot.version,
                        exc_info=not isinstance(error, StorageUnavailableError),
                    )
                failing = True
            else:
                if failing:
                    log.warning("catalog reloads again; serving version %d", self.snapshot.version)
                failing = False
