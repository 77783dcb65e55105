"""What a billing console reads: balances, charge history and monthly statements."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta

from rating_server.catalog.model import CatalogSnapshot
from rating_server.domain_errors import InvalidRequestError, Violation
from rating_server.ids import check_id, require_ids, shown
from rating_server.ledger import capacity
from rating_server.ledger.accounts import load_account, load_main_account, packs_of
from rating_server.ledger.funding import local_day, local_start
from rating_server.ledger.model import (
    FREE,
    PACK,
    PAYG,
    Balance,
    ChargeEntry,
    Statement,
    StatementRow,
)
from rating_server.ledger.reservations import live_reservations
from rating_server.ledger.rows import with_funding
from rating_server.ledger.store import LedgerStore
from rating_server.limits import CHARGE_PAGES
from rating_server.pages import make_token, read_token

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


def day_span(day: str, time_zone: str) -> tuple[int, int]:
    """A local day (YYYY-MM-DD) as [its first instant, the next day's), in nanoseconds."""
    first = date.fromisoformat(day)
    return local_start(first, time_zone), local_start(first + timedelta(days=1), time_zone)


def month_span(month: str, time_zone: str) -> tuple[int, int]:
    """A local month (YYYY-MM) as [its first instant, the next month's), in nanoseconds."""
    year, number = map(int, month.split("-"))
    after = date(year + number // 12, number % 12 + 1, 1)
    return local_start(date(year, number, 1), time_zone), local_start(after, time_zone)


def balance(
    store: LedgerStore, catalog: CatalogSnapshot, account_id: str, day: str = ""
) -> Balance:
    """Free points of ``day`` (default: today in the account's zone), packs, month's bill,
    and the live reservations holding some of them now."""
    violations: list[Violation] = []
    check_id("account_id", account_id, violations)
    problem = _day_problem(day) if day else None
    if problem:
        violations.append(Violation("day", "DAY_INVALID", problem))
    if violations:
        raise InvalidRequestError(violations)
    now = time.time_ns()
    with store.read() as tx:
        account = load_account(tx, account_id)
        main = load_account(tx, account.billing_account_id)
        today = local_day(now, main.time_zone)
        day = day or today
        free_used = tx.free_used(main.account_id, day)
        payg = tx.payg(main.account_id, day[:7])
        packs = packs_of(tx, [main.account_id])
        start, end = day_span(day, main.time_zone)
        held = live_reservations(tx, main.account_id, now)
        bought = capacity.listed(tx.capacity_purchases([main.account_id], start, end))
    # The quota in force now on today, else at the day's first instant.
    at_ns = now if day == today else start
    quota = catalog.plans[main.plan].free_storage_bytes + capacity.extra_bytes(bought, at_ns)
    return Balance(
        billing_account_id=main.account_id,
        day=day,
        free_granted_micros=catalog.plans[main.plan].daily_free_micros,
        free_used_micros=free_used,
        packs=tuple(packs),
        month=day[:7],
        payg_micros=payg,
        reservations=tuple(held),
        capacity=tuple(bought),
        storage_quota_bytes=quota,
        budget_micros=main.monthly_budget_micros,
    )


def _a_sequence(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def list_charges(
    store: LedgerStore,
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
    size = CHARGE_PAGES.size(page_size)
    filters = [account_id, start_ns, end_ns]
    after = read_token(page_token, filters, _a_sequence) if page_token else 0
    with store.read() as tx:
        account = load_account(tx, account_id)
        billing_id = account.billing_account_id
        rows = tx.charge_lines(
            billing_id,
            account_id if account.parent_account_id else None,
            after,
            start_ns,
            end_ns,
            size + 1,
        )
        page = rows[:size]
        funding = tx.line_funding(billing_id, [(e.charge_id, e.line_number) for _, e in page])
    entries = with_funding([entry for _, entry in page], funding)
    next_token = make_token(page[-1][0], filters) if len(rows) > size else ""
    return entries, next_token


def statement(store: LedgerStore, account_id: str, month: str) -> Statement:
    """A month of a main account's usage, voided charges left out, by SKU, category and
    account, with how each was funded."""
    violations: list[Violation] = []
    check_id("account_id", account_id, violations)
    problem = _month_problem(month)
    if problem:
        violations.append(Violation("month", "MONTH_INVALID", problem))
    if violations:
        raise InvalidRequestError(violations)
    with store.read() as tx:
        account = load_main_account(tx, account_id, "gets a statement")
        lines = tx.statement_lines(account_id, month)
        bought = capacity.purchases_of(tx, account_id)
    start, end = month_span(month, account.time_zone)
    paid = sum(p.price_micros for p in bought if start <= p.create_time_ns < end)
    groups: dict[str, dict[str, list[int]]] = {"sku": {}, "category": {}, "account": {}}
    total = [0, 0, 0, 0, 0, 0]
    for line in lines:
        sources = line.funded
        values = (
            line.quantity,
            line.micros,
            sources.get(FREE, 0),
            sources.get(PACK, 0),
            sources.get(PAYG, 0),
            1,
        )
        for group, key in (
            ("sku", line.sku),
            ("category", line.category),
            ("account", line.account_id),
        ):
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
        capacity=tuple(capacity.valid_during(bought, start, end)),
        capacity_paid_micros=paid,
    )
