"""AccountService and CommitCharges/VoidCharge over the wire: exactly once, rich errors,
and UNAVAILABLE (retryable, nothing written) when the database takes no writes."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support import LedgerStorage, PostgresStorage, item, rich_error, running, timestamp

from rating.v1 import account_service_pb2 as acc
from rating.v1 import account_service_pb2_grpc, rating_service_pb2_grpc, usage_pb2
from rating.v1 import rating_service_pb2 as rat
from rating_server.config import Settings
from rating_server.ledger import invariants
from rating_server.ledger.stores import open_ledger
from rating_server.servicers import encode

DAY = datetime(2026, 11, 27, 4, tzinfo=UTC)
COMMIT = "/rating.v1.RatingService/CommitCharges"
ATTRIBUTES = [("agent", "a-1"), ("channel", "api"), ("conversation", "c-7")]


@pytest.fixture
def acme(account_service) -> str:
    account_service.CreateAccount(
        acc.CreateAccountRequest(account_id="acme", plan="pro"), timeout=30
    )
    return "acme"


def commit(rating, request_id: str, *items: usage_pb2.UsageItem) -> rat.CommitChargesResponse:
    return rating.CommitCharges(
        rat.CommitChargesRequest(request_id=request_id, items=items), timeout=30
    )


def calls(count: int, usage_id: str, account_id: str = "acme") -> usage_pb2.UsageItem:
    return item("agent.call", count, usage_id=usage_id, account_id=account_id, occurred_at=DAY)


def free_used(account_service, account_id: str = "acme") -> str:
    return account_service.GetBalance(
        acc.GetBalanceRequest(account_id=account_id, day="2026-11-27"), timeout=30
    ).free_points_used


def ledger_problems(server) -> list[str]:
    ledger = open_ledger(server.settings.db_path)
    try:
        return invariants.check(ledger)
    finally:
        ledger.close()


def test_accounts_are_created_read_and_changed(account_service, acme) -> None:
    sub = account_service.CreateAccount(
        acc.CreateAccountRequest(account_id="acme-dev", parent_account_id="acme"), timeout=30
    ).account
    assert (sub.plan, sub.time_zone, sub.parent_account_id) == ("pro", "Asia/Shanghai", "acme")
    read = account_service.GetAccount(acc.GetAccountRequest(account_id="acme"), timeout=30)
    assert list(read.sub_account_ids) == ["acme-dev"]
    changed = account_service.UpdateAccount(
        acc.UpdateAccountRequest(account_id="acme", pay_as_you_go=True), timeout=30
    ).account
    assert (changed.plan, changed.pay_as_you_go) == ("pro", True)
    with pytest.raises(grpc.RpcError) as exists:
        account_service.CreateAccount(acc.CreateAccountRequest(account_id="acme"), timeout=30)
    error = rich_error(exists.value)
    assert (error.code, error.info.reason) == (grpc.StatusCode.ALREADY_EXISTS, "ACCOUNT_EXISTS")
    with pytest.raises(grpc.RpcError) as missing:
        account_service.GetAccount(acc.GetAccountRequest(account_id="nobody"), timeout=30)
    assert rich_error(missing.value).code == grpc.StatusCode.NOT_FOUND


def test_a_pack_is_granted_once_per_request_id_and_priced_at_a_yuan_per_1000_points(
    account_service, acme
) -> None:
    request = acc.GrantResourcePackRequest(
        account_id="acme",
        points="2500.5",
        priority=1,
        request_id="grant-1",
        valid_from=timestamp(datetime(2026, 11, 1, tzinfo=UTC)),
    )
    first = account_service.GrantResourcePack(request, timeout=30).pack
    again = account_service.GrantResourcePack(request, timeout=30).pack
    assert first == again
    assert (first.points, first.remaining_points, first.price_yuan) == (
        "2500.5",
        "2500.5",
        "2.5005",
    )
    balance = account_service.GetBalance(acc.GetBalanceRequest(account_id="acme"), timeout=30)
    assert [p.pack_id for p in balance.packs] == [first.pack_id]
    request.points = "1"
    with pytest.raises(grpc.RpcError) as reused:
        account_service.GrantResourcePack(request, timeout=30)
    assert rich_error(reused.value).info.reason == "REQUEST_ID_REUSED"
    with pytest.raises(grpc.RpcError) as bad:
        account_service.GrantResourcePack(
            acc.GrantResourcePackRequest(account_id="acme", points="0.0000001"), timeout=30
        )
    assert [v.reason for v in rich_error(bad.value).violations] == ["POINTS_INVALID"]


def test_capacity_is_granted_once_per_request_id_and_listed_and_raises_the_storage_quota(
    account_service, rating, acme
) -> None:
    account_service.CreateAccount(
        acc.CreateAccountRequest(account_id="acme-dev", parent_account_id="acme"), timeout=30
    )
    request = acc.GrantCapacityRequest(
        account_id="acme",
        gib=5,
        term=acc.CAPACITY_TERM_MONTH,
        valid_from=timestamp(datetime(2026, 11, 1, tzinfo=UTC)),
        price_yuan="30.5",
        request_id="cap-1",
    )
    first = account_service.GrantCapacity(request, timeout=30).purchase
    assert account_service.GrantCapacity(request, timeout=30).purchase == first
    assert (first.account_id, first.gib, first.term) == ("acme", 5, acc.CAPACITY_TERM_MONTH)
    assert (first.price_points, first.price_yuan) == ("30500", "30.5")
    # A month in Shanghai: November 1st 08:00 there to December 1st 08:00.
    assert first.valid_from.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 1, tzinfo=UTC)
    assert first.expire_time.ToDatetime(tzinfo=UTC) == datetime(2026, 12, 1, tzinfo=UTC)
    dated = account_service.GrantCapacity(
        acc.GrantCapacityRequest(
            account_id="acme",
            gib=1,
            valid_from=timestamp(datetime(2026, 11, 27, tzinfo=UTC)),
            expire_time=timestamp(datetime(2026, 11, 28, tzinfo=UTC)),
            price_points="0",
        ),
        timeout=30,
    ).purchase
    assert (dated.term, dated.price_points, dated.price_yuan) == (
        acc.CAPACITY_TERM_UNSPECIFIED,
        "0",
        "0",
    )

    read = account_service.GetAccount(acc.GetAccountRequest(account_id="acme"), timeout=30)
    assert list(read.capacity_purchases) == [first, dated]
    sub = account_service.GetAccount(acc.GetAccountRequest(account_id="acme-dev"), timeout=30)
    assert list(sub.capacity_purchases) == []
    balance = account_service.GetBalance(
        acc.GetBalanceRequest(account_id="acme-dev", day="2026-11-27"), timeout=30
    )
    assert list(balance.capacity_purchases) == [first, dated]  # the main account's
    assert balance.storage_quota_bytes == 15 * 2**30  # pro's 10 GiB and 5 at the day's start
    statement = account_service.GetStatement(
        acc.GetStatementRequest(account_id="acme", month="2026-11"), timeout=30
    )
    assert list(statement.capacity_purchases) == [first, dated]
    october = account_service.GetStatement(
        acc.GetStatementRequest(account_id="acme", month="2026-10"), timeout=30
    )
    assert (list(october.capacity_purchases), october.capacity_paid_points) == ([], "0")

    # 17 GiB for an hour at DAY: 1 GiB beyond the 10 + 5 + 1 then, 1.5 points.
    sample = storage_sample(duration=duration_pb2.Duration(seconds=3600))
    sample.quantity = 17 * 2**30
    assert commit(rating, "store-1", sample).lines[0].points == "1.5"

    request.gib = 6
    with pytest.raises(grpc.RpcError) as reused:
        account_service.GrantCapacity(request, timeout=30)
    assert rich_error(reused.value).info.reason == "REQUEST_ID_REUSED"
    for bad, field, reason in [
        (acc.GrantCapacityRequest(account_id="acme", gib=0), "gib", "GIB_INVALID"),
        (
            acc.GrantCapacityRequest(account_id="acme", gib=1, price_points="1"),
            "term",
            "TERM_MISSING",
        ),
        (
            acc.GrantCapacityRequest(account_id="acme", gib=1, term=9, price_points="1"),
            "term",
            "TERM_INVALID",
        ),
        (
            acc.GrantCapacityRequest(
                account_id="acme",
                gib=1,
                term=acc.CAPACITY_TERM_YEAR,
                expire_time=timestamp(DAY),
                price_points="1",
            ),
            "expire_time",
            "EXPIRY_WITH_TERM",
        ),
        (
            acc.GrantCapacityRequest(account_id="acme", gib=1, term=acc.CAPACITY_TERM_YEAR),
            "price",
            "PRICE_MISSING",
        ),
        (
            acc.GrantCapacityRequest(
                account_id="acme", gib=1, term=acc.CAPACITY_TERM_YEAR, price_yuan="0.0000000001"
            ),
            "price_yuan",
            "PRICE_INVALID",
        ),
    ]:
        with pytest.raises(grpc.RpcError) as refused:
            account_service.GrantCapacity(bad, timeout=30)
        error = rich_error(refused.value)
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [(v.field, v.reason) for v in error.violations][:1] == [(field, reason)]
    with pytest.raises(grpc.RpcError) as sub_grant:
        account_service.GrantCapacity(
            acc.GrantCapacityRequest(
                account_id="acme-dev", gib=1, term=acc.CAPACITY_TERM_YEAR, price_points="1"
            ),
            timeout=30,
        )
    assert rich_error(sub_grant.value).info.reason == "SUB_ACCOUNT"
    read = account_service.GetAccount(acc.GetAccountRequest(account_id="acme"), timeout=30)
    assert list(read.capacity_purchases) == [first, dated]  # nothing more written


def test_a_commit_retried_ten_times_charges_once(rating, account_service, acme) -> None:
    receipts = [commit(rating, "req-1", calls(100, "u-1")) for _ in range(10)]
    assert len({r.charge_id for r in receipts}) == 1
    assert all(r == receipts[0] for r in receipts)
    assert free_used(account_service) == "200"


def test_parallel_retries_of_one_request_charge_once(rating, account_service, acme, server) -> None:
    with ThreadPoolExecutor(max_workers=10) as pool:
        receipts = list(pool.map(lambda _: commit(rating, "req-p", calls(10, "u-p")), range(10)))
    assert len({r.charge_id for r in receipts}) == 1
    assert free_used(account_service) == "20"
    assert ledger_problems(server) == []


def test_a_batch_mixing_new_and_committed_usage_charges_only_the_new(
    rating, account_service, acme
) -> None:
    first = commit(rating, "req-a", calls(10, "u-1"))
    mixed = commit(rating, "req-b", calls(10, "u-1"), calls(5, "u-2"))
    assert [(line.duplicate, line.original_charge_id) for line in mixed.lines] == [
        (True, first.charge_id),
        (False, ""),
    ]
    assert list(mixed.lines[0].funding) == []
    assert mixed.total_points == "10"
    assert free_used(account_service) == "30"


def test_a_reused_request_id_with_other_items_is_refused_and_writes_nothing(
    rating, account_service, acme
) -> None:
    commit(rating, "req-1", calls(10, "u-1"))
    with pytest.raises(grpc.RpcError) as caught:
        commit(rating, "req-1", calls(10, "u-1"), calls(1, "u-2"))
    error = rich_error(caught.value)
    assert (error.code, error.info.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "REQUEST_ID_REUSED",
    )
    assert free_used(account_service) == "20"


def test_an_invalid_commit_names_every_bad_item_and_writes_nothing(
    rating, account_service, acme
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        commit(
            rating,
            "req-bad",
            calls(10, "u-1"),
            calls(1, "u-2", account_id="stranger"),
            calls(1, "u-1"),
            item("no.sku", 1, usage_id="u-3", account_id="acme"),
        )
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.reason) for v in error.violations] == [
        ("items[1].account_id", "ACCOUNT_NOT_FOUND"),
        ("items[2].usage_id", "USAGE_ID_REPEATED"),
        ("items[3].sku", "SKU_UNKNOWN"),
    ]
    assert free_used(account_service) == "0"
    with pytest.raises(grpc.RpcError) as no_id:
        commit(rating, "", calls(1, "u-9"))
    assert rich_error(no_id.value).violations[0].field == "request_id"
    # The request id of a refused request stays free.
    assert commit(rating, "req-bad", calls(1, "u-1")).total_points == "2"


def test_many_threads_committing_to_one_account_spend_each_point_once(
    rating, account_service, acme, server
) -> None:
    account_service.GrantResourcePack(
        acc.GrantResourcePackRequest(
            account_id="acme", points="300", valid_from=timestamp(datetime(2026, 11, 1, tzinfo=UTC))
        ),
        timeout=30,
    )
    with ThreadPoolExecutor(max_workers=8) as pool:
        receipts = list(
            pool.map(lambda n: commit(rating, f"req-{n}", calls(5, f"u-{n}")), range(100))
        )
    assert sum(int(r.total_points) for r in receipts) == 1000
    balance = account_service.GetBalance(
        acc.GetBalanceRequest(account_id="acme", day="2026-11-27"), timeout=30
    )
    assert (balance.free_points_used, balance.packs[0].remaining_points) == ("500", "0")
    assert balance.pay_as_you_go_points == "200"
    assert ledger_problems(server) == []


def test_void_over_the_wire_returns_funding_and_twice_is_harmless(
    rating, account_service, acme
) -> None:
    receipt = commit(rating, "req-1", calls(300, "u-1"))  # 500 free + 100 bill
    first = rating.VoidCharge(rat.VoidChargeRequest(charge_id=receipt.charge_id), timeout=30)
    second = rating.VoidCharge(rat.VoidChargeRequest(charge_id=receipt.charge_id), timeout=30)
    assert [(r.source, r.points) for r in first.reversals] == [
        (usage_pb2.FUNDING_SOURCE_FREE_POINTS, "-500"),
        (usage_pb2.FUNDING_SOURCE_PAY_AS_YOU_GO, "-100"),
    ]
    assert (first.already_voided, second.already_voided) == (False, True)
    assert free_used(account_service) == "0"
    charges = account_service.ListCharges(acc.ListChargesRequest(account_id="acme"), timeout=30)
    assert [c.voided for c in charges.charges] == [True]
    with pytest.raises(grpc.RpcError) as missing:
        rating.VoidCharge(rat.VoidChargeRequest(charge_id="ch_none"), timeout=30)
    assert rich_error(missing.value).info.reason == "CHARGE_NOT_FOUND"


def test_quote_for_an_account_says_how_it_would_be_funded_and_writes_nothing(
    rating, account_service, acme
) -> None:
    request = rat.QuoteRequest(account_id="acme", items=[calls(300, "u-1")])
    quote = rating.Quote(request, timeout=30)
    assert [(f.source, f.points) for f in quote.lines[0].funding] == [
        (usage_pb2.FUNDING_SOURCE_FREE_POINTS, "500"),
        (usage_pb2.FUNDING_SOURCE_PAY_AS_YOU_GO, "100"),
    ]
    funding = quote.funding
    assert (funding.covered, funding.pay_as_you_go_enabled) == (False, False)
    assert (funding.free_points, funding.pay_as_you_go_points, funding.shortfall_points) == (
        "500",
        "100",
        "100",
    )
    assert free_used(account_service) == "0"
    account_service.UpdateAccount(
        acc.UpdateAccountRequest(account_id="acme", pay_as_you_go=True), timeout=30
    )
    assert rating.Quote(request, timeout=30).funding.shortfall_points == "0"
    small = rating.Quote(rat.QuoteRequest(account_id="acme", items=[calls(1, "u")]), timeout=30)
    assert small.funding.covered
    account_service.CreateAccount(acc.CreateAccountRequest(account_id="zeta"), timeout=30)
    with pytest.raises(grpc.RpcError) as other:
        rating.Quote(
            rat.QuoteRequest(account_id="acme", items=[calls(1, "u", account_id="zeta")]),
            timeout=30,
        )
    assert rich_error(other.value).violations[0].reason == "ACCOUNT_MISMATCH"


def test_the_statement_shows_the_bill_in_yuan_rounded_to_the_fen_beside_the_exact_figure(
    rating, account_service, acme
) -> None:
    commit(rating, "req-1", calls(250, "u-1"))  # the day's 500 free points
    commit(
        rating,
        "req-2",
        item("rtc.audio.voice", 61_000, usage_id="u-2", account_id="acme", occurred_at=DAY),
        item("rtc.video.4k", 1_000, usage_id="u-3", account_id="acme", occurred_at=DAY),
    )  # 7.116667 + 4.2 points to the bill
    statement = account_service.GetStatement(
        acc.GetStatementRequest(account_id="acme", month="2026-11"), timeout=30
    )
    assert statement.total.pay_as_you_go_points == "11.316667"
    assert statement.amount_due_yuan_exact == "0.011316667"
    assert statement.amount_due_yuan == "0.01"
    assert [r.key for r in statement.by_category] == ["agent", "rtc"]
    with pytest.raises(grpc.RpcError) as bad:
        account_service.GetStatement(
            acc.GetStatementRequest(account_id="acme", month="November"), timeout=30
        )
    assert rich_error(bad.value).violations[0].reason == "MONTH_INVALID"


def test_quote_for_an_account_marks_committed_usage_as_a_duplicate_funded_by_nothing(
    rating, acme
) -> None:
    commit(rating, "req-1", calls(200, "u-1"))
    quote = rating.Quote(rat.QuoteRequest(account_id="acme", items=[calls(200, "u-1")]), timeout=30)
    assert quote.lines[0].duplicate and list(quote.lines[0].funding) == []
    assert quote.funding.free_points == "0" and quote.funding.covered


def health_of(channel: grpc.Channel, service: str) -> str:
    response = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=30
    )
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def test_writes_the_database_refuses_are_unavailable_and_write_nothing_and_health_says_so(
    storage: LedgerStorage | PostgresStorage, database: str
) -> None:
    # storage stands for a database gone read-only (or full, or failing) under a server.
    settings = Settings(listen="127.0.0.1:0", db_path=database)
    with running(settings) as server, grpc.insecure_channel(server.address) as channel:
        rating = rating_service_pb2_grpc.RatingServiceStub(channel)
        accounts = account_service_pb2_grpc.AccountServiceStub(channel)
        accounts.CreateAccount(acc.CreateAccountRequest(account_id="acme"), timeout=30)
        assert health_of(channel, "") == "SERVING"
        storage.refuse_writes()

        writes = {
            "CreateAccount": lambda: accounts.CreateAccount(
                acc.CreateAccountRequest(account_id="beta"), timeout=30
            ),
            "CommitCharges": lambda: commit(rating, "r-1", calls(2, "u-1")),
            "GrantResourcePack": lambda: accounts.GrantResourcePack(
                acc.GrantResourcePackRequest(account_id="acme", points="5", request_id="g-1"),
                timeout=30,
            ),
            "GrantCapacity": lambda: accounts.GrantCapacity(
                acc.GrantCapacityRequest(
                    account_id="acme",
                    gib=5,
                    term=acc.CAPACITY_TERM_MONTH,
                    price_yuan="30",
                    request_id="c-1",
                ),
                timeout=30,
            ),
        }
        for name, write in writes.items():
            with pytest.raises(grpc.RpcError) as refused:
                write()
            error = rich_error(refused.value)
            assert (error.code, error.info.reason) == (
                grpc.StatusCode.UNAVAILABLE,
                "STORAGE_UNAVAILABLE",
            ), name
            assert error.info.metadata["cause"] == storage.cause, name
            assert re.fullmatch(
                rf"the database cannot be written now \({storage.refusal}\); "
                "nothing was changed: retry with backoff",
                error.message,
            ), (name, error.message)
        # Load balancers stop sending here; the catalog service writes nothing.
        for service in ("", "rating.v1.RatingService", "rating.v1.AccountService"):
            assert health_of(channel, service) == "NOT_SERVING", service
        assert health_of(channel, "rating.v1.CatalogService") == "SERVING"
        # What only reads still answers.
        assert rating.Quote(rat.QuoteRequest(items=[calls(2, "q")]), timeout=30).total_points == "4"
        assert accounts.GetAccount(acc.GetAccountRequest(account_id="acme"), timeout=30)

        storage.refuse_writes(False)
        server.ledger.probe()  # what the server's probe does every second meanwhile
        for service in ("", "rating.v1.RatingService", "rating.v1.AccountService"):
            assert health_of(channel, service) == "SERVING", service
        # Nothing was written: each refused write now succeeds as a first.
        for write in writes.values():
            write()
        assert free_used(accounts) == "4"
        assert not ledger_problems(server)


def storage_sample(**fields: object) -> usage_pb2.UsageItem:
    """A storage sample of acme's, held for ``duration`` (0 s unless given)."""
    sample = item("knowledge.storage", 10**9, usage_id="s-1", account_id="acme", occurred_at=DAY)
    sample.duration.CopyFrom(fields.pop("duration", duration_pb2.Duration()))
    for name, value in fields.items():
        getattr(sample, name).CopyFrom(value)
    return sample


