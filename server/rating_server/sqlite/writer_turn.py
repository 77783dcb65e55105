"""The writers' turn: one writer of the database at a time, across processes.

Everything that writes the database takes the turn before it begins a write
transaction: the server processes (``ledger/sqlite/database.py``) and a catalog import
(``rating-server catalog import``). The turn is an exclusive ``flock`` on
``<database>-writer.lock``; the kernel queues the waiters, however many and however
long, and hands the turn straight to the next one.

SQLite's own wait for a locked database is no queue: it polls with sleeps of up to
100 ms and gives up after its busy timeout, and a transaction that read before it
writes cannot wait at all (it fails ``database is locked`` at once when another
writer committed since it began). A writer that holds the turn meets neither.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def lock_path(database: str | Path) -> str:
    """The turn's lock file of ``database``, beside the database's real file."""
    return f"{os.path.realpath(database)}-writer.lock"


class WriterTurn:
    """The turn to write ``database``; ``taken()`` waits for it. OSError when the lock
    file can be neither opened nor created."""

    def __init__(self, database: str | Path) -> None:
        self._fd = os.open(lock_path(database), os.O_RDWR | os.O_CREAT, 0o600)

    @contextmanager
    def taken(self) -> Iterator[None]:
        """Wait for the turn (with the GIL released), hold it inside, give it back."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


@contextmanager
def turn_taken(database: str | Path) -> Iterator[None]:
    """The turn to write ``database``, for a writer that writes once (a catalog import)."""
    turn = WriterTurn(database)
    try:
        with turn.taken():
            yield
    finally:
        turn.close()
