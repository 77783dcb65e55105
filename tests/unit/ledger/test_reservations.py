"""Reservations at the ledger level (``ledger/reservations.py``), on both engines: what a
hold takes, what it leaves to others, how a commit settles it, when it ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from rating_server.catalog.model import CatalogSnapshot
from rating_server.domain_errors import (
    FailedPreconditionError,
    InvalidRequestError,
    InvalidUsageError,
    NotFoundError,
)
from rating_server.engine import Usage
from rating_server.ledger import accounts, commits, invariants, reports, reservations, voids
from rating_server.ledger.funding import local_day
from rating_server.ledger.model import (
    EXPIRED,
    FREE,
    HELD,
    PACK,
    PAYG,
    RELEASED,
    SETTLED,
    FundingSummary,
    Receipt,
    Reservation,
)
from rating_server.ledger.store import LedgerStore
from rating_server.ledger.stores import open_ledger

POINT = 10**6
SECOND = 10**9
#: 2026-12-01T04:00:00Z: noon in Shanghai, the accounts' zone.
START = 1_795_744_800 * SECOND
CALL = "agent.call"  # 2 points a call


class Clock:
    """The time every rule reads (``time.time_ns``), moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(time, "time_ns", fake)
    return fake


class Desk:
    """Reserves, settles and reads for one account, "acme" (basic: 500 free points)."""

    def __init__(self, ledger: LedgerStore, catalog: CatalogSnapshot, clock: Clock) -> None:
        self.ledger, self.catalog, self.clock = ledger, catalog, clock
        self.requests = 0

    def request_id(self) -> str:
        self.requests += 1
        return f"req-{self.requests}"

    def reserve(
        self, calls: int, ttl_s: int = 60, account: str = "acme", request_id: str = ""
    ) -> Reservation:
        return reservations.reserve(
            self.ledger,
            self.catalog,
            request_id or self.request_id(),
            account,
            CALL,
            calls,
            ttl_s * SECOND,
        )

    def commit(
        self, calls: int, reservation_id: str = "", usage_id: str = "", request_id: str = ""
    ) -> Receipt:
        request_id = request_id or self.request_id()
        usage = Usage(usage_id or f"u-{request_id}", "acme", CALL, calls, self.clock.now)
        named = {0: reservation_id} if reservation_id else None
        return commits.commit(self.ledger, self.catalog, request_id, [usage], named=named)

    def pack(self, points: str) -> str:
        return accounts.grant_pack(self.ledger, "acme", points, valid_from_ns=START - 1).pack_id

    def balance(self) -> reports.Balance:
        return reports.balance(self.ledger, self.catalog, "acme")


@pytest.fixture
def desk(ledger: LedgerStore, catalog_snapshot: CatalogSnapshot, clock: Clock) -> Iterator[Desk]:
    accounts.create_account(ledger, catalog_snapshot, "acme")
    made = Desk(ledger, catalog_snapshot, clock)
    yield made
    assert invariants.check(ledger) == []


