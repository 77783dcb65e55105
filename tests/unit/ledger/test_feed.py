"""The charges feed at the ledger level (``ledger/feed.py``), on both engines: what it
holds, in what order, how a cursor resumes, and that a late committer is never skipped."""

from __future__ import annotations

import time

import psycopg
import pytest

from rating_server.catalog.model import CatalogSnapshot
from rating_server.domain_errors import FailedPreconditionError, InvalidRequestError
from rating_server.engine import Usage
from rating_server.ledger import accounts, commits, feed, reservations, voids
from rating_server.ledger.feed import Cursor, FeedItem
from rating_server.ledger.store import LedgerStore

CALL = "agent.call"
SECOND = 10**9


@pytest.fixture
def ledger_with_accounts(ledger: LedgerStore, catalog_snapshot: CatalogSnapshot) -> LedgerStore:
    for account in ("acme", "globex"):
        accounts.create_account(ledger, catalog_snapshot, account)
    accounts.create_account(ledger, catalog_snapshot, "acme-dev", parent_account_id="acme")
    return ledger


def commit(
    ledger: LedgerStore, catalog: CatalogSnapshot, request_id: str, *items: tuple[str, int]
) -> str:
    now = time.time_ns()
    usages = [
        Usage(f"{request_id}.{n}", account, CALL, calls, now)
        for n, (account, calls) in enumerate(items)
    ]
    return commits.commit(ledger, catalog, request_id, usages).charge_id


def described(items: list[FeedItem]) -> list[tuple]:
    """Each item as (billing account, what, charge or reservation, line or -)."""
    out: list[tuple] = []
    for item in items:
        if item.line is not None:
            out.append((item.billing_account_id, "line", item.line.usage_id))
        elif item.settled is not None:
            out.append((item.billing_account_id, "settled", item.settled[1]))
        else:
            assert item.voided is not None
            out.append((item.billing_account_id, "void", item.voided[0]))
    return out


def read_all(
    ledger: LedgerStore, billing: str | None, cursor: Cursor, count: int = 0
) -> list[FeedItem]:
    """The feed's items after ``cursor``: ``count`` of them (waiting for them: on
    PostgreSQL a transaction still running anywhere in the cluster when a read begins
    may hold later events back until the next read), or, with 0, those one pass finds."""
    found: list[FeedItem] = []
    deadline = time.monotonic() + 60
    while True:
        items = feed.read(ledger, billing, cursor)
        found += items
        if items:
            cursor = items[-1].cursor
        if len(found) >= count and (count or not items):
            return found
        assert time.monotonic() < deadline, f"{len(found)} of {count} items in 60 s"
        if not items:
            time.sleep(0.01)


@pytest.fixture
def catalog(catalog_snapshot: CatalogSnapshot) -> CatalogSnapshot:
    return catalog_snapshot


def test_the_feed_holds_every_line_settlement_and_void_in_order_per_account_and_for_all(
    ledger_with_accounts: LedgerStore, catalog: CatalogSnapshot
) -> None:
    ledger = ledger_with_accounts
    billing, start = feed.start(ledger, "", "")
    assert billing is None
    first = commit(ledger, catalog, "r1", ("acme", 1), ("globex", 2), ("acme-dev", 3))
    held = reservations.reserve(ledger, catalog, "rsv", "acme", CALL, 5, 60 * SECOND)
    settled = commits.commit(
        ledger,
        catalog,
        "r2",
        [Usage("r2.0", "acme", CALL, 5, time.time_ns())],
        named={0: held.reservation_id},
    ).charge_id
    voids.void(ledger, first)
    everything = described(read_all(ledger, None, start, 7))
    assert everything == [
        ("acme", "line", "r1.0"),
        ("acme", "line", "r1.2"),
        ("globex", "line", "r1.1"),
        ("acme", "line", "r2.0"),
        ("acme", "settled", settled),
        ("acme", "void", first),
        ("globex", "void", first),
    ]
    _, acme_start = feed.start(ledger, "acme", "")
    assert read_all(ledger, "acme", acme_start) == []  # a feed that starts now
    acme = [entry for entry in everything if entry[0] == "acme"]
    assert described(read_all(ledger, "acme", Cursor((0, 0)), len(acme))) == acme


