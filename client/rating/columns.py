"""Usage as columns: a batch's items as one ``UsageColumns`` message, for producers that
send many items (``RatingClient.quote_columns`` / ``commit_columns``, ``BatchCommitter``).

Item i is the i-th value of every per-item column. The encodings (columns.proto):

- ``usage_ids``: one string per item.
- ``accounts`` / ``account_indices``, ``skus`` / ``sku_indices``: dictionaries. Each
  distinct account and SKU name is sent once, in order of first appearance, and each
  item gives the index of its own.
- ``quantities``: one int64 per item, in the SKU's base unit.
- ``occurred_at_unix_nanos``: one int64 per item, whole nanoseconds since
  1970-01-01T00:00:00Z, exactly ``seconds * 1_000_000_000 + nanos`` of the item's
  Timestamp; 0 means unset.
- ``duration_items`` / ``durations_nanos``: sparse, only the items with a duration
  (storage samples), ascending, with each one's duration in nanoseconds.
- ``attribute_sets`` / ``attribute_set_indices``: a dictionary of the distinct
  attribute sets and one index per item (an item without attributes names the empty
  set), or both empty when no item has attributes.
- ``reservation_ids``: one per item ("" for none), or empty when no item settles one.

``columns_of(items)`` encodes ``UsageItem`` messages (those ``rating.usage`` builds);
``usage_columns(...)`` encodes plain Python sequences; ``items_of(columns)`` decodes.
The results of column calls are in ``rating.column_results`` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar, cast

from google.protobuf import duration_pb2, timestamp_pb2

from rating.column_results import ColumnQuote, ColumnReceipt, FundingTarget, Price, RatedLines
from rating.v1.columns_pb2 import AttributeSet, UsageColumns
from rating.v1.usage_pb2 import UsageItem

__all__ = [
    "ColumnQuote",
    "ColumnReceipt",
    "ColumnsError",
    "FundingTarget",
    "Price",
    "RatedLines",
    "columns_of",
    "items_of",
    "usage_columns",
]

NANOS = 1_000_000_000
INT64_MAX = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What google.protobuf.Duration allows, in seconds.
_MAX_DURATION_SECONDS = 315_576_000_000
K = TypeVar("K", bound=Hashable)
Attributes = tuple[tuple[str, str], ...]


class ColumnsError(ValueError):
    """An item that columns cannot carry exactly (an instant or duration beyond int64
    nanoseconds, an invalid Timestamp or Duration, an occurred_at of exactly the epoch,
    which is 0, "unset"). Send such an item as a ``UsageItem`` row instead."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def columns_of(items: Iterable[UsageItem]) -> UsageColumns:
    """The columns of ``items`` (``UsageItem`` messages), which say exactly what the
    items say. What the server checks (a negative quantity, an unknown SKU) is left
    to it; what columns cannot carry raises ``ColumnsError`` naming the item
    (``items[3].occurred_at``)."""
    usage_ids: list[str] = []
    accounts: list[str] = []
    skus: list[str] = []
    quantities: list[int] = []
    instants: list[int] = []
    durations: dict[int, int] = {}
    attributes: list[Attributes] = []
    reservations: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, UsageItem):
            raise TypeError(f"usage items are rating.v1.UsageItem messages, not {type(item)}")
        usage_ids.append(item.usage_id)
        accounts.append(item.account_id)
        skus.append(item.sku)
        quantities.append(item.quantity)
        stamp = item.occurred_at
        instants.append(_stamp_ns(stamp, index) if item.HasField("occurred_at") else 0)
        if item.HasField("duration"):
            durations[index] = _duration_ns(item.duration, index)
        attributes.append(tuple(sorted(item.attributes.items())) if item.attributes else ())
        reservations.append(item.reservation_id)
    return _assemble(
        usage_ids, accounts, skus, quantities, instants, durations, attributes, reservations
    )


