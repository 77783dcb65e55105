"""The bench's workload (bench/workload.py) and floor (bench/null_server.py): a cell of
columns sends the items of the same cell of rows, and the columnar floor answers the
row floor's lines as columns."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import timestamp_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import null_server
import workload

from rating.v1 import columns_pb2, rating_service_pb2, usage_pb2

AT = timestamp_pb2.Timestamp(seconds=1_764_633_600, nanos=471_368_214)


def items_of(columns: columns_pb2.UsageColumns) -> list[usage_pb2.UsageItem]:
    """The items columns say, read as UsageColumns documents them (the bench's workload
    only sends items without durations or reservations)."""
    assert not columns.duration_items and not columns.reservation_ids
    count = len(columns.usage_ids)
    for column in ("account_indices", "sku_indices", "quantities", "occurred_at_unix_nanos"):
        assert len(getattr(columns, column)) == count, column
    assert len(columns.attribute_set_indices) == count
    items = []
    for i in range(count):
        seconds, nanos = divmod(columns.occurred_at_unix_nanos[i], 10**9)
        items.append(
            usage_pb2.UsageItem(
                usage_id=columns.usage_ids[i],
                account_id=columns.accounts[columns.account_indices[i]],
                sku=columns.skus[columns.sku_indices[i]],
                quantity=columns.quantities[i],
                occurred_at=timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos),
                attributes=columns.attribute_sets[columns.attribute_set_indices[i]].attributes,
            )
        )
    return items


def assert_dictionaries(columns: columns_pb2.UsageColumns) -> None:
    """Each name is sent once and every entry is used."""
    for names, indices in (
        (columns.accounts, columns.account_indices),
        (columns.skus, columns.sku_indices),
    ):
        assert len(set(names)) == len(names)
        assert set(indices) == set(range(len(names)))


@pytest.mark.parametrize("batch", [1, 10, 1000])
def test_a_quote_of_columns_sends_the_items_of_the_quote_of_rows(batch: int) -> None:
    rows = rating_service_pb2.QuoteRequest.FromString(workload.quote_request(batch, AT))
    columns = rating_service_pb2.QuoteRequest.FromString(workload.quote_columns_request(batch, AT))

    assert not columns.items and columns.HasField("columns")
    assert_dictionaries(columns.columns)
    assert items_of(columns.columns) == list(rows.items)


@pytest.mark.parametrize("batch", [1, 3, 1000])
def test_a_commit_of_columns_sends_the_items_the_commit_of_rows_would(batch: int) -> None:
    rows = workload.CommitRequests("c0ffee00", 7)
    columns = workload.CommitRequests("c0ffee00", 7)
    columns._occurred_at = rows._occurred_at  # made by the clock: the same for both
    for _ in range(3):  # new ids, and for a small batch other accounts, on every call
        by_rows = rating_service_pb2.CommitChargesRequest.FromString(rows.next(batch))
        by_columns = rating_service_pb2.CommitChargesRequest.FromString(columns.next_columns(batch))

        assert not by_columns.items
        assert by_columns.request_id == by_rows.request_id
        assert_dictionaries(by_columns.columns)
        assert items_of(by_columns.columns) == list(by_rows.items)
    columns.check_columns(batch)


def test_one_commit_source_never_sends_an_id_twice_in_either_form() -> None:
    source = workload.CommitRequests("c0ffee00", 7)
    requests = [
        rating_service_pb2.CommitChargesRequest.FromString(build(10))
        for build in (source.next, source.next_columns, source.next, source.next_columns)
    ]

    usage_ids = [
        uid
        for request in requests
        for uid in (
            list(request.columns.usage_ids)
            if request.HasField("columns")
            else [item.usage_id for item in request.items]
        )
    ]
    assert len(set(usage_ids)) == len(usage_ids) == 40
    assert len({request.request_id for request in requests}) == 4


PRICE_FIELDS = (
    "sku",
    "requested_sku",
    "category",
    "unit",
    "price_unit",
    "price_unit_label",
    "unit_price",
    "billed_by",
    "price_effective_from",
)


def points(micros: int) -> str:
    return workload.canonical(Decimal(micros) / 1_000_000)


def lines_of(columns: columns_pb2.RatedColumns) -> list[dict[str, Any]]:
    """What RatedColumns says of each line, by RatedLine's field names."""
    count = len(columns.price_indices)
    assert len(columns.rated_quantities) == len(columns.micros) == count
    funding: dict[int, list[tuple[int, str, str]]] = {}
    for line, target, micros in zip(
        columns.funding_lines, columns.funding_target_indices, columns.funding_micros, strict=True
    ):
        place = columns.funding_targets[target]
        funding.setdefault(line, []).append((place.source, place.pack_id, points(micros)))
    lines = []
    for i in range(count):
        price = columns.prices[columns.price_indices[i]]
        line = {name: getattr(price, name) for name in PRICE_FIELDS}
        line["rated_quantity"] = str(columns.rated_quantities[i])
        line["points"] = points(columns.micros[i])
        line["funding"] = funding.get(i, [])
        if columns.billing_account_indices:
            index = columns.billing_account_indices[i]
            line["billing_account_id"] = columns.billing_accounts[index]
        lines.append(line)
    return lines


