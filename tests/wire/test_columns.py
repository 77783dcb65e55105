"""Over the wire, on each engine, a batch sent as columns (QuoteRequest.columns,
CommitChargesRequest.columns) is answered as the same batch sent as rows: the same
lines, funding, duplicates and totals, or the same errors, named under the columns.

Two twin sets of accounts live in one database, made alike ("r-..." for rows, "c-..."
for columns); every batch goes to both, rows to one twin, columns to the other, so
their balances stay alike and each answer can be compared with the other's."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from support import NOON, item, lines_of, rich_error, running, timestamp, to_columns

from rating.v1 import account_service_pb2 as acc
from rating.v1 import (
    account_service_pb2_grpc,
    columns_pb2,
    rating_service_pb2_grpc,
    usage_pb2,
)
from rating.v1 import rating_service_pb2 as rat
from rating_server.config import Settings
from rating_server.server import RatingServer

TWINS = ("r-", "c-")
NOON_NS = int(NOON.timestamp()) * 10**9


@pytest.fixture(scope="module")
def twins(new_database: Any) -> Iterator[tuple[RatingServer, dict[str, str]]]:
    """A server, its twin accounts, and the map from the columns' twin's pack ids to
    the rows' twin's."""
    with running(Settings(listen="127.0.0.1:0", db_path=new_database("columns"))) as server:
        channel = grpc.insecure_channel(server.address)
        accounts = account_service_pb2_grpc.AccountServiceStub(channel)
        packs: dict[str, list[str]] = {}
        for twin in TWINS:
            accounts.CreateAccount(acc.CreateAccountRequest(account_id=f"{twin}main", plan="pro"))
            accounts.CreateAccount(
                acc.CreateAccountRequest(account_id=f"{twin}sub", parent_account_id=f"{twin}main")
            )
            accounts.CreateAccount(
                acc.CreateAccountRequest(account_id=f"{twin}payg", plan="basic", pay_as_you_go=True)
            )
            packs[twin] = [
                accounts.GrantResourcePack(
                    acc.GrantResourcePackRequest(
                        account_id=f"{twin}main", points=points, request_id=f"{twin}pack-{points}"
                    )
                ).pack.pack_id
                for points in ("700", "3000")
            ]
        # For the tests that send one form only, apart from the twins.
        accounts.CreateAccount(acc.CreateAccountRequest(account_id="solo", plan="pro"))
        channel.close()
        yield server, dict(zip(packs["c-"], packs["r-"], strict=True))


@pytest.fixture(scope="module")
def stub(twins: tuple[RatingServer, dict[str, str]]) -> Iterator[Any]:
    with grpc.insecure_channel(twins[0].address) as channel:
        yield rating_service_pb2_grpc.RatingServiceStub(channel)


def rarely(good: Any, *bad: Any) -> st.SearchStrategy[Any]:
    """The good value nine times in ten or more."""
    return st.sampled_from([good] * (9 * len(bad)) + list(bad))


@st.composite
def batches(draw: st.DrawFn) -> list[usage_pb2.UsageItem]:
    """Items for the rows' twin: good mostly, bad in a field at times; usage ids from a
    small pool, so that later batches repeat earlier ones' (duplicates)."""
    ids = draw(st.lists(st.integers(0, 60), min_size=1, max_size=6, unique=True))
    if len(ids) > 1 and draw(rarely(False, True)):
        ids[-1] = ids[0]  # repeated in the batch
    items = []
    for number in ids:
        sku = draw(
            rarely(
                "model.doubao-lite-32k.input",
                "agent.call",
                "knowledge.storage",
                "Doubao-lite-32k.output",
                "no.such",
            )
        )
        most = 40 if sku == "agent.call" else 5_000_000
        made = item(
            sku,
            draw(rarely(draw(st.integers(0, most)), -1, 10**15 + 1)),
            usage_id=f"u-{number}",
            account_id="r-" + draw(rarely("main", "sub", "payg", "nobody")),
            occurred_at=draw(rarely(NOON, None)),
        )
        if sku == "knowledge.storage" and draw(rarely(True, False)):
            made.duration.CopyFrom(duration_pb2.Duration(seconds=3600))
        if draw(st.booleans()):
            made.attributes["agent_id"] = draw(rarely("a-1", "bad key"))
        items.append(made)
    return items