def test_a_retry_is_checked_like_a_new_request_before_its_receipt_is_replayed(
    rating, account_service, acme
) -> None:
    first = commit(rating, "r-s1", storage_sample())
    assert commit(rating, "r-s1", storage_sample()) == first
    # Mapped to 0 s, 1 s - 1 ns once looked like the 0 s sent first, and got its receipt.
    for bad in (
        storage_sample(duration=duration_pb2.Duration(seconds=1, nanos=-1)),
        storage_sample(duration=duration_pb2.Duration(seconds=-1, nanos=1)),
        storage_sample(occurred_at=timestamp_pb2.Timestamp(seconds=1_795_000_000, nanos=-1)),
    ):
        for request_id in ("r-s1", "r-s2"):
            with pytest.raises(grpc.RpcError) as caught:
                commit(rating, request_id, bad)
            error = rich_error(caught.value)
            assert error.code == grpc.StatusCode.INVALID_ARGUMENT, request_id
            assert [v.reason for v in error.violations] in (
                ["DURATION_INVALID"],
                ["OCCURRED_AT_INVALID"],
            )
    # An invalid request is refused as invalid, whatever its request_id was used for.
    with pytest.raises(grpc.RpcError) as caught:
        commit(rating, "r-s1", storage_sample(), calls(1, ""))
    error = rich_error(caught.value)
    assert (error.code, [(v.field, v.reason) for v in error.violations]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        [("items[1].usage_id", "USAGE_ID_MISSING")],
    )
    assert commit(rating, "r-s1", storage_sample()) == first