def usage_columns(
    *,
    usage_ids: Sequence[str],
    account_ids: Sequence[str],
    skus: Sequence[str],
    quantities: Sequence[int],
    occurred_at: Sequence[datetime | int],
    durations: Sequence[timedelta | int | None] | None = None,
    attributes: Sequence[Mapping[str, str] | None] | None = None,
    reservation_ids: Sequence[str] | None = None,
) -> UsageColumns:
    """Columns from plain sequences, one value per item in each: the account and SKU
    name of every item (dictionary-encoded here), its quantity in the SKU's base unit,
    when it happened (an aware ``datetime``, or whole nanoseconds since the epoch),
    optionally its duration (a ``timedelta`` or nanoseconds; None for none), its
    attributes (a mapping or None) and the reservation it settles ("" for none).

    A value of the wrong type is a TypeError; a column of another length, a negative
    quantity, a naive datetime or an instant or duration beyond int64 nanoseconds is a
    ValueError naming the column and the item (``quantities[3]``)."""
    count = len(usage_ids)
    given = {
        "account_ids": account_ids,
        "skus": skus,
        "quantities": quantities,
        "occurred_at": occurred_at,
        "durations": durations,
        "attributes": attributes,
        "reservation_ids": reservation_ids,
    }
    for name, column in given.items():
        if column is not None and len(column) != count:
            raise ValueError(f"{name} has {len(column)} values for {count} usage_ids")
    sets: list[Attributes] = [_attributes(i, a) for i, a in enumerate(attributes or ())]
    spans = {
        i: _span_ns(f"durations[{i}]", d) for i, d in enumerate(durations or ()) if d is not None
    }
    return _assemble(
        _strings("usage_ids", usage_ids),
        _strings("account_ids", account_ids),
        _strings("skus", skus),
        [_quantity(i, q) for i, q in enumerate(quantities)],
        [_instant_ns(i, when) for i, when in enumerate(occurred_at)],
        spans,
        sets,
        _strings("reservation_ids", reservation_ids or ()),
    )


def items_of(columns: UsageColumns) -> list[UsageItem]:
    """The ``UsageItem`` messages columns stand for: ``columns_of``'s inverse. An index
    beyond its dictionary or a column of another length is a ValueError."""
    count = len(columns.usage_ids)
    per_item = ("account_indices", "sku_indices", "quantities", "occurred_at_unix_nanos")
    optional = ("attribute_set_indices", "reservation_ids")
    for name in per_item + optional:
        length = len(getattr(columns, name))
        if length != count and not (name in optional and length == 0):
            raise ValueError(f"columns.{name} has {length} values for {count} items")
    if len(columns.duration_items) != len(columns.durations_nanos):
        raise ValueError("columns.duration_items and durations_nanos differ in length")
    durations = dict(zip(columns.duration_items, columns.durations_nanos, strict=True))
    try:
        accounts = [columns.accounts[i] for i in columns.account_indices]
        skus = [columns.skus[i] for i in columns.sku_indices]
        sets = [columns.attribute_sets[i].attributes for i in columns.attribute_set_indices]
    except IndexError:
        raise ValueError("columns name an index beyond their dictionary") from None
    items = []
    for index, usage_id in enumerate(columns.usage_ids):
        item = UsageItem(
            usage_id=usage_id,
            account_id=accounts[index],
            sku=skus[index],
            quantity=columns.quantities[index],
            reservation_id=columns.reservation_ids[index] if columns.reservation_ids else "",
        )
        if sets:
            item.attributes.update(sets[index])
        instant = columns.occurred_at_unix_nanos[index]
        if instant:
            seconds, nanos = divmod(instant, NANOS)
            item.occurred_at.CopyFrom(timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos))
        if index in durations:
            item.duration.CopyFrom(_duration(durations[index]))
        items.append(item)
    return items


def _duration(ns: int) -> duration_pb2.Duration:
    seconds, nanos = divmod(abs(ns), NANOS)
    sign = -1 if ns < 0 else 1
    return duration_pb2.Duration(seconds=sign * seconds, nanos=sign * nanos)


def _assemble(
    usage_ids: list[str],
    accounts: list[str],
    skus: list[str],
    quantities: list[int],
    instants: list[int],
    durations: dict[int, int],
    attributes: list[Attributes],
    reservations: list[str],
) -> UsageColumns:
    account_names, account_indices = _dictionary(accounts)
    sku_names, sku_indices = _dictionary(skus)
    columns = UsageColumns(
        usage_ids=usage_ids,
        accounts=account_names,
        account_indices=account_indices,
        skus=sku_names,
        sku_indices=sku_indices,
        quantities=quantities,
        occurred_at_unix_nanos=instants,
        duration_items=sorted(durations),
        durations_nanos=[durations[i] for i in sorted(durations)],
    )
    if any(attributes):
        sets, indices = _dictionary(attributes)
        columns.attribute_sets.extend(AttributeSet(attributes=dict(s)) for s in sets)
        columns.attribute_set_indices.extend(indices)
    if any(reservations):
        columns.reservation_ids.extend(reservations)
    return columns