def test_a_void_gives_the_reversal_of_the_accounts_funding_and_lines_carry_theirs(
    ledger_with_accounts: LedgerStore, catalog: CatalogSnapshot
) -> None:
    ledger = ledger_with_accounts
    _, start = feed.start(ledger, "acme", "")
    charge = commit(ledger, catalog, "big", ("acme", 200), ("acme", 100))  # 400 + 200 points
    voids.void(ledger, charge)
    first, second, void = read_all(ledger, "acme", start, 3)
    assert [(p.source, p.micros) for p in first.line.funding] == [("free", 400 * 10**6)]  # type: ignore[union-attr]
    assert [(p.source, p.micros) for p in second.line.funding] == [  # type: ignore[union-attr]
        ("free", 100 * 10**6),
        ("payg", 100 * 10**6),
    ]
    assert void.voided is not None
    assert [(p.source, p.micros) for p in void.voided[1]] == [
        ("free", -400 * 10**6),
        ("free", -100 * 10**6),
        ("payg", -100 * 10**6),
    ]


def test_a_cursor_resumes_after_the_line_it_names_even_inside_a_charge(
    ledger_with_accounts: LedgerStore, catalog: CatalogSnapshot
) -> None:
    ledger = ledger_with_accounts
    _, start = feed.start(ledger, "acme", "")
    commit(ledger, catalog, "a", *[("acme", 1)] * 5)
    commit(ledger, catalog, "b", ("acme", 1))
    items = read_all(ledger, "acme", start, 6)
    ids = [item.line.usage_id for item in items]  # type: ignore[union-attr]
    assert ids == ["a.0", "a.1", "a.2", "a.3", "a.4", "b.0"]
    for taken in range(len(items)):
        token = feed.token_of(items[taken].cursor, "acme")
        _, cursor = feed.start(ledger, "acme", token)
        rest = read_all(ledger, "acme", cursor, len(items) - taken - 1)
        assert [item.line.usage_id for item in rest] == ids[taken + 1 :]  # type: ignore[union-attr]


def test_a_cursor_of_another_feed_or_a_forged_one_is_refused(
    ledger_with_accounts: LedgerStore, catalog: CatalogSnapshot
) -> None:
    ledger = ledger_with_accounts
    commit(ledger, catalog, "a", ("acme", 1))
    (item,) = read_all(ledger, "acme", Cursor((0, 0)), 1)
    token = feed.token_of(item.cursor, "acme")
    for account, cursor in (("globex", token), ("acme", "not-a-cursor"), ("", token)):
        with pytest.raises(InvalidRequestError) as refused:
            feed.start(ledger, account, cursor)
        assert refused.value.violations[0].reason == "CURSOR_INVALID"
    with pytest.raises(FailedPreconditionError):
        feed.start(ledger, "acme-dev", "")


@pytest.mark.postgres_only  # SQLite has one writer at a time: positions follow commits
def test_an_event_numbered_first_but_committed_last_is_never_skipped(
    ledger_with_accounts: LedgerStore, catalog: CatalogSnapshot, database: str
) -> None:
    """The outbox trap: a transaction takes its feed number, a later one commits first.
    The reader must not pass the first one's number before it commits."""

    ledger = ledger_with_accounts
    _, start = feed.start(ledger, "", "")
    with psycopg.connect(database) as slow:
        slow.execute(
            "INSERT INTO feed_events (billing_account_id, kind, charge_id, time_ns) "
            "VALUES ('acme', 'settle', 'ch_slow', 1)"
        )  # numbered now, committed below
        late = commit(ledger, catalog, "quick", ("globex", 1))
        assert read_all(ledger, None, start) == []  # the quick one waits behind it
        slow.commit()
    seen = read_all(ledger, None, start, 2)
    assert [(item.billing_account_id, item.settled or item.line.charge_id) for item in seen] == [  # type: ignore[union-attr]
        ("acme", ("", "ch_slow")),
        ("globex", late),
    ]


def test_a_read_takes_a_bounded_number_of_items_and_the_next_goes_on_inside_a_charge(
    ledger_with_accounts: LedgerStore,
    catalog: CatalogSnapshot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(feed, "ITEMS_PER_READ", 3)
    ledger = ledger_with_accounts
    _, start = feed.start(ledger, "acme", "")
    commit(ledger, catalog, "a", *[("acme", 1)] * 5)
    commit(ledger, catalog, "b", ("acme", 1), ("acme", 1))
    first = feed.read(ledger, "acme", start)
    assert [item.line.usage_id for item in first] == ["a.0", "a.1", "a.2"]  # type: ignore[union-attr]
    rest = read_all(ledger, "acme", first[-1].cursor, 4)
    assert [item.line.usage_id for item in rest] == ["a.3", "a.4", "b.0", "b.1"]  # type: ignore[union-attr]
