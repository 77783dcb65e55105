"""The rating engine: usage in, exact amounts out. Plain Python, no gRPC.

Rules:

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple, TypeVar, overload

from rating_server.catalog.model import CatalogSnapshot, PriceVersion, Sku
from rating_server.domain_errors import InvalidUsageError, Violation
from rating_server.ids import all_plain, id_problem, shown
from rating_server.money import MICROS_PER_POINT
from rating_server.units import NANOS_PER_MILLI, NANOS_PER_SECOND

if TYPE_CHECKING:
    import numpy as np

MAX_BATCH_ITEMS = 10_000
#: How many attribute keys one Limits remembers as found good (keys come from callers).
MAX_GOOD_KEYS = 1024


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
    #: Attribute keys found good (``attribute_key_ok``), each checked once: a service
    #: sends the same few on every item. A memo of a rule that depends on the key and
    #: these limits only, so no result depends on what was checked before.
    _good_keys: set[str] = field(
        default_factory=set, init=False, repr=False, compare=False, hash=False
    )

    def latest_ns(self, now_ns: int | None = None) -> int:
        """The latest instant usage may have: ``now_ns`` (default: the clock) plus the
        clock skew allowed."""
        return (time.time_ns() if now_ns is None else now_ns) + self.max_future_ns

    @overload
    def quantity_ok(self, quantity: int) -> bool: ...
    @overload
    def quantity_ok(self, quantity: np.ndarray) -> np.ndarray: ...
    def quantity_ok(self, quantity: int | np.ndarray) -> bool | np.ndarray:
        """Whether a quantity is in bounds: 0 to ``max_quantity`` base units (an int, or
        a column of them element by element)."""
        return (quantity >= 0) & (quantity <= self.max_quantity)

    @overload
    def instant_ok(self, at_ns: int, latest_ns: int) -> bool: ...
    @overload
    def instant_ok(self, at_ns: np.ndarray, latest_ns: int) -> np.ndarray: ...
    def instant_ok(self, at_ns: int | np.ndarray, latest_ns: int) -> bool | np.ndarray:
        """Whether usage at ``at_ns`` may be rated: not before ``earliest_ns``, not after
        ``latest_ns`` (``latest_ns()``)."""
        return (at_ns >= self.earliest_ns) & (at_ns <= latest_ns)

    @overload
    def line_ok(self, micros: int) -> bool: ...
    @overload
    def line_ok(self, micros: np.ndarray) -> np.ndarray: ...
    def line_ok(self, micros: int | np.ndarray) -> bool | np.ndarray:
        """Whether one line's amount is in bounds (``max_line_micros``)."""
        return micros <= self.max_line_micros

    def batch_ok(self, total_micros: int) -> bool:
        """Whether a batch's total is in bounds (``max_batch_micros``)."""
        return total_micros <= self.max_batch_micros

    def attribute_key_ok(self, key: str) -> bool:
        """Whether an attribute key is good: 1 to ``max_attribute_key`` printable
        characters without spaces (the id rule's characters)."""
        keys = self._good_keys
        if key in keys:
            return True
        if not key or len(key) > self.max_attribute_key or id_problem(key):
            return False
        if len(keys) < MAX_GOOD_KEYS:
            keys.add(key)
        return True

    def attributes_ok(self, attributes: Mapping[str, str]) -> bool:
        """Whether an item's attributes break none of the rules (``all_attributes_ok``)."""
        return self.all_attributes_ok((attributes,))

    def all_attributes_ok(self, attribute_maps: Iterable[Mapping[str, str]]) -> bool:
        """Whether every item's attributes break none of the rules: at most
        ``max_attributes``, each key good (``attribute_key_ok``), each value at most
        ``max_attribute_value`` characters (``_check_attributes`` names what is wrong).
        For many items at once, in one call (the one-pass Quote's)."""
        most, keys, key_ok = self.max_attributes, self._good_keys, self.attribute_key_ok
        longest = self.max_attribute_value
        for attributes in attribute_maps:
            if len(attributes) > most:
                return False
            # A loop reads a protobuf map faster than map() and max(), or all() and a
            # generator; the keys found good before are looked up here, without a call.
            for key in attributes:
                if len(attributes[key]) > longest or (key not in keys and not key_ok(key)):
                    return False
        return True


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


def too_many_items(count: int, field: str = "items") -> Violation:
    return Violation(
        field, "ITEMS_TOO_MANY", f"{count} items; a batch holds at most {MAX_BATCH_ITEMS}"
    )


def count_problems(count: int, field: str = "items") -> list[Violation]:
    """What is wrong with a batch's number of items: none, or more than MAX_BATCH_ITEMS."""
    if not count:
        return [Violation(field, "ITEMS_EMPTY", "at least one item is required")]
    if count > MAX_BATCH_ITEMS:
        return [too_many_items(count, field)]
    return []


def batch_too_large(limits: Limits) -> Violation:
    return Violation(
        "items",
        "BATCH_AMOUNT_TOO_LARGE",
        f"the batch would cost more than {limits.max_batch_micros // MICROS_PER_POINT:,} "
        "points; split it",
    )


