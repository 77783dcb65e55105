"""``LedgerStore`` on SQLite: the store's transactions are ``LedgerDatabase``'s (one
writer, group commit, readers on snapshots), each handed to the rules as a
``SqliteLedgerTx``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from rating_server.domain_errors import StorageUnavailableError
from rating_server.ledger.sqlite.database import LedgerDatabase
from rating_server.ledger.sqlite.tx import SqliteLedgerTx
from rating_server.ledger.store import LedgerTx

T = TypeVar("T")


class SqliteLedgerStore:
    """The ledger in the SQLite database at ``path``; ``database`` is the connections'
    own API, below the store. Raises as ``LedgerDatabase`` does when it cannot open."""

    def __init__(
        self,
        path: str | Path,
        observe: Callable[[float], object] | None = None,
        on_writable: Callable[[bool, StorageUnavailableError | None], object] | None = None,
    ) -> None:
        self.database = LedgerDatabase(path, observe, on_writable)

    @property
    def path(self) -> str | Path:
        return self.database.path

    @property
    def writable(self) -> bool:
        return self.database.writable

    @property
    def on_writable(self) -> Callable[[bool, StorageUnavailableError | None], object] | None:
        return self.database.on_writable

    @on_writable.setter
    def on_writable(
        self, heard: Callable[[bool, StorageUnavailableError | None], object] | None
    ) -> None:
        self.database.on_writable = heard

    @contextmanager
    def read(self) -> Iterator[LedgerTx]:
        with self.database.read() as conn:
            yield SqliteLedgerTx(conn)

    @contextmanager
    def write(self) -> Iterator[LedgerTx]:
        with self.database.write() as conn:
            yield SqliteLedgerTx(conn)

    def grouped(self, work: Callable[[LedgerTx], T]) -> T:
        """Group commit (``LedgerDatabase.grouped``): ``work`` runs once."""
        return self.database.grouped(lambda conn: work(SqliteLedgerTx(conn)))

    def probe(self) -> None:
        self.database.probe()

    def start_probing(self) -> None:
        self.database.start_probing()

    def close(self) -> None:
        self.database.close()