def holds(reservation: Reservation) -> list[tuple[str, int]]:
    return [(part.source, part.micros // POINT) for part in reservation.holds]


def funded(receipt: Receipt) -> list[tuple[str, int]]:
    return [(part.source, part.micros // POINT) for part in receipt.lines[0].funding]


TODAY = local_day(START, "Asia/Shanghai")


def test_a_reservation_holds_free_points_then_packs_and_nothing_else_draws_them(
    desk: Desk,
) -> None:
    pack = desk.pack("100")
    held = desk.reserve(300)  # 600 points: the 500 free of today, then 100 of the pack
    assert (held.granted_quantity, held.requested_quantity) == (300, 300)
    assert holds(held) == [(FREE, 500), (PACK, 100)]
    assert held.holds[0].day == TODAY and held.holds[1].pack_id == pack
    other = desk.commit(1)  # what is held funds no other usage: the bill pays
    assert funded(other) == [(PAYG, 2)]
    balance = desk.balance()
    assert (balance.free_used_micros, balance.free_held_micros) == (0, 500 * POINT)
    assert balance.pack_held_micros(pack) == 100 * POINT
    assert [r.reservation_id for r in balance.reservations] == [held.reservation_id]


def test_a_reservation_beyond_what_is_free_is_granted_in_part_and_then_not_at_all(
    desk: Desk,
) -> None:
    first = desk.reserve(400)  # 800 points asked, 500 free
    assert (first.granted_quantity, first.requested_quantity) == (250, 400)
    assert holds(first) == [(FREE, 500)]
    second = desk.reserve(10)
    assert (second.granted_quantity, second.holds) == (0, ())
    assert desk.balance().free_held_micros == 500 * POINT


def test_with_pay_as_you_go_on_the_rest_is_held_on_the_bill_and_accrues_nothing(
    desk: Desk,
) -> None:
    accounts.update_account(desk.ledger, desk.catalog, "acme", pay_as_you_go=True)
    held = desk.reserve(300)
    assert held.granted_quantity == 300
    assert holds(held) == [(FREE, 500), (PAYG, 100)]
    assert held.holds[1].month == TODAY[:7]
    balance = desk.balance()
    assert (balance.payg_micros, balance.payg_held_micros) == (0, 100 * POINT)


@pytest.mark.parametrize(
    ("used_calls", "line_funding", "free_used"),
    [
        (50, [(FREE, 100)], 100),  # less than held: the rest is free again
        (100, [(FREE, 200)], 200),  # all of it
        (300, [(FREE, 500), (PAYG, 100)], 500),  # more: the rest drawn as any line's
    ],
    ids=["less", "equal", "more"],
)
def test_a_commit_naming_a_reservation_pays_from_its_hold_first_and_settles_it(
    desk: Desk, used_calls: int, line_funding: list[tuple[str, int]], free_used: int
) -> None:
    held = desk.reserve(100)  # 200 points of today's free points
    desk.clock.now += 30 * SECOND
    receipt = desk.commit(used_calls, held.reservation_id)
    assert funded(receipt) == line_funding
    balance = desk.balance()
    assert (balance.free_used_micros, balance.free_held_micros) == (free_used * POINT, 0)
    assert balance.reservations == ()
    (settled,) = desk.ledger.read().__enter__().reservations([held.reservation_id])
    assert (settled.state, settled.settle_charge_id) == (SETTLED, receipt.charge_id)


def test_the_hold_pays_its_own_line_first_even_when_other_lines_come_before_it(
    desk: Desk,
) -> None:
    held = desk.reserve(200)  # 400 of the 500 free points; 100 left for the rest
    usages = [
        Usage("before", "acme", CALL, 100, START),  # 200 points, 100 of them free
        Usage("session", "acme", CALL, 200, START),
    ]
    receipt = commits.commit(
        desk.ledger, desk.catalog, "both", usages, named={1: held.reservation_id}
    )
    assert [(p.source, p.micros // POINT) for p in receipt.lines[0].funding] == [
        (FREE, 100),
        (PAYG, 100),
    ]
    assert [(p.source, p.micros // POINT) for p in receipt.lines[1].funding] == [(FREE, 400)]


def test_a_reservation_settles_once_and_a_retry_of_its_commit_is_answered_as_first(
    desk: Desk,
) -> None:
    held = desk.reserve(10)
    first = desk.commit(10, held.reservation_id, request_id="settle")
    again = desk.commit(10, held.reservation_id, request_id="settle")
    assert again.replayed and again.charge_id == first.charge_id
    with pytest.raises(FailedPreconditionError) as twice:
        desk.commit(5, held.reservation_id)
    assert twice.value.reason == "RESERVATION_SETTLED"
    assert first.charge_id in str(twice.value)
    with pytest.raises(FailedPreconditionError) as released:
        reservations.release(desk.ledger, held.reservation_id)
    assert released.value.reason == "RESERVATION_SETTLED"


def test_usage_committed_before_settles_nothing_and_is_answered_as_a_duplicate(
    desk: Desk,
) -> None:
    held = desk.reserve(10)
    desk.commit(10, held.reservation_id, usage_id="call-1")
    other = desk.reserve(10)
    repeat = desk.commit(10, other.reservation_id, usage_id="call-1")
    assert repeat.lines[0].duplicate
    assert [r.reservation_id for r in desk.balance().reservations] == [other.reservation_id]


def test_a_reservation_is_live_until_the_instant_it_expires(desk: Desk) -> None:
    held = desk.reserve(100, ttl_s=60)
    desk.clock.now = held.expire_time_ns - 1
    assert desk.balance().free_held_micros == 200 * POINT
    assert held.state_at(desk.clock.now) == HELD
    desk.clock.now = held.expire_time_ns
    assert desk.balance().free_held_micros == 0  # no job ran: the read knows
    assert desk.balance().reservations == ()
    assert funded(desk.commit(250)) == [(FREE, 500)]
    with pytest.raises(FailedPreconditionError) as late:
        desk.commit(1, held.reservation_id)
    assert late.value.reason == "RESERVATION_EXPIRED"
    with pytest.raises(FailedPreconditionError) as extend:
        reservations.extend(desk.ledger, desk.catalog, "more", held.reservation_id, 10)
    assert extend.value.reason == "RESERVATION_EXPIRED"
    ended, before = reservations.release(desk.ledger, held.reservation_id)
    assert (ended.state, before) == (EXPIRED, True)


def test_a_released_reservation_frees_its_points_and_cannot_be_settled(desk: Desk) -> None:
    held = desk.reserve(250)
    released, before = reservations.release(desk.ledger, held.reservation_id)
    assert (released.state, before) == (RELEASED, False)
    assert reservations.release(desk.ledger, held.reservation_id)[1] is True
    assert desk.balance().free_held_micros == 0
    assert desk.reserve(250).granted_quantity == 250
    with pytest.raises(FailedPreconditionError) as settle:
        desk.commit(1, held.reservation_id)
    assert settle.value.reason == "RESERVATION_RELEASED"


def test_extend_holds_more_in_part_when_short_and_only_ever_moves_the_expiry_later(
    desk: Desk,
) -> None:
    held = desk.reserve(100, ttl_s=600)  # 200 points
    more = reservations.extend(
        desk.ledger, desk.catalog, "ext-1", held.reservation_id, 100, 60 * SECOND
    )
    assert (more.granted_quantity, more.requested_quantity) == (200, 200)
    assert holds(more) == [(FREE, 200), (FREE, 200)]
    assert more.expire_time_ns == held.expire_time_ns  # 60 s from now is earlier
    desk.clock.now += 500 * SECOND
    longer = reservations.extend(
        desk.ledger, desk.catalog, "ext-2", held.reservation_id, 100, 600 * SECOND
    )
    assert longer.expire_time_ns == desk.clock.now + 600 * SECOND
    assert (longer.granted_quantity, longer.requested_quantity) == (250, 300)  # 100 points left
    assert longer.held_micros == 500 * POINT


def test_reserve_and_extend_retried_by_request_id_answer_as_first_and_refuse_other_fields(
    desk: Desk,
) -> None:
    first = desk.reserve(10, request_id="same")
    assert desk.reserve(10, request_id="same") == first
    with pytest.raises(FailedPreconditionError) as reused:
        desk.reserve(11, request_id="same")
    assert reused.value.reason == "REQUEST_ID_REUSED"
    extended = reservations.extend(desk.ledger, desk.catalog, "e", first.reservation_id, 5)
    again = reservations.extend(desk.ledger, desk.catalog, "e", first.reservation_id, 5)
    assert again == extended and again.granted_quantity == 15
    with pytest.raises(FailedPreconditionError) as other:
        reservations.extend(desk.ledger, desk.catalog, "e", first.reservation_id, 6)
    assert other.value.reason == "REQUEST_ID_REUSED"
    assert len(desk.balance().reservations) == 1


def test_bad_reservations_are_refused_naming_each_field_and_change_nothing(desk: Desk) -> None:
    with pytest.raises(InvalidRequestError) as bad:
        reservations.reserve(desk.ledger, desk.catalog, "", "acme", "knowledge.storage", 0, 0)
    assert {(v.field, v.reason) for v in bad.value.violations} == {
        ("request_id", "REQUEST_ID_INVALID"),
        ("quantity", "QUANTITY_INVALID"),
        ("ttl", "TTL_INVALID"),
        ("sku", "SKU_NOT_RESERVABLE"),
    }
    with pytest.raises(InvalidRequestError) as unknown:
        reservations.reserve(desk.ledger, desk.catalog, "r", "acme", "no.such", 1, None)
    assert {(v.field, v.reason) for v in unknown.value.violations} == {
        ("sku", "SKU_UNKNOWN"),
        ("ttl", "TTL_MISSING"),
    }
    with pytest.raises(NotFoundError) as nobody:
        reservations.reserve(desk.ledger, desk.catalog, "r", "nobody", CALL, 1, SECOND)
    assert nobody.value.reason == "ACCOUNT_NOT_FOUND"
    with pytest.raises(InvalidRequestError) as empty:
        reservations.extend(desk.ledger, desk.catalog, "x", "rsv_1")
    assert empty.value.violations[0].reason == "NOTHING_TO_EXTEND"
    with pytest.raises(NotFoundError) as missing:
        reservations.extend(desk.ledger, desk.catalog, "x", "rsv_1", 1)
    assert missing.value.reason == "RESERVATION_NOT_FOUND"
    assert desk.balance().reservations == ()


def test_a_commit_naming_a_reservation_it_may_not_settle_names_the_item_and_writes_nothing(
    desk: Desk,
) -> None:
    accounts.create_account(desk.ledger, desk.catalog, "other")
    theirs = desk.reserve(10, account="other")
    ours = desk.reserve(10)
    usages = [Usage(f"u{i}", "acme", CALL, 1, START) for i in range(4)]
    named = {
        0: "rsv_none",
        1: theirs.reservation_id,
        2: ours.reservation_id,
        3: ours.reservation_id,
    }
    with pytest.raises(InvalidUsageError) as refused:
        commits.commit(desk.ledger, desk.catalog, "bad", usages, named=named)
    found = {(v.field, v.reason) for v in refused.value.violations}
    assert found == {("items[3].reservation_id", "RESERVATION_REPEATED")}
    del named[3]
    with pytest.raises(InvalidUsageError) as unknown:
        commits.commit(desk.ledger, desk.catalog, "bad", usages, named=named)
    assert {(v.field, v.reason) for v in unknown.value.violations} == {
        ("items[0].reservation_id", "RESERVATION_NOT_FOUND"),
        ("items[1].reservation_id", "RESERVATION_MISMATCH"),
    }
    assert reports.list_charges(desk.ledger, "acme")[0] == []
    assert len(desk.balance().reservations) == 1


def test_a_quote_for_the_account_cannot_use_what_is_held_and_says_how_much_is(
    desk: Desk,
) -> None:
    held = desk.reserve(200)  # 400 points
    usage = [Usage("q", "acme", CALL, 100, START)]
    _batch, _lines, summary = commits.preview(desk.ledger, desk.catalog, "acme", usage)
    assert (summary.free_micros, summary.payg_micros) == (100 * POINT, 100 * POINT)
    assert summary.held_micros == 400 * POINT
    _batch, _lines, settling = commits.preview(
        desk.ledger, desk.catalog, "acme", usage, named={0: held.reservation_id}
    )
    assert (settling.free_micros, settling.held_micros) == (200 * POINT, 0)


def test_voiding_the_charge_that_settled_a_reservation_gives_the_points_back(
    desk: Desk,
) -> None:
    held = desk.reserve(100)
    receipt = desk.commit(100, held.reservation_id)
    voids.void(desk.ledger, receipt.charge_id)
    assert desk.balance().free_used_micros == 0
    (kept,) = desk.ledger.read().__enter__().reservations([held.reservation_id])
    assert kept.state == SETTLED


def test_twenty_reservations_at_once_on_two_nodes_hold_exactly_what_is_free(
    desk: Desk, database: str
) -> None:
    """500 free points pay for three reservations of 80 calls (160 points) and 10 calls
    of a fourth: however the 20 interleave, over two stores of one database."""
    other = open_ledger(database)
    stores = [desk.ledger, other]
    granted: list[Reservation] = []
    start = threading.Barrier(20)

    def reserve(number: int) -> None:
        start.wait()
        granted.append(
            reservations.reserve(
                stores[number % 2], desk.catalog, f"many-{number}", "acme", CALL, 80, 60 * SECOND
            )
        )

    threads = [threading.Thread(target=reserve, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()
    assert len(granted) == 20
    assert sorted(r.granted_quantity for r in granted if r.granted_quantity) == [10, 80, 80, 80]
    assert sum(r.held_micros for r in granted) == 500 * POINT
    assert desk.balance().free_held_micros == 500 * POINT


# -- monthly budgets: the end of funding for quotes and reservations, not for commits --------


def budgeted(desk: Desk, points: str | None) -> None:
    accounts.update_account(
        desk.ledger, desk.catalog, "acme", pay_as_you_go=True, monthly_budget_points=points or ""
    )


def quote(desk: Desk, calls: int, named: dict[int, str] | None = None) -> FundingSummary:
    usage = Usage(f"q-{calls}", "acme", CALL, calls, desk.clock.now)
    return commits.preview(desk.ledger, desk.catalog, "acme", [usage], named=named)[2]


@pytest.mark.parametrize(
    ("budget", "shortfall", "covered"),
    [("100", 0, True), ("99.999999", 1, False)],
    ids=["exactly-at-the-budget", "one-micro-point-past"],
)
def test_a_quote_with_a_budget_reports_what_would_pass_it_as_the_shortfall(
    desk: Desk, budget: str, shortfall: int, covered: bool
) -> None:
    budgeted(desk, budget)
    summary = quote(desk, 300)  # 600 points: 500 free, 100 to the bill
    assert (summary.free_micros, summary.payg_micros) == (500 * POINT, 100 * POINT)
    assert (summary.shortfall_micros, summary.covered) == (shortfall, covered)


def test_a_quotes_budget_counts_the_months_bill_and_the_holds_on_it(desk: Desk) -> None:
    budgeted(desk, "100")
    desk.commit(260)  # 520 points: 20 on the bill
    held = desk.reserve(20)  # 40 held on the bill: 40 of the budget left
    assert holds(held) == [(PAYG, 40)]
    summary = quote(desk, 25)  # 50 points on the bill, 10 beyond what is left
    assert (summary.shortfall_micros, summary.covered) == (10 * POINT, False)
    # A quote settling that reservation has its hold to spend: 80 left for 50.
    assert quote(desk, 25, named={0: held.reservation_id}).shortfall_micros == 0


def test_without_pay_as_you_go_the_shortfall_is_all_the_bill_budget_or_not(desk: Desk) -> None:
    accounts.update_account(desk.ledger, desk.catalog, "acme", monthly_budget_points="1000")
    summary = quote(desk, 300)
    assert (summary.shortfall_micros, summary.covered) == (100 * POINT, False)


def test_a_reservation_is_granted_up_to_the_budget_other_holds_and_the_bill_counted(
    desk: Desk,
) -> None:
    budgeted(desk, "100")
    desk.commit(260)  # 20 points on the bill: 80 of the budget left
    first = desk.reserve(20)  # 40 points on the bill
    assert (first.granted_quantity, holds(first)) == (20, [(PAYG, 40)])
    second = desk.reserve(50)  # 100 points asked, 40 left: 20 calls
    assert (second.granted_quantity, holds(second)) == (20, [(PAYG, 40)])
    assert desk.reserve(1).granted_quantity == 0  # nothing left
    balance = desk.balance()
    assert (balance.budget_micros, balance.budget_left_micros) == (100 * POINT, 0)
    assert (balance.payg_micros, balance.payg_held_micros) == (20 * POINT, 80 * POINT)


def test_exactly_the_budget_is_granted_and_one_micro_point_less_grants_one_call_fewer(
    desk: Desk,
) -> None:
    budgeted(desk, "100")
    assert desk.reserve(300).granted_quantity == 300  # 500 free + 100 on the bill
    budgeted(desk, "101.999999")
    assert desk.reserve(1).granted_quantity == 0  # 1.999999 left: not a call's 2
    budgeted(desk, "102")
    assert desk.reserve(1).granted_quantity == 1


def test_extend_holds_more_only_within_what_is_left_of_the_budget(desk: Desk) -> None:
    budgeted(desk, "100")
    held = desk.reserve(250)  # the 500 free points
    longer = reservations.extend(desk.ledger, desk.catalog, "more", held.reservation_id, 100)
    assert (longer.granted_quantity, longer.requested_quantity) == (300, 350)
    assert holds(longer) == [(FREE, 500), (PAYG, 100)]


def test_commits_pass_the_budget_and_what_is_left_of_it_stays_at_zero(desk: Desk) -> None:
    budgeted(desk, "100")
    desk.reserve(300)  # all the budget held
    receipt = desk.commit(100)  # 200 points, all to the bill: never refused for the budget
    assert funded(receipt) == [(PAYG, 200)]
    balance = desk.balance()
    assert (balance.payg_micros, balance.budget_left_micros) == (200 * POINT, 0)
    assert quote(desk, 1).shortfall_micros == 2 * POINT


def test_removing_the_budget_lets_pay_as_you_go_fund_without_an_end_again(desk: Desk) -> None:
    budgeted(desk, "10")
    assert desk.reserve(300).granted_quantity == 255  # 500 free + 10 on the bill
    budgeted(desk, None)
    account = accounts.get_account(desk.ledger, "acme")[0]
    assert account.monthly_budget_micros is None
    assert desk.reserve(1000).granted_quantity == 1000
    balance = desk.balance()
    assert (balance.budget_micros, balance.budget_left_micros) == (None, None)
    summary = quote(desk, 10)
    assert (summary.shortfall_micros, summary.covered) == (0, False)