def for_columns(items: list[usage_pb2.UsageItem]) -> columns_pb2.UsageColumns:
    twin = []
    for made in items:
        copy = usage_pb2.UsageItem()
        copy.CopyFrom(made)
        copy.account_id = "c-" + made.account_id[2:]
        twin.append(copy)
    return to_columns(twin)


def answer(call: Any, request: Any) -> tuple[str, Any]:
    try:
        return "ok", call(request)
    except grpc.RpcError as error:
        rich = rich_error(error)
        fields = [(v.field, v.reason) for v in rich.violations]
        return "error", (error.code(), rich.info.reason, fields)


def _rows_error(value: Any) -> Any:
    return value


def _columns_error(value: Any) -> Any:
    code, reason, fields = value
    renamed = []
    for field, why in fields:
        if field == "columns":
            field = "items"
        elif field.startswith("columns.items["):
            field = field[len("columns.") :]
        renamed.append((field, why))
    return code, reason, renamed


class Charges:
    """The charge ids of the columns' twin, by the rows' twin's."""

    def __init__(self) -> None:
        self.of: dict[str, str] = {}


def normal(
    lines: list[usage_pb2.RatedLine], packs: dict[str, str], charges: Charges
) -> list[dict[str, object]]:
    """Lines as dictionaries, the columns' twin's names put as the rows' twin's."""
    out = []
    for line in lines:
        copy = usage_pb2.RatedLine()
        copy.CopyFrom(line)
        for name in ("account_id", "billing_account_id"):
            value = getattr(copy, name)
            if value.startswith("c-"):
                setattr(copy, name, "r-" + value[2:])
        for part in copy.funding:
            part.pack_id = packs.get(part.pack_id, part.pack_id)
        copy.original_charge_id = charges.of.get(copy.original_charge_id, copy.original_charge_id)
        out.append(copy)
    return out


@pytest.fixture(scope="module")
def charges() -> Charges:
    return Charges()


@settings(max_examples=60)
@given(batch=batches())
def test_a_batch_as_columns_is_quoted_and_committed_as_its_rows(
    batch: list[usage_pb2.UsageItem],
    stub: Any,
    twins: tuple[RatingServer, dict[str, str]],
    charges: Charges,
) -> None:
    packs = twins[1]
    columns = for_columns(batch)
    # Quote without an account
    rows = answer(stub.Quote, rat.QuoteRequest(items=batch))
    cols = answer(stub.Quote, rat.QuoteRequest(columns=for_columns(batch)))
    _same(rows, cols, columns, packs, charges)
    # Quote for the main account: how it would be funded
    rows = answer(stub.Quote, rat.QuoteRequest(items=batch, account_id="r-main"))
    cols = answer(stub.Quote, rat.QuoteRequest(columns=columns, account_id="c-main"))
    _same(rows, cols, columns, packs, charges)
    if rows[0] == "ok":
        assert rows[1].funding.free_points == cols[1].funding.free_points
        assert rows[1].funding.pack_points == cols[1].funding.pack_points
        assert rows[1].funding.shortfall_points == cols[1].funding.shortfall_points
    # Commit
    request = len(charges.of)
    rows = answer(
        stub.CommitCharges, rat.CommitChargesRequest(request_id=f"r-{request}", items=batch)
    )
    cols = answer(
        stub.CommitCharges, rat.CommitChargesRequest(request_id=f"c-{request}", columns=columns)
    )
    _same(rows, cols, columns, packs, charges)
    if rows[0] == "ok":
        charges.of[cols[1].charge_id] = rows[1].charge_id
        assert len(rows[1].lines) == len(batch) and not cols[1].lines


def _same(
    rows: tuple[str, Any],
    cols: tuple[str, Any],
    columns: columns_pb2.UsageColumns,
    packs: dict[str, str],
    charges: Charges,
) -> None:
    assert rows[0] == cols[0], (rows, cols)
    if rows[0] == "error":
        assert _columns_error(cols[1]) == _rows_error(rows[1])
        return
    assert normal(lines_of(cols[1].columns, columns), packs, charges) == normal(
        list(rows[1].lines), packs, charges
    )
    assert (cols[1].total_points, cols[1].total_yuan) == (rows[1].total_points, rows[1].total_yuan)
    assert cols[1].catalog_version == rows[1].catalog_version


