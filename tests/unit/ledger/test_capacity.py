"""Knowledge-base capacity bought by the month or year (``ledger.capacity``): terms, the
quota in force at a storage sample's instant, grants exactly once, and where purchases
are listed. Both engines."""

from __future__ import annotations

import types
from collections.abc import Iterator
from datetime import datetime

import pytest
from support import GIB, ledger_snapshot

from rating_server.catalog.model import CatalogSnapshot
from rating_server.domain_errors import FailedPreconditionError, InvalidRequestError, NotFoundError
from rating_server.engine import Limits, Usage
from rating_server.ledger import accounts, capacity, commits, invariants, reports
from rating_server.ledger.capacity import MONTH, YEAR, term_end
from rating_server.ledger.store import LedgerStore

POINT = 10**6
HOUR_NS = 3600 * 10**9
# These rules hold whenever usage happens; the dates below may be ahead of the clock.
ANY_TIME = Limits(max_future_ns=10**18)
# 1.5 points per GiB-hour beyond the quota: a GiB over it for an hour.
GIB_HOUR = 1_500_000


def ns(text: str) -> int:
    """An ISO instant, with its offset, in nanoseconds."""
    when = datetime.fromisoformat(text)
    return (int(when.timestamp()) * 10**9) + when.microsecond * 1000


# --- terms --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("valid_from", "term", "zone", "expires"),
    [
        # One calendar month, the day clamped to the month's last.
        ("2027-01-31T10:00:00+00:00", MONTH, "UTC", "2027-02-28T10:00:00+00:00"),
        ("2028-01-31T10:00:00+00:00", MONTH, "UTC", "2028-02-29T10:00:00+00:00"),
        ("2026-03-31T10:00:00+00:00", MONTH, "UTC", "2026-04-30T10:00:00+00:00"),
        ("2026-12-15T10:00:00+00:00", MONTH, "UTC", "2027-01-15T10:00:00+00:00"),
        # Twelve calendar months: Feb 29 to Feb 28.
        ("2028-02-29T10:00:00+00:00", YEAR, "UTC", "2029-02-28T10:00:00+00:00"),
        ("2026-11-27T10:00:00+00:00", YEAR, "UTC", "2027-11-27T10:00:00+00:00"),
        # In the account's zone: Jan 31 00:30 in Shanghai is Jan 30 in UTC, yet a month
        # later is Feb 28 00:30 there (UTC would have said Feb 28 16:30Z).
        ("2026-01-31T00:30:00+08:00", MONTH, "Asia/Shanghai", "2026-02-28T00:30:00+08:00"),
        # The wall-clock time is kept across a change of offset...
        ("2026-03-01T12:00:00+01:00", MONTH, "Europe/Berlin", "2026-04-01T12:00:00+02:00"),
        # ...and one the change skips (02:30 on March 8th in New York) moves forward.
        ("2026-02-08T02:30:00-05:00", MONTH, "America/New_York", "2026-03-08T03:30:00-04:00"),
        # Sub-seconds are kept.
        ("2026-05-10T08:00:00.123456+00:00", MONTH, "UTC", "2026-06-10T08:00:00.123456+00:00"),
    ],
)
def test_a_term_ends_at_the_same_local_time_calendar_months_later_clamped(
    valid_from: str, term: str, zone: str, expires: str
) -> None:
    assert term_end(ns(valid_from) + 789, term, zone) == ns(expires) + 789


def test_a_price_is_exact_in_points_or_yuan_and_never_negative() -> None:
    found: list = []
    assert capacity.parse_price("price_points", "12.345678", 0, found) == 12_345_678
    assert capacity.parse_price("price_yuan", "0.000000001", 3, found) == 1
    assert capacity.parse_price("price_yuan", "30", 3, found) == 30_000 * POINT
    assert capacity.parse_price("price_points", "0", 0, found) == 0
    assert capacity.parse_price("price_points", "1.5000000000", 0, found) == 1_500_000
    assert found == []
    for field, text, scale in [
        ("price_points", "1.0000001", 0),
        ("price_yuan", "0.0000000001", 3),
        ("price_points", "-1", 0),
        ("price_points", "-0", 0),
        ("price_points", "1e3", 0),
        ("price_points", "", 0),
        ("price_yuan", "1000000000", 3),
        ("price_points", "9" * 90, 0),
    ]:
        problems: list = []
        assert capacity.parse_price(field, text, scale, problems) == 0
        assert [(v.field, v.reason) for v in problems] == [(field, "PRICE_INVALID")], text


# --- the quota in force ---------------------------------------------------------------


