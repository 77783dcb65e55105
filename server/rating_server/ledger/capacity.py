"""Knowledge-base capacity bought by the month or year: terms, prices, the quota at an
instant. Plain Python, no SQL, no gRPC.

A purchase adds ``gib`` GiB (2^30 bytes each) to a main account's free storage quota
while it is valid, [valid_from, expire_time). A term runs from valid_from to the same
local wall-clock time one calendar month (``MONTH``) or twelve (``YEAR``) later, in the
account's time zone, the day clamped to the last of its month (Jan 31 + a month is Feb
28, or 29; Feb 29 + a year is Feb 28). A wall-clock time a daylight-saving change skips
is moved forward by the gap, and one it repeats is its first instant. The price paid
is stated by the caller (the pricing page gives none), in points or in yuan, and kept
as micro-points.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from rating_server.domain_errors import FailedPreconditionError, InvalidRequestError, Violation
from rating_server.ids import check_id, shown
from rating_server.ledger.accounts import load_main_account
from rating_server.ledger.model import CapacityPurchase
from rating_server.ledger.store import LedgerStore, LedgerTx
from rating_server.money import MICROS_PER_POINT, exact_micros, parse_decimal
from rating_server.time_zones import zone

MONTH = "month"
YEAR = "year"
TERMS = (MONTH, YEAR)
GIB = 2**30
MAX_GIB = 1_000_000
#: The largest price: under 10^12 points, as for a pack.
MAX_PRICE_MICROS = 10**12 * MICROS_PER_POINT - 1
#: The latest instant the ledger keeps (int64 nanoseconds: 2262-04-11).
MAX_NS = 2**63 - 1

NANOS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONTHS = {MONTH: 1, YEAR: 12}


def term_end(valid_from_ns: int, term: str, time_zone: str) -> int:
    """The exclusive end of a ``term`` (``MONTH`` or ``YEAR``) from ``valid_from_ns``, in
    ``time_zone``: the same local wall-clock time that many calendar months later, the
    day clamped to the month's last; the nanoseconds within the second kept."""
    seconds, nanos = divmod(valid_from_ns, NANOS)
    local = (_EPOCH + timedelta(seconds=seconds)).astimezone(zone(time_zone))
    months = local.month - 1 + _MONTHS[term]
    year, month = local.year + months // 12, months % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    # fold=0: a repeated wall-clock time is its first instant; a skipped one is read at
    # the offset before the change, which moves it forward by the gap.
    later = local.replace(tzinfo=None).replace(year=year, month=month, day=day)
    end = later.replace(tzinfo=zone(time_zone), fold=0).astimezone(UTC)
    return (end - _EPOCH) // timedelta(seconds=1) * NANOS + nanos


def parse_price(field: str, text: str, scale: int, violations: list[Violation]) -> int:
    """A price paid, a non-negative plain decimal of points (``scale`` 0, at most 6
    decimals) or of yuan (``scale`` 3, at most 9), as micro-points; 0 with a violation
    (``PRICE_INVALID``) when it is not one."""

    def bad(description: str) -> int:
        violations.append(Violation(field, "PRICE_INVALID", description))
        return 0

    try:
        value = parse_decimal(text)
    except ValueError:
        return bad(f"{shown(text)} is not a plain decimal number (digits, an optional point)")
    if value.is_signed():
        return bad("a price cannot be negative")
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    significant = "".join(map(str, digits)).rstrip("0")
    decimals = max(0, -(exponent + len(digits) - len(significant))) if significant else 0
    if decimals > 6 + scale:
        return bad(f"a price has at most {6 + scale} decimals (a micro-point)")
    try:  # exact: only the exponent moves
        micros = exact_micros(Decimal((0, digits, exponent + scale)))
    except ValueError:
        micros = MAX_PRICE_MICROS + 1
    if micros > MAX_PRICE_MICROS:
        return bad("the price is too large (10^12 points or more)")
    return micros


def valid_at(purchases: Iterable[CapacityPurchase], at_ns: int) -> list[CapacityPurchase]:
    """The purchases valid at ``at_ns``."""
    return [p for p in purchases if p.valid_from_ns <= at_ns < p.expire_time_ns]


def valid_during(
    purchases: Iterable[CapacityPurchase], start_ns: int, end_ns: int
) -> list[CapacityPurchase]:
    """The purchases valid at some instant of [start, end), in listing order."""
    return listed(p for p in purchases if p.valid_from_ns < end_ns and start_ns < p.expire_time_ns)