def lines_said(lines: Any, funded: bool) -> list[dict[str, Any]]:
    """What a row response's lines say that their columns say too."""
    said = []
    for line in lines:
        fields = {name: getattr(line, name) for name in PRICE_FIELDS}
        fields["rated_quantity"] = line.rated_quantity
        fields["points"] = line.points
        fields["funding"] = [(part.source, part.pack_id, part.points) for part in line.funding]
        if funded:
            fields["billing_account_id"] = line.billing_account_id
        said.append(fields)
    return said


@pytest.mark.parametrize("batch", [1, 10, 1000])
def test_the_columnar_floor_answers_the_row_floors_quote_lines_as_columns(batch: int) -> None:
    rows = workload.quote_response(batch)
    columns = workload.quote_columns_response(batch)

    assert not columns.lines
    assert len(columns.columns.prices) == min(batch, len(workload.MIX))
    assert not columns.columns.funding_targets and not columns.columns.billing_account_indices
    assert lines_of(columns.columns) == lines_said(rows.lines, funded=False)
    rows.ClearField("lines")
    columns.ClearField("columns")
    assert columns == rows


@pytest.mark.parametrize("batch", [1, 10, 1000])
def test_the_columnar_floor_answers_the_row_floors_commit_lines_as_columns(batch: int) -> None:
    rows = workload.commit_response(batch)
    columns = workload.commit_columns_response(batch)

    assert not columns.lines
    assert lines_of(columns.columns) == lines_said(rows.lines, funded=True)
    for response in (rows, columns):
        response.ClearField("commit_time")
    rows.ClearField("lines")
    columns.ClearField("columns")
    assert columns == rows


@pytest.fixture(scope="module")
def floor() -> null_server.NullRating:
    return null_server.NullRating()  # builds its responses: once for the module


@pytest.mark.parametrize("batch", [1, 1000, 37])
def test_the_null_server_answers_columns_with_columns_and_rows_as_before(
    floor: null_server.NullRating, batch: int
) -> None:
    context: Any = None
    quote_of_columns = rating_service_pb2.QuoteRequest.FromString(
        workload.quote_columns_request(batch)
    )
    commit_of_columns = rating_service_pb2.CommitChargesRequest.FromString(
        workload.CommitRequests("c0ffee00", 0).next_columns(batch)
    )
    quote_of_rows = rating_service_pb2.QuoteRequest.FromString(workload.quote_request(batch))
    commit_of_rows = rating_service_pb2.CommitChargesRequest.FromString(
        workload.CommitRequests("c0ffee00", 0).next(batch)
    )

    quote = floor.Quote(quote_of_columns, context)
    commit = floor.CommitCharges(commit_of_columns, context)

    assert len(quote.columns.price_indices) == len(commit.columns.price_indices) == batch
    assert not quote.lines and not commit.lines
    assert floor.Quote(quote_of_rows, context) == workload.quote_response(batch)
    commit = floor.CommitCharges(commit_of_rows, context)
    assert not commit.HasField("columns")
    commit.ClearField("commit_time")
    expected = workload.commit_response(batch)
    expected.ClearField("commit_time")
    assert commit == expected
