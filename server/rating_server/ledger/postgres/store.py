"""``LedgerStore`` on PostgreSQL: the store's transactions are ``PostgresDatabase``'s
(a pool, row locks per billing account, conflicts run again), each handed to the
rules as a ``PostgresLedgerTx``."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from rating_server.domain_errors import StorageUnavailableError
from rating_server.ledger.postgres.database import PostgresDatabase
from rating_server.ledger.postgres.tx import PostgresLedgerTx
from rating_server.ledger.store import LedgerTx

T = TypeVar("T")


class PostgresLedgerStore:
    """The ledger in the PostgreSQL database at ``url``. StorageUnavailableError when it
    cannot be reached; migrate.SchemaError when its schema is not this server's."""

    def __init__(
        self,
        url: str,
        observe: Callable[[float], object] | None = None,
        on_writable: Callable[[bool, StorageUnavailableError | None], object] | None = None,
        max_connections: int = 32,
    ) -> None:
        self.database: PostgresDatabase[PostgresLedgerTx] = PostgresDatabase(
            url, PostgresLedgerTx, observe, on_writable, max_connections
        )

    @property
    def path(self) -> str:
        return self.database.url

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

    def read(self) -> AbstractContextManager[LedgerTx]:
        return self.database.read()

    def write(self) -> AbstractContextManager[LedgerTx]:
        return self.database.write()

    def grouped(self, work: Callable[[LedgerTx], T]) -> T:
        """``work`` in a transaction of its own, run again on a conflict."""
        return self.database.grouped(work)

    def probe(self) -> None:
        self.database.probe()

    def start_probing(self) -> None:
        self.database.start_probing()

    def close(self) -> None:
        self.database.close()