def extra_bytes(purchases: Iterable[CapacityPurchase], at_ns: int) -> int:
    """The bytes the purchases valid at ``at_ns`` add to the free storage quota."""
    return sum(p.gib for p in valid_at(purchases, at_ns)) * GIB


def listed(purchases: Iterable[CapacityPurchase]) -> list[CapacityPurchase]:
    """Purchases in listing order: by valid_from, then in the order granted."""
    return sorted(purchases, key=CapacityPurchase.list_key)


def grant(
    store: LedgerStore,
    account_id: str,
    gib: int,
    term: str = "",
    valid_from_ns: int | None = None,
    expire_time_ns: int | None = None,
    price_points: str | None = None,
    price_yuan: str | None = None,
    request_id: str = "",
) -> CapacityPurchase:
    """Grant a main account ``gib`` GiB of capacity for a ``term`` (``MONTH`` or
    ``YEAR``) or to an explicit ``expire_time_ns`` (exactly one of the two), from
    ``valid_from_ns`` (default: now), at the price paid, in points or in yuan (exactly
    one; "0" for a gift).

    With a ``request_id``, a retry with the same fields (the same price in either unit;
    without valid_from, as the first was without one) returns the purchase granted
    first; other fields are FailedPreconditionError ``REQUEST_ID_REUSED``. A bad field
    is InvalidRequestError and writes nothing."""
    violations: list[Violation] = []
    check_id("account_id", account_id, violations)
    if not 1 <= gib <= MAX_GIB:
        violations.append(
            Violation("gib", "GIB_INVALID", f"gib must be 1 to {MAX_GIB:,}, not {gib}")
        )
    now = time.time_ns()
    valid_from = now if valid_from_ns is None else valid_from_ns
    if term and term not in TERMS:
        violations.append(
            Violation("term", "TERM_INVALID", f"{shown(term)} is not a term (month or year)")
        )
    elif term and expire_time_ns is not None:
        violations.append(
            Violation(
                "expire_time",
                "EXPIRY_WITH_TERM",
                "give a term or an expire_time, not both: a term sets the expiry",
            )
        )
    elif not term and expire_time_ns is None:
        violations.append(
            Violation("term", "TERM_MISSING", "give a term (month or year) or an expire_time")
        )
    elif expire_time_ns is not None and expire_time_ns <= valid_from:
        violations.append(
            Violation(
                "expire_time", "EXPIRY_NOT_AFTER_START", "expire_time must be after valid_from"
            )
        )
    micros = 0
    if price_points is not None and price_yuan is not None:
        violations.append(
            Violation("price_yuan", "PRICE_INVALID", "give the price in points or yuan, not both")
        )
    elif price_points is not None:
        micros = parse_price("price_points", price_points, 0, violations)
    elif price_yuan is not None:
        micros = parse_price("price_yuan", price_yuan, 3, violations)
    else:
        violations.append(
            Violation(
                "price",
                "PRICE_MISSING",
                'state the price paid, in price_points or price_yuan ("0" for a gift)',
            )
        )
    if request_id:
        check_id("request_id", request_id, violations)
    if violations:
        raise InvalidRequestError(violations)
    with store.write() as tx:
        account = load_main_account(tx, account_id, "holds knowledge-base capacity")
        expire = expire_time_ns
        if expire is None:
            expire = term_end(valid_from, term, account.time_zone)
            if expire > MAX_NS:
                raise InvalidRequestError(
                    [
                        Violation(
                            "valid_from",
                            "VALID_FROM_INVALID",
                            "the term would end after 2262-04-11, the last instant the ledger "
                            "keeps",
                        )
                    ]
                )
        if request_id:
            earlier = tx.capacity_by_request(request_id)
            if earlier is not None:
                # Granted without valid_from, a purchase is valid from its creation: only
                # such a purchase is the retry of a request without one.
                start = earlier.create_time_ns if valid_from_ns is None else valid_from_ns
                same = (
                    earlier.account_id == account_id
                    and earlier.gib == gib
                    and earlier.term == term
                    and earlier.valid_from_ns == start
                    and (bool(term) or earlier.expire_time_ns == expire_time_ns)
                    and earlier.price_micros == micros
                )
                if not same:
                    raise FailedPreconditionError(
                        "REQUEST_ID_REUSED",
                        f"request_id {request_id!r} granted a different capacity purchase before",
                    )
                return earlier
        return tx.insert_capacity(
            account_id, gib, term, valid_from, expire, micros, now, request_id
        )


def purchases_of(tx: LedgerTx, account_id: str) -> list[CapacityPurchase]:
    """Every capacity purchase of a main account, in listing order."""
    return listed(tx.capacity_purchases([account_id]))