def _dictionary(values: list[K]) -> tuple[list[K], list[int]]:
    """The distinct values in order of first appearance, and each value's index."""
    index = {value: n for n, value in enumerate(dict.fromkeys(values))}
    return list(index), [index[value] for value in values]


def _strings(name: str, values: Iterable[object]) -> list[str]:
    column = list(values)
    for index, value in enumerate(column):
        if not isinstance(value, str):
            raise TypeError(f"{name}[{index}] is a str, not {type(value).__name__}")
    return cast("list[str]", column)  # each one checked above


def _integer(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field} is an int, not {type(value).__name__}")
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise ValueError(f"{field}: {value} is beyond int64")
    return value


def _quantity(index: int, value: object) -> int:
    quantity = _integer(f"quantities[{index}]", value)
    if quantity < 0:
        raise ValueError(f"quantities[{index}]: a quantity cannot be negative: {quantity}")
    return quantity


def _ns(delta: timedelta) -> int:
    """A timedelta in whole nanoseconds, exactly."""
    return (delta.days * 86_400 + delta.seconds) * NANOS + delta.microseconds * 1000


def _instant_ns(index: int, when: object) -> int:
    field = f"occurred_at[{index}]"
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError(f"{field} must be timezone-aware (e.g. datetime.now(UTC))")
        ns = _ns(when - _EPOCH)
        if not -INT64_MAX - 1 <= ns <= INT64_MAX:
            raise ValueError(f"{field}: {when} is beyond int64 nanoseconds (1678 to 2262)")
    elif isinstance(when, int) and not isinstance(when, bool):
        ns = _integer(field, when)
    else:
        raise TypeError(f"{field} is an aware datetime or int nanoseconds, not {type(when)}")
    if ns == 0:
        raise ValueError(f"{field}: the epoch itself is 0, which columns read as unset")
    return ns


def _span_ns(field: str, value: object) -> int:
    if isinstance(value, timedelta):
        ns = _ns(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        ns = _integer(field, value)
    else:
        raise TypeError(f"{field} is a timedelta, int nanoseconds or None, not {type(value)}")
    if ns < 0:
        raise ValueError(f"{field}: a duration cannot be negative: {value}")
    if ns > INT64_MAX:
        raise ValueError(f"{field}: {value} is beyond int64 nanoseconds")
    return ns


def _attributes(index: int, value: object) -> Attributes:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise TypeError(f"attributes[{index}] is a mapping or None, not {type(value).__name__}")
    for key, text in value.items():
        if not isinstance(key, str) or not isinstance(text, str):
            raise TypeError(f"attributes[{index}] maps str to str, not {key!r}: {text!r}")
    return tuple(sorted(value.items()))


def _stamp_ns(stamp: timestamp_pb2.Timestamp, index: int) -> int:
    field = f"items[{index}].occurred_at"
    if not 0 <= stamp.nanos < NANOS:
        raise ColumnsError(field, f"nanos {stamp.nanos} is no valid Timestamp")
    ns = stamp.seconds * NANOS + stamp.nanos
    if not -INT64_MAX - 1 <= ns <= INT64_MAX:
        raise ColumnsError(field, "the instant is beyond int64 nanoseconds (1678 to 2262)")
    if ns == 0:
        raise ColumnsError(field, "the epoch itself is 0, which columns read as unset")
    return ns


def _duration_ns(duration: duration_pb2.Duration, index: int) -> int:
    field = f"items[{index}].duration"
    seconds, nanos = duration.seconds, duration.nanos
    mixed = (seconds > 0 and nanos < 0) or (seconds < 0 and nanos > 0)
    if abs(seconds) > _MAX_DURATION_SECONDS or abs(nanos) >= NANOS or mixed:
        raise ColumnsError(field, "it is no valid Duration")
    ns = seconds * NANOS + nanos
    if not -INT64_MAX - 1 <= ns <= INT64_MAX:
        raise ColumnsError(field, "the duration is beyond int64 nanoseconds")
    return ns
