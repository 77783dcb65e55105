"""Items and catalogs the tests of the one-pass quote (unit/servicers/test_plain_quote.py)
and of columns (unit/test_columns.py) share: a plain item and its variations, and a
catalog of prices the seed has none of (prices that changed at noon, an increment, a
pattern)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from google.protobuf import timestamp_pb2
from hypothesis import strategies as st
from support import NOON

from rating.v1 import usage_pb2
from rating_server.catalog.model import CatalogSnapshot, Plan, PriceVersion, Sku
from rating_server.engine import Limits
from rating_server.money import Rate

NOON_S = int(NOON.timestamp())
NOW_NS = (NOON_S + 3600) * 10**9
LIMITS = (Limits(), Limits(max_attribute_key=100, max_attribute_value=1000))


def stamp(seconds: int, nanos: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def good(**fields: object) -> usage_pb2.UsageItem:
    """A plain item, but for ``fields``."""
    item = usage_pb2.UsageItem(usage_id="u-1", account_id="acct-1", sku="agent.call", quantity=1)
    item.occurred_at.CopyFrom(stamp(NOON_S, 0))
    for name, value in fields.items():
        field = getattr(item, name)
        if hasattr(field, "CopyFrom"):
            field.CopyFrom(value)
        else:
            setattr(item, name, value)
    return item


def priced_sku(
    sku_id: str, prices: list[tuple[int, str]], increment: int = 0, **fields: Any
) -> Sku:
    values: dict[str, Any] = {
        "name": sku_id,
        "category": "rtc",
        "unit": "millisecond",
        "price_unit": 60_000,
        "price_unit_label": "minute",
        "billed_by": "coze",
        "metering": "count",
        "aliases": (),
        "patterns": (),
        **fields,
    }
    return Sku(
        id=sku_id,
        increment=increment,
        prices=tuple(
            PriceVersion(start, Decimal(price), Rate(Decimal(price), values["price_unit"]))
            for start, price in prices
        ),
        **values,
    )


def catalog_of_changes(version: int, newest: str = "14.123457") -> CatalogSnapshot:
    """SKUs the seed has none of: prices that changed (at noon), an increment, a price
    first in force at noon, and a pattern."""
    noon = NOON_S * 10**9
    return CatalogSnapshot(
        version=version,
        skus=[
            priced_sku("s.changed", [(0, "7"), (noon, newest)], aliases=("Changed",)),
            priced_sku("s.stepped", [(noon, "60")], increment=1000),
            priced_sku("s.pattern", [(0, "0.000333")], price_unit=7, patterns=("s.p.*",)),
        ],
        plans={"basic": Plan("basic", 500 * 10**6, 10**9)},
    )


CHANGED = catalog_of_changes(version=-3)  # a negative version is written as protobuf writes it


@st.composite
def priced_items(draw: st.DrawFn) -> usage_pb2.UsageItem:
    """Plain items but for their price: one in force before noon, or none, or long ids."""
    item = usage_pb2.UsageItem(
        usage_id=draw(st.sampled_from(["u-1", "x" * 127, "x" * 128, "é" * 64, "é" * 128])),
        account_id=draw(st.sampled_from(["acct-1", "y" * 128, "ü" * 128])),
        sku=draw(st.sampled_from(["s.changed", "CHANGED", "s.stepped", "s.p.any-1", "S.P.x"])),
        quantity=draw(
            st.one_of(
                st.sampled_from([0, 1, 2**14 - 1, 2**14, 2**21, 2**28, 10**15]),
                st.integers(0, 10**15),
            )
        ),
    )
    seconds = draw(st.sampled_from([NOON_S - 1, NOON_S, NOON_S + 1, NOON_S - 86_400]))
    item.occurred_at.CopyFrom(stamp(seconds, draw(st.sampled_from([0, 1, 999_999_999]))))
    return item
