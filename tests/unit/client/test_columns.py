"""The client's columnar form, without a server: the ``UsageColumns`` builders and the
results of column calls (``ColumnQuote``, ``ColumnReceipt``) read from responses made
here by hand, line for line against the row form's ``Line``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from rating import column_results, usage
from rating.columns import (
    ColumnQuote,
    ColumnReceipt,
    ColumnsError,
    columns_of,
    items_of,
    usage_columns,
)
from rating.types import Line, Quote, Receipt
from rating.v1 import columns_pb2, rating_service_pb2, usage_pb2

NOON = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
NOON_NS = 1_795_752_000 * 10**9
BEIJING = timezone(timedelta(hours=8))
FREE = usage_pb2.FUNDING_SOURCE_FREE_POINTS
PACK = usage_pb2.FUNDING_SOURCE_RESOURCE_PACK
PAYG = usage_pb2.FUNDING_SOURCE_PAY_AS_YOU_GO


def stamp(when: datetime) -> timestamp_pb2.Timestamp:
    result = timestamp_pb2.Timestamp()
    result.FromDatetime(when)
    return result


# Usage as columns.


def mixed_items() -> list[usage_pb2.UsageItem]:
    """Accounts and SKUs that repeat, a storage sample, attributes on some items, a
    reservation on one, an instant with microseconds."""
    return [
        usage.agent_calls(2, usage_id="a", account_id="acme", occurred_at=NOON),
        usage.tts_characters(
            120, usage_id="b", account_id="beta", occurred_at=NOON, attributes={"ch": "web"}
        ),
        usage.storage(
            5 * 2**30,
            timedelta(hours=1),
            usage_id="c",
            account_id="acme",
            occurred_at=NOON + timedelta(microseconds=7),
        ),
        usage.agent_calls(
            1, usage_id="d", account_id="beta", occurred_at=NOON, attributes={"ch": "web"}
        ),
        usage.rtc_audio(
            timedelta(seconds=61),
            usage_id="e",
            account_id="acme",
            occurred_at=NOON,
            attributes={"room": "9", "ch": "app"},
            reservation_id="rsv-1",
        ),
    ]


def test_columns_of_dictionary_encodes_accounts_skus_and_attribute_sets_in_first_order() -> None:
    columns = columns_of(mixed_items())

    assert list(columns.usage_ids) == ["a", "b", "c", "d", "e"]
    assert list(columns.accounts) == ["acme", "beta"]
    assert list(columns.account_indices) == [0, 1, 0, 1, 0]
    assert list(columns.skus) == [
        "agent.call",
        "speech.tts.system_voice",
        "knowledge.storage",
        "rtc.audio.voice",
    ]
    assert list(columns.sku_indices) == [0, 1, 2, 0, 3]
    assert list(columns.quantities) == [2, 120, 5 * 2**30, 1, 61_000]
    assert [dict(s.attributes) for s in columns.attribute_sets] == [
        {},
        {"ch": "web"},
        {"ch": "app", "room": "9"},
    ]
    assert list(columns.attribute_set_indices) == [0, 1, 0, 1, 2]
    assert list(columns.reservation_ids) == ["", "", "", "", "rsv-1"]


def test_columns_carry_instants_as_exact_nanoseconds_and_durations_sparsely() -> None:
    item = usage_pb2.UsageItem(
        usage_id="x",
        account_id="acme",
        sku="agent.call",
        quantity=1,
        occurred_at=timestamp_pb2.Timestamp(seconds=1_795_752_000, nanos=123_456_789),
    )
    assert list(columns_of([item]).occurred_at_unix_nanos) == [NOON_NS + 123_456_789]
    before = item.__deepcopy__()
    before.occurred_at.CopyFrom(timestamp_pb2.Timestamp(seconds=-1, nanos=1))
    assert list(columns_of([before]).occurred_at_unix_nanos) == [-999_999_999]

    columns = columns_of(mixed_items())
    assert (
        list(columns.occurred_at_unix_nanos) == [NOON_NS, NOON_NS, NOON_NS + 7_000] + [NOON_NS] * 2
    )
    assert (list(columns.duration_items), list(columns.durations_nanos)) == (
        [2],
        [3_600 * 10**9],
    )


def test_columns_without_attributes_or_reservations_leave_those_columns_empty() -> None:
    columns = columns_of(
        [usage.agent_calls(1, usage_id=f"u-{n}", account_id="acme") for n in (1, 2)]
    )
    assert len(columns.attribute_sets) == len(columns.attribute_set_indices) == 0
    assert len(columns.reservation_ids) == 0
    assert len(columns.duration_items) == len(columns.durations_nanos) == 0


def test_usage_columns_from_plain_sequences_are_the_columns_of_the_same_items() -> None:
    made = usage_columns(
        usage_ids=["a", "b", "c", "d", "e"],
        account_ids=["acme", "beta", "acme", "beta", "acme"],
        skus=[
            "agent.call",
            "speech.tts.system_voice",
            "knowledge.storage",
            "agent.call",
            "rtc.audio.voice",
        ],
        quantities=[2, 120, 5 * 2**30, 1, 61_000],
        occurred_at=[NOON, NOON.astimezone(BEIJING), NOON_NS + 7_000, NOON, NOON_NS],
        durations=[None, None, timedelta(hours=1), None, None],
        attributes=[None, {"ch": "web"}, {}, {"ch": "web"}, {"room": "9", "ch": "app"}],
        reservation_ids=["", "", "", "", "rsv-1"],
    )
    assert made == columns_of(mixed_items())
    in_ns = usage_columns(
        usage_ids=["c"],
        account_ids=["acme"],
        skus=["knowledge.storage"],
        quantities=[1],
        occurred_at=[NOON],
        durations=[3_600 * 10**9],
    )
    assert list(in_ns.durations_nanos) == [3_600 * 10**9]


def test_items_of_columns_gives_back_the_items() -> None:
    items = mixed_items()
    assert items_of(columns_of(items)) == items


def plain(**changes: Any) -> dict[str, Any]:
    """The arguments of a valid two-item ``usage_columns`` call, with ``changes``."""
    return {
        "usage_ids": ["a", "b"],
        "account_ids": ["acme", "acme"],
        "skus": ["agent.call", "agent.call"],
        "quantities": [1, 2],
        "occurred_at": [NOON, NOON],
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "error", "names"),
    [
        ({"skus": ["agent.call"]}, ValueError, "skus has 1 values for 2"),
        ({"durations": [None]}, ValueError, "durations has 1"),
        ({"usage_ids": ["a", 2]}, TypeError, r"usage_ids\[1\]"),
        ({"quantities": [1, 2.0]}, TypeError, r"quantities\[1\]"),
        ({"quantities": [True, 2]}, TypeError, r"quantities\[0\]"),
        ({"quantities": ["1", 2]}, TypeError, r"quantities\[0\]"),
        ({"quantities": [1, -1]}, ValueError, "negative"),
        ({"quantities": [1, 2**63]}, ValueError, "int64"),
        ({"occurred_at": [NOON, datetime(2026, 11, 27)]}, ValueError, "timezone-aware"),
        ({"occurred_at": [NOON, "2026-11-27"]}, TypeError, r"occurred_at\[1\]"),
        ({"occurred_at": [NOON, 0]}, ValueError, "unset"),
        ({"occurred_at": [NOON, datetime(3000, 1, 1, tzinfo=UTC)]}, ValueError, "int64"),
        ({"durations": [None, timedelta(seconds=-1)]}, ValueError, "negative"),
        ({"durations": [None, 1.5]}, TypeError, r"durations\[1\]"),
        ({"attributes": [None, {"k": 1}]}, TypeError, r"attributes\[1\]"),
        ({"attributes": [None, [("k", "v")]]}, TypeError, r"attributes\[1\]"),
        ({"reservation_ids": ["", None]}, TypeError, r"reservation_ids\[1\]"),
    ],
)
def test_usage_columns_refuses_what_it_cannot_send_naming_the_column_and_item(
    changes: dict[str, Any], error: type[Exception], names: str
) -> None:
    with pytest.raises(error, match=names):
        usage_columns(**plain(**changes))


def test_columns_of_refuses_what_is_no_usage_item() -> None:
    with pytest.raises(TypeError):
        columns_of([{"usage_id": "a"}])  # type: ignore[list-item]


def bad_item(**fields: Any) -> usage_pb2.UsageItem:
    return usage_pb2.UsageItem(usage_id="x", account_id="acme", sku="agent.call", **fields)


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (bad_item(occurred_at=timestamp_pb2.Timestamp()), "occurred_at"),  # the epoch: 0
        (bad_item(occurred_at=timestamp_pb2.Timestamp(seconds=1, nanos=-1)), "occurred_at"),
        (bad_item(occurred_at=stamp(datetime(3000, 1, 1, tzinfo=UTC))), "occurred_at"),
        (
            bad_item(occurred_at=stamp(NOON), duration=duration_pb2.Duration(seconds=1, nanos=-1)),
            "duration",
        ),
        (
            bad_item(occurred_at=stamp(NOON), duration=duration_pb2.Duration(seconds=10**10)),
            "duration",
        ),
    ],
    ids=["epoch", "bad-nanos", "past-int64", "mixed-signs", "past-int64-duration"],
)
def test_columns_of_raises_columns_error_naming_an_item_columns_cannot_carry(
    item: usage_pb2.UsageItem, field: str
) -> None:
    good = usage.agent_calls(1, usage_id="ok", account_id="acme", occurred_at=NOON)
    with pytest.raises(ColumnsError) as caught:
        columns_of([good, item])
    assert caught.value.field == f"items[1].{field}"
    assert isinstance(caught.value, ValueError)


def test_columns_of_leaves_what_the_server_checks_to_the_server() -> None:
    # An unset instant is 0 (OCCURRED_AT_MISSING, the server's to name); a negative
    # quantity goes as it is.
    columns = columns_of([bad_item(quantity=-1)])
    assert (list(columns.occurred_at_unix_nanos), list(columns.quantities)) == ([0], [-1])


# Results as columns, against the row form.

AGENT = columns_pb2.LinePrice(
    sku="agent.call",
    requested_sku="agent.call",
    category=usage_pb2.CATEGORY_AGENT,
    unit="call",
    price_unit=1,
    price_unit_label="call",
    unit_price="2",
    billed_by=usage_pb2.BILLED_BY_COZE,
    price_effective_from=stamp(datetime(2026, 1, 1, tzinfo=UTC)),
)
STORAGE = columns_pb2.LinePrice(
    sku="knowledge.storage",
    requested_sku="knowledge.storage",
    category=usage_pb2.CATEGORY_KNOWLEDGE,
    unit="byte_millisecond",
    price_unit=2**30 * 3_600_000,
    price_unit_label="GiB-hour",
    unit_price="0.3702",
    billed_by=usage_pb2.BILLED_BY_COZE,
    price_effective_from=timestamp_pb2.Timestamp(),
)
WIDE = 2**70  # byte-milliseconds past int64


def row(
    usage_id: str,
    account_id: str,
    price: columns_pb2.LinePrice,
    quantity: int,
    rated: int,
    points: str,
    yuan: str,
    **fields: Any,
) -> usage_pb2.RatedLine:
    """A line as the row form sends it: every price field, rated_quantity always."""
    return usage_pb2.RatedLine(
        usage_id=usage_id,
        account_id=account_id,
        sku=price.sku,
        requested_sku=price.requested_sku,
        category=price.category,
        quantity=quantity,
        rated_quantity=str(rated),
        unit=price.unit,
        price_unit=price.price_unit,
        price_unit_label=price.price_unit_label,
        unit_price=price.unit_price,
        points=points,
        yuan=yuan,
        billed_by=price.billed_by,
        price_effective_from=price.price_effective_from,
        **fields,
    )


def funding(source: int, points: str, **where: str) -> usage_pb2.Funding:
    return usage_pb2.Funding(source=source, points=points, **where)


#: A commit of five items: one line funded from two sources, a wide storage line, a
#: duplicate, a line of a sub-account billed to its main account, a zero-point line.
USAGE = usage_columns(
    usage_ids=["a", "b", "c", "d", "e"],
    account_ids=["acme", "acme", "acme", "acme-sub", "acme"],
    skus=["agent.call", "knowledge.storage", "agent.call", "agent.call", "agent.call"],
    quantities=[3, 2**62, 1, 2, 0],
    occurred_at=[NOON] * 5,
)
ROWS = [
    row(
        "a",
        "acme",
        AGENT,
        3,
        3,
        "6",
        "0.006",
        funding=[
            funding(FREE, "0.5", day="2026-11-27"),
            funding(PACK, "5.5", pack_id="pack-1"),
        ],
        billing_account_id="acme",
    ),
    row(
        "b",
        "acme",
        STORAGE,
        2**62,
        WIDE,
        "1234.000001",
        "1.234000001",
        funding=[funding(PAYG, "1234.000001", month="2026-11")],
        billing_account_id="acme",
    ),
    row(
        "c",
        "acme",
        AGENT,
        1,
        1,
        "2",
        "0.002",
        duplicate=True,
        original_charge_id="ch-0",
        billing_account_id="acme",
    ),
    row(
        "d",
        "acme-sub",
        AGENT,
        2,
        2,
        "4",
        "0.004",
        funding=[funding(PACK, "4", pack_id="pack-1")],
        billing_account_id="acme",
    ),
    row("e", "acme", AGENT, 0, 0, "0", "0", billing_account_id="acme"),
]
COLUMNS = columns_pb2.RatedColumns(
    prices=[AGENT, STORAGE],
    price_indices=[0, 1, 0, 0, 0],
    rated_quantities=[3, -1, 1, 2, 0],
    wide_lines=[1],
    wide_rated_quantities=[str(WIDE)],
    micros=[6_000_000, 1_234_000_001, 2_000_000, 4_000_000, 0],
    funding_targets=[
        columns_pb2.FundingTarget(source=FREE, day="2026-11-27"),
        columns_pb2.FundingTarget(source=PACK, pack_id="pack-1"),
        columns_pb2.FundingTarget(source=PAYG, month="2026-11"),
    ],
    funding_lines=[0, 0, 1, 3],
    funding_target_indices=[0, 1, 2, 1],
    funding_micros=[500_000, 5_500_000, 1_234_000_001, 4_000_000],
    billing_accounts=["acme"],
    billing_account_indices=[0, 0, 0, 0, 0],
    duplicate_lines=[2],
    original_charge_ids=["ch-0"],
)


def receipts() -> tuple[ColumnReceipt, Receipt]:
    """The same commit in columns and in rows."""
    head: dict[str, Any] = {
        "charge_id": "ch-1",
        "total_points": "1244.000001",
        "total_yuan": "1.244000001",
        "catalog_version": 4,
        "commit_time": stamp(NOON),
    }
    columns = rating_service_pb2.CommitChargesResponse(columns=COLUMNS, **head)
    rows = rating_service_pb2.CommitChargesResponse(lines=ROWS, **head)
    return ColumnReceipt("req-1", columns, USAGE), Receipt.of("req-1", rows)


def test_each_column_line_is_the_line_the_row_form_gives_for_the_item() -> None:
    columns, rows = receipts()
    assert len(columns) == len(rows.lines) == 5
    for index, expected in enumerate(rows.lines):
        assert columns.line(index) == expected  # its raw RatedLine included
        assert columns[index] == expected
    assert columns.lines == rows.lines
    assert list(columns) == list(rows.lines)
    assert columns[-1] == rows.lines[-1]
    assert columns.duplicates == rows.duplicates


def test_a_column_receipt_has_the_receipts_top_level_fields() -> None:
    columns, rows = receipts()
    for name in (
        "request_id",
        "charge_id",
        "total_points",
        "total_yuan",
        "catalog_version",
        "commit_time",
    ):
        assert getattr(columns, name) == getattr(rows, name), name
    assert columns.total_points == Decimal("1244.000001")
    assert "5 lines" in repr(columns) and "ch-1" in repr(columns)


def test_column_lines_read_amounts_exactly_from_micro_points() -> None:
    columns, _ = receipts()
    line = columns.line(1)
    assert (line.points, line.yuan) == (Decimal("1234.000001"), Decimal("1.234000001"))
    assert (line.raw.points, line.raw.yuan) == ("1234.000001", "1.234000001")
    assert [(f.source, f.points) for f in columns.line(0).funding] == [
        ("free_points", Decimal("0.5")),
        ("resource_pack", Decimal("5.5")),
    ]
    assert columns.line_funding(0) == columns.line(0).funding
    assert columns.line(4).raw.points == "0"


def test_wide_rated_quantities_read_as_exact_ints() -> None:
    columns, _ = receipts()
    assert list(columns.rated_quantities) == [3, WIDE, 1, 2, 0]
    assert columns.rated_quantity(1) == columns.line(1).rated_quantity == WIDE
    assert list(columns.columns.rated_quantities) == [3, -1, 1, 2, 0]  # the raw column


def test_a_column_receipt_reads_as_columns() -> None:
    columns, _ = receipts()
    assert list(columns.micros) == [6_000_000, 1_234_000_001, 2_000_000, 4_000_000, 0]
    assert list(columns.price_indices) == [0, 1, 0, 0, 0]
    assert [p.sku for p in columns.prices] == ["agent.call", "knowledge.storage"]
    agent = columns.prices[0]
    assert (agent.category, agent.billed_by, agent.unit_price) == ("agent", "coze", Decimal(2))
    assert agent.price_effective_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert [(t.source, t.pack_id, t.day, t.month) for t in columns.funding_targets] == [
        ("free_points", "", "2026-11-27", ""),
        ("resource_pack", "pack-1", "", ""),
        ("pay_as_you_go", "", "", "2026-11"),
    ]
    assert list(columns.funding_lines) == [0, 0, 1, 3]
    assert list(columns.funding_target_indices) == [0, 1, 2, 1]
    assert list(columns.funding_micros) == [500_000, 5_500_000, 1_234_000_001, 4_000_000]
    assert (list(columns.billing_accounts), list(columns.billing_account_indices)) == (
        ["acme"],
        [0] * 5,
    )
    assert (list(columns.duplicate_lines), list(columns.original_charge_ids)) == ([2], ["ch-0"])
    assert columns.usage == USAGE


def test_lines_are_made_only_when_asked_and_once(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    of = Line.of

    def counting(raw: usage_pb2.RatedLine) -> Line:
        made.append(raw.usage_id)
        return of(raw)

    columns, _ = receipts()
    monkeypatch.setattr(column_results.Line, "of", counting)
    assert (list(columns.micros), columns.total_points) == (
        list(COLUMNS.micros),
        Decimal("1244.000001"),
    )
    assert made == []
    columns.line(3)
    assert made == ["d"]
    assert [line.usage_id for line in columns.duplicates] == ["c"]
    assert made == ["d", "c"]
    first = columns.lines
    assert columns.lines is first
    assert made == ["d", "c", "a", "b", "c", "d", "e"]


def test_a_column_quote_reads_as_the_row_quote_does() -> None:
    usage_ = usage_columns(
        usage_ids=["u-1", "u-2"],
        account_ids=["acme", "beta"],
        skus=["agent.call", "agent.call"],
        quantities=[1, 2],
        occurred_at=[NOON, NOON],
    )
    head: dict[str, Any] = {
        "total_points": "6",
        "total_yuan": "0.006",
        "catalog_version": 2,
        "funding": rating_service_pb2.QuoteFunding(
            account_id="acme", free_points="6", covered=True, held_points="1"
        ),
    }
    columns = ColumnQuote(
        rating_service_pb2.QuoteResponse(
            columns=columns_pb2.RatedColumns(
                prices=[AGENT],
                price_indices=[0, 0],
                rated_quantities=[1, 2],
                micros=[2_000_000, 4_000_000],
            ),
            **head,
        ),
        usage_,
    )
    rows = Quote.of(
        rating_service_pb2.QuoteResponse(
            lines=[
                row("u-1", "acme", AGENT, 1, 1, "2", "0.002"),
                row("u-2", "beta", AGENT, 2, 2, "4", "0.004"),
            ],
            **head,
        )
    )
    assert columns.lines == rows.lines
    assert (columns.total_points, columns.total_yuan, columns.catalog_version) == (
        rows.total_points,
        rows.total_yuan,
        rows.catalog_version,
    )
    assert columns.funding == rows.funding
    assert columns.funding is not None and columns.funding.held_points == Decimal(1)
    # Without an account: no funding, no billing accounts.
    assert columns.line(0).funding == () and columns.line(0).billing_account_id == ""
    assert "2 lines" in repr(columns)


def test_a_line_beyond_the_batch_is_an_index_error() -> None:
    columns, _ = receipts()
    with pytest.raises(IndexError):
        columns.line(5)
    with pytest.raises(IndexError):
        columns[-6]


@pytest.mark.parametrize(
    "broken",
    [
        {"micros": [1]},
        {"price_indices": []},
        {"billing_account_indices": [0]},
        {"wide_rated_quantities": []},
        {"funding_micros": [1]},
        {"original_charge_ids": []},
    ],
    ids=lambda broken: next(iter(broken)),
)
def test_columns_that_do_not_match_the_request_are_a_clear_error(
    broken: dict[str, Sequence[object]],
) -> None:
    columns = columns_pb2.RatedColumns()
    columns.CopyFrom(COLUMNS)
    for name, values in broken.items():
        field = getattr(columns, name)
        del field[:]
        field.extend(values)
    response = rating_service_pb2.CommitChargesResponse(columns=columns)
    with pytest.raises(ValueError, match=next(iter(broken)).split("_")[0]):
        ColumnReceipt("req-1", response, USAGE)
