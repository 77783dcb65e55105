"""A batch as columns (rating_server/columns.py) is rated as the same batch as rows is:
the same lines, or the same problems, named alike; and columns that do not fit
together are refused, naming the column."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from google.protobuf import duration_pb2
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support import mostly, to_columns

from rating.v1 import columns_pb2, usage_pb2
from rating_server.catalog.model import CatalogSnapshot, Plan, PriceVersion, Sku
from rating_server.columns import rate_columns, shape_problems
from rating_server.domain_errors import InvalidUsageError
from rating_server.engine import Limits, rate_batch
from rating_server.money import Rate
from rating_server.servicers import columns_convert, convert

from .plain_items import (
    CHANGED,
    LIMITS,
    NOON_S,
    NOW_NS,
    good,
    priced_items,
    stamp,
)

NOON_NS = NOON_S * 10**9


def rows_answer(
    items: list[usage_pb2.UsageItem], catalog: CatalogSnapshot, limits: Limits
) -> object:
    """The row form's rating: per line (SKU, requested name, price start, rated, micros)
    and the total, or the (field, reason) of every problem."""
    usages, violations = convert.usages(items)
    assert not violations, "the items must be expressible as columns"
    try:
        batch = rate_batch(catalog, usages, limits=limits, now_ns=NOW_NS)
    except InvalidUsageError as error:
        return [(v.field, v.reason) for v in error.violations]
    lines = [
        (
            line.sku.id,
            line.usage.sku,
            line.price.effective_from_ns,
            line.rated_quantity,
            line.micros,
        )
        for line in batch.lines
    ]
    return lines, batch.total_micros


def columns_answer(
    items: list[usage_pb2.UsageItem], catalog: CatalogSnapshot, limits: Limits
) -> object:
    """The same, of the same items sent as columns."""
    columns = columns_convert.usage_columns(to_columns(items))
    assert shape_problems(columns) == []
    try:
        rated = rate_columns(catalog, columns, limits=limits, now_ns=NOW_NS)
    except InvalidUsageError as error:
        return [(v.field, v.reason) for v in error.violations]
    lines = []
    for index, price in enumerate(rated.price_indices.tolist()):
        name, sku, version = rated.prices[price]
        quantity = rated.wide.get(index, int(rated.rated[index]))
        lines.append((sku.id, name, version.effective_from_ns, quantity, int(rated.micros[index])))
    return lines, rated.total_micros


@st.composite
def items(draw: st.DrawFn) -> usage_pb2.UsageItem:
    """Any item the columns can say: good, or bad in one field or more."""
    item = usage_pb2.UsageItem(
        usage_id=draw(mostly("u-1", "", "a b", "x" * 129, "é", "\u200b")),
        account_id=draw(mostly("acct-1", "", "a\nb", "y" * 129)),
        sku=draw(
            st.sampled_from(
                [
                    "model.doubao-lite-32k.input",
                    "Doubao-lite-32k.input",
                    "agent.call",
                    "knowledge.storage",
                    "model.ark.a b.output",
                    "no.such",
                    "",
                ]
            )
        ),
        quantity=draw(mostly(1834, 0, -1, 10**15, 10**15 + 1, 2**63 - 1)),
        attributes=draw(
            st.dictionaries(
                mostly("agent_id", "", "bad key", "k" * 65), mostly("api", "v" * 513), max_size=2
            )
        ),
    )
    occurred = draw(
        mostly(
            stamp(NOON_S, 123),
            None,
            stamp(NOON_S + 7200, 0),
            stamp(946_684_799, 999_999_999),
            stamp(946_684_800, 0),
        )
    )
    if occurred is not None:
        item.occurred_at.CopyFrom(occurred)
    duration = draw(
        mostly(
            None,
            duration_pb2.Duration(seconds=3600),
            duration_pb2.Duration(),
            duration_pb2.Duration(seconds=-1),
            duration_pb2.Duration(nanos=1),
        )
    )
    if duration is not None:
        item.duration.CopyFrom(duration)
    return item


@pytest.mark.slow
@settings(max_examples=400)
@given(batch=st.lists(items(), min_size=1, max_size=6), limits=st.sampled_from(LIMITS))
@example(
    batch=[good(quantity=3 * 10**8), good(usage_id="u-2", quantity=3 * 10**8)], limits=Limits()
)
@example(batch=[good(duration=duration_pb2.Duration(seconds=60))], limits=Limits())
@example(
    batch=[usage_pb2.UsageItem(attributes={"agent_id": "v" * 513, "": "api"})], limits=Limits()
)
def test_columns_rate_any_batch_as_its_rows_do(
    batch: list[usage_pb2.UsageItem], limits: Limits, seed: CatalogSnapshot
) -> None:
    assert columns_answer(batch, seed, limits) == rows_answer(batch, seed, limits)


@pytest.mark.slow
@settings(max_examples=300)
@given(st.lists(priced_items(), min_size=1, max_size=6))
@example([good(sku="s.changed", occurred_at=stamp(NOON_S - 1, 999_999_999))])
@example([good(sku="s.stepped", occurred_at=stamp(NOON_S - 1, 999_999_999))])
def test_columns_take_the_price_in_force_at_each_instant_and_round_up_as_rows_do(
    batch: list[usage_pb2.UsageItem],
) -> None:
    assert columns_answer(batch, CHANGED, Limits()) == rows_answer(batch, CHANGED, Limits())


def _huge_catalog() -> CatalogSnapshot:
    """A price whose products leave int64 for large quantities, and one whose rate's
    terms do not fit int64 at all."""

    def sku(sku_id: str, price: str, price_unit: int) -> Sku:
        return Sku(
            id=sku_id,
            name=sku_id,
            category="model",
            unit="token",
            price_unit=price_unit,
            price_unit_label="token",
            billed_by="coze",
            metering="count",
            aliases=(),
            patterns=(),
            increment=0,
            prices=(PriceVersion(0, Decimal(price), Rate(Decimal(price), price_unit)),),
        )

    return CatalogSnapshot(
        version=1,
        skus=[sku("s.dear", "999.999999", 1), sku("s.odd", "0.000001", 3_865_470_566_400_007)],
        plans={"basic": Plan("basic", 500 * 10**6, 10**9)},
    )


@pytest.mark.parametrize("quantity", [0, 1, 10**6, 10**9, 9_223_372, 9_223_373, 10**12, 10**15])
@pytest.mark.parametrize("sku", ["s.dear", "s.odd"])
def test_products_beyond_int64_are_rated_exactly_or_refused_as_rows_are(
    quantity: int, sku: str
) -> None:
    catalog = _huge_catalog()
    limits = Limits(max_line_micros=10**18, max_batch_micros=10**18)
    batch = [good(sku=sku, quantity=quantity), good(usage_id="u-2", sku=sku, quantity=1)]
    assert columns_answer(batch, catalog, limits) == rows_answer(batch, catalog, limits)


def test_a_batch_of_ten_thousand_bad_items_names_every_one(seed: CatalogSnapshot) -> None:
    batch = [good(usage_id=f"u-{n}", sku="no.such") for n in range(10_000)]
    answer = columns_answer(batch, seed, Limits())
    assert answer == rows_answer(batch, seed, Limits())
    assert isinstance(answer, list) and len(answer) == 10_000


def _shape(**changes: list[object]) -> list[tuple[str, str]]:
    columns = to_columns([good(), good(usage_id="u-2", sku="model.doubao-lite-32k.input")])
    for name, values in changes.items():
        field = getattr(columns, name)
        del field[:]
        for value in values:
            if isinstance(value, dict):
                field.add().attributes.update(value)
            else:
                field.append(value)
    found = shape_problems(columns_convert.usage_columns(columns))
    return [(v.field, v.reason) for v in found]


def test_columns_that_fit_together_have_no_shape_problem() -> None:
    assert _shape() == []
    assert _shape(attribute_sets=[{}], attribute_set_indices=[0, 0]) == []
    assert _shape(reservation_ids=["", "r-1"]) == []
    assert _shape(duration_items=[0, 1], durations_nanos=[1, 2]) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"usage_ids": []}, [("columns", "ITEMS_EMPTY")]),
        (
            {"quantities": [1]},
            [("columns.quantities", "COLUMN_LENGTH_MISMATCH")],
        ),
        (
            {"occurred_at_unix_nanos": [NOON_NS] * 3},
            [("columns.occurred_at_unix_nanos", "COLUMN_LENGTH_MISMATCH")],
        ),
        (
            {"account_indices": [0, 1]},
            [("columns.account_indices[1]", "COLUMN_INDEX_OUT_OF_RANGE")],
        ),
        (
            {"sku_indices": [5, 0], "accounts": []},
            [
                ("columns.account_indices[0]", "COLUMN_INDEX_OUT_OF_RANGE"),
                ("columns.account_indices[1]", "COLUMN_INDEX_OUT_OF_RANGE"),
                ("columns.sku_indices[0]", "COLUMN_INDEX_OUT_OF_RANGE"),
            ],
        ),
        (
            {"attribute_set_indices": [0, 1], "attribute_sets": [{"a": "b"}]},
            [("columns.attribute_set_indices[1]", "COLUMN_INDEX_OUT_OF_RANGE")],
        ),
        (
            {"attribute_set_indices": [0]},
            [
                ("columns.attribute_set_indices", "COLUMN_LENGTH_MISMATCH"),
                ("columns.attribute_set_indices[0]", "COLUMN_INDEX_OUT_OF_RANGE"),
            ],
        ),
        (
            {"reservation_ids": ["r-1"]},
            [("columns.reservation_ids", "COLUMN_LENGTH_MISMATCH")],
        ),
        (
            {"duration_items": [0], "durations_nanos": []},
            [("columns.durations_nanos", "COLUMN_LENGTH_MISMATCH")],
        ),
        (
            {"duration_items": [1, 1], "durations_nanos": [1, 2]},
            [("columns.duration_items[1]", "DURATION_ITEMS_UNORDERED")],
        ),
        (
            {"duration_items": [2], "durations_nanos": [1]},
            [("columns.duration_items[0]", "COLUMN_INDEX_OUT_OF_RANGE")],
        ),
    ],
)
def test_columns_that_do_not_fit_together_are_named(
    changes: dict[str, list[object]], expected: list[tuple[str, str]]
) -> None:
    assert _shape(**changes) == expected


def test_more_than_ten_thousand_items_are_refused_before_rating() -> None:
    columns = columns_pb2.UsageColumns(usage_ids=[f"u-{n}" for n in range(10_001)])
    found = shape_problems(columns_convert.usage_columns(columns))
    assert [(v.field, v.reason) for v in found] == [("columns", "ITEMS_TOO_MANY")]


def test_the_items_of_columns_are_their_rows_usages() -> None:
    rows = [
        good(),
        good(usage_id="u-2", duration=duration_pb2.Duration(seconds=60)),
        good(usage_id="u-3", reservation_id="r-1"),
    ]
    rows[0].attributes["agent_id"] = "a-1"
    rows[2].ClearField("occurred_at")
    columns = columns_convert.usage_columns(to_columns(rows))
    usages, _ = convert.usages(rows)
    assert columns.usages() == usages
    assert columns.named() == {2: "r-1"}


def test_violations_of_items_are_named_under_the_columns() -> None:
    from rating_server.domain_errors import Violation

    named = columns_convert.column_fields(
        [
            Violation("items[17].quantity", "QUANTITY_NEGATIVE", "-"),
            Violation("items", "BATCH_AMOUNT_TOO_LARGE", "-"),
            Violation("request_id", "REQUEST_ID_INVALID", "-"),
            Violation("columns.sku_indices[3]", "COLUMN_INDEX_OUT_OF_RANGE", "-"),
        ]
    )
    assert [v.field for v in named] == [
        "columns.items[17].quantity",
        "columns",
        "request_id",
        "columns.sku_indices[3]",
    ]


def test_rated_columns_are_int64_arrays(seed: CatalogSnapshot) -> None:
    columns = columns_convert.usage_columns(to_columns([good(), good(usage_id="u-2")]))
    rated = rate_columns(seed, columns, now_ns=NOW_NS)
    assert rated.micros.dtype == np.int64 and rated.rated.dtype == np.int64
    assert rated.micros.tolist() == [2_000_000, 2_000_000]
    assert rated.total_micros == 4_000_000
