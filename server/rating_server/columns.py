"""A batch of usage as columns, rated a whole column at a time. Plain Python and numpy:
no gRPC, no SQL.

There is one set of rules, the engine's. The plain item, which is nearly every item (a
SKU found and metered by quantity, a price in force, every field in bounds: what
``engine.plain_rater`` rates), is rated here for all such items at once, with the
engine's own rule functions applied to integer arrays: ``engine.rounded_up`` for the
increment, ``Rate.micros`` for the amount (exact in int64 where the products fit, on
Python integers where they do not). Every other item, good or bad, is made a ``Usage``
and rated by ``engine.rate_item``, which applies every rule and names every problem, so
a batch's errors are the row form's (test_columns proves rows and columns agree).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from rating_server.catalog.model import CatalogSnapshot, PriceVersion, Sku
from rating_server.domain_errors import InvalidUsageError, Violation
from rating_server.engine import (
    DEFAULT_LIMITS,
    MAX_BATCH_ITEMS,
    Limits,
    RatedBatch,
    RatedLine,
    Usage,
    attributes_ok,
    batch_too_large,
    rate_item,
    rounded_up,
    too_many_items,
)
from rating_server.ids import all_plain, id_problem
from rating_server.money import amount

_INT64_MAX = 2**63 - 1
_NO_ATTRIBUTES: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class UsageColumns:
    """The items of a batch as parallel columns (item i is the i-th of each).

    Names that repeat are held once: ``accounts``, ``skus`` and ``attribute_sets`` are
    dictionaries, and each item names its entry by index. Instants and durations are
    integer nanoseconds; an instant of 0 is unset. Only the items in
    ``duration_items`` (ascending) carry a duration, ``durations_ns`` in their order.
    ``attribute_set_indices`` and ``reservation_ids`` are empty when no item has any.
    """

    usage_ids: Sequence[str]
    accounts: Sequence[str]
    account_indices: np.ndarray
    skus: Sequence[str]
    sku_indices: np.ndarray
    quantities: np.ndarray
    occurred_at_ns: np.ndarray
    duration_items: np.ndarray
    durations_ns: np.ndarray
    attribute_sets: Sequence[Mapping[str, str]] = ()
    attribute_set_indices: np.ndarray | None = None
    reservation_ids: Sequence[str] = ()

    def __len__(self) -> int:
        return len(self.usage_ids)

    def usages(self) -> list[Usage]:
        """Every item as a Usage, for the ledger (which keeps and fingerprints them)."""
        count = len(self)
        accounts = [self.accounts[i] for i in self.account_indices.tolist()]
        skus = [self.skus[i] for i in self.sku_indices.tolist()]
        instants: list[int | None] = [at or None for at in self.occurred_at_ns.tolist()]
        durations: list[int | None] = [None] * count
        for index, duration in zip(
            self.duration_items.tolist(), self.durations_ns.tolist(), strict=True
        ):
            durations[index] = duration
        if self.attribute_set_indices is not None and len(self.attribute_set_indices):
            sets = self.attribute_sets
            attributes = [sets[i] for i in self.attribute_set_indices.tolist()]
        else:
            attributes = [_NO_ATTRIBUTES] * count
        return list(
            map(
                Usage,
                self.usage_ids,
                accounts,
                skus,
                self.quantities.tolist(),
                instants,
                durations,
                attributes,
            )
        )

    def named(self) -> dict[int, str]:
        """The reservation each item settles, by item index (those that name one)."""
        return {index: rid for index, rid in enumerate(self.reservation_ids) if rid}


def shape_problems(columns: UsageColumns) -> list[Violation]:
    """What is wrong with the columns themselves, whatever they say: a per-item column
    of another length than ``usage_ids``, an index beyond its dictionary, durations
    not one per listed item, listed items out of order. Fields are named as in the
    request (``columns.quantities``, ``columns.sku_indices[17]``)."""
    count = len(columns)
    if not count:
        return [Violation("columns", "ITEMS_EMPTY", "at least one item is required")]
    if count > MAX_BATCH_ITEMS:
        return [Violation("columns", "ITEMS_TOO_MANY", too_many_items(count).description)]
    problems: list[Violation] = []
    per_item: list[tuple[str, int, bool]] = [
        ("account_indices", len(columns.account_indices), False),
        ("sku_indices", len(columns.sku_indices), False),
        ("quantities", len(columns.quantities), False),
        ("occurred_at_unix_nanos", len(columns.occurred_at_ns), False),
        ("attribute_set_indices", _length(columns.attribute_set_indices), True),
        ("reservation_ids", len(columns.reservation_ids), True),
    ]
    for name, length, optional in per_item:
        if length != count and not (optional and length == 0):
            problems.append(
                Violation(
                    f"columns.{name}",
                    "COLUMN_LENGTH_MISMATCH",
                    f"{name} has {_values(length)} for {count} items"
                    + (" (or none)" if optional else ""),
                )
            )
    if len(columns.durations_ns) != len(columns.duration_items):
        problems.append(
            Violation(
                "columns.durations_nanos",
                "COLUMN_LENGTH_MISMATCH",
                f"durations_nanos has {_values(len(columns.durations_ns))} for "
                f"{len(columns.duration_items)} duration_items",
            )
        )
    problems += _beyond("account_indices", columns.account_indices, len(columns.accounts))
    problems += _beyond("sku_indices", columns.sku_indices, len(columns.skus))
    if columns.attribute_set_indices is not None:
        problems += _beyond(
            "attribute_set_indices", columns.attribute_set_indices, len(columns.attribute_sets)
        )
    items = columns.duration_items
    problems += _beyond("duration_items", items, count)
    if len(items) > 1:
        for at in np.flatnonzero(items[1:] <= items[:-1]).tolist():
            problems.append(
                Violation(
                    f"columns.duration_items[{at + 1}]",
                    "DURATION_ITEMS_UNORDERED",
                    "duration_items must name items in ascending order, each once",
                )
            )
    return problems


def _values(count: int) -> str:
    return "1 value" if count == 1 else f"{count} values"


def _length(column: np.ndarray | None) -> int:
    return 0 if column is None else len(column)


def _beyond(name: str, indices: np.ndarray, size: int) -> list[Violation]:
    return [
        Violation(
            f"columns.{name}[{at}]",
            "COLUMN_INDEX_OUT_OF_RANGE",
            f"index {int(indices[at])} is beyond the {size} entries it indexes",
        )
        for at in np.flatnonzero(indices >= size).tolist()
    ]


@dataclass(frozen=True, slots=True)
class RatedColumns:
    """The lines of a columnar batch, in item order: the distinct prices the lines
    were rated at (the name the items gave, the SKU, the price version) and, per line,
    its price's index, the quantity rated and the amount in micro-points. A rated
    quantity beyond int64 (storage's byte-milliseconds can be) is -1 in ``rated`` and
    held in ``wide``, by line."""

    catalog_version: int
    prices: tuple[tuple[str, Sku, PriceVersion], ...]
    price_indices: np.ndarray
    rated: np.ndarray
    wide: Mapping[int, int]
    micros: np.ndarray
    total_micros: int

    def batch(self, usages: Sequence[Usage]) -> RatedBatch:
        """The lines as the row form rates them (for the ledger), of ``usages``, the
        columns' items (``UsageColumns.usages``)."""
        prices = self.prices
        rated = self.rated.tolist()
        for index, quantity in self.wide.items():
            rated[index] = quantity
        lines = tuple(
            RatedLine(usage, prices[price][1], prices[price][2], quantity, micros)
            for usage, price, quantity, micros in zip(
                usages, self.price_indices.tolist(), rated, self.micros.tolist(), strict=True
            )
        )
        return RatedBatch(self.catalog_version, lines, self.total_micros)


class _Prices:
    """The table of distinct (requested name, SKU, price) a batch's lines use."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Sku, PriceVersion]] = []
        self._index: dict[tuple[str, str, int], int] = {}

    def index(self, name: str, sku: Sku, price: PriceVersion) -> int:
        key = (name, sku.id, price.effective_from_ns)
        found = self._index.get(key)
        if found is None:
            found = self._index[key] = len(self.entries)
            self.entries.append((name, sku, price))
        return found


def rate_columns(
    catalog: CatalogSnapshot,
    columns: UsageColumns,
    free_storage_bytes: Callable[[str, int], int] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    now_ns: int | None = None,
    usages: Sequence[Usage] | None = None,
) -> RatedColumns:
    """Rate every item, as ``engine.rate_batch`` rates the same items as rows, or raise
    InvalidUsageError naming every problem as it does (``items[i].field``). The
    columns' shape must have been found good (``shape_problems``). ``usages``, the
    columns' items when already made, saves making those of the items not plain."""
    latest_ns = (time.time_ns() if now_ns is None else now_ns) + limits.max_future_ns
    default_free = catalog.default_plan.free_storage_bytes
    quota = free_storage_bytes or (lambda _account, _at_ns: default_free)
    quantities = columns.quantities
    instants = columns.occurred_at_ns
    # Items the columns rate: no duration, quantity and instant in bounds, good ids and
    # attributes. The others go to the engine's rules, item by item.
    plain = (quantities >= 0) & (quantities <= limits.max_quantity)
    plain &= (instants >= limits.earliest_ns) & (instants <= latest_ns)
    plain[columns.duration_items] = False
    bad_accounts = [i for i, a in enumerate(columns.accounts) if id_problem(a)]
    if bad_accounts:
        plain &= ~np.isin(columns.account_indices, bad_accounts)
    if not all_plain(columns.usage_ids):
        plain &= np.array([id_problem(u) is None for u in columns.usage_ids], dtype=bool)
    if columns.attribute_set_indices is not None and len(columns.attribute_set_indices):
        bad_sets = [
            i for i, s in enumerate(columns.attribute_sets) if s and not attributes_ok(s, limits)
        ]
        if bad_sets:
            plain &= ~np.isin(columns.attribute_set_indices, bad_sets)
    prices, price_indices, rated, micros, done = _rate_plain(catalog, columns, plain, limits)
    violations: list[Violation] = []
    wide: dict[int, int] = {}
    rest = np.flatnonzero(~done).tolist()
    if rest:
        items = usages
        if items is None and len(rest) > 64:  # a batch of bad items: all made at once
            items = columns.usages()
        for index in rest:
            usage = items[index] if items is not None else _usage(columns, index)
            line = rate_item(catalog, index, usage, quota, limits, latest_ns, violations)
            if line is None:
                continue
            price_indices[index] = prices.index(usage.sku, line.sku, line.price)
            micros[index] = line.micros
            if line.rated_quantity > _INT64_MAX:
                rated[index] = -1
                wide[index] = line.rated_quantity
            else:
                rated[index] = line.rated_quantity
    total = int(micros.sum(dtype=np.int64)) if not violations else 0
    if not violations and total > limits.max_batch_micros:
        violations.append(batch_too_large(limits))
    if violations:
        raise InvalidUsageError(violations)
    return RatedColumns(
        catalog.version, tuple(prices.entries), price_indices, rated, wide, micros, total
    )


#: Increments and quantities a column rounds in int64 without overflow (the rest is
#: left to the engine's rules, on Python integers).
_SAFE_INCREMENT = 2**40
_SAFE_QUANTITY = 2**62


def _rate_plain(
    catalog: CatalogSnapshot, columns: UsageColumns, plain: np.ndarray, limits: Limits
) -> tuple[_Prices, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The plain items (``plain``, so far) rated, as the line columns: each line's price
    index, quantity rated and micro-points, and whether it is ``done``. An item is left
    not done when it is not plain after all: its SKU not found, storage or unpriced, no
    price in force yet at its instant, an amount beyond a line's bound, or products that
    would leave int64 (the engine rates these exactly, on Python integers).

    Each SKU name's prices are slots of one table of terms (increment, ``Rate.terms``),
    and every plain item is rated at once by the slot in force at its instant."""
    count = len(columns)
    prices = _Prices()
    price_indices = np.zeros(count, dtype=np.int64)
    rated = np.zeros(count, dtype=np.int64)
    micros = np.zeros(count, dtype=np.int64)
    done = np.zeros(count, dtype=bool)
    slots: list[tuple[str, Sku, PriceVersion]] = []
    first = np.full(len(columns.skus), -1, dtype=np.int64)
    several: list[tuple[int, Sku]] = []
    for number, name in enumerate(columns.skus):
        sku = catalog.exact_names.get(name) or (catalog.resolve(name) if name else None)
        if sku is None or sku.metering == "storage" or not sku.prices:
            continue
        first[number] = len(slots)
        slots.extend((name, sku, price) for price in sku.prices)
        if len(sku.prices) > 1:
            several.append((number, sku))
    if not slots or limits.max_quantity > _SAFE_QUANTITY:
        return prices, price_indices, rated, micros, done
    instants, sku_indices = columns.occurred_at_ns, columns.sku_indices
    slot = first[sku_indices]
    plain = plain & (slot >= 0)
    for number, sku in several:  # the price in force at each item's instant
        chosen = np.flatnonzero(plain & (sku_indices == number))
        if chosen.size:
            starts = np.array([p.effective_from_ns for p in sku.prices], dtype=np.int64)
            version = np.searchsorted(starts, instants[chosen], side="right") - 1
            slot[chosen] += np.maximum(version, 0)
    starts, increments, a, b, c, largest = _terms(slots)
    chosen = np.flatnonzero(plain)
    at = slot[chosen]
    quantity = rounded_up(columns.quantities[chosen], increments[at])
    keep = (instants[chosen] >= starts[at]) & (quantity <= largest[at])
    chosen, at, quantity = chosen[keep], at[keep], quantity[keep]
    amounts = amount(quantity, a[at], b[at], c[at])
    keep = amounts <= limits.max_line_micros
    chosen, at = chosen[keep], at[keep]
    table = np.zeros(len(slots), dtype=np.int64)
    for used in np.unique(at).tolist():
        table[used] = prices.index(*slots[used])
    price_indices[chosen] = table[at]
    rated[chosen] = quantity[keep]
    micros[chosen] = amounts[keep]
    done[chosen] = True
    return prices, price_indices, rated, micros, done


def _terms(
    slots: Sequence[tuple[str, Sku, PriceVersion]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per slot: the price's start, the SKU's increment, the rate's terms (a, b, c),
    and the largest quantity rated whose product ``q * a + b`` fits int64 (-1 when the
    terms themselves do not: then no item is rated by the slot here)."""
    starts, increments, a, b, c, largest = [], [], [], [], [], []
    for _name, sku, price in slots:
        terms = price.rate.terms()
        increment = max(sku.increment, 1)
        safe = increment <= _SAFE_INCREMENT and max(terms) <= _INT64_MAX
        starts.append(price.effective_from_ns)
        increments.append(increment if safe else 1)
        a.append(terms[0] if safe else 0)
        b.append(terms[1] if safe else 0)
        c.append(terms[2] if safe else 1)
        if not safe:
            largest.append(-1)
        else:
            largest.append((_INT64_MAX - terms[1]) // terms[0] if terms[0] else _INT64_MAX)

    def array(column: list[int]) -> np.ndarray:
        return np.array(column, dtype=np.int64)

    return array(starts), array(increments), array(a), array(b), array(c), array(largest)


def _usage(columns: UsageColumns, index: int) -> Usage:
    """Item ``index`` as a Usage."""
    duration = None
    positions = np.flatnonzero(columns.duration_items == index)
    if positions.size:
        duration = int(columns.durations_ns[positions[0]])
    attributes = _NO_ATTRIBUTES
    if columns.attribute_set_indices is not None and len(columns.attribute_set_indices):
        attributes = columns.attribute_sets[int(columns.attribute_set_indices[index])]
    return Usage(
        columns.usage_ids[index],
        columns.accounts[int(columns.account_indices[index])],
        columns.skus[int(columns.sku_indices[index])],
        int(columns.quantities[index]),
        int(columns.occurred_at_ns[index]) or None,
        duration,
        attributes,
    )