def test_items_and_columns_together_are_refused(stub: Any) -> None:
    batch = [item("agent.call", 1, account_id="solo")]
    for call, request in (
        (stub.Quote, rat.QuoteRequest(items=batch, columns=to_columns(batch))),
        (
            stub.CommitCharges,
            rat.CommitChargesRequest(request_id="both", items=batch, columns=to_columns(batch)),
        ),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            call(request)
        rich = rich_error(raised.value)
        assert rich.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [(v.field, v.reason) for v in rich.violations] == [("columns", "ITEMS_AND_COLUMNS")]


def test_a_columnar_commit_retried_is_replayed_and_charged_once(stub: Any) -> None:
    batch = [item("agent.call", 2, usage_id="retry-1", account_id="solo")]
    request = rat.CommitChargesRequest(request_id="c-retry", columns=to_columns(batch))
    first = stub.CommitCharges(request)
    again = stub.CommitCharges(request)
    assert again == first
    assert list(first.columns.micros) == [4_000_000] and not first.columns.duplicate_lines
    # The same request_id with the items as rows is another request: refused.
    with pytest.raises(grpc.RpcError) as raised:
        stub.CommitCharges(rat.CommitChargesRequest(request_id="c-retry", items=batch))
    assert rich_error(raised.value).info.reason == "REQUEST_ID_REUSED"
    # A new request with the same usage is a duplicate of the first charge.
    later = stub.CommitCharges(
        rat.CommitChargesRequest(request_id="c-retry-2", columns=to_columns(batch))
    )
    assert list(later.columns.duplicate_lines) == [0]
    assert list(later.columns.original_charge_ids) == [first.charge_id]
    assert later.total_points == "0" and not later.columns.funding_lines


def test_shape_problems_are_refused_naming_the_column(stub: Any) -> None:
    columns = to_columns([item("agent.call", 1, account_id="solo")])
    columns.sku_indices[0] = 3
    columns.quantities.append(5)
    with pytest.raises(grpc.RpcError) as raised:
        stub.Quote(rat.QuoteRequest(columns=columns))
    rich = rich_error(raised.value)
    assert rich.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in rich.violations] == ["columns.quantities", "columns.sku_indices[0]"]


def test_a_storage_sample_as_columns_is_rated_beyond_the_quota_with_its_wide_quantity(
    stub: Any,
) -> None:
    sample = item(
        "knowledge.storage",
        10**15,
        usage_id="wide-1",
        account_id="solo",
        occurred_at=NOON,
    )
    sample.duration.CopyFrom(duration_pb2.Duration(seconds=10**6))
    rows = stub.Quote(rat.QuoteRequest(items=[sample]))
    cols = stub.Quote(rat.QuoteRequest(columns=to_columns([sample])))
    assert int(rows.lines[0].rated_quantity) > 2**63 - 1
    assert list(cols.columns.rated_quantities) == [-1]
    assert list(cols.columns.wide_lines) == [0]
    assert list(cols.columns.wide_rated_quantities) == [rows.lines[0].rated_quantity]
    assert lines_of(cols.columns, to_columns([sample])) == list(rows.lines)


def test_the_columns_name_the_instant_as_timestamp_nanos(stub: Any) -> None:
    columns = to_columns([item("agent.call", 1, account_id="solo")])
    assert list(columns.occurred_at_unix_nanos) == [
        timestamp(NOON).seconds * 10**9 + timestamp(NOON).nanos
    ]
    columns.occurred_at_unix_nanos[0] = 0
    with pytest.raises(grpc.RpcError) as raised:
        stub.Quote(rat.QuoteRequest(columns=columns))
    violations = rich_error(raised.value).violations
    assert [(v.field, v.description) for v in violations] == [
        ("columns.items[0].occurred_at", "occurred_at is required")
    ]


