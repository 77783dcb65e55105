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
    # The dedup question is asked once, of each billing account's usage ids.
    asked = [args[0] for name, args in spy.calls if name == "committed"]
    assert asked == [{"zeta": ["u-0", "u-3"], "acme": ["u-1", "u-2"]}]


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


DAY_NS = 86_400 * 1_000_000_000


@pytest.mark.parametrize("days_ago", [0, 10])
def test_a_commit_draws_on_what_the_days_commits_before_it_left_of_its_free_points(
    ledger: LedgerStore, catalog_snapshot: CatalogSnapshot, days_ago: int
) -> None:
    """Today's balances are read with the locks (PostgreSQL), an older day's on its own:
    both must see what the commits before took."""
    accounts.create_account(ledger, catalog_snapshot, "zeta")
    accounts.grant_pack(ledger, "zeta", "1000000", valid_from_ns=0)
    daily_free = catalog_snapshot.default_plan.daily_free_micros
    at = time.time_ns() - days_ago * DAY_NS
    sources = []
    for n in range(2):
        usage = Usage(f"u-{n}", "zeta", "agent.call", 10**5, at)
        (line,) = commits.commit(ledger, catalog_snapshot, f"r-{n}", [usage]).lines
        assert line.micros > daily_free
        sources.append({part.source: part.micros for part in line.funding})
    assert sources[0]["free"] == daily_free
    assert "free" not in sources[1]
    assert sources[1]["pack"] == sources[0]["pack"] + daily_free


@pytest.mark.parametrize("count", [3, 40])  # inserted, and copied in (PostgreSQL)
def test_a_charges_lines_are_numbered_in_request_order(
    ledger: LedgerStore, catalog_snapshot: CatalogSnapshot, count: int
) -> None:
    for account_id in ("acme", "zeta"):
        accounts.create_account(ledger, catalog_snapshot, account_id)
        accounts.grant_pack(ledger, account_id, "1000000", valid_from_ns=0)
    now = time.time_ns()
    usages = [Usage(f"u-{i}", ("zeta", "acme")[i % 2], "agent.call", 1, now) for i in range(count)]
    commits.commit(ledger, catalog_snapshot, "r-1", usages)
    with ledger.read() as tx:
        for account_id, first in (("zeta", 0), ("acme", 1)):
            lines = tx.charge_lines(account_id, None, 0, None, None, 100)
            assert [entry.usage_id for _, entry in lines] == [
                f"u-{i}" for i in range(first, count, 2)
            ]


def _statements_and_round_trips(trace: str) -> tuple[int, int]:
    statements = trips = 0
    last = ""
    for line in trace.splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or fields[1] not in ("F", "B"):
            continue
        statements += fields[1] == "F" and fields[3].startswith(("Execute", "Query"))
        trips += fields[1] == "B" and last == "F"
        last = fields[1]
    return statements, trips


def test_a_commit_on_postgresql_takes_as_many_statements_and_round_trips_for_any_count_of_lines(
    postgres_seeded: str,
    catalog_snapshot: CatalogSnapshot,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch's statements and round trips are a few per billing account, not per line:
    its lines are copied in, its writes pipelined, its balances read with its locks."""
    from rating_server.ledger.postgres import database

    traces = []
    configure = database._durable

    def traced(conn: Any) -> None:
        configure(conn)
        conn.prepare_threshold = None  # preparing a statement takes a round trip, once
        trace = (tmp_path / f"trace-{len(traces)}").open("w+b")
        conn.pgconn.trace(trace.fileno())
        traces.append(trace)

    monkeypatch.setattr(database, "_durable", traced)
    ledger = PostgresLedgerStore(postgres_seeded, max_connections=1)
    try:
        for account_id in ("acme", "zeta"):
            accounts.create_account(ledger, catalog_snapshot, account_id)
            accounts.grant_pack(ledger, account_id, "1000000", valid_from_ns=0)
        (trace,) = traces
        counts = []
        for count in (4, 40, 400):
            now = time.time_ns()
            usages = [
                Usage(f"u-{count}-{i}", ("zeta", "acme")[i % 2], "agent.call", 1, now)
                for i in range(count)
            ]
            trace.seek(0, 2)
            start = trace.tell()
            commits.commit(ledger, catalog_snapshot, f"r-{count}", usages)
            trace.seek(start)
            counts.append(_statements_and_round_trips(trace.read().decode(errors="replace")))
        # A batch of RATE_AHEAD_ITEMS or more is rated after a read of its accounts.
        trace.seek(0, 2)
        start = trace.tell()
        with ledger.read() as tx:
            tx.accounts(["acme", "zeta"])
        trace.seek(start)
        read_statements, read_trips = _statements_and_round_trips(
            trace.read().decode(errors="replace")
        )
    finally:
        ledger.close()
    assert 40 < commits.RATE_AHEAD_ITEMS <= 400
    (statements, trips), *_ = counts
    assert trips <= 9  # begin, request, accounts, locks, dedup, writes, commit
    # The lines' COPY: two round trips (begun, then done) of its own.
    assert counts[1][1] == trips + 2, counts
    # And the read ahead of the big batch's, whose connection the pool may check first.
    assert trips + 2 + read_trips <= counts[2][1] <= trips + 3 + read_trips, counts
    assert counts[1][0] <= statements + 1, counts
    assert counts[2][0] <= statements + 1 + read_statements, counts


def test_the_dedup_question_finds_exactly_the_ids_committed_whatever_they_hold(
    ledger: LedgerStore, catalog_snapshot: CatalogSnapshot
) -> None:
    accounts.create_account(ledger, catalog_snapshot, "zeta")
    accounts.grant_pack(ledger, "zeta", "1000000", valid_from_ns=0)
    odd = ["a,b", "{x}", 'q"uote', "back\\slash", "NULL", "é"]
    now = time.time_ns()
    usages = [Usage(usage_id, "zeta", "agent.call", 1, now) for usage_id in odd]
    charge_id = commits.commit(ledger, catalog_snapshot, "r-1", usages).charge_id
    with ledger.read() as tx:
        asked = [*odd, "new", "a", "b"]
        assert tx.committed({"zeta": asked}) == {("zeta", u): charge_id for u in odd}
        assert tx.committed({"zeta": ["a b", "a,b"]}) == {("zeta", "a,b"): charge_id}  # not an id
        assert tx.committed({"zeta": ["a,b"], "nobody": ["a,b"], "empty": []}) == {
            ("zeta", "a,b"): charge_id
        }


def test_a_sqlite_ledger_made_before_budgets_gains_the_budget_column_as_it_opens(
    tmp_path: Any, catalog_snapshot: CatalogSnapshot
) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # accounts as the versions before budgets made it
        conn.execute(
            "CREATE TABLE accounts (account_id TEXT PRIMARY KEY, plan TEXT NOT NULL, "
            "time_zone TEXT NOT NULL, parent_account_id TEXT REFERENCES accounts(account_id), "
            "pay_as_you_go INTEGER NOT NULL, create_time_ns INTEGER NOT NULL)"
        )
        conn.execute("INSERT INTO accounts VALUES ('old', 'basic', 'Asia/Shanghai', NULL, 1, 1)")
    conn.close()
    store = SqliteLedgerStore(str(path))
    try:
        old = accounts.get_account(store, "old")[0]
        assert (old.pay_as_you_go, old.monthly_budget_micros) == (True, None)
        changed = accounts.update_account(
            store, catalog_snapshot, "old", monthly_budget_points="250"
        )
        assert changed.monthly_budget_micros == 250 * 10**6
    finally:
        store.close()
