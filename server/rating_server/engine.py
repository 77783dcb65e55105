"""The rating engine: usage in, exact amounts out. Plain Python, no gRPC.

Rules (SPEC §2, §3):

- A line's amount is rated_quantity x unit_price / price_unit, computed exactly and
  rounded once, half-up, to one micro-point. A batch total is the sum of its lines.
- The price is the one in force at the item's ``occurred_at``.
- ``rated_quantity`` is the quantity in base units, rounded up to a multiple of the
  SKU's increment when it declares one. For storage SKUs it is the stored bytes
  beyond the account's free quota in force at ``occurred_at`` times the interval in
  milliseconds.
- Ark SKUs carry a price of 0 and come back marked as billed by Ark.

A batch is rated all or nothing: every problem in it is collected and raised
together as ``InvalidUsageError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from rating_server.catalog.model import CatalogSnapshot, PriceVersion, Sku
from rating_server.domain_errors import InvalidUsageError, Violation
from rating_server.ids import all_plain, id_problem, shown

if TYPE_CHECKING:
    import numpy as np

MAX_BATCH_ITEMS = 10_000
NANOS_PER_MILLI = 1_000_000
NANOS_PER_SECOND = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one usage item may say. Amounts stay far inside int64 (SQLite's
    INTEGER), whatever the catalog's prices."""

    #: Largest quantity in base units (10^15 tokens, characters, calls, ms, bytes).
    max_quantity: int = 10**15
    #: Largest amount of one line: 10^9 points (one million yuan), in micro-points.
    max_line_micros: int = 10**15
    #: Largest amount of one batch, likewise. With the ledger's accrual ceiling, every
    #: sum the ledger keeps stays inside int64.
    max_batch_micros: int = 10**15
    max_attributes: int = 32
    max_attribute_key: int = 64
    max_attribute_value: int = 512
    #: Usage before this instant is refused: 2000-01-01T00:00:00Z.
    earliest_ns: int = 946_684_800 * NANOS_PER_SECOND
    #: Usage more than this far in the future (clock skew allowance) is refused.
    max_future_ns: int = 300 * NANOS_PER_SECOND


DEFAULT_LIMITS = Limits()


_NO_ATTRIBUTES: Mapping[str, str] = MappingProxyType({})


class Usage(NamedTuple):
    """One usage item. Instants and durations are integer nanoseconds.

    (A named tuple, not a dataclass: one is made per item on the hot path, and a
    tuple is made four times faster than a frozen dataclass.)
    """

    usage_id: str
    account_id: str
    sku: str
    quantity: int
    occurred_at_ns: int | None
    duration_ns: int | None = None
    attributes: Mapping[str, str] = _NO_ATTRIBUTES


def too_many_items(count: int) -> Violation:
    return Violation(
        "items", "ITEMS_TOO_MANY", f"{count} items; a batch holds at most {MAX_BATCH_ITEMS}"
    )


def batch_too_large(limits: Limits) -> Violation:
    return Violation(
        "items",
        "BATCH_AMOUNT_TOO_LARGE",
        f"the batch would cost more than {limits.max_batch_micros // 10**6:,} points; split it",
    )


def add_new_fields(violations: list[Violation], found: Sequence[Violation]) -> None:
    """Add to ``violations`` those of ``found`` about fields not named yet (a field
    found bad by the wire decoding is not reported again by the rules)."""
    named = {v.field for v in violations}
    violations.extend(v for v in found if v.field not in named)


def in_item_order(violations: Sequence[Violation]) -> list[Violation]:
    """Violations sorted by item index (request-level fields first), stable otherwise."""

    def index(violation: Violation) -> int:
        field = violation.field
        if field.startswith("items[") and "]" in field:
            return int(field[6 : field.index("]")])
        return -1

    return sorted(violations, key=index)


class RatedLine(NamedTuple):
    """The price of one usage item (a named tuple, like Usage, for speed)."""

    usage: Usage
    sku: Sku
    price: PriceVersion
    rated_quantity: int
    micros: int

    @property
    def points(self) -> Decimal:
        return Decimal(self.micros).scaleb(-6)


@dataclass(frozen=True, slots=True)
class RatedBatch:
    catalog_version: int
    lines: tuple[RatedLine, ...]
    total_micros: int

    @property
    def total_points(self) -> Decimal:
        return Decimal(self.total_micros).scaleb(-6)