def test_a_day_of_good_batches_is_funded_alike_from_free_points_packs_and_the_bill(
    stub: Any, twins: tuple[RatingServer, dict[str, str]], charges: Charges
) -> None:
    """Good batches of up to 60 items, some repeating earlier usage, until the free
    points and both packs are spent and the rest goes to the bill or falls short."""
    chooser = random.Random(16)
    recently = datetime.now(UTC)  # the packs are valid from when they were granted on
    skus = ["model.doubao-lite-32k.input", "agent.call", "Doubao-lite-32k.output"]
    sources: set[int] = set()
    for number in range(30):
        batch = []
        for index in range(chooser.randint(1, 60)):
            sku = chooser.choice(skus)
            made = item(
                sku,
                chooser.randint(0, 40 if sku == "agent.call" else 2_000_000),
                usage_id=f"day-{chooser.randint(0, 400) if index % 5 == 0 else number * 100 + index}",  # noqa: E501
                account_id="r-" + chooser.choice(["main", "sub", "payg"]),
                occurred_at=recently,
            )
            if chooser.random() < 0.5:
                made.attributes["agent_id"] = f"a-{chooser.randint(0, 3)}"
            batch.append(made)
        ids = [made.usage_id for made in batch]
        batch = [made for index, made in enumerate(batch) if made.usage_id not in ids[:index]]
        columns = for_columns(batch)
        rows = answer(
            stub.CommitCharges, rat.CommitChargesRequest(request_id=f"r-day-{number}", items=batch)
        )
        cols = answer(
            stub.CommitCharges,
            rat.CommitChargesRequest(request_id=f"c-day-{number}", columns=columns),
        )
        _same(rows, cols, columns, twins[1], charges)
        assert rows[0] == "ok", rows
        charges.of[cols[1].charge_id] = rows[1].charge_id
        sources.update(part.source for line in rows[1].lines for part in line.funding)
    assert sources == {
        usage_pb2.FUNDING_SOURCE_FREE_POINTS,
        usage_pb2.FUNDING_SOURCE_RESOURCE_PACK,
        usage_pb2.FUNDING_SOURCE_PAY_AS_YOU_GO,
    }


@st.composite
def odd_columns(draw: st.DrawFn) -> columns_pb2.UsageColumns:
    """Columns with any values where they fit protobuf's types: lengths that disagree,
    indices past their dictionaries, int64's extremes, ids that are not."""
    count = draw(st.integers(0, 6))
    int64 = st.one_of(
        st.sampled_from([0, 1, -1, 2**63 - 1, -(2**63), 10**15, 10**15 + 1, NOON_NS]),
        st.integers(-(2**63), 2**63 - 1),
    )
    indices = st.lists(st.integers(0, 3), max_size=count + 1)
    columns = columns_pb2.UsageColumns(
        usage_ids=draw(
            st.lists(
                st.sampled_from(["u-1", "u-2", "", "a b", "x" * 129]),
                min_size=count,
                max_size=count,
            )
        ),
        accounts=draw(st.lists(st.sampled_from(["solo", "nobody", "", "c-sub"]), max_size=3)),
        account_indices=draw(indices),
        skus=draw(
            st.lists(
                st.sampled_from(["agent.call", "knowledge.storage", "no.such", ""]), max_size=3
            )
        ),
        sku_indices=draw(indices),
        quantities=draw(st.lists(int64, max_size=count + 1)),
        occurred_at_unix_nanos=draw(st.lists(int64, max_size=count + 1)),
        duration_items=draw(st.lists(st.integers(0, count + 1), max_size=2)),
        durations_nanos=draw(st.lists(int64, max_size=2)),
        attribute_set_indices=draw(st.lists(st.integers(0, 2), max_size=count)),
        reservation_ids=draw(st.lists(st.sampled_from(["", "r-none", "a b"]), max_size=count)),
    )
    for _ in range(draw(st.integers(0, 2))):
        columns.attribute_sets.add().attributes.update(
            draw(
                st.dictionaries(
                    st.sampled_from(["agent_id", "bad key", ""]), st.just("v"), max_size=2
                )
            )
        )
    return columns


@settings(max_examples=150)
@given(columns=odd_columns(), commit=st.booleans(), account=st.booleans())
def test_any_columns_get_an_answer_or_a_clear_error_never_an_internal_one(
    columns: columns_pb2.UsageColumns, commit: bool, account: bool, stub: Any
) -> None:
    if commit:
        request: Any = rat.CommitChargesRequest(request_id="odd", columns=columns)
        call = stub.CommitCharges
    else:
        request = rat.QuoteRequest(columns=columns, account_id="solo" if account else "")
        call = stub.Quote
    try:
        call(request)
    except grpc.RpcError as error:
        code = error.code()
        assert code in (
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.NOT_FOUND,
        ), error.details()
        assert rich_error(error).info.reason