class Shop:
    """Grants capacity and commits storage samples of an hour on one ledger."""

    def __init__(self, ledger: LedgerStore, catalog: CatalogSnapshot) -> None:
        self.ledger, self.catalog = ledger, catalog
        self._requests = 0

    def account(self, account_id: str = "acme", **fields: object) -> None:
        accounts.create_account(self.ledger, self.catalog, account_id, **fields)  # type: ignore[arg-type]

    def grant(self, gib: int, valid_from: str, expires: str, account_id: str = "acme") -> str:
        return capacity.grant(
            self.ledger,
            account_id,
            gib,
            valid_from_ns=ns(valid_from),
            expire_time_ns=ns(expires),
            price_points="100",
        ).purchase_id

    def samples(self, gib: int, *instants: int) -> list[Usage]:
        self._requests += 1
        return [
            Usage(f"s-{self._requests}-{i}", "acme", "knowledge.storage", gib * GIB, at, HOUR_NS)
            for i, at in enumerate(instants)
        ]

    def store(self, gib: int, *instants: int) -> list[int]:
        """The micro-points of an hour of ``gib`` GiB stored at each instant, committed."""
        usages = self.samples(gib, *instants)
        receipt = commits.commit(
            self.ledger, self.catalog, f"r-{self._requests}", usages, limits=ANY_TIME
        )
        return [line.micros for line in receipt.lines]


@pytest.fixture
def shop(ledger: LedgerStore, catalog_snapshot: CatalogSnapshot) -> Iterator[Shop]:
    driver = Shop(ledger, catalog_snapshot)
    driver.account()  # basic: 10 GiB free
    yield driver
    assert invariants.check(ledger) == []


START = "2026-11-01T00:00:00+08:00"
END = "2026-12-01T00:00:00+08:00"


def test_the_quota_rises_at_valid_from_and_falls_at_expire_time_to_the_nanosecond(
    shop: Shop,
) -> None:
    shop.grant(5, START, END)
    start, end = ns(START), ns(END)
    # 15 GiB: 5 beyond the plan's 10 outside the purchase, none inside it.
    assert shop.store(15, start - 1, start, end - 1, end) == [5 * GIB_HOUR, 0, 0, 5 * GIB_HOUR]
    # A sample long before and long after.
    before, after = ns("2026-10-15T00:00:00+08:00"), ns("2027-01-15T00:00:00+08:00")
    assert shop.store(15, before, after) == [5 * GIB_HOUR, 5 * GIB_HOUR]


def test_overlapping_purchases_add_up(shop: Shop) -> None:
    shop.grant(2, "2026-11-01T00:00:00+00:00", "2026-11-20T00:00:00+00:00")
    shop.grant(3, "2026-11-10T00:00:00+00:00", "2026-11-30T00:00:00+00:00")
    instants = [
        ns("2026-11-05T00:00:00+00:00"),  # the first: 12 GiB free
        ns("2026-11-15T00:00:00+00:00"),  # both: 15
        ns("2026-11-25T00:00:00+00:00"),  # the second: 13
        ns("2026-12-05T00:00:00+00:00"),  # none: 10
    ]
    assert shop.store(16, *instants) == [4 * GIB_HOUR, GIB_HOUR, 3 * GIB_HOUR, 6 * GIB_HOUR]


def test_a_quote_for_the_account_sees_the_quota_in_force_at_each_sample(shop: Shop) -> None:
    shop.grant(5, START, END)
    usages = shop.samples(15, ns(START) - 1, ns(START))
    batch, _lines, _summary = commits.preview(
        shop.ledger, shop.catalog, "acme", usages, limits=ANY_TIME
    )
    assert [line.micros for line in batch.lines] == [5 * GIB_HOUR, 0]


def test_a_purchase_raises_only_its_own_accounts_quota(shop: Shop) -> None:
    shop.account("globex")
    shop.grant(5, START, END, account_id="globex")
    assert shop.store(15, ns(START)) == [5 * GIB_HOUR]