def rate_batch(
    catalog: CatalogSnapshot,
    usages: Sequence[Usage],
    free_storage_bytes: Callable[[str, int], int] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    now_ns: int | None = None,
) -> RatedBatch:
    """Rate every item against ``catalog``, or raise InvalidUsageError naming every problem.

    ``free_storage_bytes(account_id, occurred_at_ns)`` gives an account's free storage
    quota in force at a storage item's instant; by default every account has the
    default plan's, at every instant. ``limits`` bound each item; ``now_ns``
    (default: the clock) is what "in the future" is measured from.
    """
    if not usages:
        raise InvalidUsageError(
            [Violation("items", "ITEMS_EMPTY", "at least one item is required")]
        )
    if len(usages) > MAX_BATCH_ITEMS:
        raise InvalidUsageError([too_many_items(len(usages))])
    default_free = catalog.default_plan.free_storage_bytes
    quota = free_storage_bytes or (lambda _account, _at_ns: default_free)
    latest_ns = (time.time_ns() if now_ns is None else now_ns) + limits.max_future_ns
    lines: list[RatedLine] = []
    violations: list[Violation] = []
    total = 0
    # The plain item, which is nearly every item, is rated by plain_rater: its SKU found,
    # metered by quantity, every field in range, its ids checked for the whole batch at
    # once. Any other item, good or bad, takes rate_item, which applies every rule and
    # names every problem; both give the same line (test_engine proves it).
    ids_plain = all_plain([u.usage_id for u in usages]) and all_plain(
        [u.account_id for u in usages]
    )
    rate_plain = plain_rater(catalog, limits, latest_ns)
    for index, usage in enumerate(usages):
        _id, _account, name, quantity, at_ns, duration_ns, attributes = usage
        if ids_plain and duration_ns is None and at_ns is not None:
            rated = rate_plain(name, quantity, at_ns, attributes)
            if rated is not None:
                sku, price, rated_quantity, micros = rated
                lines.append(RatedLine(usage, sku, price, rated_quantity, micros))
                total += micros
                continue
        line = rate_item(catalog, index, usage, quota, limits, latest_ns, violations)
        if line is not None:
            lines.append(line)
            total += line.micros
    if not violations and total > limits.max_batch_micros:
        violations.append(batch_too_large(limits))
    if violations:
        raise InvalidUsageError(violations)
    return RatedBatch(catalog_version=catalog.version, lines=tuple(lines), total_micros=total)


Quantities = TypeVar("Quantities", int, "np.ndarray")