def test_a_retry_matches_its_attributes_in_whatever_order_they_were_serialized(
    channel, acme
) -> None:
    """Map entries have no order on the wire: another client library may write them in
    another, and it is the same request."""
    call = channel.unary_unary(COMMIT)
    base = calls(1, "u-1")
    entries = [usage_pb2.UsageItem(attributes={k: v}).SerializeToString() for k, v in ATTRIBUTES]

    def request(order: list[bytes]) -> bytes:
        sample = base.SerializeToString() + b"".join(order)
        return (
            rat.CommitChargesRequest(request_id="r-map").SerializeToString()
            + b"\x12"
            + encode.varint(len(sample))
            + sample
        )

    first = call(request(entries), timeout=30)
    assert call(request(entries[::-1]), timeout=30) == first
    other = [usage_pb2.UsageItem(attributes={"agent": "a-2"}).SerializeToString(), *entries[1:]]
    with pytest.raises(grpc.RpcError) as caught:
        call(request(other), timeout=30)
    assert rich_error(caught.value).info.reason == "REQUEST_ID_REUSED"


def test_a_retry_with_fields_this_server_does_not_know_is_the_same_request(channel, acme) -> None:
    """A newer client's retry may carry fields this server ignores."""
    call = channel.unary_unary(COMMIT)
    item = calls(1, "u-1").SerializeToString()
    unknown = b"\xf8\x01\x07"  # field 31, varint 7: in no version of UsageItem

    def request(sample: bytes) -> bytes:
        head = rat.CommitChargesRequest(request_id="r-new").SerializeToString()
        return head + b"\x12" + encode.varint(len(sample)) + sample

    first = call(request(item), timeout=30)
    assert call(request(item + unknown), timeout=30) == first