def test_a_batch_without_storage_reads_no_capacity(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[object] = []
    read = commits._Quotas.read

    def counted(self, tx):  # type: ignore[no-untyped-def]
        reads.append(tx)
        return read(self, tx)

    monkeypatch.setattr(commits._Quotas, "read", counted)
    calls = [
        Usage(f"c-{i}", "acme", "agent.call", 1, ns(START)) for i in range(commits.RATE_AHEAD_ITEMS)
    ]
    commits.commit(shop.ledger, shop.catalog, "r-calls", calls, limits=ANY_TIME)  # rated ahead
    commits.commit(shop.ledger, shop.catalog, "r-call", calls[:1], limits=ANY_TIME)
    commits.preview(shop.ledger, shop.catalog, "acme", calls[:1], limits=ANY_TIME)
    assert reads == []
    shop.store(15, ns(START))  # a storage sample reads them, once
    assert len(reads) == 1


def test_a_big_storage_batch_rated_ahead_sees_a_purchase_granted_before_its_write(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    ahead = commits._rate_ahead

    def grant_in_between(*args, **kwargs):  # type: ignore[no-untyped-def]
        rated = ahead(*args, **kwargs)
        shop.grant(5, START, END)  # after the rating, before the write
        return rated

    monkeypatch.setattr(commits, "_rate_ahead", grant_in_between)
    instants = [ns(START) + i * HOUR_NS for i in range(commits.RATE_AHEAD_ITEMS)]
    assert shop.store(15, *instants) == [0] * commits.RATE_AHEAD_ITEMS


def test_a_big_storage_batch_is_rated_once_when_its_capacity_holds(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.grant(5, START, END)
    rated: list[int] = []
    rate = commits._check_and_rate

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        rated.append(1)
        return rate(*args, **kwargs)

    monkeypatch.setattr(commits, "_check_and_rate", counted)
    instants = [ns(START) + i * HOUR_NS for i in range(commits.RATE_AHEAD_ITEMS)]
    assert shop.store(15, *instants) == [0] * commits.RATE_AHEAD_ITEMS
    assert rated == [1]


# --- grants -------------------------------------------------------------------------


def test_a_term_grant_is_valid_from_now_for_a_calendar_month_in_the_accounts_zone(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = ns("2026-01-31T00:30:00+08:00")
    monkeypatch.setattr(capacity, "time", types.SimpleNamespace(time_ns=lambda: now))
    purchase = capacity.grant(shop.ledger, "acme", 50, term=MONTH, price_yuan="30")
    assert (purchase.valid_from_ns, purchase.expire_time_ns, purchase.create_time_ns) == (
        now,
        ns("2026-02-28T00:30:00+08:00"),
        now,
    )
    assert (purchase.gib, purchase.term, purchase.price_micros) == (50, MONTH, 30_000 * POINT)
    yearly = capacity.grant(
        shop.ledger, "acme", 1, term=YEAR, valid_from_ns=ns(START), price_points="0"
    )
    assert yearly.expire_time_ns == ns("2027-11-01T00:00:00+08:00")
    assert yearly.price_micros == 0  # a gift


def test_a_grant_retried_with_its_request_id_grants_once_and_other_fields_are_refused(
    shop: Shop, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.account("globex")
    clock = [ns("2026-11-27T10:00:00+08:00")]
    monkeypatch.setattr(capacity, "time", types.SimpleNamespace(time_ns=lambda: clock[0]))

    def grant(**fields: object):  # type: ignore[no-untyped-def]
        return capacity.grant(
            shop.ledger,
            **{"account_id": "acme", "gib": 5, "term": MONTH, "price_yuan": "30"}  # type: ignore[arg-type]
            | {"request_id": "cap-req-1"}
            | fields,
        )

    first = grant()
    clock[0] += 10**9  # the retry comes a second later: its "now" is not the first's
    assert grant() == first
    assert grant(price_yuan=None, price_points="30000") == first  # the same price, in points
    before = ledger_snapshot(database)
    for changed in (
        {"gib": 6},
        {"term": YEAR},
        {"price_yuan": "31"},
        {"valid_from_ns": first.valid_from_ns + 1},
        {"term": "", "expire_time_ns": first.expire_time_ns},
        {"account_id": "globex"},
    ):
        with pytest.raises(FailedPreconditionError) as reused:
            grant(**changed)
        assert reused.value.reason == "REQUEST_ID_REUSED", changed
    assert ledger_snapshot(database) == before
    assert [p.purchase_id for p in accounts.get_account(shop.ledger, "acme")[2]] == [
        first.purchase_id
    ]


@pytest.mark.parametrize(
    ("fields", "violations"),
    [
        ({"gib": 0}, [("gib", "GIB_INVALID")]),
        ({"gib": -1}, [("gib", "GIB_INVALID")]),
        ({"gib": capacity.MAX_GIB + 1}, [("gib", "GIB_INVALID")]),
        ({"expire_time_ns": ns(END)}, [("expire_time", "EXPIRY_WITH_TERM")]),
        ({"term": ""}, [("term", "TERM_MISSING")]),
        ({"term": "week"}, [("term", "TERM_INVALID")]),
        (
            {"term": "", "valid_from_ns": ns(END), "expire_time_ns": ns(END)},
            [("expire_time", "EXPIRY_NOT_AFTER_START")],
        ),
        ({"price_points": None}, [("price", "PRICE_MISSING")]),
        ({"price_points": "abc"}, [("price_points", "PRICE_INVALID")]),
        ({"price_points": "-5"}, [("price_points", "PRICE_INVALID")]),
        ({"price_points": "1.0000001"}, [("price_points", "PRICE_INVALID")]),
        ({"price_points": None, "price_yuan": "0.0000000001"}, [("price_yuan", "PRICE_INVALID")]),
        ({"price_yuan": "1"}, [("price_yuan", "PRICE_INVALID")]),
        ({"request_id": "a b"}, [("request_id", "REQUEST_ID_INVALID")]),
        ({"account_id": ""}, [("account_id", "ACCOUNT_ID_INVALID")]),
        (
            {"valid_from_ns": ns("2262-04-01T00:00:00+00:00")},
            [("valid_from", "VALID_FROM_INVALID")],
        ),
        (
            {"gib": 0, "term": "", "price_points": "x"},
            [("gib", "GIB_INVALID"), ("term", "TERM_MISSING"), ("price_points", "PRICE_INVALID")],
        ),
    ],
)
def test_a_bad_grant_names_each_bad_field_and_writes_nothing(
    shop: Shop, database: str, fields: dict, violations: list[tuple[str, str]]
) -> None:
    before = ledger_snapshot(database)
    with pytest.raises(InvalidRequestError) as caught:
        capacity.grant(
            shop.ledger,
            **{"account_id": "acme", "gib": 5, "term": MONTH, "price_points": "10"} | fields,
        )
    assert [(v.field, v.reason) for v in caught.value.violations] == violations
    assert ledger_snapshot(database) == before


def test_capacity_is_granted_to_an_existing_main_account_only(shop: Shop, database: str) -> None:
    shop.account("acme-dev", parent_account_id="acme")
    before = ledger_snapshot(database)
    with pytest.raises(FailedPreconditionError) as sub:
        capacity.grant(shop.ledger, "acme-dev", 5, term=MONTH, price_points="10")
    assert sub.value.reason == "SUB_ACCOUNT"
    with pytest.raises(NotFoundError) as missing:
        capacity.grant(shop.ledger, "nobody", 5, term=MONTH, price_points="10")
    assert missing.value.reason == "ACCOUNT_NOT_FOUND"
    assert ledger_snapshot(database) == before


# --- where purchases are listed ---------------------------------------------------------


def test_purchases_are_listed_on_the_account_the_days_balance_and_the_months_statement(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.account("acme-dev", parent_account_id="acme")
    now = ns("2026-11-27T10:00:00+08:00")
    clock = types.SimpleNamespace(time_ns=lambda: now)
    monkeypatch.setattr(capacity, "time", clock)
    monkeypatch.setattr(reports, "time", clock)
    # Granted (paid) in November: one for December 1st to 10th, one for a month from
    # November 20th at noon; then one granted free from November 28th.
    december = shop.grant(5, "2026-12-01T00:00:00+08:00", "2026-12-10T00:00:00+08:00")
    monthly = capacity.grant(
        shop.ledger,
        "acme",
        2,
        term=MONTH,
        valid_from_ns=ns("2026-11-20T12:00:00+08:00"),
        price_points="30.5",
    ).purchase_id
    gift = capacity.grant(
        shop.ledger,
        "acme",
        1,
        valid_from_ns=ns("2026-11-28T00:00:00+08:00"),
        expire_time_ns=ns("2026-11-29T00:00:00+08:00"),
        price_points="0",
    ).purchase_id

    _account, _subs, bought = accounts.get_account(shop.ledger, "acme")
    assert [p.purchase_id for p in bought] == [monthly, gift, december]  # by valid_from
    assert accounts.get_account(shop.ledger, "acme-dev")[2] == []  # its main account's

    def balance(day: str, account_id: str = "acme") -> tuple[list[str], int]:
        found = reports.balance(shop.ledger, shop.catalog, account_id, day)
        return [p.purchase_id for p in found.capacity], found.storage_quota_bytes

    assert balance("2026-11-27") == ([monthly], 12 * GIB)  # today: the quota now
    assert balance("") == ([monthly], 12 * GIB)
    assert balance("2026-11-27", "acme-dev") == ([monthly], 12 * GIB)  # the main account's
    assert balance("2026-11-28") == ([monthly, gift], 13 * GIB)  # at the day's start
    assert balance("2026-11-20") == ([monthly], 10 * GIB)  # bought from noon on
    assert balance("2026-12-20") == ([monthly], 12 * GIB)  # until December 20th noon
    assert balance("2026-12-21") == ([], 10 * GIB)
    assert balance("2026-12-01") == ([monthly, december], 17 * GIB)

    november = reports.statement(shop.ledger, "acme", "2026-11")
    assert [p.purchase_id for p in november.capacity] == [monthly, gift]
    assert november.capacity_paid_micros == 130_500_000  # December's is paid in November
    december_statement = reports.statement(shop.ledger, "acme", "2026-12")
    assert [p.purchase_id for p in december_statement.capacity] == [monthly, december]
    assert december_statement.capacity_paid_micros == 0
