"""The client package (``rating``) against the real server in this process: every
RPC, the errors, and exactly-once through retries.

The sync ``RatingClient`` is used against the in-process server (the ``server``
fixture); the ``AsyncRatingClient`` inside ``asyncio.run``. Retries are proven by a
small gRPC proxy in front of the server that answers UNAVAILABLE (before or after
passing the call on)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import grpc
import pytest
from client_calls import DAY, calls, commit_until_up, usage_ids_of
from support import NOON

from rating import AsyncRatingClient, ClientOptions, RatingClient, usage
from rating.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    RatingError,
    UnavailableError,
)
from rating.types import ReservationSettled
from rating.v1 import rating_service_pb2
from rating_server.config import Settings
from rating_server.server import RatingServer, create_server


def lite_input(usage_id: str = "conv-7:turn-3", account_id: str = "acme") -> list:
    """1234 doubao-lite-32k input tokens: 0.3702 points."""
    return usage.model_tokens(
        "doubao-lite-32k",
        input_tokens=1234,
        usage_id=usage_id,
        account_id=account_id,
        occurred_at=NOON,
    )


def funding(parts: tuple) -> list[tuple[str, Decimal, str]]:
    """(source, points, day, month or pack) of each funding part."""
    return [(part.source, part.points, part.day or part.month or part.pack_id) for part in parts]


@pytest.fixture
def client(server: RatingServer) -> Iterator[RatingClient]:
    with RatingClient(server.address) as opened:
        yield opened


@pytest.fixture
def acme(client: RatingClient) -> str:
    """A main account on the pro plan, in Asia/Shanghai, pay-as-you-go off."""
    client.create_account("acme", plan="pro")
    return "acme"


# RatingService


def test_quote_prices_1234_doubao_lite_input_tokens_at_0_3702_points(client: RatingClient) -> None:
    quote = client.quote(lite_input())
    assert quote.total_points == Decimal("0.3702")
    assert quote.total_yuan == Decimal("0.0003702")
    assert quote.catalog_version == 1
    assert quote.funding is None
    [line] = quote.lines
    assert (line.usage_id, line.requested_sku, line.sku) == (
        "conv-7:turn-3:input",
        "doubao-lite-32k.input",
        "model.doubao-lite-32k.input",
    )
    assert (line.quantity, line.unit, line.price_unit, line.unit_price) == (
        1234,
        "token",
        1000,
        Decimal("0.3"),
    )
    assert (line.points, line.category, line.billed_by) == (Decimal("0.3702"), "model", "coze")
    assert line.price_effective_from == datetime(1970, 1, 1, tzinfo=UTC)
    assert line.funding == ()
    # The raw message is there for whoever wants it.
    assert quote.raw.total_points == "0.3702"


def test_every_usage_builder_is_priced_by_the_server_as_its_unit_says(
    client: RatingClient, acme: str
) -> None:
    who = {"account_id": acme, "occurred_at": NOON}
    items = [
        *usage.model_tokens(
            "豆包·工具调用", input_tokens=1234, output_tokens=567, usage_id="m", **who
        ),
        *usage.ark_tokens("ep-2024", input_tokens=1000, output_tokens=10, usage_id="ark", **who),
        usage.agent_calls(3, usage_id="agent", **who),
        usage.tts_characters(1500, usage_id="tts", **who),
        usage.asr(timedelta(minutes=2), usage_id="asr", **who),
        usage.asr(timedelta(seconds=90), mode="file", usage_id="asr-file", **who),
        usage.rtc_audio(timedelta(seconds=61), usage_id="voice", **who),
        usage.rtc_video(timedelta(minutes=1), resolution="720P", usage_id="video", **who),
        usage.storage(11 * 2**30, timedelta(hours=1), usage_id="kb", **who),
    ]
    quote = client.quote(items)
    assert [(line.usage_id, line.sku, line.quantity, line.points) for line in quote.lines] == [
        ("m:input", "model.doubao-pro-32k.input", 1234, Decimal("0.9872")),
        ("m:output", "model.doubao-pro-32k.output", 567, Decimal("1.134")),
        ("ark:input", "model.ark.input", 1000, Decimal("0")),
        ("ark:output", "model.ark.output", 10, Decimal("0")),
        ("agent", "agent.call", 3, Decimal("6")),
        ("tts", "speech.tts.system_voice", 1500, Decimal("750")),
        ("asr", "speech.asr.streaming", 120_000, Decimal("150")),
        ("asr-file", "speech.asr.file", 90_000, Decimal("58.5")),
        ("voice", "rtc.audio.voice", 61_000, Decimal("7.116667")),
        ("video", "rtc.video.720p", 60_000, Decimal("28")),
        # 11 GiB stored for an hour, 10 GiB of them free: one GiB-hour.
        ("kb", "knowledge.storage", 11 * 2**30, Decimal("1.5")),
    ]
    assert [line.requested_sku for line in quote.lines[:4]] == [
        "豆包·工具调用.input",
        "豆包·工具调用.output",
        "model.ark.ep-2024.input",
        "model.ark.ep-2024.output",
    ]
    assert {line.billed_by for line in quote.lines[2:4]} == {"ark"}
    assert quote.lines[-1].rated_quantity == 2**30 * 3_600_000
    assert quote.total_points == Decimal("1003.237867")


def test_quote_with_an_account_says_how_it_would_be_funded_and_charges_nothing(
    client: RatingClient, acme: str
) -> None:
    quote = client.quote([calls(300, "u-1")], account_id=acme)
    assert quote.total_points == Decimal("600")
    assert quote.funding is not None
    assert (quote.funding.account_id, quote.funding.covered) == (acme, False)
    assert (
        quote.funding.free_points,
        quote.funding.pack_points,
        quote.funding.pay_as_you_go_points,
        quote.funding.shortfall_points,
    ) == (Decimal("500"), Decimal("0"), Decimal("100"), Decimal("100"))
    assert quote.funding.pay_as_you_go_enabled is False
    assert funding(quote.lines[0].funding) == [
        ("free_points", Decimal("500"), DAY),
        ("pay_as_you_go", Decimal("100"), "2026-11"),
    ]
    assert client.get_balance(acme, day=DAY).free_points_used == Decimal("0")
    assert list(client.iter_charges(acme)) == []


def test_the_spec_example_300_then_350_points_is_funded_500_free_then_150_pay_as_you_go(
    client: RatingClient, acme: str
) -> None:
    first = client.commit([calls(150, "u-1")])
    second = client.commit([calls(175, "u-2", when=NOON + timedelta(hours=5))])
    assert (first.total_points, second.total_points) == (Decimal("300"), Decimal("350"))
    assert funding(first.lines[0].funding) == [("free_points", Decimal("300"), DAY)]
    assert funding(second.lines[0].funding) == [
        ("free_points", Decimal("200"), DAY),
        ("pay_as_you_go", Decimal("150"), "2026-11"),
    ]
    # A request_id was generated for each commit, and each is its own charge.
    assert first.request_id.startswith("req-") and second.request_id.startswith("req-")
    assert first.request_id != second.request_id
    assert first.charge_id != second.charge_id
    assert first.lines[0].billing_account_id == acme
    assert first.commit_time.tzinfo is not None
    balance = client.get_balance(acme, day=date(2026, 11, 27))
    assert (balance.billing_account_id, balance.day, balance.month) == (acme, DAY, "2026-11")
    assert (
        balance.free_points_granted,
        balance.free_points_used,
        balance.free_points_left,
    ) == (Decimal("500"), Decimal("500"), Decimal("0"))
    assert (balance.pay_as_you_go_points, balance.pay_as_you_go_yuan) == (
        Decimal("150"),
        Decimal("0.15"),
    )


def test_a_voided_charge_gives_its_funding_back_and_a_second_void_changes_nothing(
    client: RatingClient, acme: str
) -> None:
    receipt = client.commit([calls(300, "u-1")])  # 500 free + 100 to the bill
    first = client.void_charge(receipt.charge_id, reason="refund")
    second = client.void_charge(receipt.charge_id)
    assert first.charge_id == receipt.charge_id
    assert funding(first.reversals) == [
        ("free_points", Decimal("-500"), DAY),
        ("pay_as_you_go", Decimal("-100"), "2026-11"),
    ]
    assert (first.already_voided, second.already_voided) == (False, True)
    assert second.reversals == first.reversals
    balance = client.get_balance(acme, day=DAY)
    assert (balance.free_points_used, balance.pay_as_you_go_points) == (Decimal("0"), Decimal("0"))
    assert [charge.voided for charge in client.iter_charges(acme)] == [True]


# AccountService


def test_accounts_and_sub_accounts_are_created_read_and_updated(client: RatingClient) -> None:
    main = client.create_account("acme", plan="pro")
    assert (main.account_id, main.plan, main.time_zone, main.parent_account_id) == (
        "acme",
        "pro",
        "Asia/Shanghai",
        "",
    )
    assert main.pay_as_you_go is False
    assert main.create_time.tzinfo is not None
    sub = client.create_account("acme-dev", parent_account_id="acme")
    # A sub-account has its main account's plan and zone.
    assert (sub.plan, sub.time_zone, sub.parent_account_id) == ("pro", "Asia/Shanghai", "acme")
    berlin = client.create_account("berlin", plan="basic", time_zone="Europe/Berlin")
    assert (berlin.plan, berlin.time_zone) == ("basic", "Europe/Berlin")

    read = client.get_account("acme")
    assert read.sub_account_ids == ("acme-dev",)
    assert read.create_time == main.create_time
    changed = client.update_account("acme", pay_as_you_go=True)
    assert (changed.plan, changed.pay_as_you_go) == ("pro", True)
    changed = client.update_account("acme", plan="basic")
    assert (changed.plan, changed.pay_as_you_go) == ("basic", True)
    assert client.get_account("acme-dev").plan == "basic"
    # The sub-account's usage is billed to the main account.
    assert client.get_balance("acme-dev").billing_account_id == "acme"


def test_a_pack_is_granted_once_per_request_id_and_funds_usage_after_the_free_points(
    client: RatingClient, acme: str
) -> None:
    valid_from = datetime(2026, 11, 1, tzinfo=UTC)
    pack = client.grant_pack(
        acme, "2500.5", valid_from=valid_from, priority=1, request_id="grant-1"
    )
    again = client.grant_pack(
        acme, "2500.5", valid_from=valid_from, priority=1, request_id="grant-1"
    )
    assert again == pack
    assert (pack.account_id, pack.points, pack.remaining_points, pack.price_yuan) == (
        acme,
        Decimal("2500.5"),
        Decimal("2500.5"),
        Decimal("2.5005"),
    )
    assert (pack.valid_from, pack.expire_time, pack.priority) == (valid_from, None, 1)
    expiring = client.grant_pack(
        acme,
        Decimal("10"),
        valid_from=valid_from,
        expire_time=datetime(2026, 12, 1, tzinfo=UTC),
        priority=2,
    )
    assert expiring.expire_time == datetime(2026, 12, 1, tzinfo=UTC)

    receipt = client.commit([calls(260, "u-1")])  # 520 points
    assert funding(receipt.lines[0].funding) == [
        ("free_points", Decimal("500"), DAY),
        ("resource_pack", Decimal("20"), pack.pack_id),
    ]
    balance = client.get_balance(acme, day=DAY)
    assert [(p.pack_id, p.remaining_points) for p in balance.packs] == [
        (pack.pack_id, Decimal("2480.5")),
        (expiring.pack_id, Decimal("10")),
    ]


def test_capacity_is_granted_once_per_request_id_and_raises_the_quota_a_sample_is_rated_at(
    client: RatingClient, acme: str
) -> None:
    november = datetime(2026, 11, 1, tzinfo=UTC)
    purchase = client.grant_capacity(
        acme, 5, term="month", valid_from=november, price_yuan="30", request_id="cap-1"
    )
    again = client.grant_capacity(
        acme, 5, term="month", valid_from=november, price_points=30_000, request_id="cap-1"
    )
    assert again == purchase
    assert (purchase.gib, purchase.term, purchase.price_points, purchase.price_yuan) == (
        5,
        "month",
        Decimal(30000),
        Decimal(30),
    )
    assert (purchase.valid_from, purchase.expire_time) == (
        november,
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    with pytest.raises(FailedPreconditionError) as reused:
        client.grant_capacity(acme, 6, term="month", price_yuan="30", request_id="cap-1")
    assert reused.value.reason == "REQUEST_ID_REUSED"
    with pytest.raises(InvalidArgumentError) as bad:
        client.grant_capacity(acme, 0, term="month", price_yuan="30")
    assert [(v.field, v.reason) for v in bad.value.violations] == [("gib", "GIB_INVALID")]

    assert client.get_account(acme).capacity_purchases == (purchase,)
    balance = client.get_balance(acme, day=DAY)
    assert (balance.capacity_purchases, balance.storage_quota_bytes) == ((purchase,), 15 * 2**30)
    statement = client.get_statement(acme, "2026-11")
    assert statement.capacity_purchases == (purchase,)
    # 16 GiB for an hour: 1 GiB beyond the 15 GiB quota, 1.5 points.
    sample = usage.storage(
        16 * 2**30, timedelta(hours=1), usage_id="s-1", account_id=acme, occurred_at=NOON
    )
    assert client.commit([sample]).lines[0].points == Decimal("1.5")


def test_list_charges_pages_and_filters_and_iter_charges_reads_every_page(
    client: RatingClient, acme: str
) -> None:
    client.create_account("acme-dev", parent_account_id=acme)
    morning = client.commit([calls(1, "u-1"), calls(2, "u-2", account_id="acme-dev")])
    evening = client.commit([calls(3, "u-3", when=NOON + timedelta(hours=5))])

    page = client.list_charges(acme, page_size=2)
    assert [c.usage_id for c in page.items] == ["u-1", "u-2"]
    assert page.next_page_token
    rest = client.list_charges(acme, page_size=2, page_token=page.next_page_token)
    assert ([c.usage_id for c in rest.items], rest.next_page_token) == (["u-3"], "")

    everything = list(client.iter_charges(acme, page_size=1))
    assert [
        (c.charge_id, c.line_number, c.usage_id, c.account_id, c.billing_account_id, c.points)
        for c in everything
    ] == [
        (morning.charge_id, 0, "u-1", "acme", "acme", Decimal("2")),
        (morning.charge_id, 1, "u-2", "acme-dev", "acme", Decimal("4")),
        (evening.charge_id, 0, "u-3", "acme", "acme", Decimal("6")),
    ]
    first = everything[0]
    assert (first.sku, first.category, first.quantity, first.billed_by) == (
        "agent.call",
        "agent",
        1,
        "coze",
    )
    assert (first.occurred_at, first.voided) == (NOON, False)
    assert funding(first.funding) == [("free_points", Decimal("2"), DAY)]

    # Filters are on when the usage happened: [start_time, end_time).
    later = NOON + timedelta(hours=1)
    assert [c.usage_id for c in client.iter_charges(acme, start_time=later)] == ["u-3"]
    assert [c.usage_id for c in client.iter_charges(acme, end_time=later)] == ["u-1", "u-2"]


def test_the_statement_totals_the_month_with_the_bill_in_yuan_to_the_fen(
    client: RatingClient, acme: str
) -> None:
    client.commit([calls(250, "u-1")])  # the day's 500 free points
    who = {"account_id": acme, "occurred_at": NOON}
    client.commit(
        [
            usage.rtc_audio(timedelta(seconds=61), usage_id="u-2", **who),  # 7.116667
            usage.rtc_video(timedelta(seconds=1), resolution="4k", usage_id="u-3", **who),  # 4.2
        ]
    )
    statement = client.get_statement(acme, date(2026, 11, 1))
    assert (statement.account_id, statement.month, statement.time_zone) == (
        acme,
        "2026-11",
        "Asia/Shanghai",
    )
    assert (
        statement.total.points,
        statement.total.free_points,
        statement.total.pay_as_you_go_points,
        statement.total.lines,
    ) == (Decimal("511.316667"), Decimal("500"), Decimal("11.316667"), 3)
    assert statement.amount_due_yuan_exact == Decimal("0.011316667")
    assert statement.amount_due_yuan == Decimal("0.01")
    assert [(row.key, row.points) for row in statement.by_category] == [
        ("agent", Decimal("500")),
        ("rtc", Decimal("11.316667")),
    ]
    assert [(row.key, row.quantity) for row in statement.by_sku] == [
        ("agent.call", 250),
        ("rtc.audio.voice", 61_000),
        ("rtc.video.4k", 1_000),
    ]
    assert [row.key for row in statement.by_account] == [acme]
    assert client.get_statement(acme, "2026-11") == statement


# CatalogService


def test_list_skus_pages_through_a_category_and_iter_skus_reads_every_page(
    client: RatingClient,
) -> None:
    rtc = [
        "rtc.audio.conversational_ai",
        "rtc.audio.miniprogram_voice",
        "rtc.audio.voice",
        "rtc.video.1080p",
        "rtc.video.2k",
        "rtc.video.360p",
        "rtc.video.4k",
        "rtc.video.720p",
    ]
    page = client.list_skus(category="rtc", page_size=3)
    assert [sku.id for sku in page.items] == rtc[:3]
    assert page.next_page_token
    assert [sku.id for sku in client.iter_skus(category="rtc", page_size=3)] == rtc
    assert {sku.category for sku in client.iter_skus(category="rtc")} == {"rtc"}
    assert len(list(client.iter_skus(category="model", page_size=7))) == 26
    everything = client.list_skus()
    assert (len(everything.items), everything.next_page_token) == (40, "")
    with pytest.raises(ValueError, match="category must be one of"):
        client.list_skus(category="video")


def test_get_sku_by_alias_returns_the_canonical_sku_with_its_prices(client: RatingClient) -> None:
    sku = client.get_sku("豆包·工具调用.output")
    assert (sku.id, sku.category, sku.billed_by) == ("model.doubao-pro-32k.output", "model", "coze")
    assert "豆包·角色扮演·Pro.output" in sku.aliases
    assert (sku.unit, sku.price_unit, sku.price_unit_label) == ("token", 1000, "1000 tokens")
    assert [(p.effective_from, p.unit_price) for p in sku.price_versions] == [
        (datetime(1970, 1, 1, tzinfo=UTC), Decimal("2"))
    ]
    assert sku.current_price is not None and sku.current_price.unit_price == Decimal("2")
    assert client.get_sku("Doubao-lite-32k.input").id == "model.doubao-lite-32k.input"
    unpriced = client.get_sku("plugin.weather")
    assert (unpriced.id, unpriced.price_versions, unpriced.current_price) == ("plugin", (), None)


def test_raw_requests_go_through_invoke_with_the_clients_deadline_and_errors(
    client: RatingClient,
) -> None:
    request = rating_service_pb2.QuoteRequest(items=lite_input())
    response = client.invoke("Quote", request)
    assert isinstance(response, rating_service_pb2.QuoteResponse)
    assert response.total_points == "0.3702"
    with pytest.raises(InvalidArgumentError):
        client.invoke("Quote", rating_service_pb2.QuoteRequest())
    with pytest.raises(ValueError, match=r"no rating\.v1 method"):
        client.invoke("Explode", request)


def test_from_env_connects_to_rating_target(
    server: RatingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RATING_TARGET", server.address)
    monkeypatch.setenv("RATING_TIMEOUT", "7.5")
    with RatingClient.from_env() as client:
        assert client.options.timeout == 7.5
        assert client.quote(lite_input()).total_points == Decimal("0.3702")


# Errors, through the client


def test_an_invalid_commit_raises_invalid_argument_naming_each_bad_item_and_writes_nothing(
    client: RatingClient, acme: str
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        client.commit(
            [
                calls(10, "u-1"),
                calls(1, "u-2", account_id="stranger"),
                calls(1, "u-1"),
                usage.item("no.sku", 1, usage_id="u-3", account_id=acme, occurred_at=NOON),
            ]
        )
    error = caught.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.reason, error.domain, error.retryable) == ("INVALID_USAGE", "rating", False)
    assert [(v.field, v.reason, v.item_index) for v in error.violations] == [
        ("items[1].account_id", "ACCOUNT_NOT_FOUND", 1),
        ("items[2].usage_id", "USAGE_ID_REPEATED", 2),
        ("items[3].sku", "SKU_UNKNOWN", 3),
    ]
    assert all(v.description for v in error.violations)
    assert error.metadata["violations"] == "3"
    assert str(error).startswith("INVALID_ARGUMENT [INVALID_USAGE]: items[1].account_id")
    assert client.get_balance(acme, day=DAY).free_points_used == Decimal("0")

    with pytest.raises(InvalidArgumentError) as plan:
        client.update_account(acme, plan="gold")
    assert plan.value.violations == (
        FieldViolation("plan", "PLAN_UNKNOWN", "no plan 'gold'; the catalog has basic, pro"),
    )
    assert plan.value.violations[0].item_index is None


def test_a_missing_account_charge_or_sku_raises_not_found_naming_it(
    client: RatingClient,
) -> None:
    with pytest.raises(NotFoundError) as account:
        client.get_account("nobody")
    assert (account.value.reason, account.value.resource_type, account.value.resource_name) == (
        "ACCOUNT_NOT_FOUND",
        "account",
        "nobody",
    )
    with pytest.raises(NotFoundError) as sku:
        client.get_sku("model.gpt-9.input")
    assert (sku.value.reason, sku.value.resource_name) == ("SKU_NOT_FOUND", "model.gpt-9.input")
    with pytest.raises(NotFoundError) as charge:
        client.void_charge("ch_none")
    assert charge.value.reason == "CHARGE_NOT_FOUND"
    with pytest.raises(NotFoundError) as parent:
        client.create_account("orphan", parent_account_id="nobody")
    assert parent.value.resource_name == "nobody"


def test_creating_an_account_twice_raises_already_exists(client: RatingClient, acme: str) -> None:
    with pytest.raises(AlreadyExistsError) as caught:
        client.create_account(acme)
    assert (caught.value.code, caught.value.reason) == (
        grpc.StatusCode.ALREADY_EXISTS,
        "ACCOUNT_EXISTS",
    )
    assert not caught.value.retryable


def test_a_request_id_reused_with_other_items_raises_failed_precondition_and_writes_nothing(
    client: RatingClient, acme: str
) -> None:
    receipt = client.commit([calls(10, "u-1")], request_id="req-1")
    with pytest.raises(FailedPreconditionError) as caught:
        client.commit([calls(10, "u-1"), calls(1, "u-2")], request_id=receipt.request_id)
    assert (caught.value.code, caught.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "REQUEST_ID_REUSED",
    )
    assert "req-1" in caught.value.message
    client.grant_pack(acme, "1", request_id="grant-1")
    with pytest.raises(FailedPreconditionError) as pack:
        client.grant_pack(acme, "2", request_id="grant-1")
    assert pack.value.reason == "REQUEST_ID_REUSED"
    assert client.get_balance(acme, day=DAY).free_points_used == Decimal("20")


# The async client


def test_the_async_client_covers_the_same_calls_with_the_same_results(
    server: RatingServer,
) -> None:
    @dataclass
    class Seen:
        quote: Decimal = Decimal(0)
        sub_ids: tuple[str, ...] = ()
        spec: list[list[tuple[str, Decimal, str]]] = field(default_factory=list)
        balance: tuple[Decimal, Decimal] = (Decimal(0), Decimal(0))
        charges: list[str] = field(default_factory=list)
        page: list[str] = field(default_factory=list)
        skus: list[str] = field(default_factory=list)
        sku: str = ""
        statement: Decimal = Decimal(0)
        pack: Decimal = Decimal(0)
        updated: bool = False
        voided: bool = False
        retried_charge: bool = False

    async def scenario() -> Seen:
        seen = Seen()
        async with AsyncRatingClient(server.address) as client:
            seen.quote = (await client.quote(lite_input())).total_points
            await client.create_account("acme", plan="pro")
            await client.create_account("acme-dev", parent_account_id="acme")
            seen.sub_ids = (await client.get_account("acme")).sub_account_ids
            first = await client.commit([calls(150, "u-1")])
            second = await client.commit(
                [calls(175, "u-2", account_id="acme-dev")], request_id="req-async"
            )
            again = await client.commit(
                [calls(175, "u-2", account_id="acme-dev")], request_id="req-async"
            )
            seen.retried_charge = again.charge_id == second.charge_id
            seen.spec = [funding(first.lines[0].funding), funding(second.lines[0].funding)]
            balance = await client.get_balance("acme", day=DAY)
            seen.balance = (balance.free_points_used, balance.pay_as_you_go_points)
            seen.charges = [c.usage_id async for c in client.iter_charges("acme", page_size=1)]
            page = await client.list_charges("acme", page_size=1)
            seen.page = [c.usage_id for c in page.items]
            seen.skus = [s.id async for s in client.iter_skus(category="speech", page_size=1)]
            seen.sku = (await client.get_sku("Doubao-lite-32k.input")).id
            seen.statement = (await client.get_statement("acme", "2026-11")).total.points
            seen.pack = (await client.grant_pack("acme", 5)).points
            seen.updated = (await client.update_account("acme", pay_as_you_go=True)).pay_as_you_go
            seen.voided = not (await client.void_charge(first.charge_id)).already_voided
        return seen

    seen = asyncio.run(scenario())
    assert seen.quote == Decimal("0.3702")
    assert seen.sub_ids == ("acme-dev",)
    assert seen.spec == [
        [("free_points", Decimal("300"), DAY)],
        [("free_points", Decimal("200"), DAY), ("pay_as_you_go", Decimal("150"), "2026-11")],
    ]
    assert seen.retried_charge
    assert seen.balance == (Decimal("500"), Decimal("150"))
    assert seen.charges == ["u-1", "u-2"]
    assert seen.page == ["u-1"]
    assert seen.skus == ["speech.asr.file", "speech.asr.streaming", "speech.tts.system_voice"]
    assert seen.sku == "model.doubao-lite-32k.input"
    assert seen.statement == Decimal("650")
    assert seen.pack == Decimal("5")
    assert seen.updated and seen.voided


def test_the_async_client_raises_the_same_errors_with_their_details(
    server: RatingServer,
) -> None:
    async def error_of(call: Awaitable[object]) -> RatingError:
        try:
            await call
        except RatingError as error:
            return error
        raise AssertionError("the call succeeded")

    async def scenario() -> list[RatingError]:
        async with AsyncRatingClient(server.address) as client:
            await client.create_account("acme")
            await client.commit([calls(1, "u-1")], request_id="req-1")
            return [
                await error_of(
                    client.commit([calls(1, "u-2"), calls(1, "u-3", account_id="stranger")])
                ),
                await error_of(client.get_account("nobody")),
                await error_of(client.create_account("acme")),
                await error_of(client.commit([calls(2, "u-1")], request_id="req-1")),
            ]

    unknown, missing, exists, reused = asyncio.run(scenario())
    assert isinstance(unknown, NotFoundError) and unknown.resource_name == "stranger"
    assert [(v.field, v.reason) for v in unknown.violations] == [
        ("items[1].account_id", "ACCOUNT_NOT_FOUND")
    ]
    assert isinstance(missing, NotFoundError) and missing.resource_name == "nobody"
    assert isinstance(exists, AlreadyExistsError) and exists.reason == "ACCOUNT_EXISTS"
    assert isinstance(reused, FailedPreconditionError) and reused.reason == "REQUEST_ID_REUSED"


# Retries: a proxy that answers UNAVAILABLE


class FlakyProxy(grpc.GenericRpcHandler):
    """Passes every call on to the server, except that the first ``failures``
    CommitCharges attempts are answered UNAVAILABLE: after the server has committed
    them (``lose_answer``: the answer is lost on the way back) or without passing them
    on at all (the server was unreachable)."""

    def __init__(self, upstream: grpc.Channel, failures: int, lose_answer: bool) -> None:
        self._upstream = upstream
        self._failures = failures
        self._lose_answer = lose_answer
        self._lock = threading.Lock()
        self.commits: list[rating_service_pb2.CommitChargesRequest] = []

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method: str = details.method  # type: ignore[attr-defined]
        forward = self._upstream.unary_unary(method)  # bytes in, bytes out

        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            failing = False
            if method.endswith("/CommitCharges"):
                with self._lock:
                    self.commits.append(rating_service_pb2.CommitChargesRequest.FromString(request))
                    failing = self._failures > 0
                    self._failures -= failing
            if failing and not self._lose_answer:
                context.abort(grpc.StatusCode.UNAVAILABLE, "the server is unreachable")
            response: bytes = forward(request, timeout=context.time_remaining())
            if failing:
                context.abort(grpc.StatusCode.UNAVAILABLE, "the answer was lost")
            return response

        return grpc.unary_unary_rpc_method_handler(handle)


@pytest.fixture
def proxied(server: RatingServer) -> Iterator[Callable[[int, bool], tuple[str, FlakyProxy]]]:
    """Start a FlakyProxy in front of the server; its address and itself."""
    upstream = grpc.insecure_channel(server.address)
    started: list[grpc.Server] = []

    def start(failures: int, lose_answer: bool) -> tuple[str, FlakyProxy]:
        proxy = FlakyProxy(upstream, failures, lose_answer)
        running = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[proxy])
        port = running.add_insecure_port("127.0.0.1:0")
        running.start()
        started.append(running)
        return f"127.0.0.1:{port}", proxy

    yield start
    for running in started:
        running.stop(grace=0).wait()
    upstream.close()


@pytest.mark.parametrize("lose_answer", [True, False], ids=["answer-lost", "server-unreachable"])
def test_a_commit_answered_unavailable_is_resent_by_the_client_with_its_id_and_charged_once(
    proxied: Callable[[int, bool], tuple[str, FlakyProxy]],
    client: RatingClient,
    acme: str,
    lose_answer: bool,
) -> None:
    address, proxy = proxied(2, lose_answer)
    with RatingClient(address) as flaky:
        receipt = flaky.commit([calls(100, "u-1")])  # no request_id given: one is generated
    # The caller saw one success; the client sent the request three times, unchanged.
    assert [request.request_id for request in proxy.commits] == [receipt.request_id] * 3
    assert all(request == proxy.commits[0] for request in proxy.commits)
    assert not receipt.duplicates
    assert receipt.total_points == Decimal("200")
    [line] = client.iter_charges(acme)
    assert (line.charge_id, line.usage_id, line.points) == (receipt.charge_id, "u-1", Decimal(200))
    assert client.get_balance(acme, day=DAY).free_points_used == Decimal("200")


def test_a_commit_that_stays_unavailable_raises_a_retryable_error_after_the_clients_attempts(
    proxied: Callable[[int, bool], tuple[str, FlakyProxy]],
    client: RatingClient,
    acme: str,
) -> None:
    address, proxy = proxied(100, True)  # every answer lost, every commit made
    options = ClientOptions(max_attempts=3)
    with RatingClient(address, options=options) as flaky, pytest.raises(UnavailableError) as caught:
        flaky.commit([calls(100, "u-1")], request_id="req-mine")
    assert caught.value.retryable
    assert [request.request_id for request in proxy.commits] == ["req-mine"] * 3
    # The caller retries with its request_id and gets the charge the server made.
    retried = client.commit([calls(100, "u-1")], request_id="req-mine")
    assert [line.charge_id for line in client.iter_charges(acme)] == [retried.charge_id]
    assert not retried.duplicates
    assert client.get_balance(acme, day=DAY).free_points_used == Decimal("200")


# Reservations


def test_a_session_holds_its_points_settles_with_its_usage_and_frees_the_rest(
    client: RatingClient, acme: str
) -> None:
    with client.session(acme, "agent.call", 200, ttl=60) as session:  # 400 of 500 free
        assert session.granted_quantity == 200
        balance = client.get_balance(acme)
        assert (balance.free_points_held, balance.free_points_left) == (
            Decimal("400"),
            Decimal("500"),
        )
        now = datetime.now(UTC)  # the hold is on today's free points
        quote = client.quote([calls(100, "other", when=now)], account_id=acme)
        assert quote.funding is not None and quote.funding.held_points == Decimal("400")
        assert quote.funding.free_points == Decimal("100")
        receipt = session.settle(150, usage_id="call-1")  # 300 points: from the hold
    assert funding(receipt.lines[0].funding)[0][:2] == ("free_points", Decimal("300"))
    balance = client.get_balance(acme)
    assert (balance.free_points_used, balance.free_points_held) == (Decimal("300"), Decimal("0"))
    assert balance.reservations == ()


def test_a_session_left_without_usage_releases_and_a_short_balance_grants_in_part(
    client: RatingClient, acme: str
) -> None:
    with client.session(acme, "agent.call", 100, ttl=60):
        pass
    assert client.get_balance(acme).free_points_held == Decimal("0")
    first = client.reserve(acme, "agent.call", 400, ttl=60, request_id="big")
    assert (first.granted_quantity, first.held_points) == (250, Decimal("500"))
    assert client.reserve(acme, "agent.call", 400, ttl=60, request_id="big") == first
    none_left = client.reserve(acme, "agent.call", 1, ttl=60)
    assert (none_left.granted_quantity, none_left.holds) == (0, ())
    released = client.release(first.reservation_id)
    assert (released.state, released.already_ended) == ("released", False)
    with pytest.raises(FailedPreconditionError) as settled_after_release:
        client.commit(
            [
                usage.agent_calls(
                    1,
                    usage_id="late",
                    account_id=acme,
                    occurred_at=NOON,
                    reservation_id=first.reservation_id,
                )
            ]
        )
    assert settled_after_release.value.reason == "RESERVATION_RELEASED"


def test_bad_reservations_raise_invalid_argument_naming_each_field(
    client: RatingClient, acme: str
) -> None:
    with pytest.raises(InvalidArgumentError) as bad:
        client.reserve(acme, "knowledge.storage", 0, ttl=timedelta(days=2))
    assert {(v.field, v.reason) for v in bad.value.violations} == {
        ("quantity", "QUANTITY_INVALID"),
        ("ttl", "TTL_INVALID"),
        ("sku", "SKU_NOT_RESERVABLE"),
    }
    with pytest.raises(NotFoundError) as missing:
        client.extend("rsv_none", quantity=1)
    assert missing.value.reason == "RESERVATION_NOT_FOUND"
    with pytest.raises(NotFoundError) as unknown:
        client.commit(
            [
                usage.agent_calls(
                    1, usage_id="u", account_id=acme, occurred_at=NOON, reservation_id="rsv_none"
                )
            ]
        )
    assert unknown.value.resource_name == "rsv_none"
    assert [(v.field, v.reason) for v in unknown.value.violations] == [
        ("items[0].reservation_id", "RESERVATION_NOT_FOUND")
    ]


def test_the_async_client_runs_a_session_and_extends_it(acme: str, server: RatingServer) -> None:
    async def run() -> tuple[int, Decimal]:
        async with AsyncRatingClient(server.address) as client:
            async with client.session(acme, "agent.call", 100, ttl=60) as session:
                await session.extend(quantity=50, ttl=120)
                receipt = await session.settle(120, usage_id="async-call")
            balance = await client.get_balance(acme)
            return receipt.lines[0].quantity, balance.free_points_used

    assert asyncio.run(run()) == (120, Decimal("240"))


def test_a_budget_ends_what_quotes_and_sessions_may_count_on_and_the_balance_shows_it(
    client: RatingClient, acme: str
) -> None:
    account = client.update_account(acme, pay_as_you_go=True, monthly_budget_points="99.999999")
    assert account.monthly_budget_points == Decimal("99.999999")
    quote = client.quote([calls(300, "u-1")], account_id=acme)  # 100 points to the bill
    assert quote.funding is not None
    assert (quote.funding.shortfall_points, quote.funding.covered) == (Decimal("0.000001"), False)
    client.update_account(acme, monthly_budget_points=100)
    quote = client.quote([calls(300, "u-1")], account_id=acme)
    assert quote.funding is not None
    assert (quote.funding.shortfall_points, quote.funding.covered) == (Decimal("0"), True)
    first = client.reserve(acme, "agent.call", 400, ttl=60)  # 500 free + 100 of the budget
    assert first.granted_quantity == 300
    balance = client.get_balance(acme)
    assert (balance.budget_points, balance.budget_left_points) == (Decimal(100), Decimal(0))
    assert client.reserve(acme, "agent.call", 1, ttl=60).granted_quantity == 0
    removed = client.update_account(acme, monthly_budget_points=None)
    assert removed.monthly_budget_points is None
    assert client.get_balance(acme).budget_left_points is None
    assert client.reserve(acme, "agent.call", 1, ttl=60).granted_quantity == 1


def test_alert_thresholds_are_set_whole_read_back_and_refused_with_reasons(
    client: RatingClient, acme: str
) -> None:
    set_ = client.set_alert_thresholds(acme, free_points_below=100, pack_percent_below=10)
    assert client.get_alert_thresholds(acme) == set_
    assert (set_.free_points_below, set_.pack_percent_below) == (Decimal(100), 10)
    replaced = client.set_alert_thresholds(acme, pay_as_you_go_points_above="2000.5")
    assert (replaced.free_points_below, replaced.pay_as_you_go_points_above) == (
        None,
        Decimal("2000.5"),
    )
    with pytest.raises(FailedPreconditionError) as no_budget:
        client.set_alert_thresholds(acme, pay_as_you_go_budget_percent_above=80)
    assert no_budget.value.reason == "BUDGET_MISSING"
    with pytest.raises(InvalidArgumentError) as bad:
        client.set_alert_thresholds(acme, free_points_below=0, pack_percent_below=101)
    assert [(v.field, v.reason) for v in bad.value.violations] == [
        ("free_points_below", "POINTS_INVALID"),
        ("pack_percent_below", "PERCENT_INVALID"),
    ]
    assert client.get_alert_thresholds(acme) == replaced


def test_a_watcher_sees_the_commits_in_order_then_the_settlement_and_the_void(
    client: RatingClient, acme: str
) -> None:
    with client.watch_charges(acme) as feed:
        start = feed.cursor
        assert start  # where the feed starts, to keep before any event
        morning = client.commit([calls(1, "u-1"), calls(2, "u-2")])
        evening = client.commit([calls(3, "u-3")])
        lines = [next(feed) for _ in range(3)]
        held = client.reserve(acme, "agent.call", 5, 60)
        settling = usage.agent_calls(
            5,
            usage_id="session",
            account_id=acme,
            occurred_at=NOON,
            reservation_id=held.reservation_id,
        )
        charge = client.commit([settling])
        client.void_charge(charge.charge_id)
        line, settled, voided = next(feed), next(feed), next(feed)
        assert feed.cursor == voided.cursor
    # The lines as ListCharges has them, in its order.
    listed = [(c.charge_id, c.line_number, c.usage_id, c.points) for c in client.iter_charges(acme)]
    watched = [
        (e.line.charge_id, e.line.line_number, e.line.usage_id, e.line.points) for e in lines
    ]
    assert watched == listed[:3]
    assert [e.line.charge_id for e in lines] == [morning.charge_id] * 2 + [evening.charge_id]
    assert {e.billing_account_id for e in lines} == {acme}
    assert (line.kind, line.line.usage_id) == ("line", "session")  # type: ignore[union-attr]
    assert settled.settlement == ReservationSettled(held.reservation_id, charge.charge_id)
    assert voided.void is not None and voided.void.charge_id == charge.charge_id
    assert [(f.source, f.points) for f in voided.void.reversals] == [("free_points", Decimal(-10))]
    # Started again after the first line: the rest, nothing twice.
    with client.watch_charges(acme, cursor=lines[0].cursor) as again:
        assert usage_ids_of([next(again), next(again), next(again)]) == ["u-2", "u-3", "session"]


def test_a_feed_given_a_cursor_it_did_not_give_raises_invalid_argument_naming_it(
    client: RatingClient, acme: str
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        next(client.watch_charges(acme, cursor="not-a-cursor"))
    assert [(v.field, v.reason) for v in caught.value.violations] == [("cursor", "CURSOR_INVALID")]


def test_a_watcher_resumes_across_a_server_stop_and_restart_with_nothing_skipped_nor_twice(
    database: str,
) -> None:
    first = create_server(Settings(listen="127.0.0.1:0", db_path=database, grace_seconds=60))
    first.start()
    address = first.address
    running = [first]  # stopped once each (a second stop would close its files again)
    try:
        with RatingClient(address) as client:
            client.create_account("acme", plan="pro")
            with client.watch_charges("acme") as feed:
                client.commit([calls(1, "u-1"), calls(1, "u-2")])
                assert usage_ids_of([next(feed)]) == ["u-1"]
                running.remove(first)
                first.stop()  # ends the stream (UNAVAILABLE, SERVER_STOPPING) at once
                second = create_server(Settings(listen=address, db_path=database))
                second.start()
                running.append(second)
                assert second.address == address
                commit_until_up(client, [calls(1, "u-3")], "req-after")
                # u-2 came in the first stream or the resumed one: once, either way.
                assert usage_ids_of([next(feed), next(feed)]) == ["u-2", "u-3"]
                assert feed.reconnects >= 1
            assert [c.usage_id for c in client.iter_charges("acme")] == ["u-1", "u-2", "u-3"]
    finally:
        for server in running:
            server.stop(grace=0)


def test_the_async_client_watches_the_feed_and_starts_again_from_a_cursor(
    acme: str, server: RatingServer
) -> None:
    async def run() -> tuple[list[str], list[str]]:
        async with AsyncRatingClient(server.address) as client:
            async with client.watch_charges(acme) as feed:
                await client.commit([calls(1, "a-1"), calls(1, "a-2")])
                taken = [await anext(feed), await anext(feed)]
            async with client.watch_charges(acme, cursor=taken[0].cursor) as again:
                resumed = [await anext(again)]
            return usage_ids_of(taken), usage_ids_of(resumed)

    assert asyncio.run(run()) == (["a-1", "a-2"], ["a-2"])


def test_a_balance_watch_gives_the_balance_then_the_alert_a_commit_crosses(
    client: RatingClient, acme: str, server: RatingServer
) -> None:
    client.set_alert_thresholds(acme, free_points_below=100)
    now = datetime.now(UTC)
    with client.watch_balance(acme) as watch:
        first = next(watch)
        assert (first.balance.free_points_left, first.alerts) == (Decimal(500), ())
        client.commit([calls(210, "w-1", when=now)])  # 420 points: 80 left
        update = next(watch)
    assert update.balance.free_points_left == Decimal(80)
    [alert] = update.alerts
    assert (alert.kind, alert.threshold_points, alert.value_points) == (
        "free_points_below",
        Decimal(100),
        Decimal(80),
    )
    assert watch.closed

    async def watch_async() -> tuple[Decimal, Decimal]:
        async with AsyncRatingClient(server.address) as aclient:
            awatch = aclient.watch_balance(acme, every_change=True)
            async with awatch:
                start = await awatch.__anext__()
                await aclient.commit([calls(5, "w-2", when=now)])
                after = await awatch.__anext__()
        return start.balance.free_points_used, after.balance.free_points_used

    assert asyncio.run(watch_async()) == (Decimal(420), Decimal(430))