def rounded_up(quantity: Quantities, increment: Quantities | int) -> Quantities:
    """The quantity rated: ``quantity`` rounded up to a multiple of the SKU's
    ``increment`` (1: as it is). The one rule for every path, item by item or a whole
    column at once (numpy integer arrays, element by element; increments at least 1)."""
    if isinstance(increment, int) and increment <= 1:
        return quantity
    return -(-quantity // increment) * increment


#: A plain item's rating: its SKU, the price in force, the quantity rated (rounded up to
#: the SKU's increment) and the amount in micro-points.
PlainRating = tuple[Sku, PriceVersion, int, int]


def plain_rater(
    catalog: CatalogSnapshot, limits: Limits, latest_ns: int
) -> Callable[[str, int, int, Mapping[str, str]], PlainRating | None]:
    """Rates the plain item, ``rate(sku, quantity, occurred_at_ns, attributes)``: a SKU
    found and metered by quantity, the quantity, instant, attributes and amount in
    range (instants up to ``latest_ns``). None for any other item, which the caller
    rates with every rule (``rate_item``); the caller checks the ids, and that the item
    has no duration, itself."""
    names, resolve = catalog.exact_names, catalog.resolve
    earliest_ns, max_quantity = limits.earliest_ns, limits.max_quantity
    max_line_micros = limits.max_line_micros

    def rate(
        name: str, quantity: int, at_ns: int, attributes: Mapping[str, str]
    ) -> PlainRating | None:
        sku = names.get(name) or (resolve(name) if name else None)
        if (
            sku is None
            or sku.metering == "storage"
            or not 0 <= quantity <= max_quantity
            or not earliest_ns <= at_ns <= latest_ns
            or (attributes and not _plain_attributes(attributes, limits))
        ):
            return None
        price = sku.price_at(at_ns)
        if price is None:
            return None
        quantity = rounded_up(quantity, sku.increment)
        micros = price.rate.micros(quantity)
        return (sku, price, quantity, micros) if micros <= max_line_micros else None

    return rate


class PlainPrice(NamedTuple):
    """How a plain item naming one SKU is rated at one of its prices, in terms a loop
    over many items can use inline (``plain_rater``'s rules, without its calls): the
    quantity rated is the quantity rounded up to a multiple of ``increment``; its amount
    in micro-points is ``(rated * a + b) // c`` (``Rate.terms``)."""

    sku: Sku
    price: PriceVersion
    #: The price is in force at every instant from this one on, to the next price's.
    since_ns: int
    increment: int
    a: int
    b: int
    c: int


def plain_price(catalog: CatalogSnapshot, name: str, at_ns: int | None = None) -> PlainPrice | None:
    """The price a plain item naming ``name`` is rated at: the one in force at
    ``at_ns``, or with None the SKU's newest. None when no item naming it is plain (no
    SKU of that name, a storage SKU, or no price in force), as ``plain_rater`` has it."""
    sku = catalog.exact_names.get(name) or (catalog.resolve(name) if name else None)
    if sku is None or sku.metering == "storage" or not sku.prices:
        return None
    price = sku.prices[-1] if at_ns is None else sku.price_at(at_ns)
    if price is None:
        return None
    return PlainPrice(sku, price, price.effective_from_ns, sku.increment, *price.rate.terms())


def rate_item(
    catalog: CatalogSnapshot,
    index: int,
    usage: Usage,
    quota: Callable[[str, int], int],
    limits: Limits,
    latest_ns: int,
    violations: list[Violation],
) -> RatedLine | None:
    """Rate item ``index`` of a batch by every rule, or add to ``violations`` every
    problem it has (as ``items[index].field``) and return None. ``quota`` gives an
    account's free storage at an instant; instants after ``latest_ns`` are refused."""
    problems = len(violations)

    def bad(name: str, reason: str, description: str) -> None:
        violations.append(Violation(f"items[{index}].{name}", reason, description))

    _check_fields(usage, limits, latest_ns, bad)
    sku = catalog.resolve(usage.sku) if usage.sku else None
    if sku is None:
        if usage.sku:  # else _check_fields named it missing
            bad("sku", "SKU_UNKNOWN", f"no SKU, alias or pattern is named {shown(usage.sku)}")
    elif not sku.prices:
        bad("sku", "SKU_UNPRICED", f"{shown(usage.sku)} is SKU {sku.id!r}, which has no price yet")
    if sku is not None:
        _check_duration(sku, usage.duration_ns, bad)
    if len(violations) > problems or sku is None or usage.occurred_at_ns is None:
        return None
    price = sku.price_at(usage.occurred_at_ns)
    if price is None:
        bad(
            "occurred_at",
            "SKU_UNPRICED_AT",
            f"SKU {sku.id!r} had no price in force at occurred_at (its first price is later)",
        )
        return None
    quantity = usage.quantity
    if sku.metering == "storage":
        assert usage.duration_ns is not None
        excess = max(0, quantity - quota(usage.account_id, usage.occurred_at_ns))
        quantity = excess * (usage.duration_ns // NANOS_PER_MILLI)
    quantity = rounded_up(quantity, sku.increment)
    micros = price.rate.micros(quantity)
    if micros > limits.max_line_micros:
        bad(
            "quantity",
            "AMOUNT_TOO_LARGE",
            f"the line would cost more than {limits.max_line_micros // 10**6:,} points",
        )
        return None
    return RatedLine(usage=usage, sku=sku, price=price, rated_quantity=quantity, micros=micros)


def check_fields(usages: Sequence[Usage], limits: Limits = DEFAULT_LIMITS) -> list[Violation]:
    """The problems a batch has whatever the catalog, the accounts and the clock: a
    missing or malformed id, sku or occurred_at, a quantity or attributes out of bounds
    (``rate_batch`` names these too, with the rest). A commit's retry is checked with
    these before its receipt is replayed: the rest was found good when it was first
    committed, and a catalog changed since must not refuse what was charged."""
    if not usages:
        return [Violation("items", "ITEMS_EMPTY", "at least one item is required")]
    if len(usages) > MAX_BATCH_ITEMS:
        return [too_many_items(len(usages))]
    violations: list[Violation] = []
    for index, usage in enumerate(usages):

        def bad(name: str, reason: str, description: str, index: int = index) -> None:
            violations.append(Violation(f"items[{index}].{name}", reason, description))

        _check_fields(usage, limits, None, bad)
    return violations


def _check_fields(
    usage: Usage, limits: Limits, latest_ns: int | None, bad: Callable[[str, str, str], None]
) -> None:
    """An item's checks that need no catalog (nor, without ``latest_ns``, the clock)."""
    if not usage.usage_id:
        bad("usage_id", "USAGE_ID_MISSING", "usage_id is required")
    elif problem := id_problem(usage.usage_id):
        bad("usage_id", "USAGE_ID_INVALID", f"usage_id {problem}")
    if not usage.account_id:
        bad("account_id", "ACCOUNT_ID_MISSING", "account_id is required")
    elif problem := id_problem(usage.account_id):
        bad("account_id", "ACCOUNT_ID_INVALID", f"account_id {problem}")
    if usage.quantity < 0:
        bad("quantity", "QUANTITY_NEGATIVE", f"quantity {usage.quantity} is negative")
    elif usage.quantity > limits.max_quantity:
        bad("quantity", "QUANTITY_TOO_LARGE", f"quantity is above {limits.max_quantity:,}")
    if usage.occurred_at_ns is None:
        bad("occurred_at", "OCCURRED_AT_MISSING", "occurred_at is required")
    elif usage.occurred_at_ns < limits.earliest_ns:
        bad("occurred_at", "OCCURRED_AT_TOO_OLD", "occurred_at is before 2000-01-01")
    elif latest_ns is not None and usage.occurred_at_ns > latest_ns:
        bad(
            "occurred_at",
            "OCCURRED_AT_IN_FUTURE",
            f"occurred_at is more than {limits.max_future_ns // NANOS_PER_SECOND} s ahead of "
            "the server's clock",
        )
    if usage.attributes:
        _check_attributes(usage.attributes, limits, bad)
    if not usage.sku:
        bad("sku", "SKU_MISSING", "sku is required")


# Attribute keys already found printable and without spaces (a service sends the same
# few on every item), so each is checked once; bounded, since keys come from callers.
# With the longest of them: one tuple, replaced (never changed) when a key is added, so
# a reader always sees a set and its longest key together.
_good_keys: tuple[frozenset[str], int] = (frozenset(), 0)
_MAX_GOOD_KEYS = 1024


def _key_ok(key: str) -> bool:
    global _good_keys
    keys, longest = _good_keys
    if key in keys:
        return True
    if id_problem(key):
        return False
    if len(keys) < _MAX_GOOD_KEYS:
        _good_keys = (keys | {key}, max(longest, len(key)))
    return True


def plain_attribute_keys(limits: Limits) -> frozenset[str]:
    """The attribute keys ``_check_attributes`` finds good whatever their item (each
    seen and checked before); none while one of them is longer than ``limits`` allow."""
    keys, longest = _good_keys
    return keys if longest <= limits.max_attribute_key else frozenset()


def attributes_ok(attributes: Mapping[str, str], limits: Limits) -> bool:
    """Whether an item's attributes break none of the rules (``_check_attributes``)."""
    found: list[str] = []
    _check_attributes(attributes, limits, lambda _name, reason, _text: found.append(reason))
    return not found


def _plain_attributes(attributes: Mapping[str, str], limits: Limits) -> bool:
    """Whether ``_check_attributes`` would find nothing, for the usual attributes: a few
    keys seen before, short values."""
    if len(attributes) > limits.max_attributes:
        return False
    keys = plain_attribute_keys(limits)
    longest = limits.max_attribute_value
    # A loop reads a protobuf map faster than map() and max(), or all() and a generator.
    for key in attributes:  # noqa: SIM110
        if key not in keys or len(attributes[key]) > longest:
            return False
    return True


def _check_attributes(
    attributes: Mapping[str, str], limits: Limits, bad: Callable[[str, str, str], None]
) -> None:
    if len(attributes) > limits.max_attributes:
        bad("attributes", "ATTRIBUTES_TOO_MANY", f"more than {limits.max_attributes} attributes")
        return
    # By key, so that the problems read in one order however the map was sent.
    for key in sorted(attributes):
        value = attributes[key]
        if not key or len(key) > limits.max_attribute_key or not _key_ok(key):
            bad(
                "attributes",
                "ATTRIBUTE_KEY_INVALID",
                f"attribute key {shown(key)} must be 1 to {limits.max_attribute_key} "
                "printable characters without spaces",
            )
        elif len(value) > limits.max_attribute_value:
            bad(
                "attributes",
                "ATTRIBUTE_VALUE_TOO_LONG",
                f"attribute {key!r} is longer than {limits.max_attribute_value} characters",
            )


def _check_duration(
    sku: Sku, duration_ns: int | None, bad: Callable[[str, str, str], None]
) -> None:
    if sku.metering != "storage":
        if duration_ns is not None:
            bad(
                "duration",
                "DURATION_NOT_ALLOWED",
                f"SKU {sku.id!r} is metered by quantity; only storage items take a duration",
            )
    elif duration_ns is None:
        bad("duration", "DURATION_MISSING", f"storage SKU {sku.id!r} needs the sampling interval")
    elif duration_ns < 0:
        bad("duration", "DURATION_NEGATIVE", "duration is negative")
    elif duration_ns % NANOS_PER_MILLI:
        bad("duration", "DURATION_NOT_WHOLE_MS", "duration must be whole milliseconds")