def line_too_large(limits: Limits, field: str, what: str = "the line") -> Violation:
    return Violation(
        field,
        "AMOUNT_TOO_LARGE",
        f"{what} would cost more than {limits.max_line_micros // MICROS_PER_POINT:,} points",
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
    if problems := count_problems(len(usages)):
        raise InvalidUsageError(problems)
    default_free = catalog.default_plan.free_storage_bytes
    quota = free_storage_bytes or (lambda _account, _at_ns: default_free)
    latest_ns = limits.latest_ns(now_ns)
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
    if not violations and not limits.batch_ok(total):
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


def plain_sku(catalog: CatalogSnapshot, name: str) -> Sku | None:
    """The SKU an item naming ``name`` is rated by as a plain item: one found by that
    name (exact, alias or pattern), metered by quantity, with a price. None otherwise
    (``rate_item`` says which rule the name breaks)."""
    sku = catalog.exact_names.get(name) or (catalog.resolve(name) if name else None)
    if sku is None or sku.metering == "storage" or not sku.prices:
        return None
    return sku


def line_micros(sku: Sku, price: PriceVersion, quantity: int) -> tuple[int, int]:
    """The quantity rated and the amount of ``quantity`` base units of ``sku`` at
    ``price``: rounded up to the SKU's increment, then rated once, half-up."""
    rated = rounded_up(quantity, sku.increment)
    return rated, price.rate.micros(rated)


def storage_quantity(stored_bytes: int, free_bytes: int, duration_ns: int) -> int:
    """A storage sample's quantity in byte-milliseconds: the bytes stored beyond the
    account's free quota, times the sampling interval in whole milliseconds (a storage
    SKU's price is per GiB-hour: its price unit is 2^30 x 3,600,000 of these)."""
    return max(0, stored_bytes - free_bytes) * (duration_ns // NANOS_PER_MILLI)


def plain_rater(
    catalog: CatalogSnapshot, limits: Limits, latest_ns: int
) -> Callable[[str, int, int, Mapping[str, str]], PlainRating | None]:
    """Rates the plain item, ``rate(sku, quantity, occurred_at_ns, attributes)``: a SKU
    found and metered by quantity (``plain_sku``), the quantity, instant, attributes
    and amount in bounds (the ``Limits`` checks; instants up to ``latest_ns``). None
    for any other item, which the caller rates with every rule (``rate_item``); the
    caller checks the ids, and that the item has no duration, itself. Both paths apply
    the same rule functions, so they give one line."""
    names = catalog.exact_names
    quantity_ok, instant_ok = limits.quantity_ok, limits.instant_ok
    attributes_ok, line_ok = limits.attributes_ok, limits.line_ok

    def rate(
        name: str, quantity: int, at_ns: int, attributes: Mapping[str, str]
    ) -> PlainRating | None:
        sku = names.get(name) or plain_sku(catalog, name)
        if (
            sku is None
            or sku.metering == "storage"
            or not quantity_ok(quantity)
            or not instant_ok(at_ns, latest_ns)
            or (attributes and not attributes_ok(attributes))
        ):
            return None
        price = sku.price_at(at_ns)
        if price is None:
            return None
        rated, micros = line_micros(sku, price, quantity)
        return (sku, price, rated, micros) if line_ok(micros) else None

    return rate


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
        free = quota(usage.account_id, usage.occurred_at_ns)
        quantity = storage_quantity(quantity, free, usage.duration_ns)
    quantity, micros = line_micros(sku, price, quantity)
    if not limits.line_ok(micros):
        violations.append(line_too_large(limits, f"items[{index}].quantity"))
        return None
    return RatedLine(usage=usage, sku=sku, price=price, rated_quantity=quantity, micros=micros)


def check_fields(usages: Sequence[Usage], limits: Limits = DEFAULT_LIMITS) -> list[Violation]:
    """The problems a batch has whatever the catalog, the accounts and the clock: a
    missing or malformed id, sku or occurred_at, a quantity or attributes out of bounds
    (``rate_batch`` names these too, with the rest). A commit's retry is checked with
    these before its receipt is replayed: the rest was found good when it was first
    committed, and a catalog changed since must not refuse what was charged."""
    if problems := count_problems(len(usages)):
        return problems
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
    if not limits.quantity_ok(usage.quantity):
        if usage.quantity < 0:
            bad("quantity", "QUANTITY_NEGATIVE", f"quantity {usage.quantity} is negative")
        else:
            bad("quantity", "QUANTITY_TOO_LARGE", f"quantity is above {limits.max_quantity:,}")
    at_ns = usage.occurred_at_ns
    if at_ns is None:
        bad("occurred_at", "OCCURRED_AT_MISSING", "occurred_at is required")
    elif not limits.instant_ok(at_ns, at_ns if latest_ns is None else latest_ns):
        if at_ns < limits.earliest_ns:
            bad("occurred_at", "OCCURRED_AT_TOO_OLD", "occurred_at is before 2000-01-01")
        else:
            bad(
                "occurred_at",
                "OCCURRED_AT_IN_FUTURE",
                f"occurred_at is more than {limits.max_future_ns // NANOS_PER_SECOND} s "
                "ahead of the server's clock",
            )
    if usage.attributes:
        _check_attributes(usage.attributes, limits, bad)
    if not usage.sku:
        bad("sku", "SKU_MISSING", "sku is required")


def _check_attributes(
    attributes: Mapping[str, str], limits: Limits, bad: Callable[[str, str, str], None]
) -> None:
    if len(attributes) > limits.max_attributes:
        bad("attributes", "ATTRIBUTES_TOO_MANY", f"more than {limits.max_attributes} attributes")
        return
    # By key, so that the problems read in one order however the map was sent.
    for key in sorted(attributes):
        value = attributes[key]
        if not limits.attribute_key_ok(key):
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
