"""Draw-down at the ledger level (``ledger/funding.py``): free points, packs, the bill;
days and months."""

from __future__ import annotations

import dataclasses
import sqlite3
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import GIB

from rating_server.catalog.model import CatalogSnapshot
from rating_server.domain_errors import (
    FailedPreconditionError,
    InvalidRequestError,
    InvalidUsageError,
    NotFoundError,
)
from rating_server.engine import Limits, Usage
from rating_server.ledger import accounts, commits, funding, invariants, reports, voids
from rating_server.ledger.funding import LocalDays, local_day
from rating_server.ledger.model import FREE, PACK, PAYG, FundingPart, Receipt
from rating_server.ledger.sqlite.store import SqliteLedgerStore
from rating_server.ledger.store import LedgerStore

POINT = 10**6
# These rules hold whenever usage happens; the dates below may be ahead of the clock.
ANY_TIME = Limits(max_future_ns=10**18)


def ns(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp()) * 10**9


class Book:
    """A small driver: commits agent calls (2 points each) for readable amounts."""

    def __init__(self, ledger: LedgerStore, catalog: CatalogSnapshot) -> None:
        self.ledger, self.catalog = ledger, catalog
        self._requests = 0

    def account(self, account_id: str, **fields: object) -> None:
        accounts.create_account(self.ledger, self.catalog, account_id, **fields)  # type: ignore[arg-type]

    def pack(
        self,
        account_id: str,
        points: str,
        valid_from: str,
        expires: str | None = None,
        priority: int = 0,
    ) -> str:
        return accounts.grant_pack(
            self.ledger,
            account_id,
            points,
            valid_from_ns=ns(valid_from),
            expire_time_ns=ns(expires) if expires else None,
            priority=priority,
        ).pack_id

    def commit(self, *items: tuple[str, int, str], sku: str = "agent.call") -> Receipt:
        self._requests += 1
        usages = [
            Usage(f"u-{self._requests}-{i}", account, sku, quantity, ns(when))
            for i, (account, quantity, when) in enumerate(items)
        ]
        return commits.commit(
            self.ledger, self.catalog, f"r-{self._requests}", usages, limits=ANY_TIME
        )

    def check(self) -> None:
        assert invariants.check(self.ledger) == []


@pytest.fixture
def book(ledger: LedgerStore, catalog_snapshot: CatalogSnapshot):
    driver = Book(ledger, catalog_snapshot)
    yield driver
    driver.check()


