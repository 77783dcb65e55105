"""The store boundary (``ledger/store.py``): each engine implements all of it,
and the rules keep the rules an engine without one writer relies on: balances locked,
in one order, before any is read; the billing account named wherever it can be."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from rating_server.catalog.model import CatalogSnapshot
from rating_server.engine import Usage
from rating_server.ledger import accounts, commits, voids
from rating_server.ledger.postgres.store import PostgresLedgerStore
from rating_server.ledger.postgres.tx import PostgresLedgerTx
from rating_server.ledger.sqlite.store import SqliteLedgerStore
from rating_server.ledger.sqlite.tx import SqliteLedgerTx
from rating_server.ledger.store import LedgerStore, LedgerTx

T = TypeVar("T")
BALANCE_READS = {"free_used", "payg", "packs"}


def parameters(function: Callable[..., object]) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


#: Each engine's transaction and store classes, by the ``engine`` parameter.
ENGINE_CLASSES = {
    "sqlite": (SqliteLedgerTx, SqliteLedgerStore),
    "postgres": (PostgresLedgerTx, PostgresLedgerStore),
}


def test_each_engine_implements_every_operation_of_the_boundary_as_declared(engine: str) -> None:
    tx, store = ENGINE_CLASSES[engine]
    for protocol, implementation in ((LedgerTx, tx), (LedgerStore, store)):
        declared = {
            name: member
            for name, member in vars(protocol).items()
            if not name.startswith("_") and callable(member)
        }
        assert len(declared) > 5
        for name, member in declared.items():
            assert parameters(getattr(implementation, name)) == parameters(member), name
        for name in ("writable", "on_writable") if protocol is LedgerStore else ():
            assert isinstance(getattr(implementation, name), property), name


class Spy:
    """A store whose transactions record every operation the rules ask of them."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _tx(self, tx: LedgerTx) -> Any:
        calls = self.calls

        class Recording:
            def __getattr__(self, name: str) -> Callable[..., Any]:
                method = getattr(tx, name)

                def call(*args: Any) -> Any:
                    calls.append((name, args))
                    return method(*args)

                return call

        return Recording()

    @contextmanager
    def read(self) -> Iterator[Any]:
        with self.store.read() as tx:
            yield self._tx(tx)

    @contextmanager
    def write(self) -> Iterator[Any]:
        with self.store.write() as tx:
            yield self._tx(tx)

    def grouped(self, work: Callable[[Any], T]) -> T:
        return self.store.grouped(lambda tx: work(self._tx(tx)))

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def spy(ledger: LedgerStore, catalog_snapshot: CatalogSnapshot) -> Spy:
    for account_id, parent in (("zeta", ""), ("acme", ""), ("acme-dev", "acme")):
        accounts.create_account(ledger, catalog_snapshot, account_id, parent_account_id=parent)
    accounts.grant_pack(ledger, "zeta", "5", valid_from_ns=0)
    return Spy(ledger)


def a_batch(tag: str) -> list[Usage]:
    now = time.time_ns()
    return [
        Usage(f"{tag}-{i}", account, "agent.call", 200, now)
        for i, account in enumerate(["zeta", "acme-dev", "acme", "zeta"])
    ]


def test_a_commit_locks_its_billing_accounts_sorted_before_it_reads_a_balance(
    spy: Spy, catalog_snapshot: CatalogSnapshot
) -> None:
    commits.commit(spy, catalog_snapshot, "r-1", a_batch("u"))  # type: ignore[arg-type]
    names = spy.names()
    assert names.count("lock_balances") == 1
    locked = names.index("lock_balances")
    assert spy.calls[locked][1] == (["acme", "zeta"],)
    assert BALANCE_READS & set(names[:locked]) == set()
    assert set(names[locked:]) >= BALANCE_READS  # free points, a pack and the bill read
    assert names[-1] == "write_charge"
    # The dedup question goes to each billing account on its own.
    assert sorted(args[0] for name, args in spy.calls if name == "committed") == ["acme", "zeta"]


def test_a_void_locks_the_charges_billing_accounts_then_works_account_by_account(
    spy: Spy, catalog_snapshot: CatalogSnapshot
) -> None:
    receipt = commits.commit(spy.store, catalog_snapshot, "r-1", a_batch("u"))
    voids.void(spy, receipt.charge_id)  # type: ignore[arg-type]
    assert spy.names()[:2] == ["charge_billing_accounts", "lock_balances"]
    assert spy.calls[1][1] == (["acme", "zeta"],)
    for step in ("charge_funding", "write_reversals"):
        assert [args[1] for name, args in spy.calls if name == step] == ["acme", "zeta"]
    assert spy.names()[-1] == "write_void"