def test_a_pack_retried_without_valid_from_is_not_the_pack_granted_with_one(
    account_service, acme
) -> None:
    dated = acc.GrantResourcePackRequest(
        account_id="acme",
        points="10",
        request_id="grant-d",
        valid_from=timestamp(datetime(2026, 11, 1, tzinfo=UTC)),
    )
    account_service.GrantResourcePack(dated, timeout=30)
    undated = acc.GrantResourcePackRequest(account_id="acme", points="10", request_id="grant-d")
    with pytest.raises(grpc.RpcError) as caught:
        account_service.GrantResourcePack(undated, timeout=30)
    assert rich_error(caught.value).info.reason == "REQUEST_ID_REUSED"
    # A pack granted from now is replayed by its retry, which again says "from now".
    undated.request_id = "grant-n"
    first = account_service.GrantResourcePack(undated, timeout=30).pack
    assert account_service.GrantResourcePack(undated, timeout=30).pack == first
    with pytest.raises(grpc.RpcError) as caught:
        account_service.GrantResourcePack(
            acc.GrantResourcePackRequest(
                account_id="acme", points="10", request_id="grant-n", valid_from=dated.valid_from
            ),
            timeout=30,
        )
    assert rich_error(caught.value).info.reason == "REQUEST_ID_REUSED"


@pytest.mark.parametrize("length", [16_383, 16_384, 2**21])
def test_ids_of_any_length_in_a_commit_or_an_accounts_quote_are_invalid_never_internal(
    rating, acme, length
) -> None:
    long_id = calls(1, "x" * length)
    with pytest.raises(grpc.RpcError) as quoted:
        rating.Quote(rat.QuoteRequest(account_id="acme", items=[long_id]), timeout=30)
    with pytest.raises(grpc.RpcError) as committed:
        commit(rating, "r-long", long_id)
    with pytest.raises(grpc.RpcError) as no_id:
        commit(rating, "r" * length, calls(1, "u-1"))
    assert [
        (error.code, [(v.field, v.reason) for v in error.violations])
        for error in map(rich_error, (quoted.value, committed.value, no_id.value))
    ] == [
        (grpc.StatusCode.INVALID_ARGUMENT, [("items[0].usage_id", "USAGE_ID_INVALID")]),
        (grpc.StatusCode.INVALID_ARGUMENT, [("items[0].usage_id", "USAGE_ID_INVALID")]),
        (grpc.StatusCode.INVALID_ARGUMENT, [("request_id", "REQUEST_ID_INVALID")]),
    ]
