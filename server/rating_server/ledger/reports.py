"""What a billing console reads: balances, charge history and monthly statements."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from datetime import date

from rating_server.catalog.model import CatalogSnapshot
from rating_server.errors import InvalidRequestError, Violation, check_id, require_ids
from rating_server.ids import shown
from rating_server.ledger.accounts import load_account, load_main_account, packs_of
from rating_server.ledger.database import LedgerDatabase
from rating_server.ledger.funding import local_day
from rating_server.ledger.model import (
    FREE,
    PACK,
    PAYG,
    Balance,
    ChargeEntry,
    FundingPart,
    Statement,
    StatementRow,
)
from rating_server.pages import make_token, read_token

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


# Exactly YYYY-MM-DD and YYYY-MM, ASCII digits: date.fromisoformat() also takes ISO week
# dates ("2026-W48-2") and the basic format ("20261120"), and would read them as days.
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def _day_problem(day: str) -> str | None:
    found = _DAY.fullmatch(day)
    try:
        if found:
            date(*map(int, found.groups()))
            return None
    except ValueError:
        pass
    return f"{shown(day)} is not a day, YYYY-MM-DD"


def _month_problem(month: str) -> str | None:
    found = _MONTH.fullmatch(month)
    if found and int(found[1]) >= 1 and 1 <= int(found[2]) <= 12:
        return None
    return f"{shown(month)} is not a month, YYYY-MM"


def balance(
    db: LedgerDatabase, catalog: CatalogSnapshot, account_id: str, day: str = ""
) -> Balance:
    """Free points of ``day`` (default: today in the account's zone), packs, month's bill."""
    violations: list[Violation] = []
    check_id("account_id", account_id, violations)
    problem = _day_problem(day) if day else None
    if problem:
        violations.append(Violation("day", "DAY_INVALID", problem))
    if violations:
        raise InvalidRequestError(violations)
    with db.read() as conn:
        account = load_account(conn, account_id)
        main = load_account(conn, account.billing_account_id)
        day = day or local_day(time.time_ns(), main.time_zone)
        row = conn.execute(
            "SELECT used_micros FROM free_days WHERE billing_account_id = ? AND day = ?",
            [main.account_id, day],
        ).fetchone()
        payg = conn.execute(
            "SELECT micros FROM payg_months WHERE billing_account_id = ? AND month = ?",
            [main.account_id, day[:7]],
        ).fetchone()
        packs = packs_of(conn, [main.account_id])
    return Balance(
        billing_account_id=main.account_id,
        day=day,
        free_granted_micros=catalog.plans[main.plan].daily_free_micros,
        free_used_micros=row[0] if row else 0,
        packs=tuple(packs),
        month=day[:7],
        payg_micros=payg[0] if payg else 0,
    )


def _a_sequence(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def list_charges(
    db: LedgerDatabase,
    account_id: str,
    start_ns: int | None = None,
    end_ns: int | None = None,
    page_size: int = 0,
    page_token: str = "",
) -> tuple[list[ChargeEntry], str]:
    """Committed lines in commit order: a main account's and its sub-accounts', or one
    sub-account's; only usage in [start, end) when given. One page and the next token."""
    require_ids(account_id=account_id)
    if page_size < 0:
        raise InvalidRequestError(
            [Violation("page_size", "PAGE_SIZE_NEGATIVE", "page_size cannot be negative")]
        )
    if start_ns is not None and end_ns is not None and end_ns <= start_ns:
        raise InvalidRequestError(
            [Violation("end_time", "END_NOT_AFTER_START", "end_time must be after start_time")]
        )
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    filters = [account_id, start_ns, end_ns]
    after = read_token(page_token, filters, _a_sequence) if page_token else 0
    with db.read() as conn:
        account = load_account(conn, account_id)
        column = "account_id" if account.parent_account_id else "billing_account_id"
        where = [f"l.{column} = ?", "l.seq > ?"]
        args: list = [account_id, after]
        if start_ns is not None:
            where.append("l.occurred_at_ns >= ?")
            args.append(start_ns)
        if end_ns is not None:
            where.append("l.occurred_at_ns < ?")
            args.append(end_ns)
        rows = conn.execute(
            "SELECT l.seq, l.charge_id, l.line_number, l.usage_id, l.account_id, "
            "l.billing_account_id, l.sku, l.category, l.quantity, l.micros, l.billed_by, "
            "l.occurred_at_ns, l.commit_time_ns, l.attributes, v.charge_id IS NOT NULL "
            "FROM charge_lines l LEFT JOIN voids v ON v.charge_id = l.charge_id "
            f"WHERE {' AND '.join(where)} ORDER BY l.seq LIMIT ?",
            [*args, size + 1],
        ).fetchall()
        page = rows[:size]
        funding = _funding_of(conn, [(row[1], row[2]) for row in page])
    entries = [
        ChargeEntry(
            charge_id=row[1],
            line_number=row[2],
            usage_id=row[3],
            account_id=row[4],
            billing_account_id=row[5],
            sku=row[6],
            category=row[7],
            quantity=row[8],
            micros=row[9],
            billed_by=row[10],
            occurred_at_ns=row[11],
            commit_time_ns=row[12],
            funding=funding.get((row[1], row[2]), ()),
            voided=bool(row[14]),
            attributes=json.loads(row[13]) if row[13] else {},
        )
        for row in page
    ]
    next_token = make_token(page[-1][0], filters) if len(rows) > size else ""
    return entries, next_token


def _funding_of(
    conn: sqlite3.Connection, lines: list[tuple[str, int]]
) -> dict[tuple[str, int], tuple[FundingPart, ...]]:
    found: dict[tuple[str, int], list[FundingPart]] = {}
    for charge_id in {charge for charge, _ in lines}:
        for number, source, micros, pack_id, day, month in conn.execute(
            "SELECT line_number, source, micros, pack_id, day, month FROM funding_entries "
            "WHERE charge_id = ? AND reversal = 0 ORDER BY seq",
            [charge_id],
        ):
            found.setdefault((charge_id, number), []).append(
                FundingPart(source, micros, pack_id or "", day or "", month or "")
            )
    return {key: tuple(parts) for key, parts in found.items()}


def statement(db: LedgerDatabase, account_id: str, month: str) -> Statement:
    """A month of a main account's usage, voided charges left out, by SKU, category and
    account, with how each was funded."""
    violations: list[Violation] = []
    check_id("account_id", account_id, violations)
    problem = _month_problem(month)
    if problem:
        violations.append(Violation("month", "MONTH_INVALID", problem))
    if violations:
        raise InvalidRequestError(violations)
    with db.read() as conn:
        account = load_main_account(conn, account_id, "gets a statement")
        lines = conn.execute(
            "SELECT l.charge_id, l.line_number, l.sku, l.category, l.account_id, l.quantity, "
            "l.micros FROM charge_lines l WHERE l.billing_account_id = ? AND l.month = ? "
            "AND NOT EXISTS (SELECT 1 FROM voids v WHERE v.charge_id = l.charge_id)",
            [account_id, month],
        ).fetchall()
        funding: dict[tuple[str, int], dict[str, int]] = {}
        for charge_id, number, source, micros in conn.execute(
            "SELECT f.charge_id, f.line_number, f.source, f.micros FROM funding_entries f "
            "JOIN charge_lines l ON l.charge_id = f.charge_id AND l.line_number = f.line_number "
            "WHERE l.billing_account_id = ? AND l.month = ? AND f.reversal = 0 "
            "AND NOT EXISTS (SELECT 1 FROM voids v WHERE v.charge_id = l.charge_id)",
            [account_id, month],
        ):
            sources = funding.setdefault((charge_id, number), {})
            sources[source] = sources.get(source, 0) + micros
    groups: dict[str, dict[str, list[int]]] = {"sku": {}, "category": {}, "account": {}}
    total = [0, 0, 0, 0, 0, 0]
    for charge_id, number, sku, category, line_account, quantity, micros in lines:
        sources = funding.get((charge_id, number), {})
        values = (
            quantity,
            micros,
            sources.get(FREE, 0),
            sources.get(PACK, 0),
            sources.get(PAYG, 0),
            1,
        )
        for group, key in (("sku", sku), ("category", category), ("account", line_account)):
            sums = groups[group].setdefault(key, [0, 0, 0, 0, 0, 0])
            for position, value in enumerate(values):
                sums[position] += value
        for position, value in enumerate(values):
            total[position] += value

    def rows(group: str) -> tuple[StatementRow, ...]:
        return tuple(StatementRow(key, *sums) for key, sums in sorted(groups[group].items()))

    return Statement(
        account_id=account_id,
        month=month,
        time_zone=account.time_zone,
        by_sku=rows("sku"),
        by_category=rows("category"),
        by_account=rows("account"),
        total=StatementRow("total", *total),
    )
