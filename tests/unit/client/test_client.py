"""The sync client (``rating/client.py``) against an in-process fake server: how each
call's arguments are sent and its answer read, the deadline and token of every call,
batches past the message limit, retries and raw ``invoke``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from rating import AsyncRatingClient, RatingClient, errors, usage
from rating import columns as column_form
from rating.columns import ColumnQuote, ColumnReceipt
from rating.types import (
    CapacityPurchase,
)
from rating.v1 import (
    account_service_pb2,
    catalog_service_pb2,
    columns_pb2,
    rating_service_pb2,
    reservation_pb2,
    usage_pb2,
)

from .calls import CALL_IDS, CALLS, STREAMS
from .fake import (
    BEIJING,
    COMMIT_TIMEOUT,
    ITEM,
    NOON,
    TIMEOUT,
    TTL,
    Fake,
    assert_deadline,
    async_options,
    call,
    capacity_purchase,
    connect,
    fail,
    fail_with,
    items_of,
    reply,
    reservation_message,
    rich_status,
    sku_message,
    stamp,
    too_slow,
    unavailable,
)

# Argument mapping and results: RatingService.


def test_quote_sends_the_items_and_account_and_reads_decimals_and_utc_datetimes(
    fake: Fake, client: RatingClient
) -> None:
    items = [call("u-1"), call("u-2")]
    response = rating_service_pb2.QuoteResponse(
        lines=[
            usage_pb2.RatedLine(
                usage_id="u-1",
                sku="agent.call",
                category=usage_pb2.CATEGORY_AGENT,
                quantity=1,
                rated_quantity="1",
                unit_price="0.1",
                points="0.100000",
                yuan="0.0001",
                billed_by=usage_pb2.BILLED_BY_COZE,
                price_effective_from=stamp(datetime(2026, 1, 1, tzinfo=UTC)),
                funding=[
                    usage_pb2.Funding(
                        source=usage_pb2.FUNDING_SOURCE_FREE_POINTS, points="0.1", day="2026-11-27"
                    )
                ],
            )
        ],
        total_points="0.3702",
        total_yuan="0.0003702",
        catalog_version=3,
        funding=rating_service_pb2.QuoteFunding(
            account_id="acme", free_points="0.3702", pack_points="0", covered=True
        ),
    )
    fake.script("Quote", reply(response))

    quote = client.quote(items, account_id="acme")

    assert fake.requests("Quote") == [
        rating_service_pb2.QuoteRequest(items=items, account_id="acme")
    ]
    assert quote.total_points == Decimal("0.3702")
    assert quote.total_yuan == Decimal("0.0003702")
    assert quote.catalog_version == 3
    line = quote.lines[0]
    assert (line.points, line.unit_price, line.rated_quantity) == (
        Decimal("0.1"),
        Decimal("0.1"),
        1,
    )
    assert (line.category, line.billed_by) == ("agent", "coze")
    assert line.price_effective_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert line.price_effective_from.utcoffset() == timedelta(0)
    assert line.funding[0].source == "free_points"
    assert line.funding[0].points == Decimal("0.1")
    assert quote.funding is not None
    assert quote.funding.covered
    assert quote.funding.free_points == Decimal("0.3702")
    assert quote.funding.shortfall_points == Decimal(0)
    assert quote.raw == response


def test_quote_without_an_account_has_no_funding(fake: Fake, client: RatingClient) -> None:
    quote = client.quote([ITEM])
    assert fake.requests("Quote")[0].account_id == ""
    assert quote.funding is None


def test_quote_refuses_anything_but_usage_items_before_calling(
    fake: Fake, client: RatingClient
) -> None:
    with pytest.raises(TypeError):
        client.quote([{"sku": "agent.call"}])  # type: ignore[list-item]
    assert fake.calls == []


def test_commit_without_request_id_sends_a_fresh_generated_one_and_the_receipt_carries_it(
    fake: Fake, client: RatingClient
) -> None:
    first = client.commit([ITEM])
    second = client.commit([ITEM])

    sent = [r.request_id for r in fake.requests("CommitCharges")]
    assert sent == [first.request_id, second.request_id]
    assert all(request_id.startswith("req-") for request_id in sent)
    assert sent[0] != sent[1]
    assert fake.requests("CommitCharges")[0].items == [ITEM]


def test_commit_with_a_request_id_sends_that_one_and_reads_the_receipt(
    fake: Fake, client: RatingClient
) -> None:
    receipt = client.commit([call("u-1"), call("u-2")], request_id="mine-1")

    assert fake.requests("CommitCharges")[0].request_id == "mine-1"
    assert receipt.request_id == "mine-1"
    assert receipt.charge_id == "ch-mine-1"
    assert [line.usage_id for line in receipt.lines] == ["u-1", "u-2"]
    assert receipt.total_points == Decimal(2)
    assert receipt.commit_time == NOON
    assert receipt.commit_time.utcoffset() == timedelta(0)
    assert receipt.raw.charge_id == "ch-mine-1"


def test_a_receipt_lists_its_duplicate_lines(fake: Fake, client: RatingClient) -> None:
    fake.script(
        "CommitCharges",
        reply(
            rating_service_pb2.CommitChargesResponse(
                lines=[
                    usage_pb2.RatedLine(usage_id="u-1"),
                    usage_pb2.RatedLine(usage_id="u-2", duplicate=True, original_charge_id="ch-0"),
                ]
            )
        ),
    )
    receipt = client.commit([call("u-1"), call("u-2")])
    assert [(line.usage_id, line.original_charge_id) for line in receipt.duplicates] == [
        ("u-2", "ch-0")
    ]


# RatingService: the items as columns.

AGENT_PRICE = columns_pb2.LinePrice(
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


def test_quote_columns_sends_the_items_as_columns_and_reads_a_column_quote(
    fake: Fake, client: RatingClient
) -> None:
    items = [call("u-1"), call("u-2", "beta")]
    response = rating_service_pb2.QuoteResponse(
        columns=columns_pb2.RatedColumns(
            prices=[AGENT_PRICE],
            price_indices=[0, 0],
            rated_quantities=[1, 1],
            micros=[2_000_000, 2_000_000],
            funding_targets=[
                columns_pb2.FundingTarget(
                    source=usage_pb2.FUNDING_SOURCE_FREE_POINTS, day="2026-11-27"
                )
            ],
            funding_lines=[0, 1],
            funding_target_indices=[0, 0],
            funding_micros=[2_000_000, 2_000_000],
            billing_accounts=["acme"],
            billing_account_indices=[0, 0],
        ),
        total_points="4",
        total_yuan="0.004",
        catalog_version=3,
        funding=rating_service_pb2.QuoteFunding(account_id="acme", free_points="4", covered=True),
    )
    fake.script("Quote", reply(response))

    quote = client.quote_columns(items, account_id="acme")

    assert fake.requests("Quote") == [
        rating_service_pb2.QuoteRequest(columns=column_form.columns_of(items), account_id="acme")
    ]
    assert isinstance(quote, ColumnQuote)
    assert (quote.total_points, quote.total_yuan, quote.catalog_version) == (
        Decimal(4),
        Decimal("0.004"),
        3,
    )
    assert quote.funding is not None
    assert (quote.funding.free_points, quote.funding.covered) == (Decimal(4), True)
    assert list(quote.micros) == [2_000_000, 2_000_000]
    assert [(line.usage_id, line.account_id, line.points) for line in quote] == [
        ("u-1", "acme", Decimal(2)),
        ("u-2", "beta", Decimal(2)),
    ]
    line = quote.lines[1]
    assert (line.category, line.billed_by, line.unit_price) == ("agent", "coze", Decimal(2))
    assert (line.funding[0].source, line.funding[0].points) == ("free_points", Decimal(2))
    assert line.billing_account_id == "acme"
    assert quote.raw == response


def test_quote_columns_sends_usage_columns_as_given_and_refuses_other_values_before_calling(
    fake: Fake, client: RatingClient
) -> None:
    columns = column_form.usage_columns(
        usage_ids=["u-1"],
        account_ids=["acme"],
        skus=["agent.call"],
        quantities=[1],
        occurred_at=[NOON],
    )
    quote = client.quote_columns(columns)
    assert fake.requests("Quote") == [rating_service_pb2.QuoteRequest(columns=columns)]
    assert (len(quote), quote.funding) == (1, None)
    with pytest.raises(TypeError):
        client.quote_columns(rating_service_pb2.QuoteRequest())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.quote_columns([{"sku": "agent.call"}])  # type: ignore[list-item]
    assert len(fake.calls) == 1


def test_commit_columns_keeps_a_generated_request_id_through_retries_and_reads_the_receipt(
    fake: Fake, client: RatingClient
) -> None:
    items = [call("u-1"), call("u-2")]
    fake.script("CommitCharges", unavailable(), unavailable())

    receipt = client.commit_columns(items)

    sent = fake.requests("CommitCharges")
    assert len(sent) == 3
    assert {r.request_id for r in sent} == {receipt.request_id}
    assert receipt.request_id.startswith("req-")
    assert all(r.columns == column_form.columns_of(items) and not r.items for r in sent)
    assert isinstance(receipt, ColumnReceipt)
    assert receipt.charge_id == f"ch-{receipt.request_id}"
    assert [line.usage_id for line in receipt] == ["u-1", "u-2"]
    assert (receipt.total_points, receipt.commit_time, receipt.duplicates) == (
        Decimal(2),
        NOON,
        (),
    )
    mine = client.commit_columns(items, request_id="mine-1")
    assert (mine.request_id, fake.requests("CommitCharges")[-1].request_id) == ("mine-1", "mine-1")


def test_a_failed_commit_of_columns_tells_the_request_id_it_was_sent_with(fake: Fake) -> None:
    fake.script("CommitCharges", fail(grpc.StatusCode.UNAVAILABLE, "down"))
    with connect(fake, max_attempts=1) as client, pytest.raises(errors.UnavailableError) as caught:
        client.commit_columns(items_of(1))
    sent = fake.requests("CommitCharges")[-1].request_id
    assert sent.startswith("req-") and caught.value.request_id == sent


def test_a_bad_columns_request_names_each_bad_item_by_its_index(
    fake: Fake, client: RatingClient
) -> None:
    violation = error_details_pb2.BadRequest.FieldViolation
    status = rich_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "columns.items[2].sku: no SKU 'x'",
        error_details_pb2.ErrorInfo(reason="INVALID_USAGE", domain="rating"),
        error_details_pb2.BadRequest(
            field_violations=[
                violation(field="columns.items[2].sku", reason="SKU_UNKNOWN"),
                violation(field="columns.items[0].quantity", reason="QUANTITY_NEGATIVE"),
                violation(field="columns.sku_indices[1]", reason="INDEX_OUT_OF_RANGE"),
                violation(field="columns.quantities", reason="COLUMN_LENGTH"),
            ]
        ),
    )
    fake.script("Quote", fail_with(status))
    with pytest.raises(errors.InvalidArgumentError) as caught:
        client.quote_columns(items_of(3))
    assert [(v.field, v.item_index) for v in caught.value.violations] == [
        ("columns.items[2].sku", 2),
        ("columns.items[0].quantity", 0),
        ("columns.sku_indices[1]", None),
        ("columns.quantities", None),
    ]


def test_column_calls_take_a_timeout_in_place_of_the_default_deadline(
    fake: Fake, client: RatingClient
) -> None:
    client.quote_columns([ITEM], timeout=40.0)
    client.commit_columns([ITEM], timeout=50.0)
    quote, commit = fake.calls
    assert_deadline(quote, 40.0)
    assert_deadline(commit, 50.0)


def test_void_charge_sends_the_charge_and_reason_and_reads_the_reversals(
    fake: Fake, client: RatingClient
) -> None:
    response = rating_service_pb2.VoidChargeResponse(
        charge_id="ch-1",
        reversals=[usage_pb2.Funding(source=usage_pb2.FUNDING_SOURCE_RESOURCE_PACK, points="-2.5")],
        void_time=stamp(NOON),
        already_voided=True,
    )
    fake.script("VoidCharge", reply(response))

    result = client.void_charge("ch-1", reason="duplicate import")

    assert fake.requests("VoidCharge") == [
        rating_service_pb2.VoidChargeRequest(charge_id="ch-1", reason="duplicate import")
    ]
    assert result.reversals[0].source == "resource_pack"
    assert result.reversals[0].points == Decimal("-2.5")
    assert result.void_time == NOON
    assert result.already_voided
    assert result.raw == response


WHO_AT_NOON: dict[str, Any] = {"account_id": "acme", "occurred_at": NOON}


def test_reserve_sends_the_fields_and_a_generated_request_id_and_reads_the_reservation(
    fake: Fake, client: RatingClient
) -> None:
    raw = reservation_message(
        billing_account_id="acme-main",
        requested_sku="rtc.audio",
        requested_quantity=600_000,
        granted_quantity=400_000,
        held_points="46.666667",
        holds=[
            usage_pb2.Funding(
                source=usage_pb2.FUNDING_SOURCE_FREE_POINTS, points="40", day="2026-11-27"
            ),
            usage_pb2.Funding(
                source=usage_pb2.FUNDING_SOURCE_RESOURCE_PACK, points="6.666667", pack_id="p-1"
            ),
        ],
    )
    fake.script("Reserve", reply(rating_service_pb2.ReserveResponse(reservation=raw)))

    reservation = client.reserve("acme", "rtc.audio", 600_000, 300)

    [sent] = fake.requests("Reserve")
    assert sent.request_id.startswith("req-")
    assert sent == rating_service_pb2.ReserveRequest(
        request_id=sent.request_id, account_id="acme", sku="rtc.audio", quantity=600_000, ttl=TTL
    )
    assert (reservation.reservation_id, reservation.billing_account_id) == ("rsv-1", "acme-main")
    assert (reservation.sku, reservation.requested_sku) == ("rtc.audio.voice", "rtc.audio")
    assert (reservation.requested_quantity, reservation.granted_quantity) == (600_000, 400_000)
    assert reservation.held_points == Decimal("46.666667")
    assert [(h.source, h.points, h.pack_id) for h in reservation.holds] == [
        ("free_points", Decimal(40), ""),
        ("resource_pack", Decimal("6.666667"), "p-1"),
    ]
    assert reservation.state == "held"
    assert reservation.create_time == NOON
    assert reservation.expire_time == NOON + timedelta(minutes=5)
    assert reservation.expire_time.utcoffset() == timedelta(0)
    assert reservation.end_time is None
    assert (reservation.settle_charge_id, reservation.already_ended) == ("", False)
    assert reservation.raw == raw


@pytest.mark.parametrize(
    ("ttl", "sent"),
    [
        (300, TTL),
        (timedelta(minutes=5), TTL),
        (2.5, duration_pb2.Duration(seconds=2, nanos=500_000_000)),
    ],
    ids=["seconds", "timedelta", "fractional"],
)
def test_reserve_takes_the_ttl_as_seconds_or_a_timedelta_and_sends_the_given_request_id(
    fake: Fake, client: RatingClient, ttl: timedelta | float, sent: duration_pb2.Duration
) -> None:
    client.reserve("acme", "rtc.audio", 1000, ttl, request_id="mine-1")
    [request] = fake.requests("Reserve")
    assert (request.ttl, request.request_id) == (sent, "mine-1")


@pytest.mark.parametrize(
    ("ttl", "error"),
    [(True, TypeError), ("300", TypeError), (None, TypeError), (float("nan"), ValueError)],
    ids=["bool", "str", "none", "nan"],
)
def test_reserve_refuses_a_ttl_that_is_no_duration_before_calling(
    fake: Fake, client: RatingClient, ttl: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        client.reserve("acme", "rtc.audio", 1000, ttl)
    assert fake.calls == []


def test_extend_sends_only_what_is_given_with_a_generated_request_id(
    fake: Fake, client: RatingClient
) -> None:
    fake.script(
        "Extend",
        reply(
            rating_service_pb2.ExtendResponse(
                reservation=reservation_message(granted_quantity=900_000, requested_quantity=10**6)
            )
        ),
    )
    extended = client.extend("rsv-1", quantity=400_000)
    client.extend("rsv-1", ttl=timedelta(minutes=5), request_id="mine-2")

    more, longer = fake.requests("Extend")
    assert more.request_id.startswith("req-")
    assert more == rating_service_pb2.ExtendRequest(
        request_id=more.request_id, reservation_id="rsv-1", quantity=400_000
    )
    assert not more.HasField("ttl")
    assert longer == rating_service_pb2.ExtendRequest(
        request_id="mine-2", reservation_id="rsv-1", ttl=TTL
    )
    assert (extended.granted_quantity, extended.requested_quantity) == (900_000, 10**6)


def test_release_reads_the_ended_reservation_and_whether_it_had_ended_before(
    fake: Fake, client: RatingClient
) -> None:
    fake.script(
        "Release",
        reply(
            rating_service_pb2.ReleaseResponse(
                reservation=reservation_message(
                    state=reservation_pb2.RESERVATION_STATE_EXPIRED, held_points="0"
                ),
                already_ended=True,
            )
        ),
    )
    ended = client.release("rsv-1")
    again = client.release("rsv-2")

    assert fake.requests("Release") == [
        rating_service_pb2.ReleaseRequest(reservation_id="rsv-1"),
        rating_service_pb2.ReleaseRequest(reservation_id="rsv-2"),
    ]
    assert (ended.state, ended.already_ended, ended.held_points) == ("expired", True, Decimal(0))
    assert (again.state, again.already_ended) == ("released", False)
    assert again.end_time == NOON + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("method", "invoke"),
    [
        ("Reserve", lambda c: c.reserve("acme", "rtc.audio", 1000, 60)),
        ("Extend", lambda c: c.extend("rsv-1", quantity=1000)),
    ],
    ids=["Reserve", "Extend"],
)
def test_a_retried_reserve_or_extend_sends_the_same_request_id_on_every_attempt(
    fake: Fake, client: RatingClient, method: str, invoke: Callable[[RatingClient], object]
) -> None:
    fake.script(method, unavailable(), unavailable())
    invoke(client)
    sent = [r.request_id for r in fake.requests(method)]
    assert len(sent) == 3
    assert len(set(sent)) == 1
    assert sent[0].startswith("req-")


def test_a_failed_reserve_tells_the_request_id_it_was_sent_with(fake: Fake) -> None:
    fake.script("Reserve", unavailable())
    with connect(fake, max_attempts=1) as client, pytest.raises(errors.UnavailableError) as caught:
        client.reserve("acme", "rtc.audio", 1000, 60)
    [sent] = fake.requests("Reserve")
    assert sent.request_id.startswith("req-")
    assert caught.value.request_id == sent.request_id


def test_commit_sends_the_reservation_each_item_settles(fake: Fake, client: RatingClient) -> None:
    items = [
        usage.rtc_audio(
            timedelta(minutes=1), usage_id="room-1", reservation_id="rsv-1", **WHO_AT_NOON
        ),
        call("u-2"),
    ]
    client.commit(items)
    [sent] = fake.requests("CommitCharges")
    assert [item.reservation_id for item in sent.items] == ["rsv-1", ""]


def test_a_quote_reads_the_points_reservations_hold(fake: Fake, client: RatingClient) -> None:
    fake.script(
        "Quote",
        reply(
            rating_service_pb2.QuoteResponse(
                funding=rating_service_pb2.QuoteFunding(account_id="acme", held_points="12.5")
            )
        ),
    )
    quote = client.quote([ITEM], account_id="acme")
    assert quote.funding is not None
    assert quote.funding.held_points == Decimal("12.5")


def test_get_balance_reads_what_reservations_hold(fake: Fake, client: RatingClient) -> None:
    fake.script(
        "GetBalance",
        reply(
            account_service_pb2.GetBalanceResponse(
                free_points_left="400",
                free_points_held="40",
                pay_as_you_go_held_points="7.25",
                packs=[account_service_pb2.ResourcePack(pack_id="p-1", held_points="6.5")],
                reservations=[reservation_message(), reservation_message(reservation_id="rsv-2")],
            )
        ),
    )
    balance = client.get_balance("acme")
    assert (balance.free_points_held, balance.pay_as_you_go_held_points) == (
        Decimal(40),
        Decimal("7.25"),
    )
    assert balance.packs[0].held_points == Decimal("6.5")
    assert [r.reservation_id for r in balance.reservations] == ["rsv-1", "rsv-2"]
    assert balance.reservations[0].state == "held"


# Argument mapping and results: AccountService.


def account(account_id: str = "acme", **fields: Any) -> account_service_pb2.Account:
    return account_service_pb2.Account(account_id=account_id, create_time=stamp(NOON), **fields)


def test_create_account_sends_every_field(fake: Fake, client: RatingClient) -> None:
    raw = account(plan="pro", time_zone="Asia/Shanghai", pay_as_you_go=True)
    fake.script("CreateAccount", reply(account_service_pb2.CreateAccountResponse(account=raw)))

    created = client.create_account(
        "acme", plan="pro", time_zone="Asia/Shanghai", pay_as_you_go=True
    )
    client.create_account("acme-dev", parent_account_id="acme")

    assert fake.requests("CreateAccount") == [
        account_service_pb2.CreateAccountRequest(
            account_id="acme", plan="pro", time_zone="Asia/Shanghai", pay_as_you_go=True
        ),
        account_service_pb2.CreateAccountRequest(account_id="acme-dev", parent_account_id="acme"),
    ]
    assert (created.account_id, created.plan, created.pay_as_you_go) == ("acme", "pro", True)
    assert created.create_time == NOON
    assert created.raw == raw


def test_get_account_reads_the_sub_accounts(fake: Fake, client: RatingClient) -> None:
    fake.script(
        "GetAccount",
        reply(
            account_service_pb2.GetAccountResponse(account=account(), sub_account_ids=["a", "b"])
        ),
    )
    got = client.get_account("acme")
    assert fake.requests("GetAccount") == [account_service_pb2.GetAccountRequest(account_id="acme")]
    assert got.sub_account_ids == ("a", "b")


def test_update_account_sends_only_the_plan_when_only_the_plan_is_given(
    fake: Fake, client: RatingClient
) -> None:
    client.update_account("acme", plan="pro")
    request = fake.requests("UpdateAccount")[0]
    assert request.account_id == "acme"
    assert request.HasField("plan")
    assert request.plan == "pro"
    assert not request.HasField("pay_as_you_go")


def test_update_account_sends_only_pay_as_you_go_even_when_false(
    fake: Fake, client: RatingClient
) -> None:
    client.update_account("acme", pay_as_you_go=False)
    request = fake.requests("UpdateAccount")[0]
    assert request.HasField("pay_as_you_go")
    assert request.pay_as_you_go is False
    assert not request.HasField("plan")


def test_update_account_sends_the_budget_only_when_given_and_empty_to_remove_it(
    fake: Fake, client: RatingClient
) -> None:
    client.update_account("acme", plan="pro")
    client.update_account("acme", monthly_budget_points=Decimal("1500.25"))
    client.update_account("acme", monthly_budget_points=None)
    kept, changed, removed = fake.requests("UpdateAccount")
    assert not kept.HasField("monthly_budget_points")
    assert (changed.HasField("monthly_budget_points"), changed.monthly_budget_points) == (
        True,
        "1500.25",
    )
    assert (removed.HasField("monthly_budget_points"), removed.monthly_budget_points) == (True, "")
    with pytest.raises(TypeError):
        client.update_account("acme", monthly_budget_points=1.5)  # type: ignore[arg-type]


def test_create_account_sends_the_budget_and_the_account_reads_it(
    fake: Fake, client: RatingClient
) -> None:
    fake.script(
        "CreateAccount",
        reply(
            account_service_pb2.CreateAccountResponse(
                account=account_service_pb2.Account(account_id="acme", monthly_budget_points="100")
            )
        ),
    )
    created = client.create_account("acme", pay_as_you_go=True, monthly_budget_points=100)
    assert fake.requests("CreateAccount")[0].monthly_budget_points == "100"
    assert created.monthly_budget_points == Decimal(100)
    assert client.create_account("globex").monthly_budget_points is None
    assert fake.requests("CreateAccount")[1].monthly_budget_points == ""


def test_alert_thresholds_are_sent_whole_and_read_back_none_where_not_set(
    fake: Fake, client: RatingClient
) -> None:
    fake.script(
        "SetAlertThresholds",
        reply(
            account_service_pb2.SetAlertThresholdsResponse(
                thresholds=account_service_pb2.AlertThresholds(
                    account_id="acme",
                    free_points_below="100",
                    pay_as_you_go_budget_percent_above=80,
                )
            )
        ),
    )
    thresholds = client.set_alert_thresholds(
        "acme", free_points_below=100, pay_as_you_go_budget_percent_above=80
    )
    assert fake.requests("SetAlertThresholds") == [
        account_service_pb2.SetAlertThresholdsRequest(
            account_id="acme", free_points_below="100", pay_as_you_go_budget_percent_above=80
        )
    ]
    assert (thresholds.free_points_below, thresholds.pack_points_below) == (Decimal(100), None)
    assert (thresholds.pack_percent_below, thresholds.pay_as_you_go_budget_percent_above) == (0, 80)
    assert thresholds.pay_as_you_go_points_above is None
    got = client.get_alert_thresholds("acme")
    assert fake.requests("GetAlertThresholds") == [
        account_service_pb2.GetAlertThresholdsRequest(account_id="acme")
    ]
    assert (got.free_points_below, got.pack_percent_below) == (None, 0)
    with pytest.raises(TypeError):
        client.set_alert_thresholds("acme", pack_percent_below=True)


@pytest.mark.parametrize(
    ("points", "sent"),
    [
        (Decimal("1000.5"), "1000.5"),
        (Decimal("1E+3"), "1000"),
        (2000, "2000"),
        ("12.250000", "12.250000"),
    ],
    ids=["decimal", "decimal-exponent", "int", "str"],
)
def test_grant_pack_sends_points_as_a_plain_decimal_string(
    fake: Fake, client: RatingClient, points: Decimal | int | str, sent: str
) -> None:
    client.grant_pack("acme", points)
    assert fake.requests("GrantResourcePack")[0].points == sent


@pytest.mark.parametrize("points", [1000.0, True, Decimal("NaN"), Decimal("Infinity")])
def test_grant_pack_refuses_floats_bools_and_non_finite_points_before_calling(
    fake: Fake, client: RatingClient, points: Any
) -> None:
    with pytest.raises((TypeError, ValueError)) as caught:
        client.grant_pack("acme", points)
    if isinstance(points, float | bool):
        assert caught.type is TypeError
    assert fake.calls == []


def test_grant_pack_converts_aware_datetimes_to_utc_timestamps(
    fake: Fake, client: RatingClient
) -> None:
    client.grant_pack(
        "acme",
        100,
        valid_from=datetime(2026, 11, 1, 8, 0, tzinfo=BEIJING),
        expire_time=datetime(2026, 12, 1, 8, 0, tzinfo=BEIJING),
        priority=2,
    )
    request = fake.requests("GrantResourcePack")[0]
    assert request.valid_from == stamp(datetime(2026, 11, 1, 0, 0, tzinfo=UTC))
    assert request.expire_time == stamp(datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    assert request.priority == 2


def test_grant_pack_leaves_unset_datetimes_unset(fake: Fake, client: RatingClient) -> None:
    client.grant_pack("acme", 100)
    request = fake.requests("GrantResourcePack")[0]
    assert not request.HasField("valid_from")
    assert not request.HasField("expire_time")


@pytest.mark.parametrize("argument", ["valid_from", "expire_time"])
def test_grant_pack_refuses_a_naive_datetime_before_calling(
    fake: Fake, client: RatingClient, argument: str
) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        client.grant_pack("acme", 100, **{argument: datetime(2026, 11, 1)})
    assert fake.calls == []


def test_grant_pack_always_sends_a_request_id(fake: Fake, client: RatingClient) -> None:
    client.grant_pack("acme", 100)
    client.grant_pack("acme", 100)
    client.grant_pack("acme", 100, request_id="grant-7")
    sent = [r.request_id for r in fake.requests("GrantResourcePack")]
    assert sent[0].startswith("req-")
    assert sent[1].startswith("req-")
    assert sent[0] != sent[1]
    assert sent[2] == "grant-7"


def test_grant_pack_reads_the_pack(fake: Fake, client: RatingClient) -> None:
    raw = account_service_pb2.ResourcePack(
        pack_id="p-1",
        account_id="acme",
        points="1000",
        remaining_points="999.5",
        price_yuan="1",
        valid_from=stamp(NOON),
        priority=1,
        create_time=stamp(NOON),
    )
    fake.script("GrantResourcePack", reply(account_service_pb2.GrantResourcePackResponse(pack=raw)))
    pack = client.grant_pack("acme", 1000)
    assert (pack.points, pack.remaining_points, pack.price_yuan) == (
        Decimal(1000),
        Decimal("999.5"),
        Decimal(1),
    )
    assert pack.valid_from == NOON
    assert pack.expire_time is None
    assert pack.raw == raw


def test_grant_capacity_sends_the_term_the_dates_and_the_price_as_plain_decimals(
    fake: Fake, client: RatingClient
) -> None:
    client.grant_capacity("acme", 5, term="month", price_yuan=Decimal("30.5"))
    client.grant_capacity(
        "acme",
        1,
        valid_from=datetime(2026, 11, 1, 8, tzinfo=BEIJING),
        expire_time=datetime(2026, 12, 1, 8, tzinfo=BEIJING),
        price_points="0",
        request_id="cap-7",
    )
    client.grant_capacity("acme", 2, term="year", price_points=1000)
    monthly, dated, yearly = fake.requests("GrantCapacity")
    assert monthly.request_id.startswith("req-")
    assert monthly == account_service_pb2.GrantCapacityRequest(
        account_id="acme",
        gib=5,
        term=account_service_pb2.CAPACITY_TERM_MONTH,
        price_yuan="30.5",
        request_id=monthly.request_id,
    )
    assert dated == account_service_pb2.GrantCapacityRequest(
        account_id="acme",
        gib=1,
        valid_from=stamp(datetime(2026, 11, 1, tzinfo=UTC)),
        expire_time=stamp(datetime(2026, 12, 1, tzinfo=UTC)),
        price_points="0",
        request_id="cap-7",
    )
    assert (yearly.term, yearly.WhichOneof("price"), yearly.price_points) == (
        account_service_pb2.CAPACITY_TERM_YEAR,
        "price_points",
        "1000",
    )


@pytest.mark.parametrize(
    "arguments",
    [
        {"term": "month"},  # no price
        {"term": "month", "price_points": 1, "price_yuan": 1},  # two prices
        {"term": "month", "price_points": 1.5},  # a float
        {"term": "week", "price_points": 1},
        {"term": "month", "price_points": 1, "gib": 1.5},
        {"term": "month", "price_points": 1, "valid_from": datetime(2026, 11, 1)},  # naive
    ],
    ids=["no-price", "two-prices", "float-price", "unknown-term", "float-gib", "naive-datetime"],
)
def test_grant_capacity_refuses_what_it_cannot_send_exactly_before_calling(
    fake: Fake, client: RatingClient, arguments: dict[str, Any]
) -> None:
    gib = arguments.pop("gib", 5)
    with pytest.raises((TypeError, ValueError)):
        client.grant_capacity("acme", gib, **arguments)
    assert fake.calls == []


def test_grant_capacity_reads_the_purchase_and_a_retry_keeps_its_request_id(
    fake: Fake, client: RatingClient
) -> None:
    raw = capacity_purchase()
    fake.script(
        "GrantCapacity",
        unavailable(),
        reply(account_service_pb2.GrantCapacityResponse(purchase=raw)),
    )
    purchase = client.grant_capacity("acme", 5, term="month", price_yuan="30.5")
    sent = [r.request_id for r in fake.requests("GrantCapacity")]
    assert len(sent) == 2 and len(set(sent)) == 1
    assert (purchase.purchase_id, purchase.account_id, purchase.gib, purchase.term) == (
        "cap-1",
        "acme",
        5,
        "month",
    )
    assert (purchase.price_points, purchase.price_yuan) == (Decimal(30500), Decimal("30.5"))
    assert (purchase.valid_from, purchase.expire_time) == (NOON, NOON + timedelta(days=30))
    assert purchase.raw == raw
    dated = capacity_purchase(term=account_service_pb2.CAPACITY_TERM_UNSPECIFIED)
    assert CapacityPurchase.of(dated).term == ""


def test_the_account_balance_and_statement_carry_their_capacity_purchases(
    fake: Fake, client: RatingClient
) -> None:
    bought = capacity_purchase()
    fake.script(
        "GetAccount",
        reply(
            account_service_pb2.GetAccountResponse(account=account(), capacity_purchases=[bought])
        ),
    )
    fake.script(
        "GetBalance",
        reply(
            account_service_pb2.GetBalanceResponse(
                capacity_purchases=[bought], storage_quota_bytes=15 * 2**30
            )
        ),
    )
    fake.script(
        "GetStatement",
        reply(
            account_service_pb2.GetStatementResponse(
                capacity_purchases=[bought], capacity_paid_points="30500"
            )
        ),
    )
    assert [p.purchase_id for p in client.get_account("acme").capacity_purchases] == ["cap-1"]
    balance = client.get_balance("acme")
    assert ([p.gib for p in balance.capacity_purchases], balance.storage_quota_bytes) == (
        [5],
        15 * 2**30,
    )
    statement = client.get_statement("acme", "2026-11")
    assert [p.term for p in statement.capacity_purchases] == ["month"]
    assert statement.capacity_paid_points == Decimal(30500)


@pytest.mark.parametrize(
    ("day", "sent"),
    [(date(2026, 11, 7), "2026-11-07"), ("2026-11-07", "2026-11-07"), (None, "")],
    ids=["date", "str", "today"],
)
def test_get_balance_sends_the_day_as_yyyy_mm_dd(
    fake: Fake, client: RatingClient, day: date | str | None, sent: str
) -> None:
    client.get_balance("acme", day=day)
    assert fake.requests("GetBalance") == [
        account_service_pb2.GetBalanceRequest(account_id="acme", day=sent)
    ]


def test_get_balance_reads_decimals_and_packs(fake: Fake, client: RatingClient) -> None:
    raw = account_service_pb2.GetBalanceResponse(
        billing_account_id="acme",
        day="2026-11-27",
        free_points_granted="500",
        free_points_used="0.25",
        free_points_left="499.75",
        packs=[account_service_pb2.ResourcePack(pack_id="p-1", points="10")],
        month="2026-11",
        pay_as_you_go_points="3.5",
        pay_as_you_go_yuan="0.0035",
    )
    fake.script("GetBalance", reply(raw))
    balance = client.get_balance("acme")
    assert balance.free_points_left == Decimal("499.75")
    assert balance.pay_as_you_go_yuan == Decimal("0.0035")
    assert [p.pack_id for p in balance.packs] == ["p-1"]
    assert balance.raw == raw


def test_list_charges_sends_the_window_and_page_and_reads_the_entries(
    fake: Fake, client: RatingClient
) -> None:
    raw = account_service_pb2.ListChargesResponse(
        charges=[
            account_service_pb2.ChargeEntry(
                charge_id="ch-1",
                usage_id="u-1",
                sku="agent.call",
                category=usage_pb2.CATEGORY_AGENT,
                quantity=1,
                points="0.1",
                occurred_at=stamp(NOON),
                commit_time=stamp(NOON + timedelta(seconds=1)),
                attributes={"channel": "api"},
            )
        ],
        next_page_token="next",
    )
    fake.script("ListCharges", reply(raw))

    page = client.list_charges(
        "acme",
        start_time=datetime(2026, 11, 1, 8, tzinfo=BEIJING),
        end_time=datetime(2026, 12, 1, tzinfo=UTC),
        page_size=10,
        page_token="tok",
    )

    assert fake.requests("ListCharges") == [
        account_service_pb2.ListChargesRequest(
            account_id="acme",
            start_time=stamp(datetime(2026, 11, 1, tzinfo=UTC)),
            end_time=stamp(datetime(2026, 12, 1, tzinfo=UTC)),
            page_size=10,
            page_token="tok",
        )
    ]
    assert page.next_page_token == "next"
    entry = page.items[0]
    assert (entry.points, entry.category, entry.attributes) == (
        Decimal("0.1"),
        "agent",
        {"channel": "api"},
    )
    assert entry.occurred_at == NOON
    assert entry.commit_time == NOON + timedelta(seconds=1)
    assert entry.raw == raw.charges[0]


def test_list_charges_refuses_a_naive_datetime_before_calling(
    fake: Fake, client: RatingClient
) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        client.list_charges("acme", start_time=datetime(2026, 11, 1))
    assert fake.calls == []


def test_iter_charges_follows_the_page_tokens_to_the_end(fake: Fake, client: RatingClient) -> None:
    fake.script(
        "ListCharges",
        reply(
            account_service_pb2.ListChargesResponse(
                charges=[account_service_pb2.ChargeEntry(charge_id="ch-1")], next_page_token="p2"
            )
        ),
        reply(
            account_service_pb2.ListChargesResponse(
                charges=[account_service_pb2.ChargeEntry(charge_id="ch-2")]
            )
        ),
    )
    charges = list(client.iter_charges("acme", page_size=1))
    assert [c.charge_id for c in charges] == ["ch-1", "ch-2"]
    assert [r.page_token for r in fake.requests("ListCharges")] == ["", "p2"]
    assert {r.page_size for r in fake.requests("ListCharges")} == {1}


@pytest.mark.parametrize(
    ("month", "sent"),
    [(date(2026, 11, 27), "2026-11"), ("2026-10", "2026-10")],
    ids=["date", "str"],
)
def test_get_statement_sends_the_month_as_yyyy_mm(
    fake: Fake, client: RatingClient, month: date | str, sent: str
) -> None:
    client.get_statement("acme", month)
    assert fake.requests("GetStatement") == [
        account_service_pb2.GetStatementRequest(account_id="acme", month=sent)
    ]


def test_get_statement_reads_rows_and_amounts(fake: Fake, client: RatingClient) -> None:
    raw = account_service_pb2.GetStatementResponse(
        account_id="acme",
        month="2026-11",
        by_sku=[account_service_pb2.StatementRow(key="agent.call", quantity="12", points="1.2")],
        by_category=[account_service_pb2.StatementRow(key="agent", points="1.2")],
        total=account_service_pb2.StatementRow(key="total", points="1.2", lines=12),
        amount_due_yuan="0.01",
        amount_due_yuan_exact="0.0012",
    )
    fake.script("GetStatement", reply(raw))
    statement = client.get_statement("acme", "2026-11")
    assert statement.by_sku[0].quantity == 12
    assert statement.by_category[0].quantity is None
    assert statement.total.points == Decimal("1.2")
    assert statement.total.lines == 12
    assert statement.amount_due_yuan == Decimal("0.01")
    assert statement.amount_due_yuan_exact == Decimal("0.0012")
    assert statement.raw == raw


# Argument mapping and results: CatalogService.


@pytest.mark.parametrize(
    ("category", "number"),
    [
        (None, usage_pb2.CATEGORY_UNSPECIFIED),
        ("model", usage_pb2.CATEGORY_MODEL),
        ("agent", usage_pb2.CATEGORY_AGENT),
        ("speech", usage_pb2.CATEGORY_SPEECH),
        ("rtc", usage_pb2.CATEGORY_RTC),
        ("knowledge", usage_pb2.CATEGORY_KNOWLEDGE),
        ("plugin", usage_pb2.CATEGORY_PLUGIN),
    ],
)
def test_list_skus_sends_the_category_name_as_its_enum(
    fake: Fake, client: RatingClient, category: str | None, number: int
) -> None:
    client.list_skus(category=category, page_size=5, page_token="t")
    assert fake.requests("ListSkus") == [
        catalog_service_pb2.ListSkusRequest(category=number, page_size=5, page_token="t")  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("category", ["MODEL", "video", "unspecified"])
def test_list_skus_refuses_an_unknown_category_before_calling(
    fake: Fake, client: RatingClient, category: str
) -> None:
    with pytest.raises(ValueError, match="category"):
        client.list_skus(category=category)
    assert fake.calls == []


def test_list_skus_reads_the_page(fake: Fake, client: RatingClient) -> None:
    raw = catalog_service_pb2.ListSkusResponse(
        skus=[sku_message("agent.call"), sku_message("plugin.x", priced=False)],
        next_page_token="n",
    )
    fake.script("ListSkus", reply(raw))
    page = client.list_skus()
    assert [s.id for s in page.items] == ["agent.call", "plugin.x"]
    assert page.items[1].current_price is None
    assert page.next_page_token == "n"


def test_get_sku_sends_the_name_and_reads_prices_as_decimals(
    fake: Fake, client: RatingClient
) -> None:
    raw = sku_message()
    fake.script("GetSku", reply(catalog_service_pb2.GetSkuResponse(sku=raw)))
    sku = client.get_sku("智能体调用")
    assert fake.requests("GetSku") == [catalog_service_pb2.GetSkuRequest(sku="智能体调用")]
    assert (sku.id, sku.category, sku.billed_by, sku.aliases) == (
        "agent.call",
        "agent",
        "coze",
        ("智能体调用",),
    )
    assert sku.current_price is not None
    assert sku.current_price.unit_price == Decimal("0.1")
    assert sku.current_price.effective_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert sku.price_versions[0].unit_price == Decimal("0.1")
    assert sku.raw == raw


def test_the_call_table_covers_every_rpc_of_the_three_services() -> None:
    rpcs = {
        method.name
        for module, service in (
            (rating_service_pb2, "RatingService"),
            (account_service_pb2, "AccountService"),
            (catalog_service_pb2, "CatalogService"),
        )
        for method in module.DESCRIPTOR.services_by_name[service].methods
    }
    assert {method for method, _ in CALLS} | set(STREAMS) == rpcs


@pytest.mark.parametrize(("method", "invoke"), CALLS, ids=CALL_IDS)
def test_every_call_carries_a_deadline_commits_the_longer_one(
    fake: Fake, client: RatingClient, method: str, invoke: Callable[[RatingClient], object]
) -> None:
    invoke(client)
    [received] = fake.calls_of(method)
    expected = COMMIT_TIMEOUT if method == "CommitCharges" else TIMEOUT
    assert_deadline(received, expected)


@pytest.mark.parametrize(("method", "invoke"), CALLS, ids=CALL_IDS)
def test_every_call_sends_the_bearer_token_on_a_plaintext_channel(
    fake: Fake, method: str, invoke: Callable[[RatingClient], object]
) -> None:
    with connect(fake, token="t") as client:
        invoke(client)
    [received] = fake.calls_of(method)
    assert received.metadata["authorization"] == "Bearer t"


def test_a_client_without_token_sends_no_authorization(fake: Fake, client: RatingClient) -> None:
    client.quote([ITEM])
    assert "authorization" not in fake.calls[0].metadata


# Batches past the server's message limit: refused before they are sent.

#: The four calls that send a batch, each as a client method taking the items.
BATCH_CALLS: list[tuple[str, Callable[[RatingClient, list[usage_pb2.UsageItem]], object]]] = [
    ("quote", lambda c, batch: c.quote(batch)),
    ("commit", lambda c, batch: c.commit(batch)),
    ("quote_columns", lambda c, batch: c.quote_columns(batch)),
    ("commit_columns", lambda c, batch: c.commit_columns(batch)),
]


def long_attributes(usage_id: str) -> usage_pb2.UsageItem:
    """An item at the per-item limits: 32 attributes, 64-character keys, 512-character
    values (about 18 KB encoded), its own (columns encode a mapping items share once)."""
    item = call(usage_id)
    for n in range(32):
        item.attributes[f"{n:02d}".ljust(64, "k")] = usage_id.ljust(512, "v")
    return item


@pytest.mark.parametrize(("name", "send"), BATCH_CALLS, ids=[name for name, _ in BATCH_CALLS])
def test_a_batch_over_the_message_limit_is_refused_before_it_is_sent_naming_size_and_limit(
    fake: Fake,
    client: RatingClient,
    name: str,
    send: Callable[[RatingClient, list[usage_pb2.UsageItem]], object],
) -> None:
    # Within every per-item limit, yet 2,000 of them pass 32 MiB.
    batch = [long_attributes(f"u-{n}") for n in range(2_000)]
    with pytest.raises(errors.MessageTooLargeError) as caught:
        send(client, batch)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.limit == 32 * 1024 * 1024 < error.size
    assert error.items == 2_000
    assert f"{error.size:,} bytes" in str(error) and "33,554,432 bytes" in str(error)
    assert fake.calls == []


def test_get_limits_reads_every_limit_the_server_tells(fake: Fake, client: RatingClient) -> None:
    raw = rating_service_pb2.GetLimitsResponse(
        max_batch_items=10_000,
        max_line_points="1000000000",
        max_message_bytes=33_554_432,
        list_skus_page=rating_service_pb2.PageLimits(default_page_size=50, max_page_size=1000),
        keepalive=rating_service_pb2.KeepalivePolicy(permit_without_calls=True, max_ping_strikes=2),
    )
    raw.keepalive.min_ping_interval.FromSeconds(10)
    raw.max_reservation_ttl.FromSeconds(86_400)
    fake.script("GetLimits", reply(raw))

    limits = client.get_limits()

    assert fake.requests("GetLimits") == [rating_service_pb2.GetLimitsRequest()]
    assert limits.max_batch_items == 10_000
    assert limits.max_line_points == Decimal("1000000000")
    assert limits.max_message_bytes == 33_554_432
    assert limits.list_skus_page == (50, 1000)
    assert limits.min_ping_interval == timedelta(seconds=10)
    assert (limits.pings_without_calls, limits.max_ping_strikes) == (True, 2)
    assert limits.max_reservation_ttl == timedelta(hours=24)
    assert limits.raw == raw

    fake.script("GetLimits", reply(raw))

    async def run() -> Any:
        async with AsyncRatingClient(options=async_options(fake)) as opened:
            return await opened.get_limits()

    assert asyncio.run(run()) == limits


def test_a_timeout_given_to_a_call_replaces_the_default_deadline(
    fake: Fake, client: RatingClient
) -> None:
    client.quote([ITEM], timeout=40.0)
    client.commit([ITEM], timeout=50.0)
    quote, commit = fake.calls
    assert_deadline(quote, 40.0)
    assert_deadline(commit, 50.0)


def test_a_server_slower_than_the_deadline_raises_a_retryable_deadline_exceeded(
    fake: Fake,
) -> None:
    fake.script("Quote", too_slow)
    with (
        connect(fake, timeout=0.2) as client,
        pytest.raises(errors.DeadlineExceededError) as caught,
    ):
        client.quote([ITEM])
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert caught.value.retryable
    # Not retried. (On a busy machine the deadline may pass before the call arrives.)
    assert len(fake.calls) <= 1


# Retries.


def test_unavailable_is_retried_until_the_server_answers(fake: Fake, client: RatingClient) -> None:
    fake.script("Quote", unavailable(), unavailable())
    quote = client.quote([ITEM])
    assert quote.lines == ()
    assert len(fake.calls_of("Quote")) == 3


def test_a_retried_commit_sends_the_same_request_id_on_every_attempt(
    fake: Fake, client: RatingClient
) -> None:
    fake.script("CommitCharges", unavailable(), unavailable())
    receipt = client.commit([ITEM])
    sent = [r.request_id for r in fake.requests("CommitCharges")]
    assert len(sent) == 3
    assert set(sent) == {receipt.request_id}
    assert receipt.request_id.startswith("req-")


def test_a_retried_grant_sends_the_same_request_id_on_every_attempt(
    fake: Fake, client: RatingClient
) -> None:
    fake.script("GrantResourcePack", unavailable())
    client.grant_pack("acme", 10)
    sent = [r.request_id for r in fake.requests("GrantResourcePack")]
    assert len(sent) == 2
    assert len(set(sent)) == 1


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ],
    ids=lambda code: code.name,
)
def test_other_errors_are_not_retried(
    fake: Fake, client: RatingClient, code: grpc.StatusCode
) -> None:
    fake.script("CommitCharges", fail(code))
    with pytest.raises(errors.RatingError) as caught:
        client.commit([ITEM])
    assert caught.value.code == code
    assert len(fake.calls) == 1


def test_max_attempts_one_turns_retries_off(fake: Fake) -> None:
    fake.script("Quote", unavailable())
    with connect(fake, max_attempts=1) as client, pytest.raises(errors.UnavailableError):
        client.quote([ITEM])
    assert len(fake.calls) == 1


def test_retries_stop_after_max_attempts(fake: Fake) -> None:
    fake.always("Quote", unavailable())
    with connect(fake, max_attempts=3) as client, pytest.raises(errors.UnavailableError) as caught:
        client.quote([ITEM])
    assert caught.value.retryable
    assert len(fake.calls) == 3


# invoke: raw messages.


def test_invoke_returns_the_raw_response(fake: Fake, client: RatingClient) -> None:
    response = rating_service_pb2.QuoteResponse(total_points="1.5", catalog_version=9)
    fake.script("Quote", reply(response))
    request = rating_service_pb2.QuoteRequest(items=[ITEM], account_id="acme")

    raw = client.invoke("Quote", request)

    assert isinstance(raw, rating_service_pb2.QuoteResponse)
    assert raw == response
    assert fake.requests("Quote") == [request]
    assert_deadline(fake.calls[0], TIMEOUT)


def test_invoke_maps_errors_too(fake: Fake, client: RatingClient) -> None:
    fake.script("GetBalance", fail(grpc.StatusCode.NOT_FOUND, "no account"))
    with pytest.raises(errors.NotFoundError, match="no account"):
        client.invoke("GetBalance", account_service_pb2.GetBalanceRequest(account_id="x"))


def test_invoke_refuses_an_unknown_method(fake: Fake, client: RatingClient) -> None:
    with pytest.raises(ValueError, match="Nope"):
        client.invoke("Nope", rating_service_pb2.QuoteRequest())
    assert fake.calls == []


def test_invoke_gives_a_raw_commit_the_commit_deadline(fake: Fake) -> None:
    with connect(fake, timeout=2.0, commit_timeout=20.0) as client:
        client.invoke(
            "CommitCharges",
            rating_service_pb2.CommitChargesRequest(request_id="r", items=items_of(1)),
        )
    assert_deadline(fake.calls_of("CommitCharges")[-1], 20.0)


def test_a_failed_commit_tells_the_request_id_it_was_sent_with(fake: Fake) -> None:
    fake.script("CommitCharges", fail_with(rich_status(grpc.StatusCode.UNAVAILABLE, "down")))
    with connect(fake, max_attempts=1) as client, pytest.raises(errors.UnavailableError) as caught:
        client.commit(items_of(1))
    sent = fake.requests("CommitCharges")[-1].request_id
    assert sent.startswith("req-") and caught.value.request_id == sent


def test_a_balance_day_is_a_date_not_a_datetime(client: RatingClient) -> None:
    with pytest.raises(TypeError):
        client.get_balance("acme", day=datetime(2026, 11, 27, 4, tzinfo=UTC))
