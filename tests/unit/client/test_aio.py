"""The async client (``rating/aio.py``) against the fake server: the same arguments,
results, retries and errors as the sync one."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from rating import AsyncRatingClient, errors
from rating import columns as column_form
from rating.columns import ColumnQuote, ColumnReceipt
from rating.types import (
    CapacityPurchase,
    Receipt,
    Reservation,
)
from rating.v1 import (
    account_service_pb2,
    catalog_service_pb2,
    rating_service_pb2,
    usage_pb2,
)

from .fake import (
    COMMIT_TIMEOUT,
    ITEM,
    NOON,
    TIMEOUT,
    TTL,
    Fake,
    answer_by_default,
    assert_deadline,
    async_options,
    call,
    capacity_purchase,
    fail,
    fail_with,
    items_of,
    reply,
    rich_status,
    sku_message,
    too_slow,
    unavailable,
)


def test_async_client_sets_and_reads_thresholds_and_budgets_as_the_sync_one_does(
    fake: Fake,
) -> None:
    async def run() -> None:
        async with AsyncRatingClient(options=async_options(fake)) as client:
            await client.create_account("acme", monthly_budget_points="10")
            await client.update_account("acme", monthly_budget_points=None)
            await client.set_alert_thresholds("acme", pack_points_below="5.5")
            await client.get_alert_thresholds("acme")

    asyncio.run(run())
    assert fake.requests("CreateAccount")[0].monthly_budget_points == "10"
    assert fake.requests("UpdateAccount")[0].HasField("monthly_budget_points")
    assert fake.requests("SetAlertThresholds")[0].pack_points_below == "5.5"
    assert fake.requests("GetAlertThresholds")[0].account_id == "acme"


def test_the_async_client_refuses_a_batch_over_the_message_limit_too(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("rating._operations.MAX_MESSAGE_BYTES", 100)

    async def run() -> None:
        async with AsyncRatingClient(options=async_options(fake)) as client:
            for send in (client.quote, client.commit, client.quote_columns, client.commit_columns):
                with pytest.raises(errors.MessageTooLargeError, match="limit of 100 bytes"):
                    await send(items_of(10))

    asyncio.run(run())
    assert fake.calls == []


def test_async_client_maps_arguments_and_results(fake: Fake) -> None:
    fake.script(
        "Quote",
        reply(rating_service_pb2.QuoteResponse(total_points="0.25", catalog_version=2)),
    )

    async def run() -> tuple[Any, Receipt, Any]:
        async with AsyncRatingClient(options=async_options(fake, token="t")) as client:
            quote = await client.quote([ITEM], account_id="acme")
            receipt = await client.commit([ITEM])
            await client.update_account("acme", pay_as_you_go=True)
            balance = await client.get_balance("acme", day=date(2026, 11, 7))
            await client.list_skus(category="rtc")
            return quote, receipt, balance

    quote, receipt, balance = asyncio.run(run())

    assert quote.total_points == Decimal("0.25")
    assert fake.requests("Quote") == [
        rating_service_pb2.QuoteRequest(items=[ITEM], account_id="acme")
    ]
    [commit] = fake.requests("CommitCharges")
    assert commit.request_id.startswith("req-")
    assert receipt.request_id == commit.request_id
    assert receipt.commit_time == NOON
    [update] = fake.requests("UpdateAccount")
    assert update.HasField("pay_as_you_go")
    assert not update.HasField("plan")
    assert fake.requests("GetBalance")[0].day == "2026-11-07"
    assert balance.free_points_left == Decimal(0)
    assert fake.requests("ListSkus")[0].category == usage_pb2.CATEGORY_RTC
    for received in fake.calls:
        assert received.metadata["authorization"] == "Bearer t"
        expected = COMMIT_TIMEOUT if received.method == "CommitCharges" else TIMEOUT
        assert_deadline(received, expected)


def test_async_client_grants_capacity_as_the_sync_one_does(fake: Fake) -> None:
    raw = capacity_purchase()
    fake.script("GrantCapacity", reply(account_service_pb2.GrantCapacityResponse(purchase=raw)))

    async def run() -> CapacityPurchase:
        async with AsyncRatingClient(options=async_options(fake)) as client:
            return await client.grant_capacity(
                "acme", 5, term="year", price_points="30500", request_id="cap-async"
            )

    purchase = asyncio.run(run())
    assert fake.requests("GrantCapacity") == [
        account_service_pb2.GrantCapacityRequest(
            account_id="acme",
            gib=5,
            term=account_service_pb2.CAPACITY_TERM_YEAR,
            price_points="30500",
            request_id="cap-async",
        )
    ]
    assert (purchase.purchase_id, purchase.raw) == ("cap-1", raw)


def test_async_client_retries_unavailable_with_the_same_request_id(fake: Fake) -> None:
    fake.script("CommitCharges", unavailable(), unavailable())

    async def run() -> Receipt:
        async with AsyncRatingClient(options=async_options(fake)) as client:
            return await client.commit([ITEM], request_id="async-1")

    receipt = asyncio.run(run())
    assert receipt.request_id == "async-1"
    assert [r.request_id for r in fake.requests("CommitCharges")] == ["async-1"] * 3


def test_async_client_does_not_retry_with_max_attempts_one(fake: Fake) -> None:
    fake.script("Quote", unavailable())

    async def run() -> None:
        async with AsyncRatingClient(options=async_options(fake, max_attempts=1)) as client:
            await client.quote([ITEM])

    with pytest.raises(errors.UnavailableError):
        asyncio.run(run())
    assert len(fake.calls) == 1


def test_async_client_maps_errors_with_their_rich_details(fake: Fake) -> None:
    status = rich_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad item",
        error_details_pb2.ErrorInfo(reason="INVALID_USAGE", domain="rating"),
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field="items[1].sku", reason="SKU_UNKNOWN", description="no such SKU"
                )
            ]
        ),
    )
    fake.script("Quote", fail_with(status))
    fake.script("GetSku", fail(grpc.StatusCode.NOT_FOUND, "no sku"))

    async def run() -> tuple[errors.RatingError, errors.RatingError]:
        async with AsyncRatingClient(options=async_options(fake)) as client:
            with pytest.raises(errors.InvalidArgumentError) as bad:
                await client.quote([ITEM, ITEM])
            with pytest.raises(errors.NotFoundError) as missing:
                await client.get_sku("x")
            return bad.value, missing.value

    bad, missing = asyncio.run(run())
    assert (bad.reason, bad.domain, bad.message) == ("INVALID_USAGE", "rating", "bad item")
    assert [(v.field, v.reason, v.description, v.item_index) for v in bad.violations] == [
        ("items[1].sku", "SKU_UNKNOWN", "no such SKU", 1)
    ]
    assert (missing.message, missing.reason) == ("no sku", "")
    assert len(fake.calls) == 2


def test_async_client_quotes_and_commits_columns_as_the_sync_one_does(fake: Fake) -> None:
    bad = rich_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad item",
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field="columns.items[1].sku", reason="SKU_UNKNOWN"
                )
            ]
        ),
    )
    fake.script("Quote", unavailable())
    fake.script("CommitCharges", unavailable(), answer_by_default("CommitCharges"), fail_with(bad))
    items = [call("u-1"), call("u-2")]

    async def run() -> tuple[ColumnQuote, ColumnReceipt, errors.RatingError]:
        async with AsyncRatingClient(options=async_options(fake, token="t")) as client:
            quote = await client.quote_columns(items, account_id="acme")
            receipt = await client.commit_columns(items, request_id="async-cols")
            with pytest.raises(errors.InvalidArgumentError) as refused:
                await client.commit_columns(items)
            return quote, receipt, refused.value

    quote, receipt, refused = asyncio.run(run())

    assert isinstance(quote, ColumnQuote)
    assert [line.usage_id for line in quote] == ["u-1", "u-2"]
    assert quote.total_points == Decimal(2)
    assert fake.requests("Quote")[-1] == rating_service_pb2.QuoteRequest(
        columns=column_form.columns_of(items), account_id="acme"
    )
    assert len(fake.requests("Quote")) == 2  # retried on UNAVAILABLE
    assert isinstance(receipt, ColumnReceipt)
    assert (receipt.request_id, receipt.charge_id) == ("async-cols", "ch-async-cols")
    commits = fake.requests("CommitCharges")
    assert [r.request_id for r in commits[:2]] == ["async-cols"] * 2
    assert [v.item_index for v in refused.violations] == [1]
    assert refused.request_id == commits[2].request_id
    for received in fake.calls:
        assert received.metadata["authorization"] == "Bearer t"
        expected = COMMIT_TIMEOUT if received.method == "CommitCharges" else TIMEOUT
        assert_deadline(received, expected)


def test_async_client_raises_a_retryable_deadline_exceeded_on_a_slow_server(fake: Fake) -> None:
    fake.script("Quote", too_slow)

    async def run() -> None:
        async with AsyncRatingClient(options=async_options(fake, timeout=0.2)) as client:
            await client.quote([ITEM])

    with pytest.raises(errors.DeadlineExceededError) as caught:
        asyncio.run(run())
    assert caught.value.retryable


def test_async_invoke_returns_the_raw_response_and_refuses_unknown_methods(fake: Fake) -> None:
    response = catalog_service_pb2.GetSkuResponse(sku=sku_message(), catalog_version=4)
    fake.script("GetSku", reply(response))

    async def run() -> Message:
        async with AsyncRatingClient(options=async_options(fake)) as client:
            with pytest.raises(ValueError):
                await client.invoke("Nope", rating_service_pb2.QuoteRequest())
            return await client.invoke("GetSku", catalog_service_pb2.GetSkuRequest(sku="a"))

    assert asyncio.run(run()) == response
    assert len(fake.calls) == 1


def test_async_iter_charges_follows_the_page_tokens(fake: Fake) -> None:
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

    async def run() -> list[str]:
        async with AsyncRatingClient(options=async_options(fake)) as client:
            return [entry.charge_id async for entry in client.iter_charges("acme")]

    assert asyncio.run(run()) == ["ch-1", "ch-2"]
    assert [r.page_token for r in fake.requests("ListCharges")] == ["", "p2"]


def test_async_client_reserves_extends_and_releases(fake: Fake) -> None:
    async def run() -> tuple[Reservation, Reservation, Reservation]:
        async with AsyncRatingClient(options=async_options(fake)) as client:
            held = await client.reserve("acme", "rtc.audio", 1000, timedelta(minutes=5))
            extended = await client.extend(held.reservation_id, ttl=300, request_id="e-1")
            ended = await client.release(held.reservation_id)
            return held, extended, ended

    held, extended, ended = asyncio.run(run())
    [reserve] = fake.requests("Reserve")
    assert reserve.request_id.startswith("req-")
    assert (reserve.sku, reserve.quantity, reserve.ttl) == ("rtc.audio", 1000, TTL)
    assert (held.reservation_id, held.state, held.held_points) == (
        f"rsv-{reserve.request_id}",
        "held",
        Decimal(1000),
    )
    assert fake.requests("Extend") == [
        rating_service_pb2.ExtendRequest(
            request_id="e-1", reservation_id=held.reservation_id, ttl=TTL
        )
    ]
    assert (extended.reservation_id, extended.state) == (held.reservation_id, "held")
    assert (ended.state, ended.already_ended) == ("released", False)


def test_async_client_retries_reserve_with_the_same_request_id(fake: Fake) -> None:
    fake.script("Reserve", unavailable(), unavailable())

    async def run() -> Reservation:
        async with AsyncRatingClient(options=async_options(fake)) as client:
            return await client.reserve("acme", "rtc.audio", 1000, 60)

    held = asyncio.run(run())
    sent = [r.request_id for r in fake.requests("Reserve")]
    assert len(sent) == 3
    assert len(set(sent)) == 1
    assert held.reservation_id == f"rsv-{sent[0]}"