def parts(receipt: Receipt, line: int = 0) -> list[tuple[str, int, str]]:
    return [
        (p.source, p.micros // POINT, p.day or p.pack_id or p.month)
        for p in receipt.lines[line].funding
    ]


def test_the_spec_example_300_then_350_points_on_one_day(book: Book) -> None:
    book.account("acme", plan="pro")
    first = book.commit(("acme", 150, "2026-11-27T04:00:00+00:00"))
    assert parts(first) == [(FREE, 300, "2026-11-27")]
    second = book.commit(("acme", 175, "2026-11-27T09:00:00+00:00"))
    assert parts(second) == [(FREE, 200, "2026-11-27"), (PAYG, 150, "2026-11")]
    balance = reports.balance(book.ledger, book.catalog, "acme", "2026-11-27")
    assert (balance.free_used_micros, balance.free_left_micros) == (500 * POINT, 0)
    assert balance.payg_micros == 150 * POINT


def test_the_day_turns_at_16_utc_in_shanghai(book: Book) -> None:
    book.account("acme")
    before = book.commit(("acme", 250, "2026-11-27T15:59:59+00:00"))
    after = book.commit(("acme", 250, "2026-11-27T16:00:00+00:00"))
    assert parts(before) == [(FREE, 500, "2026-11-27")]
    assert parts(after) == [(FREE, 500, "2026-11-28")]


def test_an_account_in_another_zone_has_its_own_days(book: Book) -> None:
    book.account("berlin", time_zone="Europe/Berlin")
    receipt = book.commit(("berlin", 1, "2026-11-27T23:30:00+00:00"))
    assert parts(receipt) == [(FREE, 2, "2026-11-28")]


def test_late_usage_draws_on_the_allowance_of_the_day_it_happened(book: Book) -> None:
    book.account("acme")
    book.commit(("acme", 250, "2026-11-27T04:00:00+00:00"))  # 27th used up
    late = book.commit(("acme", 10, "2026-11-26T04:00:00+00:00"))
    assert parts(late) == [(FREE, 20, "2026-11-26")]
    again = book.commit(("acme", 10, "2026-11-27T05:00:00+00:00"))
    assert parts(again) == [(PAYG, 20, "2026-11")]


def test_the_bill_belongs_to_the_month_the_usage_happened_in_its_zone(book: Book) -> None:
    book.account("acme")
    book.commit(
        ("acme", 250, "2026-11-30T10:00:00+00:00"), ("acme", 250, "2026-11-30T17:00:00+00:00")
    )
    november = book.commit(("acme", 1, "2026-11-30T15:59:59+00:00"))
    december = book.commit(("acme", 1, "2026-11-30T16:00:01+00:00"))
    assert parts(november) == [(PAYG, 2, "2026-11")]
    assert parts(december) == [(PAYG, 2, "2026-12")]


def test_a_pack_funds_usage_from_valid_from_inclusive_to_expiry_exclusive(book: Book) -> None:
    book.account("acme")
    pack = book.pack("acme", "1000", "2026-11-27T05:00:00+00:00", "2026-11-27T07:00:00+00:00")
    book.commit(("acme", 250, "2026-11-27T04:00:00+00:00"))  # free points gone
    early = book.commit(("acme", 1, "2026-11-27T04:59:59+00:00"))
    start = book.commit(("acme", 1, "2026-11-27T05:00:00+00:00"))
    last = book.commit(("acme", 1, "2026-11-27T06:59:59+00:00"))
    end = book.commit(("acme", 1, "2026-11-27T07:00:00+00:00"))
    assert [parts(r)[0][0] for r in (early, start, last, end)] == [PAYG, PACK, PACK, PAYG]
    assert parts(start) == [(PACK, 2, pack)]


def test_packs_are_drawn_by_priority_then_expiry_then_creation(book: Book) -> None:
    book.account("acme")
    day = "2026-11-01T00:00:00+00:00"
    late_expiry = book.pack("acme", "1", day, "2026-12-31T00:00:00+00:00")
    never = book.pack("acme", "1", day)
    early_expiry = book.pack("acme", "1", day, "2026-12-01T00:00:00+00:00")
    low_priority = book.pack("acme", "1", day, priority=9)
    urgent = book.pack("acme", "1", day, priority=-1)
    also_early = book.pack("acme", "1", day, "2026-12-01T00:00:00+00:00")
    book.commit(("acme", 250, "2026-11-27T04:00:00+00:00"))
    receipt = book.commit(("acme", 4, "2026-11-27T05:00:00+00:00"))  # 8 points
    assert parts(receipt) == [
        (PACK, 1, urgent),
        (PACK, 1, early_expiry),
        (PACK, 1, also_early),
        (PACK, 1, late_expiry),
        (PACK, 1, never),
        (PACK, 1, low_priority),
        (PAYG, 2, "2026-11"),
    ]


def test_one_line_splits_across_free_points_packs_and_the_bill(book: Book) -> None:
    book.account("acme")
    first = book.pack("acme", "100.5", "2026-11-01T00:00:00+00:00", priority=1)
    second = book.pack("acme", "50", "2026-11-01T00:00:00+00:00", priority=2)
    book.commit(("acme", 200, "2026-11-27T04:00:00+00:00"))  # 400 of the 500 free
    receipt = book.commit(
        ("acme", 1234, "2026-11-27T05:00:00+00:00"), sku="model.deepseek-r1.output"
    )  # 19.744 points
    big = book.commit(("acme", 100, "2026-11-27T05:00:00+00:00"))  # 200 points
    assert parts(receipt) == [(FREE, 19, "2026-11-27")]
    assert [(p.source, p.micros) for p in receipt.lines[0].funding] == [(FREE, 19_744_000)]
    assert [(p.source, p.micros, p.pack_id or p.day or p.month) for p in big.lines[0].funding] == [
        (FREE, 80_256_000, "2026-11-27"),
        (PACK, 100_500_000, first),
        (PACK, 19_244_000, second),
    ]
    assert sum(p.micros for p in big.lines[0].funding) == big.lines[0].micros
    again = book.commit(("acme", 20, "2026-11-27T06:00:00+00:00"))  # 40 points
    assert [(p.source, p.micros) for p in again.lines[0].funding] == [
        (PACK, 30_756_000),
        (PAYG, 9_244_000),
    ]


def test_lines_of_one_batch_draw_down_in_request_order(book: Book) -> None:
    book.account("acme")
    receipt = book.commit(
        ("acme", 200, "2026-11-27T04:00:00+00:00"),
        ("acme", 100, "2026-11-27T04:00:00+00:00"),
        ("acme", 10, "2026-11-27T04:00:00+00:00"),
    )
    assert [parts(receipt, i) for i in range(3)] == [
        [(FREE, 400, "2026-11-27")],
        [(FREE, 100, "2026-11-27"), (PAYG, 100, "2026-11")],
        [(PAYG, 20, "2026-11")],
    ]


def test_sub_accounts_share_their_main_accounts_allowance_and_packs(book: Book) -> None:
    book.account("acme")
    book.account("acme-dev", parent_account_id="acme")
    book.account("acme-ops", parent_account_id="acme")
    pack = book.pack("acme", "100", "2026-11-01T00:00:00+00:00")
    dev = book.commit(("acme-dev", 200, "2026-11-27T04:00:00+00:00"))
    ops = book.commit(("acme-ops", 100, "2026-11-27T04:00:00+00:00"))
    assert parts(dev) == [(FREE, 400, "2026-11-27")]
    assert parts(ops) == [(FREE, 100, "2026-11-27"), (PACK, 100, pack)]
    assert ops.lines[0].billing_account_id == "acme"
    assert (
        reports.balance(book.ledger, book.catalog, "acme-ops", "2026-11-27").free_left_micros == 0
    )


def test_ark_and_zero_point_lines_draw_nothing(book: Book) -> None:
    book.account("acme")
    ark = book.commit(("acme", 10_000, "2026-11-27T04:00:00+00:00"), sku="model.ark.ep-1.input")
    zero = book.commit(("acme", 0, "2026-11-27T04:00:00+00:00"))
    assert ark.lines[0].funding == () and ark.lines[0].billed_by == "ark"
    assert zero.lines[0].funding == ()
    assert reports.balance(book.ledger, book.catalog, "acme", "2026-11-27").free_used_micros == 0


def test_storage_is_priced_beyond_the_accounts_plan_quota(book: Book) -> None:
    book.account("acme", plan="pro")
    usage = Usage(
        "s-1",
        "acme",
        "knowledge.storage",
        int(12.5 * GIB),
        ns("2026-11-27T04:00:00+00:00"),
        duration_ns=2 * 3600 * 10**9,
    )
    receipt = commits.commit(book.ledger, book.catalog, "storage-1", [usage], limits=ANY_TIME)
    assert receipt.lines[0].micros == 7_500_000


def test_a_void_returns_the_funding_where_it_came_from_and_twice_is_harmless(book: Book) -> None:
    book.account("acme")
    pack = book.pack("acme", "100", "2026-11-01T00:00:00+00:00")
    receipt = book.commit(("acme", 300, "2026-11-27T04:00:00+00:00"))  # 500 free, 100 pack
    assert parts(receipt) == [(FREE, 500, "2026-11-27"), (PACK, 100, pack)]
    later = book.commit(("acme", 1, "2026-11-27T05:00:00+00:00"))
    assert parts(later) == [(PAYG, 2, "2026-11")]
    result = voids.void(book.ledger, receipt.charge_id, "test")
    assert not result.already_voided
    assert [(p.source, p.micros) for p in result.reversals] == [
        (FREE, -500 * POINT),
        (PACK, -100 * POINT),
    ]
    balance = reports.balance(book.ledger, book.catalog, "acme", "2026-11-27")
    assert balance.free_used_micros == 0
    assert balance.packs[0].remaining_micros == 100 * POINT
    assert balance.payg_micros == 2 * POINT
    book.check()
    second = voids.void(book.ledger, receipt.charge_id)
    assert second.already_voided and second.void_time_ns == result.void_time_ns
    assert reports.balance(book.ledger, book.catalog, "acme", "2026-11-27") == balance


def test_a_voided_pay_as_you_go_line_leaves_the_bill(book: Book) -> None:
    book.account("acme")
    book.commit(("acme", 250, "2026-11-27T04:00:00+00:00"))
    billed = book.commit(("acme", 5, "2026-11-27T05:00:00+00:00"))
    voids.void(book.ledger, billed.charge_id)
    assert reports.balance(book.ledger, book.catalog, "acme", "2026-11-27").payg_micros == 0


def test_voiding_an_unknown_charge_is_not_found(book: Book) -> None:
    with pytest.raises(NotFoundError):
        voids.void(book.ledger, "ch_nope")


@pytest.mark.sqlite_only  # PostgreSQL's: test_postgres_migrate
def test_the_ledger_refuses_updates_and_deletes(book: Book) -> None:
    book.account("acme")
    receipt = book.commit(("acme", 1, "2026-11-27T04:00:00+00:00"))
    voids.void(book.ledger, receipt.charge_id)  # a reversal: a funding entry
    assert isinstance(book.ledger, SqliteLedgerStore)
    with book.ledger.database.write() as conn:
        for statement in (
            "UPDATE charge_lines SET micros = 0",
            "DELETE FROM charge_lines",
            "DELETE FROM funding_entries",
            "DELETE FROM charges",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)


def test_accounts_refuse_bad_fields_nested_sub_accounts_and_packs_on_sub_accounts(
    book: Book,
) -> None:
    book.account("acme")
    with pytest.raises(InvalidRequestError) as bad:
        book.account("x y", plan="gold", time_zone="Mars/Olympus")
    assert [v.reason for v in bad.value.violations] == [
        "ACCOUNT_ID_INVALID",
        "PLAN_UNKNOWN",
        "TIME_ZONE_UNKNOWN",
    ]
    book.account("acme-dev", parent_account_id="acme")
    with pytest.raises(FailedPreconditionError):
        book.account("acme-dev-2", parent_account_id="acme-dev")
    with pytest.raises(FailedPreconditionError):
        book.pack("acme-dev", "1", "2026-11-01T00:00:00+00:00")
    with pytest.raises(NotFoundError):
        book.account("orphan", parent_account_id="nobody")
    changed = accounts.update_account(
        book.ledger, book.catalog, "acme", plan="pro", pay_as_you_go=True
    )
    assert (changed.plan, changed.pay_as_you_go) == ("pro", True)
    assert accounts.get_account(book.ledger, "acme-dev")[0].plan == "pro"


def test_a_budget_is_set_at_creation_changed_and_removed_on_a_main_account_only(
    book: Book,
) -> None:
    book.account("acme", monthly_budget_points="1500.5")
    assert accounts.get_account(book.ledger, "acme")[0].monthly_budget_micros == 1_500_500_000
    changed = accounts.update_account(book.ledger, book.catalog, "acme", plan="pro")
    assert changed.monthly_budget_micros == 1_500_500_000  # not given: kept
    changed = accounts.update_account(
        book.ledger, book.catalog, "acme", monthly_budget_points="0.000001"
    )
    assert changed.monthly_budget_micros == 1
    removed = accounts.update_account(book.ledger, book.catalog, "acme", monthly_budget_points="")
    assert removed.monthly_budget_micros is None
    with pytest.raises(InvalidRequestError) as bad:
        book.account("acme-dev", parent_account_id="acme", monthly_budget_points="10")
    assert [(v.field, v.reason) for v in bad.value.violations] == [
        ("monthly_budget_points", "SET_ON_MAIN_ACCOUNT")
    ]
    book.account("acme-dev", parent_account_id="acme")
    with pytest.raises(FailedPreconditionError) as sub:
        accounts.update_account(book.ledger, book.catalog, "acme-dev", monthly_budget_points="1")
    assert sub.value.reason == "SUB_ACCOUNT"


def test_alert_thresholds_are_set_read_and_replaced_whole(book: Book) -> None:
    book.account("acme", monthly_budget_points="1000")
    assert accounts.get_alert_thresholds(book.ledger, "acme").empty  # none set yet
    first = accounts.set_alert_thresholds(
        book.ledger,
        "acme",
        free_points_below="100",
        pack_points_below="50.5",
        pack_percent_below=10,
        pay_as_you_go_points_above="200",
        pay_as_you_go_budget_percent_above=80,
    )
    assert accounts.get_alert_thresholds(book.ledger, "acme") == first
    assert (first.free_below_micros, first.pack_below_micros) == (100 * POINT, 50_500_000)
    assert (first.pack_percent_below, first.payg_above_micros) == (10, 200 * POINT)
    assert first.payg_budget_percent_above == 80
    # Set replaces every threshold: those not given are gone.
    second = accounts.set_alert_thresholds(book.ledger, "acme", pack_percent_below=5)
    assert accounts.get_alert_thresholds(book.ledger, "acme") == second
    assert (second.free_below_micros, second.pack_percent_below) == (None, 5)
    # The same again changes nothing; none at all clears them.
    assert accounts.set_alert_thresholds(book.ledger, "acme", pack_percent_below=5) == second
    accounts.set_alert_thresholds(book.ledger, "acme")
    assert accounts.get_alert_thresholds(book.ledger, "acme").empty


def test_bad_thresholds_name_each_field_and_write_nothing(book: Book) -> None:
    book.account("acme")
    kept = accounts.set_alert_thresholds(book.ledger, "acme", free_points_below="7")
    with pytest.raises(InvalidRequestError) as bad:
        accounts.set_alert_thresholds(
            book.ledger,
            "acme",
            free_points_below="0",
            pack_points_below="1.0000001",
            pack_percent_below=101,
            pay_as_you_go_points_above="-1",
            pay_as_you_go_budget_percent_above=-1,
        )
    assert [(v.field, v.reason) for v in bad.value.violations] == [
        ("free_points_below", "POINTS_INVALID"),
        ("pack_points_below", "POINTS_INVALID"),
        ("pay_as_you_go_points_above", "POINTS_INVALID"),
        ("pack_percent_below", "PERCENT_INVALID"),
        ("pay_as_you_go_budget_percent_above", "PERCENT_INVALID"),
    ]
    with pytest.raises(FailedPreconditionError) as no_budget:  # the percent needs a budget
        accounts.set_alert_thresholds(
            book.ledger, "acme", free_points_below="1", pay_as_you_go_budget_percent_above=50
        )
    assert no_budget.value.reason == "BUDGET_MISSING"
    book.account("acme-dev", parent_account_id="acme")
    for call in (
        lambda: accounts.set_alert_thresholds(book.ledger, "acme-dev", free_points_below="1"),
        lambda: accounts.get_alert_thresholds(book.ledger, "acme-dev"),
    ):
        with pytest.raises(FailedPreconditionError) as sub:
            call()
        assert sub.value.reason == "SUB_ACCOUNT"
    with pytest.raises(NotFoundError):
        accounts.set_alert_thresholds(book.ledger, "nobody", free_points_below="1")
    assert accounts.get_alert_thresholds(book.ledger, "acme") == kept


def test_statement_sums_a_month_by_sku_category_and_account_without_voided_charges(
    book: Book,
) -> None:
    book.account("acme")
    book.account("acme-dev", parent_account_id="acme")
    book.commit(("acme", 200, "2026-11-27T04:00:00+00:00"))  # 400 free
    book.commit(("acme-dev", 100, "2026-11-27T05:00:00+00:00"))  # 100 free + 100 bill
    book.commit(
        ("acme-dev", 1234, "2026-11-27T06:00:00+00:00"), sku="model.doubao-lite-32k.input"
    )  # 0.3702 bill
    voided = book.commit(("acme", 1000, "2026-11-27T07:00:00+00:00"))
    voids.void(book.ledger, voided.charge_id)
    book.commit(("acme", 1, "2026-12-01T04:00:00+00:00"))  # December
    statement = reports.statement(book.ledger, "acme", "2026-11")
    assert [(r.key, r.quantity, r.micros, r.lines) for r in statement.by_sku] == [
        ("agent.call", 300, 600 * POINT, 2),
        ("model.doubao-lite-32k.input", 1234, 370_200, 1),
    ]
    assert [r.key for r in statement.by_category] == ["agent", "model"]
    assert [(r.key, r.micros) for r in statement.by_account] == [
        ("acme", 400 * POINT),
        ("acme-dev", 200 * POINT + 370_200),
    ]
    total = statement.total
    assert (total.free_micros, total.pack_micros, total.payg_micros) == (
        500 * POINT,
        0,
        100 * POINT + 370_200,
    )
    with pytest.raises(FailedPreconditionError):
        reports.statement(book.ledger, "acme-dev", "2026-11")
    with pytest.raises(InvalidRequestError):
        reports.statement(book.ledger, "acme", "2026-13")


def test_list_charges_pages_through_lines_in_commit_order_within_a_time_range(book: Book) -> None:
    book.account("acme")
    book.account("acme-dev", parent_account_id="acme")
    for hour in range(10):
        book.commit((("acme", "acme-dev")[hour % 2], 1, f"2026-11-27T{hour:02d}:00:00+00:00"))
    seen, token = [], ""
    while True:
        page, token = reports.list_charges(book.ledger, "acme", page_size=3, page_token=token)
        seen += page
        if not token:
            break
    assert [e.occurred_at_ns for e in seen] == [
        ns(f"2026-11-27T{h:02d}:00:00+00:00") for h in range(10)
    ]
    dev, _ = reports.list_charges(book.ledger, "acme-dev")
    assert len(dev) == 5 and {e.account_id for e in dev} == {"acme-dev"}
    window, _ = reports.list_charges(
        book.ledger,
        "acme",
        start_ns=ns("2026-11-27T02:00:00+00:00"),
        end_ns=ns("2026-11-27T05:00:00+00:00"),
    )
    assert len(window) == 3
    assert window[0].funding == (FundingPart(FREE, 2 * POINT, day="2026-11-27"),)
    with pytest.raises(InvalidRequestError):
        reports.list_charges(book.ledger, "acme", page_token="bogus")


def test_storage_is_sampled_on_the_main_account_whose_quota_it_is(book: Book) -> None:
    book.account("acme")
    book.account("acme-dev", parent_account_id="acme")
    usage = Usage(
        "s-1",
        "acme-dev",
        "knowledge.storage",
        20 * GIB,
        ns("2026-11-27T04:00:00+00:00"),
        duration_ns=3600 * 10**9,
    )
    with pytest.raises(InvalidUsageError) as caught:
        commits.commit(book.ledger, book.catalog, "storage-sub", [usage], limits=ANY_TIME)
    assert [(v.field, v.reason) for v in caught.value.violations] == [
        ("items[0].account_id", "STORAGE_ON_SUB_ACCOUNT")
    ]


def test_a_month_bill_never_passes_the_accrual_ceiling(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    book.account("acme")
    book.commit(("acme", 250, "2026-11-27T04:00:00+00:00"))  # the free points
    monkeypatch.setattr(commits, "MAX_ACCRUAL_MICROS", 100 * POINT)
    book.commit(("acme", 50, "2026-11-27T05:00:00+00:00"))  # 100 points: at the ceiling
    with pytest.raises(FailedPreconditionError) as caught:
        book.commit(("acme", 1, "2026-11-27T06:00:00+00:00"))
    assert caught.value.reason == "ACCRUAL_LIMIT"
    assert (
        reports.balance(book.ledger, book.catalog, "acme", "2026-11-27").payg_micros == 100 * POINT
    )


def test_a_void_reason_is_bounded(book: Book) -> None:
    book.account("acme")
    receipt = book.commit(("acme", 1, "2026-11-27T04:00:00+00:00"))
    with pytest.raises(InvalidRequestError):
        voids.void(book.ledger, receipt.charge_id, "x" * 513)
    assert not voids.void(book.ledger, receipt.charge_id, "x" * 512).already_voided


ZONES = [
    "Asia/Shanghai",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Africa/Monrovia",
    "Europe/Amsterdam",
    "Pacific/Apia",
    "UTC",
]


@settings(max_examples=300)
@given(
    st.sampled_from(ZONES),
    st.lists(
        st.integers(min_value=-2_208_988_800 * 10**9, max_value=4_102_444_800 * 10**9),
        min_size=1,
        max_size=20,
    ),
    st.integers(min_value=0, max_value=120 * 10**9),
)
def test_local_days_worked_out_per_minute_are_each_instants_own_day(
    zone: str, instants: list[int], spread: int
) -> None:
    # Instants close together (within ``spread``), so minutes are shared and cached.
    days = LocalDays()
    for at in instants:
        for nearby in (at, at + spread, at - spread):
            assert days(nearby, zone) == local_day(nearby, zone)


def test_local_days_are_exact_across_midnight_and_a_zone_with_seconds_in_its_offset() -> None:
    days = LocalDays()
    # Monrovia kept -0:44:30 until 1972: its midnight fell at 44 min 30 s past a UTC hour.
    midnight = int(datetime(1970, 6, 1, 0, 44, 30, tzinfo=UTC).timestamp()) * 10**9
    for at in range(midnight - 60 * 10**9, midnight + 60 * 10**9, 10**9):
        assert days(at, "Africa/Monrovia") == local_day(at, "Africa/Monrovia")
    shanghai_midnight = int(datetime(2026, 11, 27, 16, 0, tzinfo=UTC).timestamp()) * 10**9
    assert days(shanghai_midnight - 1, "Asia/Shanghai") == "2026-11-27"
    assert days(shanghai_midnight, "Asia/Shanghai") == "2026-11-28"


@pytest.fixture
def host_zone_files(tmp_path: Path) -> Iterator[Path]:
    """A host zoneinfo directory of the test's making, searched first while it runs."""

    def forget() -> None:
        zoneinfo.ZoneInfo.clear_cache()
        funding.zone.cache_clear()

    zoneinfo.reset_tzpath([str(tmp_path)])
    forget()
    try:
        yield tmp_path
    finally:
        zoneinfo.reset_tzpath()
        forget()


def test_a_zone_keeps_tzdatas_rules_whatever_zone_files_the_host_has(
    host_zone_files: Path,
) -> None:
    """The host's files could say anything: here its Asia/Shanghai is UTC."""
    fake = host_zone_files / "Asia" / "Shanghai"
    fake.parent.mkdir()
    fake.write_bytes(resources.files("tzdata.zoneinfo").joinpath("UTC").read_bytes())
    host_shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
    assert datetime(2026, 11, 27, tzinfo=host_shanghai).utcoffset() == timedelta(0)  # the fake
    assert local_day(ns("2026-11-27T16:30:00+00:00"), "Asia/Shanghai") == "2026-11-28"


@pytest.mark.parametrize(
    "name",
    ["localtime", "posixrules", "Factory", "posix/Asia/Shanghai", "right/UTC", "asia/shanghai"],
)
def test_only_tzdatas_zone_names_are_account_zones(book: Book, name: str) -> None:
    with pytest.raises(InvalidRequestError) as bad:
        book.account("acme", time_zone=name)
    assert [(v.field, v.reason) for v in bad.value.violations] == [
        ("time_zone", "TIME_ZONE_UNKNOWN")
    ]


def test_a_retry_is_replayed_after_its_sku_left_the_catalog_but_refused_when_invalid(
    book: Book,
) -> None:
    book.account("acme")
    receipt = book.commit(("acme", 10, "2026-11-27T04:00:00+00:00"))
    usages = [Usage("u-1-0", "acme", "agent.call", 10, ns("2026-11-27T04:00:00+00:00"))]
    catalog = book.catalog
    without = CatalogSnapshot(
        catalog.version + 1,
        [s for s in catalog.skus.values() if s.id != "agent.call"],
        catalog.plans,
    )
    again = commits.commit(book.ledger, without, "r-1", usages, limits=ANY_TIME)
    assert again == dataclasses.replace(receipt, replayed=True)
    with pytest.raises(InvalidUsageError) as refused:
        commits.commit(book.ledger, without, "r-1", [usages[0]._replace(quantity=-10)])
    assert [v.reason for v in refused.value.violations] == ["QUANTITY_NEGATIVE"]


def test_a_retry_is_matched_by_the_bytes_sent_and_by_the_usages_when_stored_before(
    book: Book,
) -> None:
    book.account("acme")
    usages = [Usage("u-1", "acme", "agent.call", 10, ns("2026-11-27T04:00:00+00:00"))]
    other = [usages[0]._replace(quantity=11)]

    def commit(request_id: str, items: list[Usage], sent: bytes | None) -> Receipt:
        return commits.commit(
            book.ledger, book.catalog, request_id, items, limits=ANY_TIME, sent=sent
        )

    # Fingerprinted by its bytes: the same bytes replay, other bytes are another request.
    first = commit("r-sent", usages, b"request one")
    assert commit("r-sent", usages, b"request one") == dataclasses.replace(first, replayed=True)
    with pytest.raises(FailedPreconditionError, match="used before with other items"):
        commit("r-sent", other, b"request two")
    # Fingerprinted by its usages (stored before bytes were hashed): its retry, bytes
    # and all, is matched by its usages.
    before = commit("r-usages", usages, None)
    assert commit("r-usages", usages, b"request one") == dataclasses.replace(before, replayed=True)
    with pytest.raises(FailedPreconditionError, match="used before with other items"):
        commit("r-usages", other, b"request one")
    book.check()


def big_batch(request: int, account: str = "acme") -> list[Usage]:
    when = ns("2026-11-27T04:00:00+00:00")
    return [
        Usage(f"big-{request}-{i}", account, "agent.call", 1, when)
        for i in range(commits.RATE_AHEAD_ITEMS)
    ]


class Watched:
    """A store that says whether its write transaction's work is running."""

    def __init__(self, store: LedgerStore) -> None:
        self.store, self.writing = store, False

    def read(self):  # type: ignore[no-untyped-def]
        return self.store.read()

    def grouped(self, work):  # type: ignore[no-untyped-def]
        def watched(tx):  # type: ignore[no-untyped-def]
            self.writing = True
            try:
                return work(tx)
            finally:
                self.writing = False

        return self.store.grouped(watched)


def test_a_big_batch_is_rated_once_before_its_write_when_its_accounts_hold(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    book.account("acme")
    store = Watched(book.ledger)
    rated_in_write: list[bool] = []
    rate = commits._check_and_rate

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        rated_in_write.append(store.writing)
        return rate(*args, **kwargs)

    monkeypatch.setattr(commits, "_check_and_rate", watched)
    receipt = commits.commit(store, book.catalog, "r-big", big_batch(1), limits=ANY_TIME)  # type: ignore[arg-type]
    assert rated_in_write == [False]
    assert receipt.total_micros == 2_000_000 * commits.RATE_AHEAD_ITEMS
    # A small batch is rated in its write.
    small = big_batch(2)[:3]
    commits.commit(store, book.catalog, "r-small", small, limits=ANY_TIME)  # type: ignore[arg-type]
    assert rated_in_write == [False, True]
    book.check()


def test_a_big_batch_is_rated_again_when_its_accounts_changed_before_its_write(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    book.account("acme")
    find = commits.find_accounts
    calls: list[int] = []

    def first_sees_none(tx, ids):  # type: ignore[no-untyped-def]
        calls.append(1)
        return {} if len(calls) == 1 else find(tx, ids)

    monkeypatch.setattr(commits, "find_accounts", first_sees_none)
    # Read ahead, the account did not exist yet (ACCOUNT_NOT_FOUND); it does at the write.
    receipt = commits.commit(book.ledger, book.catalog, "r-big", big_batch(1), limits=ANY_TIME)
    assert len(receipt.lines) == commits.RATE_AHEAD_ITEMS
    book.check()
