"""The charges feed: every committed line, reservation settlement and void, in one order
that a reader resuming from its cursor follows with nothing skipped and nothing twice.
Plain Python, no SQL.

The ledger keeps an event per charge, void and settlement for each billing account it
concerns (``LedgerTx.feed_events``), written in the transaction that made it; each
engine orders them so that no event can later appear before one already read. A charge's
event stands for its lines, read when the feed reaches it. A cursor names an event and,
within a charge, the last of its lines taken: (the event's position, the line number, or
``WHOLE`` when the whole event was taken).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from rating_server.domain_errors import InvalidRequestError, Violation
from rating_server.ids import check_id
from rating_server.ledger.accounts import load_main_account
from rating_server.ledger.model import CHARGED, VOIDED, ChargeEntry, FeedEvent, FundingPart
from rating_server.ledger.store import LedgerStore, LedgerTx
from rating_server.ledger.voids import reversal_entries
from rating_server.pages import make_token, read_token

#: A cursor's line number when the whole event was taken.
WHOLE = -1
#: Events read at once, and items taken from them at most (a charge's lines may stop
#: midway: the last item's cursor names its line), so that a stream holds a bounded
#: number of items whatever the batches were.
EVENTS_PER_READ = 200
ITEMS_PER_READ = 2000


@dataclass(frozen=True, slots=True)
class Cursor:
    position: tuple[int, int]
    line: int = WHOLE


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One item of the feed: a line, a settlement or a void, with the cursor after it."""

    cursor: Cursor
    billing_account_id: str
    time_ns: int
    line: ChargeEntry | None = None
    #: A settlement: the reservation, and the charge that settled it.
    settled: tuple[str, str] | None = None
    #: A void: the charge, and the reversal of this account's funding of it.
    voided: tuple[str, tuple[FundingPart, ...]] | None = None


def start(store: LedgerStore, account_id: str, token: str) -> tuple[str | None, Cursor]:
    """The billing account a feed follows (None: every account's, for ``account_id``
    "") and the cursor it starts after: ``token``'s, or the feed's end now."""
    if account_id:
        violations: list[Violation] = []
        check_id("account_id", account_id, violations)
        if violations:
            raise InvalidRequestError(violations)
        with store.read() as tx:
            load_main_account(tx, account_id, "has a charges feed")
    billing = account_id or None
    if token:
        return billing, _read_cursor(token, account_id)
    with store.read() as tx:
        return billing, Cursor(tx.feed_end(billing))


def token_of(cursor: Cursor, account_id: str) -> str:
    """The cursor as the opaque text a caller keeps, bound to its feed."""
    return make_token([*cursor.position, cursor.line], [account_id, "feed"])


def _read_cursor(token: str, account_id: str) -> Cursor:
    def valid(value: object) -> bool:
        return (
            isinstance(value, list)
            and len(value) == 3
            and all(type(v) is int for v in value)
            and value[0] >= 0
            and value[1] >= 0
            and value[2] >= WHOLE
        )

    try:
        first, second, line = read_token(token, [account_id, "feed"], valid)
    except InvalidRequestError:
        raise InvalidRequestError(
            [Violation("cursor", "CURSOR_INVALID", "cursor is not one this feed gave")]
        ) from None
    return Cursor((first, second), line)


def read(store: LedgerStore, billing: str | None, after: Cursor) -> list[FeedItem]:
    """The items after ``after``, from the next events the feed holds (none: caught
    up), in feed order, ``ITEMS_PER_READ`` at most; the last one's cursor is where to
    read from next."""
    with store.read() as tx:
        if after.line == WHOLE:
            events = tx.feed_events(after.position, billing, EVENTS_PER_READ)
        else:  # a charge's lines were taken in part: read that event again
            first, second = after.position
            events = [
                event
                for event in tx.feed_events((first, second - 1), billing, EVENTS_PER_READ)
                if event.position >= after.position
            ]
        items: list[FeedItem] = []
        for event in events:
            for item in _items(tx, event, after):
                items.append(item)
                if len(items) >= ITEMS_PER_READ:  # the next read goes on from its cursor
                    return items
        return items


def _items(tx: LedgerTx, event: FeedEvent, after: Cursor) -> Iterator[FeedItem]:
    whole = Cursor(event.position)
    account, at = event.billing_account_id, event.time_ns
    if event.kind == CHARGED:
        lines = tx.charge_entries(account, event.charge_id)
        for line in lines:
            if event.position == after.position and line.line_number <= after.line:
                continue
            last = line is lines[-1]
            cursor = whole if last else Cursor(event.position, line.line_number)
            yield FeedItem(cursor, account, at, line=line)
    elif event.kind == VOIDED:
        parts = tuple(e.part for e in reversal_entries(tx, event.charge_id, [account]))
        yield FeedItem(whole, account, at, voided=(event.charge_id, parts))
    else:
        yield FeedItem(whole, account, at, settled=(event.reservation_id, event.charge_id))
