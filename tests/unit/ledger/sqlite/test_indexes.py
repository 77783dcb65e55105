"""The ledger's reads do not grow with it: every statement the service runs on it
searches an index, and no index on its lines is kept that no read uses.

SQLite's engine alone: its statements as SQLite traces them, and SQLite's query plans.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import seeded_database

from rating_server.catalog.cache import CatalogCache
from rating_server.engine import Usage
from rating_server.ledger import accounts, commits, invariants, reports, voids
from rating_server.ledger.sqlite import database
from rating_server.ledger.sqlite.database import LedgerDatabase
from rating_server.ledger.stores import open_ledger

#: Tables that grow with the ledger; a scan of one grows with it.
GROWING = ("charges", "charge_lines", "funding_entries", "voids", "free_days", "payg_months")


@pytest.fixture
def traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, list[str]]]:
    """A seeded database, and every statement ledger connections run on it."""
    path = seeded_database(tmp_path / "ledger.db")
    statements: list[str] = []

    def connect(where: str | Path, create: bool = True) -> sqlite3.Connection:
        conn = database.open_connection(where, check_same_thread=False, create=create)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(database, "open_ledger_connection", connect)
    yield path, statements


#: A plan's step that searches an index: (index, its constraint).
SEARCH = re.compile(r"SEARCH \w+ USING (?:COVERING )?INDEX (\w+) \((.*)\)")


def plan(path: Path, statement: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}")]


def indexes_of(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        query = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
        return {row[0] for row in conn.execute(query, [table])}


def test_every_read_of_commits_voids_lists_statements_and_balances_searches_an_index(
    traced: tuple[Path, list[str]],
) -> None:
    path, statements = traced
    catalog = CatalogCache(path).snapshot
    ledger = open_ledger(path)
    accounts.create_account(ledger, catalog, "acme", plan="pro", pay_as_you_go=True)
    accounts.create_account(ledger, catalog, "acme-eu", parent_account_id="acme")
    accounts.grant_pack(ledger, "acme", "5", valid_from_ns=0)
    now = time.time_ns()
    for number in range(3):
        usages = [
            Usage(f"u-{number}-{i}", account, "agent.call", 1, now)
            for i, account in enumerate(["acme", "acme-eu"] * 2)
        ]
        receipt = commits.commit(ledger, catalog, f"r-{number}", usages)
    commits.commit(ledger, catalog, "r-2", usages)  # a retry, replayed
    commits.commit(ledger, catalog, "r-3", usages)  # the same usage again: duplicates
    voids.void(ledger, receipt.charge_id, "test")
    commits.preview(ledger, catalog, "acme", usages)
    month = time.strftime("%Y-%m", time.gmtime(now / 1e9))
    reports.list_charges(ledger, "acme", page_size=2)
    reports.list_charges(ledger, "acme-eu", start_ns=0, end_ns=now + 1)
    reports.statement(ledger, "acme", month)
    reports.balance(ledger, catalog, "acme-eu")

    reads = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE"))]
    steps = [step for statement in reads for step in plan(path, statement)]
    assert len(reads) > 20
    assert [step for step in steps if step.startswith("SCAN") and step.split()[1] in GROWING] == []
    # Lines are always found by account and one more key (usage_id, month, or a page's
    # start), never by account alone; and each index on them serves some read.
    line_indexes = indexes_of(path, "charge_lines")
    searches = {found.groups() for step in steps if (found := SEARCH.match(step))}
    on_lines = {(index, where) for index, where in searches if index in line_indexes}
    assert {where for _, where in on_lines if " AND " not in where} == set()
    assert {index for index, _ in on_lines} == line_indexes


def test_a_ledger_made_with_indexes_no_read_needs_loses_them_when_opened(
    tmp_path: Path,
) -> None:
    path = seeded_database(tmp_path / "ledger.db")
    LedgerDatabase(path)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE INDEX lines_by_charge ON charge_lines(charge_id, line_number)")
        conn.execute("DROP INDEX lines_by_sub_account")
        conn.execute("CREATE INDEX lines_by_account ON charge_lines(account_id, seq)")

    LedgerDatabase(path)

    with sqlite3.connect(path) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert not {"lines_by_charge", "lines_by_account"} & names
    assert {"lines_by_month", "lines_by_sub_account", "lines_by_billing_account"} <= names


def test_a_ledger_made_before_lines_carried_their_funding_gains_the_columns_and_commits(
    tmp_path: Path,
) -> None:
    path = seeded_database(tmp_path / "ledger.db")
    LedgerDatabase(path)
    with sqlite3.connect(path) as conn:
        for table, column in [
            ("charge_lines", "source"),
            ("charge_lines", "pack_id"),
            ("charge_lines", "day"),
            ("charges", "first_line_seq"),
            ("charges", "last_line_seq"),
        ]:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")

    catalog = CatalogCache(path).snapshot
    ledger = open_ledger(path)
    accounts.create_account(ledger, catalog, "acme", plan="pro", pay_as_you_go=True)
    usages = [Usage(f"u-{i}", "acme", "agent.call", 300, time.time_ns()) for i in range(3)]
    receipt = commits.commit(ledger, catalog, "r-1", usages)
    voided = voids.void(ledger, receipt.charge_id, "test")

    assert sum(part.micros for part in voided.reversals) == -receipt.total_micros
    assert invariants.check(ledger) == []
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(charge_lines)")}
    assert {"source", "pack_id", "day"} <= columns
