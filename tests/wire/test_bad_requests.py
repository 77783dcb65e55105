"""Every kind of bad request, on every RPC: the right status with details, nothing written.

A table of bad requests runs against one long-lived in-process server holding a
baseline (accounts "acme" with sub-account "acme-dev" and "globex", a resource pack,
one committed charge), on each engine. After each request every table of the database
holds the same rows (read behind the server's back, ``support.ledger_snapshot``), the
invariant check is clean, and a good Quote still answers. Hypothesis then sends random
bytes as the raw request of every RPC; separate tests cover the concurrency limit and the
message limit.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, message_factory, timestamp_pb2
from google.protobuf.message import DecodeError, Message
from hypothesis import event, given, settings
from hypothesis import strategies as st
from support import (
    NOON,
    LedgerState,
    NewDatabase,
    item,
    ledger_snapshot,
    rich_error,
    running,
    timestamp,
)

from rating.v1 import account_service_pb2 as acc
from rating.v1 import (
    account_service_pb2_grpc,
    catalog_service_pb2,
    catalog_service_pb2_grpc,
    rating_service_pb2,
    rating_service_pb2_grpc,
    usage_pb2,
)
from rating.v1 import catalog_service_pb2 as cat
from rating.v1 import rating_service_pb2 as rat
from rating_server.config import Settings
from rating_server.engine import RatedBatch
from rating_server.ledger import invariants
from rating_server.server import RatingServer
from rating_server.servicers import rating as rating_servicer

Code = grpc.StatusCode
TIMEOUT = 30.0

QUOTE = "/rating.v1.RatingService/Quote"
COMMIT = "/rating.v1.RatingService/CommitCharges"
VOID = "/rating.v1.RatingService/VoidCharge"
CREATE = "/rating.v1.AccountService/CreateAccount"
GET_ACCOUNT = "/rating.v1.AccountService/GetAccount"
UPDATE = "/rating.v1.AccountService/UpdateAccount"
GRANT = "/rating.v1.AccountService/GrantResourcePack"
GRANT_CAPACITY = "/rating.v1.AccountService/GrantCapacity"
BALANCE = "/rating.v1.AccountService/GetBalance"
LIST_CHARGES = "/rating.v1.AccountService/ListCharges"
STATEMENT = "/rating.v1.AccountService/GetStatement"
LIST_SKUS = "/rating.v1.CatalogService/ListSkus"
GET_SKU = "/rating.v1.CatalogService/GetSku"
RESERVE = "/rating.v1.RatingService/Reserve"
EXTEND = "/rating.v1.RatingService/Extend"
RELEASE = "/rating.v1.RatingService/Release"
WATCH_CHARGES = "/rating.v1.AccountService/WatchCharges"
#: The server-streaming methods, and how long a call of one is let run.
WATCH_BALANCE = "/rating.v1.AccountService/WatchBalance"
STREAMS = frozenset({WATCH_CHARGES, WATCH_BALANCE})
STREAM_SECONDS = 3.0
SET_THRESHOLDS = "/rating.v1.AccountService/SetAlertThresholds"
GET_THRESHOLDS = "/rating.v1.AccountService/GetAlertThresholds"
GET_LIMITS = "/rating.v1.RatingService/GetLimits"

# Every RPC of the three services, with its request message class.
REQUEST_TYPES: dict[str, type[Message]] = {
    f"/{service.full_name}/{method.name}": message_factory.GetMessageClass(method.input_type)
    for module, name in (
        (rating_service_pb2, "RatingService"),
        (acc, "AccountService"),
        (catalog_service_pb2, "CatalogService"),
    )
    for service in (module.DESCRIPTOR.services_by_name[name],)
    for method in service.methods
}
WRITERS = frozenset(
    {COMMIT, VOID, CREATE, UPDATE, GRANT, GRANT_CAPACITY, RESERVE, EXTEND, RELEASE, SET_THRESHOLDS}
)

BASELINE_REQUEST_ID = "commit-acme-1"
BASELINE_PACK_REQUEST_ID = "grant-acme-1"
BASELINE_CAPACITY_REQUEST_ID = "capacity-acme-1"
BASELINE_RESERVE_REQUEST_ID = "reserve-acme-1"
UNKNOWN_CHARGE = "ch_000000000000000000000000"
HUGE = "x" * 20_000  # past gRPC's 16 KiB hard limit on a trailer when echoed back
ANY = None  # a violation whose reason the table does not fix


# --- servers, the baseline and the ledger snapshot ---------------------------------


@contextmanager
def running_server(database: str, **overrides: Any) -> Iterator[RatingServer]:
    with running(Settings(listen="127.0.0.1:0", db_path=database, **overrides)) as server:
        yield server


@dataclass(frozen=True)
class Baseline:
    charge_id: str
    charges_page_token: str  # ListCharges of acme, page_size 1, no time range
    skus_page_token: str  # ListSkus of CATEGORY_MODEL, page_size 1
    released: str  # a reservation of acme's, released


def at(when: datetime) -> timestamp_pb2.Timestamp:
    return timestamp(when)


def calls(count: int, usage_id: str, account_id: str = "acme") -> usage_pb2.UsageItem:
    return item("agent.call", count, usage_id=usage_id, account_id=account_id, occurred_at=NOON)


def build_baseline(channel: grpc.Channel) -> Baseline:
    accounts = account_service_pb2_grpc.AccountServiceStub(channel)
    rating = rating_service_pb2_grpc.RatingServiceStub(channel)
    for request in (
        acc.CreateAccountRequest(account_id="acme", plan="pro", pay_as_you_go=True),
        acc.CreateAccountRequest(account_id="acme-dev", parent_account_id="acme"),
        acc.CreateAccountRequest(account_id="globex"),
    ):
        accounts.CreateAccount(request, timeout=TIMEOUT)
    accounts.GrantResourcePack(
        acc.GrantResourcePackRequest(
            account_id="acme",
            points="100",
            valid_from=at(datetime(2026, 11, 1, tzinfo=UTC)),
            request_id=BASELINE_PACK_REQUEST_ID,
        ),
        timeout=TIMEOUT,
    )
    accounts.GrantCapacity(
        acc.GrantCapacityRequest(
            account_id="acme",
            gib=5,
            term=acc.CAPACITY_TERM_MONTH,
            valid_from=at(datetime(2026, 11, 1, tzinfo=UTC)),
            price_yuan="30",
            request_id=BASELINE_CAPACITY_REQUEST_ID,
        ),
        timeout=TIMEOUT,
    )
    charge = rating.CommitCharges(
        rat.CommitChargesRequest(
            request_id=BASELINE_REQUEST_ID,
            items=[calls(260, "turn-1"), calls(5, "turn-2", account_id="acme-dev")],
        ),
        timeout=TIMEOUT,
    )
    assert charge.total_points == "530"
    charges_token = accounts.ListCharges(
        acc.ListChargesRequest(account_id="acme", page_size=1), timeout=TIMEOUT
    ).next_page_token
    skus_token = (
        catalog_service_pb2_grpc.CatalogServiceStub(channel)
        .ListSkus(
            cat.ListSkusRequest(page_size=1, category=usage_pb2.CATEGORY_MODEL), timeout=TIMEOUT
        )
        .next_page_token
    )
    assert charges_token and skus_token
    released = rating.Reserve(
        reserve(request_id=BASELINE_RESERVE_REQUEST_ID)(None), timeout=TIMEOUT
    )
    rating.Release(
        rat.ReleaseRequest(reservation_id=released.reservation.reservation_id), timeout=TIMEOUT
    )
    return Baseline(
        charge.charge_id, charges_token, skus_token, released.reservation.reservation_id
    )


def ledger_state(database: str) -> LedgerState:
    """Every row of every table of the database, either engine."""
    return ledger_snapshot(database)


def assert_unchanged(before: LedgerState, after: LedgerState) -> None:
    counts = {table: len(rows) for table, rows in before.items()}
    assert {table: len(rows) for table, rows in after.items()} == counts
    for table, rows in before.items():
        assert after[table] == rows, f"table {table} changed"


def raw_call(channel: grpc.Channel, method: str, data: bytes) -> bytes:
    """Send ``data`` as the request of ``method``, unchanged, and return the raw response
    (of a stream, what it sent before it ended or ``STREAM_SECONDS`` passed: a stream
    whose request is good keeps running)."""
    if method in STREAMS:
        stream = channel.unary_stream(method, request_serializer=None, response_deserializer=None)
        responses = stream(data, timeout=STREAM_SECONDS)
        try:
            return b"".join(responses)
        except grpc.RpcError as error:
            if error.code() == Code.DEADLINE_EXCEEDED:  # type: ignore[attr-defined]
                return b""  # it was refused by nothing: it waits for events
            raise
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    return call(data, timeout=TIMEOUT)


def assert_serving(channel: grpc.Channel) -> None:
    """A good Quote, funded from acme's balances, still answers."""
    response = rating_service_pb2_grpc.RatingServiceStub(channel).Quote(
        rat.QuoteRequest(account_id="acme", items=[calls(1, "probe")]), timeout=TIMEOUT
    )
    assert response.total_points == "2"


@pytest.fixture(scope="module")
def table_server(new_database: NewDatabase) -> Iterator[RatingServer]:
    with running_server(new_database("bad-requests")) as server:
        yield server


@pytest.fixture(scope="module")
def table_channel(table_server: RatingServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(table_server.address) as opened:
        yield opened


@pytest.fixture(scope="module")
def baseline(table_channel: grpc.Channel) -> Baseline:
    return build_baseline(table_channel)


# --- the table -----------------------------------------------------------------------


Build = Callable[[Baseline], Message | bytes]


@dataclass(frozen=True)
class Bad:
    id: str
    method: str
    build: Build
    code: grpc.StatusCode
    reason: str
    # (field, reason) for INVALID_ARGUMENT, in order; a reason of ANY matches any.
    violations: tuple[tuple[str, str | None], ...] = ()


def quote(*items: usage_pb2.UsageItem, account_id: str = "") -> Build:
    return lambda _b: rat.QuoteRequest(items=items, account_id=account_id)


def commit(*items: usage_pb2.UsageItem, request_id: str = "commit-new") -> Build:
    return lambda _b: rat.CommitChargesRequest(request_id=request_id, items=items)


def reserve(**fields: Any) -> Build:
    fields = {
        "request_id": "reserve-new",
        "account_id": "acme",
        "sku": "agent.call",
        "quantity": 10,
        "ttl": duration_pb2.Duration(seconds=60),
    } | fields
    return lambda _b: rat.ReserveRequest(**fields)


def settling(reservation_id: str, usage_id: str = "settle-1") -> usage_pb2.UsageItem:
    settle = calls(1, usage_id)
    settle.reservation_id = reservation_id
    return settle


def commit_settling_released(b: Baseline) -> Message:
    return rat.CommitChargesRequest(request_id="commit-new", items=[settling(b.released)])


def attributed(attributes: dict[str, str]) -> usage_pb2.UsageItem:
    message = calls(1, "u-attrs")
    message.attributes.update(attributes)
    return message


def stamped(seconds: int, nanos: int = 0) -> usage_pb2.UsageItem:
    message = calls(1, "u-stamp")
    message.occurred_at.CopyFrom(timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos))
    return message


def in_future(seconds: int) -> Build:
    """An item that happened ``seconds`` after now (measured when the row is sent)."""

    def build(_b: Baseline) -> Message:
        message = calls(1, "u-future")
        message.occurred_at.FromNanoseconds(time.time_ns() + seconds * 1_000_000_000)
        return rat.QuoteRequest(items=[message])

    return build


def stored(seconds: int, nanos: int, quantity: int = 20 * 2**30) -> usage_pb2.UsageItem:
    message = item("knowledge.storage", quantity, account_id="acme", occurred_at=NOON)
    message.duration.CopyFrom(duration_pb2.Duration(seconds=seconds, nanos=nanos))
    return message


def grant(**fields: Any) -> Build:
    fields.setdefault("account_id", "acme")
    fields.setdefault("points", "10")
    return lambda _b: acc.GrantResourcePackRequest(**fields)


def grant_capacity(**fields: Any) -> Build:
    fields = {"account_id": "acme", "gib": 5, "term": acc.CAPACITY_TERM_MONTH} | fields
    if "price_points" not in fields:
        fields.setdefault("price_yuan", "30")
    return lambda _b: acc.GrantCapacityRequest(**fields)


def list_charges(**fields: Any) -> Build:
    fields.setdefault("account_id", "acme")
    return lambda _b: acc.ListChargesRequest(**fields)


def tampered_charges_token(b: Baseline) -> Message:
    token = b.charges_page_token
    body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    body["after"] = 10**30
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    return acc.ListChargesRequest(account_id="acme", page_token=forged)


DEEP_JSON_TOKEN = base64.urlsafe_b64encode(b"[" * 100_000).decode()
Y2K = 946_684_800  # 2000-01-01T00:00:00Z
YEAR_10000 = 253_402_300_800  # one second past the largest valid Timestamp
NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)
NOV_10 = datetime(2026, 11, 10, tzinfo=UTC)

# fmt: off
TABLE: tuple[Bad, ...] = (
    # RatingService/Quote: the batch, every field of an item, the account.
    Bad("quote-empty-batch", QUOTE, quote(), Code.INVALID_ARGUMENT, "INVALID_USAGE",
        (("items", "ITEMS_EMPTY"),)),
    Bad("quote-10001-items", QUOTE, quote(*[calls(1, "u")] * 10_001), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items", "ITEMS_TOO_MANY"),)),
    Bad("quote-usage-id-missing", QUOTE, quote(calls(1, "")), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[0].usage_id", "USAGE_ID_MISSING"),)),
    Bad("quote-account-id-missing", QUOTE, quote(calls(1, "u", account_id="")),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("items[0].account_id", "ACCOUNT_ID_MISSING"),)),
    Bad("quote-sku-missing", QUOTE, quote(item("", 1)), Code.INVALID_ARGUMENT, "INVALID_USAGE",
        (("items[0].sku", "SKU_MISSING"),)),
    Bad("quote-sku-unknown", QUOTE, quote(item("no.such.sku", 1)), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[0].sku", "SKU_UNKNOWN"),)),
    Bad("quote-sku-unpriced-plugin", QUOTE, quote(item("plugin.weather", 1)),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("items[0].sku", "SKU_UNPRICED"),)),
    Bad("quote-quantity-negative", QUOTE, quote(calls(-1, "u")), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[0].quantity", "QUANTITY_NEGATIVE"),)),
    Bad("quote-quantity-over-1e15", QUOTE, quote(calls(10**15 + 1, "u")), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[0].quantity", "QUANTITY_TOO_LARGE"),)),
    Bad("quote-quantity-int64-max", QUOTE, quote(calls(2**63 - 1, "u")), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[0].quantity", "QUANTITY_TOO_LARGE"),)),
    # 500,000,000 agent calls cost exactly 10^9 points; one more call is over the bound.
    Bad("quote-line-over-1e9-points", QUOTE, quote(calls(500_000_001, "u")),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("items[0].quantity", "AMOUNT_TOO_LARGE"),)),
    Bad("quote-storage-byte-ms-beyond-int64", QUOTE,
        quote(stored(315_576_000_000, 0, quantity=10**15)), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[0].quantity", "AMOUNT_TOO_LARGE"),)),
    Bad("quote-occurred-at-missing", QUOTE, quote(item("agent.call", 1, occurred_at=None)),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("items[0].occurred_at", "OCCURRED_AT_MISSING"),)),
    Bad("quote-occurred-at-nanos-out-of-range", QUOTE,
        quote(stamped(1_795_000_000, 1_000_000_000)), Code.INVALID_ARGUMENT, "INVALID_USAGE",
        (("items[0].occurred_at", "OCCURRED_AT_INVALID"),)),
    Bad("quote-occurred-at-year-10000", QUOTE, quote(stamped(YEAR_10000)), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[0].occurred_at", "OCCURRED_AT_INVALID"),)),
    Bad("quote-occurred-at-before-2000", QUOTE, quote(stamped(Y2K - 1, 999_999_999)),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("items[0].occurred_at", "OCCURRED_AT_TOO_OLD"),)),
    Bad("quote-occurred-at-10-minutes-ahead", QUOTE, in_future(600), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[0].occurred_at", "OCCURRED_AT_IN_FUTURE"),)),
    Bad("quote-33-attributes", QUOTE, quote(attributed({f"k{i}": "v" for i in range(33)})),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("items[0].attributes", "ATTRIBUTES_TOO_MANY"),)),
    Bad("quote-attribute-key-with-space", QUOTE, quote(attributed({"agent name": "a"})),
        Code.INVALID_ARGUMENT, "INVALID_USAGE",
        (("items[0].attributes", "ATTRIBUTE_KEY_INVALID"),)),
    Bad("quote-attribute-key-65-chars", QUOTE, quote(attributed({"k" * 65: "a"})),
        Code.INVALID_ARGUMENT, "INVALID_USAGE",
        (("items[0].attributes", "ATTRIBUTE_KEY_INVALID"),)),
    Bad("quote-attribute-value-513-chars", QUOTE, quote(attributed({"channel": "v" * 513})),
        Code.INVALID_ARGUMENT, "INVALID_USAGE",
        (("items[0].attributes", "ATTRIBUTE_VALUE_TOO_LONG"),)),
    Bad("quote-usage-id-129-chars", QUOTE, quote(calls(1, "u" * 129)), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[0].usage_id", "USAGE_ID_INVALID"),)),
    Bad("quote-usage-id-with-control-char", QUOTE, quote(calls(1, "u\x07bell")),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("items[0].usage_id", "USAGE_ID_INVALID"),)),
    Bad("quote-account-id-with-space", QUOTE, quote(calls(1, "u", account_id="ac me")),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("items[0].account_id", "ACCOUNT_ID_INVALID"),)),
    Bad("quote-storage-without-duration", QUOTE,
        quote(item("knowledge.storage", 2**40, occurred_at=NOON)), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[0].duration", "DURATION_MISSING"),)),
    Bad("quote-duration-on-a-count-sku", QUOTE, quote(item("agent.call", 1, duration_ms=10)),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("items[0].duration", "DURATION_NOT_ALLOWED"),)),
    Bad("quote-storage-duration-negative", QUOTE, quote(stored(-5, 0)), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[0].duration", "DURATION_NEGATIVE"),)),
    Bad("quote-storage-duration-not-whole-ms", QUOTE, quote(stored(5, 1)),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("items[0].duration", "DURATION_NOT_WHOLE_MS"),)),
    Bad("quote-duration-nanos-out-of-range", QUOTE, quote(stored(5, -1)), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[0].duration", "DURATION_INVALID"),)),
    Bad("quote-every-bad-field-named-in-order", QUOTE,
        quote(item("plugin.weather", 1), calls(5, "ok"), item("no.sku", -1, usage_id="")),
        Code.INVALID_ARGUMENT, "INVALID_USAGE",
        (("items[0].sku", "SKU_UNPRICED"), ("items[2].usage_id", "USAGE_ID_MISSING"),
         ("items[2].quantity", "QUANTITY_NEGATIVE"), ("items[2].sku", "SKU_UNKNOWN"))),
    Bad("quote-for-unknown-account", QUOTE, quote(calls(1, "u"), account_id="nobody"),
        Code.NOT_FOUND, "ACCOUNT_NOT_FOUND"),
    Bad("quote-for-account-id-with-space", QUOTE, quote(calls(1, "u"), account_id="ac me"),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("account_id", "ACCOUNT_ID_INVALID"),)),
    Bad("quote-for-account-with-unknown-item-account", QUOTE,
        quote(calls(1, "u", account_id="nobody"), account_id="acme"), Code.NOT_FOUND,
        "ACCOUNT_NOT_FOUND", (("items[0].account_id", "ACCOUNT_NOT_FOUND"),)),
    Bad("quote-for-account-with-item-of-another-account", QUOTE,
        quote(calls(1, "u", account_id="globex"), account_id="acme"), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[0].account_id", "ACCOUNT_MISMATCH"),)),
    Bad("quote-for-sub-account-with-item-of-another-account", QUOTE,
        quote(calls(1, "u", account_id="globex"), account_id="acme-dev"), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[0].account_id", "ACCOUNT_MISMATCH"),)),
    Bad("quote-items-sent-with-wrong-wire-type", QUOTE, lambda _b: b"\x08\x01",
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("items", "ITEMS_EMPTY"),)),
    Bad("quote-usage-id-invalid-utf8-bytes", QUOTE, lambda _b: b"\x0a\x04\x0a\x02\xff\xfe",
        Code.INVALID_ARGUMENT, "MALFORMED_REQUEST"),
    # RatingService/CommitCharges: request_id, exactly once, all or nothing.
    Bad("commit-request-id-missing", COMMIT, commit(calls(1, "c-1"), request_id=""),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("request_id", "REQUEST_ID_INVALID"),)),
    Bad("commit-request-id-with-space", COMMIT, commit(calls(1, "c-1"), request_id="req 1"),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("request_id", "REQUEST_ID_INVALID"),)),
    Bad("commit-request-id-129-chars", COMMIT, commit(calls(1, "c-1"), request_id="r" * 129),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("request_id", "REQUEST_ID_INVALID"),)),
    Bad("commit-empty-batch", COMMIT, commit(), Code.INVALID_ARGUMENT, "INVALID_USAGE",
        (("items", "ITEMS_EMPTY"),)),
    Bad("commit-10001-items", COMMIT, commit(*[calls(1, "c")] * 10_001), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items", "ITEMS_TOO_MANY"),)),
    Bad("commit-unknown-account", COMMIT, commit(calls(1, "c-1", account_id="nobody")),
        Code.NOT_FOUND, "ACCOUNT_NOT_FOUND", (("items[0].account_id", "ACCOUNT_NOT_FOUND"),)),
    Bad("commit-usage-id-twice-in-batch", COMMIT, commit(calls(1, "c-1"), calls(2, "c-1")),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("items[1].usage_id", "USAGE_ID_REPEATED"),)),
    Bad("commit-usage-id-twice-via-sub-account", COMMIT,
        commit(calls(1, "c-1"), calls(2, "c-1", account_id="acme-dev")), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[1].usage_id", "USAGE_ID_REPEATED"),)),
    Bad("commit-request-id-reused-with-other-items", COMMIT,
        commit(calls(1, "c-1"), request_id=BASELINE_REQUEST_ID), Code.FAILED_PRECONDITION,
        "REQUEST_ID_REUSED"),
    Bad("commit-good-item-with-bad-item-writes-neither", COMMIT,
        commit(calls(1, "c-1"), calls(10**15 + 1, "c-2")), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[1].quantity", "QUANTITY_TOO_LARGE"),)),
    Bad("commit-bad-request-id-and-bad-item-both-named", COMMIT,
        commit(calls(1, "c-1", account_id="nobody"), request_id=""), Code.INVALID_ARGUMENT,
        "INVALID_USAGE",
        (("request_id", "REQUEST_ID_INVALID"), ("items[0].account_id", "ACCOUNT_NOT_FOUND"))),
    Bad("commit-truncated-bytes", COMMIT, lambda _b: b"\x0a\x0acommit", Code.INVALID_ARGUMENT,
        "MALFORMED_REQUEST"),
    # RatingService/VoidCharge.
    Bad("void-unknown-charge", VOID, lambda _b: rat.VoidChargeRequest(charge_id=UNKNOWN_CHARGE),
        Code.NOT_FOUND, "CHARGE_NOT_FOUND"),
    # Every id a request names is checked (ids.check_id) before it is looked up.
    Bad("void-charge-id-missing", VOID, lambda _b: rat.VoidChargeRequest(),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("charge_id", "CHARGE_ID_INVALID"),)),
    Bad("void-charge-id-with-space", VOID, lambda _b: rat.VoidChargeRequest(charge_id="ch_1 2"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("charge_id", "CHARGE_ID_INVALID"),)),
    Bad("void-every-bad-field-named", VOID,
        lambda _b: rat.VoidChargeRequest(charge_id="", reason="r" * 10_000),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("charge_id", "CHARGE_ID_INVALID"), ("reason", "REASON_TOO_LONG"))),
    Bad("void-charge-id-invalid-utf8-bytes", VOID, lambda _b: b"\x0a\x02\xc3\x28",
        Code.INVALID_ARGUMENT, "MALFORMED_REQUEST"),
    # AccountService/CreateAccount.
    Bad("create-existing-account", CREATE, lambda _b: acc.CreateAccountRequest(account_id="acme"),
        Code.ALREADY_EXISTS, "ACCOUNT_EXISTS"),
    Bad("create-account-id-missing", CREATE, lambda _b: acc.CreateAccountRequest(),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("account_id", "ACCOUNT_ID_INVALID"),)),
    Bad("create-account-id-129-chars", CREATE,
        lambda _b: acc.CreateAccountRequest(account_id="a" * 129), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("account_id", "ACCOUNT_ID_INVALID"),)),
    Bad("create-account-id-with-tab", CREATE,
        lambda _b: acc.CreateAccountRequest(account_id="new\tacct"), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("account_id", "ACCOUNT_ID_INVALID"),)),
    Bad("create-unknown-plan", CREATE,
        lambda _b: acc.CreateAccountRequest(account_id="initech", plan="gold"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("plan", "PLAN_UNKNOWN"),)),
    Bad("create-unknown-time-zone", CREATE,
        lambda _b: acc.CreateAccountRequest(account_id="initech", time_zone="Mars/Olympus_Mons"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("time_zone", "TIME_ZONE_UNKNOWN"),)),
    # Only tzdata's names: "localtime" is the host's own zone, "Factory" no zone at all.
    *(Bad(f"create-time-zone-{name.replace('/', '-')}", CREATE,
          lambda _b, name=name: acc.CreateAccountRequest(account_id="initech", time_zone=name),
          Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("time_zone", "TIME_ZONE_UNKNOWN"),))
      for name in ("localtime", "Factory", "posixrules", "right/UTC")),
    Bad("create-sub-account-with-plan-zone-and-payg", CREATE,
        lambda _b: acc.CreateAccountRequest(
            account_id="acme-ops", parent_account_id="acme", plan="pro", time_zone="UTC",
            pay_as_you_go=True),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("plan", "SET_ON_MAIN_ACCOUNT"), ("time_zone", "SET_ON_MAIN_ACCOUNT"),
         ("pay_as_you_go", "SET_ON_MAIN_ACCOUNT"))),
    Bad("create-sub-account-of-a-sub-account", CREATE,
        lambda _b: acc.CreateAccountRequest(account_id="acme-dev-2", parent_account_id="acme-dev"),
        Code.FAILED_PRECONDITION, "PARENT_IS_SUB_ACCOUNT"),
    Bad("create-sub-account-of-unknown-account", CREATE,
        lambda _b: acc.CreateAccountRequest(account_id="orphan", parent_account_id="nobody"),
        Code.NOT_FOUND, "ACCOUNT_NOT_FOUND"),
    Bad("create-parent-account-id-with-space", CREATE,
        lambda _b: acc.CreateAccountRequest(account_id="orphan", parent_account_id="ac me"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("parent_account_id", "PARENT_ACCOUNT_ID_INVALID"),)),
    Bad("create-parent-account-id-129-chars", CREATE,
        lambda _b: acc.CreateAccountRequest(account_id="orphan", parent_account_id="p" * 129),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("parent_account_id", "PARENT_ACCOUNT_ID_INVALID"),)),
    # AccountService/GetAccount and UpdateAccount.
    Bad("get-unknown-account", GET_ACCOUNT,
        lambda _b: acc.GetAccountRequest(account_id="nobody"), Code.NOT_FOUND, "ACCOUNT_NOT_FOUND"),
    Bad("get-account-id-missing", GET_ACCOUNT, lambda _b: acc.GetAccountRequest(),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("account_id", "ACCOUNT_ID_INVALID"),)),
    Bad("update-account-id-with-tab", UPDATE,
        lambda _b: acc.UpdateAccountRequest(account_id="ac\tme", pay_as_you_go=True),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("account_id", "ACCOUNT_ID_INVALID"),)),
    Bad("get-account-truncated-bytes", GET_ACCOUNT, lambda _b: b"\x0a\x7facme",
        Code.INVALID_ARGUMENT, "MALFORMED_REQUEST"),
    Bad("update-unknown-account", UPDATE,
        lambda _b: acc.UpdateAccountRequest(account_id="nobody", pay_as_you_go=True),
        Code.NOT_FOUND, "ACCOUNT_NOT_FOUND"),
    Bad("update-unknown-plan", UPDATE,
        lambda _b: acc.UpdateAccountRequest(account_id="acme", plan="gold"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("plan", "PLAN_UNKNOWN"),)),
    Bad("update-sub-account", UPDATE,
        lambda _b: acc.UpdateAccountRequest(account_id="acme-dev", plan="basic"),
        Code.FAILED_PRECONDITION, "SUB_ACCOUNT"),
    # AccountService/GrantResourcePack.
    Bad("grant-points-abc", GRANT, grant(points="abc"), Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("points", "POINTS_INVALID"),)),
    Bad("grant-points-missing", GRANT, grant(points=""), Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("points", "POINTS_INVALID"),)),
    Bad("grant-points-negative", GRANT, grant(points="-5"), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("points", "POINTS_INVALID"),)),
    Bad("grant-points-zero", GRANT, grant(points="0.000000"), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("points", "POINTS_INVALID"),)),
    Bad("grant-points-7-decimals", GRANT, grant(points="1.0000001"), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("points", "POINTS_INVALID"),)),
    Bad("grant-points-with-exponent", GRANT, grant(points="1e3"), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("points", "POINTS_INVALID"),)),
    Bad("grant-points-beyond-int64-micros", GRANT, grant(points="9" * 40), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("points", "POINTS_INVALID"),)),
    # Only the plain syntax (money.parse_decimal): Decimal() and str.strip() took these.
    *(Bad(f"grant-points-{name}", GRANT, grant(points=points), Code.INVALID_ARGUMENT,
          "INVALID_REQUEST", (("points", "POINTS_INVALID"),))
      for name, points in (("leading-space", " 5"), ("trailing-newline", "5\n"),
                           ("tab", "\t5"), ("no-leading-digit", ".5"),
                           ("no-digit-after-point", "5."), ("underscore", "1_000"),
                           ("plus-sign", "+5"), ("nan", "NaN"), ("infinity", "Infinity"),
                           ("fullwidth-digit", "\uff15"), ("200-digits", "0" * 199 + "5"))),
    Bad("grant-expire-before-valid-from", GRANT,
        grant(valid_from=at(NOV_10), expire_time=at(NOV_1)), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("expire_time", "EXPIRY_NOT_AFTER_START"),)),
    Bad("grant-expire-equal-to-valid-from", GRANT,
        grant(valid_from=at(NOV_1), expire_time=at(NOV_1)), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("expire_time", "EXPIRY_NOT_AFTER_START"),)),
    Bad("grant-request-id-with-space", GRANT, grant(request_id="grant 2"), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("request_id", "REQUEST_ID_INVALID"),)),
    Bad("grant-every-bad-field-named", GRANT,
        grant(points="1.2.3", valid_from=at(NOV_10), expire_time=at(NOV_1), request_id="x" * 129),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("points", "POINTS_INVALID"), ("expire_time", "EXPIRY_NOT_AFTER_START"),
         ("request_id", "REQUEST_ID_INVALID"))),
    Bad("grant-pack-request-id-reused-with-other-points", GRANT,
        grant(points="200", valid_from=at(NOV_1), request_id=BASELINE_PACK_REQUEST_ID),
        Code.FAILED_PRECONDITION, "REQUEST_ID_REUSED"),
    Bad("grant-to-sub-account", GRANT, grant(account_id="acme-dev"), Code.FAILED_PRECONDITION,
        "SUB_ACCOUNT"),
    Bad("grant-to-unknown-account", GRANT, grant(account_id="nobody"), Code.NOT_FOUND,
        "ACCOUNT_NOT_FOUND"),
    Bad("grant-account-id-missing", GRANT, grant(account_id=""), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("account_id", "ACCOUNT_ID_INVALID"),)),
    # AccountService/GrantCapacity.
    Bad("capacity-gib-zero", GRANT_CAPACITY, grant_capacity(gib=0), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("gib", "GIB_INVALID"),)),
    Bad("capacity-gib-past-a-million", GRANT_CAPACITY, grant_capacity(gib=1_000_001),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("gib", "GIB_INVALID"),)),
    Bad("capacity-neither-term-nor-expiry", GRANT_CAPACITY,
        grant_capacity(term=acc.CAPACITY_TERM_UNSPECIFIED), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("term", "TERM_MISSING"),)),
    Bad("capacity-term-and-expiry", GRANT_CAPACITY, grant_capacity(expire_time=at(NOV_10)),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("expire_time", "EXPIRY_WITH_TERM"),)),
    Bad("capacity-term-unknown", GRANT_CAPACITY, grant_capacity(term=7), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("term", "TERM_INVALID"),)),
    Bad("capacity-expire-before-valid-from", GRANT_CAPACITY,
        grant_capacity(term=acc.CAPACITY_TERM_UNSPECIFIED, valid_from=at(NOV_10),
                       expire_time=at(NOV_1)),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("expire_time", "EXPIRY_NOT_AFTER_START"),)),
    Bad("capacity-price-missing", GRANT_CAPACITY,
        lambda _b: acc.GrantCapacityRequest(account_id="acme", gib=5,
                                            term=acc.CAPACITY_TERM_YEAR),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("price", "PRICE_MISSING"),)),
    Bad("capacity-price-negative", GRANT_CAPACITY, grant_capacity(price_points="-1"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("price_points", "PRICE_INVALID"),)),
    Bad("capacity-price-points-7-decimals", GRANT_CAPACITY,
        grant_capacity(price_points="1.0000001"), Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("price_points", "PRICE_INVALID"),)),
    Bad("capacity-price-yuan-10-decimals", GRANT_CAPACITY,
        grant_capacity(price_yuan="0.0000000001"), Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("price_yuan", "PRICE_INVALID"),)),
    Bad("capacity-term-past-2262", GRANT_CAPACITY,
        grant_capacity(term=acc.CAPACITY_TERM_YEAR,
                       valid_from=at(datetime(2262, 1, 1, tzinfo=UTC))),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("valid_from", "VALID_FROM_INVALID"),)),
    Bad("capacity-request-id-reused-with-other-gib", GRANT_CAPACITY,
        grant_capacity(gib=6, valid_from=at(datetime(2026, 11, 1, tzinfo=UTC)),
                       request_id=BASELINE_CAPACITY_REQUEST_ID),
        Code.FAILED_PRECONDITION, "REQUEST_ID_REUSED"),
    Bad("capacity-to-sub-account", GRANT_CAPACITY, grant_capacity(account_id="acme-dev"),
        Code.FAILED_PRECONDITION, "SUB_ACCOUNT"),
    Bad("capacity-to-unknown-account", GRANT_CAPACITY, grant_capacity(account_id="nobody"),
        Code.NOT_FOUND, "ACCOUNT_NOT_FOUND"),
    # RatingService/Reserve, Extend, Release, and commits naming a reservation.
    Bad("reserve-every-bad-field-named", RESERVE,
        reserve(request_id="", quantity=0, ttl=duration_pb2.Duration(seconds=90_000),
                sku="knowledge.storage"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("request_id", "REQUEST_ID_INVALID"), ("quantity", "QUANTITY_INVALID"),
         ("ttl", "TTL_INVALID"), ("sku", "SKU_NOT_RESERVABLE"))),
    Bad("reserve-ttl-missing", RESERVE, lambda _b: rat.ReserveRequest(
        request_id="r", account_id="acme", sku="agent.call", quantity=1),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("ttl", "TTL_MISSING"),)),
    Bad("reserve-ttl-not-a-duration", RESERVE,
        reserve(ttl=duration_pb2.Duration(seconds=1, nanos=-5)), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("ttl", "TTL_INVALID"),)),
    Bad("reserve-sku-unknown", RESERVE, reserve(sku="no.such.sku"), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("sku", "SKU_UNKNOWN"),)),
    Bad("reserve-amount-past-a-lines-limit", RESERVE,
        reserve(sku="rtc.video.4k", quantity=10**15), Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("quantity", "AMOUNT_TOO_LARGE"),)),
    Bad("reserve-unknown-account", RESERVE, reserve(account_id="nobody"), Code.NOT_FOUND,
        "ACCOUNT_NOT_FOUND"),
    Bad("reserve-request-id-reused-with-other-quantity", RESERVE,
        reserve(request_id=BASELINE_RESERVE_REQUEST_ID, quantity=11), Code.FAILED_PRECONDITION,
        "REQUEST_ID_REUSED"),
    Bad("extend-nothing-to-extend", EXTEND,
        lambda b: rat.ExtendRequest(request_id="e", reservation_id=b.released),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("quantity", "NOTHING_TO_EXTEND"),)),
    Bad("extend-unknown-reservation", EXTEND,
        lambda _b: rat.ExtendRequest(request_id="e", reservation_id="rsv_none", quantity=1),
        Code.NOT_FOUND, "RESERVATION_NOT_FOUND"),
    Bad("extend-released-reservation", EXTEND,
        lambda b: rat.ExtendRequest(request_id="e", reservation_id=b.released, quantity=1),
        Code.FAILED_PRECONDITION, "RESERVATION_RELEASED"),
    Bad("release-reservation-id-missing", RELEASE, lambda _b: rat.ReleaseRequest(),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("reservation_id", "RESERVATION_ID_INVALID"),)),
    Bad("release-unknown-reservation", RELEASE,
        lambda _b: rat.ReleaseRequest(reservation_id="rsv_none"), Code.NOT_FOUND,
        "RESERVATION_NOT_FOUND"),
    Bad("commit-settling-an-unknown-reservation", COMMIT, commit(settling("rsv_none")),
        Code.NOT_FOUND, "RESERVATION_NOT_FOUND",
        (("items[0].reservation_id", "RESERVATION_NOT_FOUND"),)),
    Bad("commit-settling-one-reservation-twice", COMMIT,
        commit(settling("rsv_1", "a"), settling("rsv_1", "b")), Code.INVALID_ARGUMENT,
        "INVALID_USAGE", (("items[1].reservation_id", "RESERVATION_REPEATED"),)),
    Bad("commit-settling-a-released-reservation", COMMIT, commit_settling_released,
        Code.FAILED_PRECONDITION, "RESERVATION_RELEASED"),
    # AccountService/WatchCharges.
    Bad("watch-unknown-account", WATCH_CHARGES,
        lambda _b: acc.WatchChargesRequest(account_id="nobody"), Code.NOT_FOUND,
        "ACCOUNT_NOT_FOUND"),
    Bad("watch-sub-account", WATCH_CHARGES,
        lambda _b: acc.WatchChargesRequest(account_id="acme-dev"), Code.FAILED_PRECONDITION,
        "SUB_ACCOUNT"),
    Bad("watch-account-id-with-space", WATCH_CHARGES,
        lambda _b: acc.WatchChargesRequest(account_id="ac me"), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("account_id", "ACCOUNT_ID_INVALID"),)),
    Bad("watch-cursor-forged", WATCH_CHARGES,
        lambda _b: acc.WatchChargesRequest(account_id="acme", cursor="forged"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("cursor", "CURSOR_INVALID"),)),
    # AccountService/WatchBalance.
    Bad("watch-balance-unknown-account", WATCH_BALANCE,
        lambda _b: acc.WatchBalanceRequest(account_id="nobody"), Code.NOT_FOUND,
        "ACCOUNT_NOT_FOUND"),
    Bad("watch-balance-account-id-missing", WATCH_BALANCE,
        lambda _b: acc.WatchBalanceRequest(), Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("account_id", "ACCOUNT_ID_INVALID"),)),
    # AccountService/GetBalance.
    Bad("balance-day-not-a-date", BALANCE,
        lambda _b: acc.GetBalanceRequest(account_id="acme", day="2026-02-30"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("day", "DAY_INVALID"),)),
    Bad("balance-day-wrong-format", BALANCE,
        lambda _b: acc.GetBalanceRequest(account_id="acme", day="27/11/2026"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("day", "DAY_INVALID"),)),
    Bad("balance-day-with-time", BALANCE,
        lambda _b: acc.GetBalanceRequest(account_id="acme", day="2026-11-27T00:00"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("day", "DAY_INVALID"),)),
    Bad("balance-unknown-account", BALANCE,
        lambda _b: acc.GetBalanceRequest(account_id="nobody"), Code.NOT_FOUND,
        "ACCOUNT_NOT_FOUND"),
    Bad("balance-account-id-missing", BALANCE, lambda _b: acc.GetBalanceRequest(),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("account_id", "ACCOUNT_ID_INVALID"),)),
    # Only YYYY-MM-DD: date.fromisoformat() took ISO week dates and the basic format.
    *(Bad(f"balance-day-{name}", BALANCE,
          lambda _b, day=day: acc.GetBalanceRequest(account_id="acme", day=day),
          Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("day", "DAY_INVALID"),))
      for name, day in (("iso-week-date", "2026-W48-2"), ("basic-and-spaces", "20261120  "),
                        ("basic-iso-week-and-spaces", "2026W482  "),
                        ("fullwidth-digits", "\uff12\uff10\uff12\uff16-11-27"),
                        ("trailing-newline", "2026-11-27\n"))),
    Bad("balance-every-bad-field-named", BALANCE,
        lambda _b: acc.GetBalanceRequest(account_id="", day="2026-W48-2"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("account_id", "ACCOUNT_ID_INVALID"), ("day", "DAY_INVALID"))),
    # AccountService/ListCharges.
    Bad("list-charges-page-size-negative", LIST_CHARGES, list_charges(page_size=-1),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("page_size", "PAGE_SIZE_NEGATIVE"),)),
    Bad("list-charges-page-token-garbage", LIST_CHARGES, list_charges(page_token="not-a-token!"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("page_token", "PAGE_TOKEN_INVALID"),)),
    Bad("list-charges-page-token-of-other-filters", LIST_CHARGES,
        lambda b: acc.ListChargesRequest(
            account_id="acme", start_time=at(NOV_1), page_token=b.charges_page_token),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("page_token", "PAGE_TOKEN_INVALID"),)),
    Bad("list-charges-page-token-of-other-account", LIST_CHARGES,
        lambda b: acc.ListChargesRequest(account_id="acme-dev", page_token=b.charges_page_token),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("page_token", "PAGE_TOKEN_INVALID"),)),
    Bad("list-charges-end-before-start", LIST_CHARGES,
        list_charges(start_time=at(NOV_10), end_time=at(NOV_1)), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("end_time", "END_NOT_AFTER_START"),)),
    Bad("list-charges-unknown-account", LIST_CHARGES, list_charges(account_id="nobody"),
        Code.NOT_FOUND, "ACCOUNT_NOT_FOUND"),
    Bad("list-charges-account-id-with-space", LIST_CHARGES, list_charges(account_id="ac me"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("account_id", "ACCOUNT_ID_INVALID"),)),
    # AccountService/GetStatement.
    Bad("statement-month-13", STATEMENT,
        lambda _b: acc.GetStatementRequest(account_id="acme", month="2026-13"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("month", "MONTH_INVALID"),)),
    Bad("statement-month-missing", STATEMENT,
        lambda _b: acc.GetStatementRequest(account_id="acme"), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("month", "MONTH_INVALID"),)),
    Bad("statement-month-given-as-day", STATEMENT,
        lambda _b: acc.GetStatementRequest(account_id="acme", month="2026-11-01"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("month", "MONTH_INVALID"),)),
    Bad("statement-of-sub-account", STATEMENT,
        lambda _b: acc.GetStatementRequest(account_id="acme-dev", month="2026-11"),
        Code.FAILED_PRECONDITION, "SUB_ACCOUNT"),
    Bad("statement-unknown-account", STATEMENT,
        lambda _b: acc.GetStatementRequest(account_id="nobody", month="2026-11"),
        Code.NOT_FOUND, "ACCOUNT_NOT_FOUND"),
    Bad("statement-account-id-missing", STATEMENT,
        lambda _b: acc.GetStatementRequest(month="2026-11"), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("account_id", "ACCOUNT_ID_INVALID"),)),
    Bad("statement-month-iso-week", STATEMENT,
        lambda _b: acc.GetStatementRequest(account_id="acme", month="2026W48"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("month", "MONTH_INVALID"),)),
    # CatalogService/ListSkus and GetSku.
    Bad("list-skus-page-size-negative", LIST_SKUS, lambda _b: cat.ListSkusRequest(page_size=-1),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("page_size", "PAGE_SIZE_NEGATIVE"),)),
    Bad("list-skus-unknown-category", LIST_SKUS, lambda _b: cat.ListSkusRequest(category=99),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("category", "CATEGORY_UNKNOWN"),)),
    Bad("list-skus-page-token-garbage", LIST_SKUS,
        lambda _b: cat.ListSkusRequest(page_token="%%%"), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("page_token", "PAGE_TOKEN_INVALID"),)),
    Bad("list-skus-page-token-of-other-category", LIST_SKUS,
        lambda b: cat.ListSkusRequest(
            page_token=b.skus_page_token, category=usage_pb2.CATEGORY_AGENT),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("page_token", "PAGE_TOKEN_INVALID"),)),
    Bad("list-skus-every-bad-field-named", LIST_SKUS,
        lambda _b: cat.ListSkusRequest(page_size=-5, category=42, page_token="%%%"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("page_size", "PAGE_SIZE_NEGATIVE"), ("category", "CATEGORY_UNKNOWN"),
         ("page_token", "PAGE_TOKEN_INVALID"))),
    Bad("get-sku-missing", GET_SKU, lambda _b: cat.GetSkuRequest(), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("sku", "SKU_MISSING"),)),
    Bad("get-sku-unknown", GET_SKU, lambda _b: cat.GetSkuRequest(sku="model.nope.input"),
        Code.NOT_FOUND, "SKU_NOT_FOUND"),
    # Found by this table and fixed: ranges, hostile tokens, zone names, echoed sizes.
    Bad("grant-valid-from-after-year-9999", GRANT,
        grant(valid_from=timestamp_pb2.Timestamp(seconds=10**12)), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("valid_from", ANY),)),
    Bad("grant-valid-from-nanos-out-of-range", GRANT,
        grant(valid_from=timestamp_pb2.Timestamp(seconds=1_795_000_000, nanos=2_000_000_000)),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("valid_from", ANY),)),
    Bad("list-charges-start-after-year-9999", LIST_CHARGES,
        list_charges(start_time=timestamp_pb2.Timestamp(seconds=10**12)), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("start_time", ANY),)),
    Bad("list-charges-start-nanos-out-of-range", LIST_CHARGES,
        list_charges(start_time=timestamp_pb2.Timestamp(seconds=0, nanos=-1)),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("start_time", ANY),)),
    Bad("list-charges-page-token-tampered-offset", LIST_CHARGES, tampered_charges_token,
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("page_token", "PAGE_TOKEN_INVALID"),)),
    Bad("list-charges-page-token-deeply-nested-json", LIST_CHARGES,
        list_charges(page_token=DEEP_JSON_TOKEN), Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("page_token", "PAGE_TOKEN_INVALID"),)),
    Bad("list-skus-page-token-deeply-nested-json", LIST_SKUS,
        lambda _b: cat.ListSkusRequest(page_token=DEEP_JSON_TOKEN), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("page_token", "PAGE_TOKEN_INVALID"),)),
    Bad("create-time-zone-naming-a-tzdata-folder", CREATE,
        lambda _b: acc.CreateAccountRequest(account_id="initech", time_zone="Asia"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("time_zone", "TIME_ZONE_UNKNOWN"),)),
    Bad("create-time-zone-300-chars", CREATE,
        lambda _b: acc.CreateAccountRequest(account_id="initech", time_zone="Z" * 300),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("time_zone", "TIME_ZONE_UNKNOWN"),)),
    Bad("get-account-id-20000-chars", GET_ACCOUNT,
        lambda _b: acc.GetAccountRequest(account_id=HUGE), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("account_id", "ACCOUNT_ID_INVALID"),)),
    Bad("get-sku-name-20000-chars", GET_SKU, lambda _b: cat.GetSkuRequest(sku=HUGE),
        Code.NOT_FOUND, "SKU_NOT_FOUND"),
    Bad("balance-day-20000-chars", BALANCE,
        lambda _b: acc.GetBalanceRequest(account_id="acme", day=HUGE), Code.INVALID_ARGUMENT,
        "INVALID_REQUEST", (("day", "DAY_INVALID"),)),
    Bad("commit-item-account-id-20000-chars", COMMIT, commit(calls(1, "c-1", account_id=HUGE)),
        Code.INVALID_ARGUMENT, "INVALID_USAGE", (("items[0].account_id", ANY),)),
    # Monthly budgets, on CreateAccount and UpdateAccount.
    *(Bad(f"create-budget-{name}", CREATE,
          lambda _b, points=points: acc.CreateAccountRequest(
              account_id="initech", monthly_budget_points=points),
          Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("monthly_budget_points", "POINTS_INVALID"),))
      for name, points in (("zero", "0"), ("negative", "-5"), ("7-decimals", "1.0000001"),
                           ("abc", "abc"), ("exponent", "1e3"), ("too-large", "9" * 40))),
    Bad("create-sub-account-with-budget", CREATE,
        lambda _b: acc.CreateAccountRequest(
            account_id="acme-ops", parent_account_id="acme", monthly_budget_points="100"),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("monthly_budget_points", "SET_ON_MAIN_ACCOUNT"),)),
    *(Bad(f"update-budget-{name}", UPDATE,
          lambda _b, points=points: acc.UpdateAccountRequest(
              account_id="acme", monthly_budget_points=points),
          Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("monthly_budget_points", "POINTS_INVALID"),))
      for name, points in (("zero", "0.000000"), ("negative", "-1"), ("7-decimals", "0.0000001"),
                           ("space", " 5"))),
    Bad("update-budget-of-sub-account", UPDATE,
        lambda _b: acc.UpdateAccountRequest(account_id="acme-dev", monthly_budget_points="100"),
        Code.FAILED_PRECONDITION, "SUB_ACCOUNT"),
    Bad("update-budget-removed-from-sub-account", UPDATE,
        lambda _b: acc.UpdateAccountRequest(account_id="acme-dev", monthly_budget_points=""),
        Code.FAILED_PRECONDITION, "SUB_ACCOUNT"),
    # AccountService/SetAlertThresholds and GetAlertThresholds.
    *(Bad(f"thresholds-{field.replace('_', '-')}-{name}", SET_THRESHOLDS,
          lambda _b, field=field, points=points: acc.SetAlertThresholdsRequest(
              account_id="acme", **{field: points}),
          Code.INVALID_ARGUMENT, "INVALID_REQUEST", ((field, "POINTS_INVALID"),))
      for field in ("free_points_below", "pack_points_below", "pay_as_you_go_points_above")
      for name, points in (("zero", "0"), ("negative", "-1"), ("7-decimals", "1.0000001"))),
    *(Bad(f"thresholds-{field.replace('_', '-')}-{percent}", SET_THRESHOLDS,
          lambda _b, field=field, percent=percent: acc.SetAlertThresholdsRequest(
              account_id="acme", **{field: percent}),
          Code.INVALID_ARGUMENT, "INVALID_REQUEST", ((field, "PERCENT_INVALID"),))
      for field in ("pack_percent_below", "pay_as_you_go_budget_percent_above")
      for percent in (-1, 101)),
    Bad("thresholds-every-bad-field-named", SET_THRESHOLDS,
        lambda _b: acc.SetAlertThresholdsRequest(
            account_id="", free_points_below="x", pack_points_below="0", pack_percent_below=200,
            pay_as_you_go_points_above="-3", pay_as_you_go_budget_percent_above=-5),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST",
        (("account_id", "ACCOUNT_ID_INVALID"), ("free_points_below", "POINTS_INVALID"),
         ("pack_points_below", "POINTS_INVALID"),
         ("pay_as_you_go_points_above", "POINTS_INVALID"),
         ("pack_percent_below", "PERCENT_INVALID"),
         ("pay_as_you_go_budget_percent_above", "PERCENT_INVALID"))),
    Bad("thresholds-budget-percent-without-a-budget", SET_THRESHOLDS,
        lambda _b: acc.SetAlertThresholdsRequest(
            account_id="acme", free_points_below="100", pay_as_you_go_budget_percent_above=80),
        Code.FAILED_PRECONDITION, "BUDGET_MISSING"),
    Bad("thresholds-of-sub-account", SET_THRESHOLDS,
        lambda _b: acc.SetAlertThresholdsRequest(account_id="acme-dev", free_points_below="1"),
        Code.FAILED_PRECONDITION, "SUB_ACCOUNT"),
    Bad("thresholds-of-unknown-account", SET_THRESHOLDS,
        lambda _b: acc.SetAlertThresholdsRequest(account_id="nobody", free_points_below="1"),
        Code.NOT_FOUND, "ACCOUNT_NOT_FOUND"),
    Bad("get-thresholds-of-sub-account", GET_THRESHOLDS,
        lambda _b: acc.GetAlertThresholdsRequest(account_id="acme-dev"),
        Code.FAILED_PRECONDITION, "SUB_ACCOUNT"),
    Bad("get-thresholds-of-unknown-account", GET_THRESHOLDS,
        lambda _b: acc.GetAlertThresholdsRequest(account_id="nobody"),
        Code.NOT_FOUND, "ACCOUNT_NOT_FOUND"),
    Bad("get-thresholds-account-id-missing", GET_THRESHOLDS,
        lambda _b: acc.GetAlertThresholdsRequest(),
        Code.INVALID_ARGUMENT, "INVALID_REQUEST", (("account_id", "ACCOUNT_ID_INVALID"),)),
    # RatingService/GetLimits: no fields, so only bytes that are no message.
    Bad("get-limits-truncated-bytes", GET_LIMITS, lambda _b: b"\x0a\x7flimits",
        Code.INVALID_ARGUMENT, "MALFORMED_REQUEST"),
)
# fmt: on


def table_params() -> list[Any]:
    return [pytest.param(bad, id=bad.id) for bad in TABLE]


def test_the_table_holds_over_forty_distinct_bad_requests_covering_every_rpc() -> None:
    ids = [bad.id for bad in TABLE]
    assert len(set(ids)) == len(ids)
    assert len(TABLE) >= 40
    assert {bad.method for bad in TABLE} == set(REQUEST_TYPES)
    assert len(REQUEST_TYPES) == 21


@pytest.mark.parametrize("bad", table_params())
def test_each_bad_request_gets_its_status_and_details_and_changes_nothing(
    bad: Bad, table_server: RatingServer, table_channel: grpc.Channel, baseline: Baseline
) -> None:
    request = bad.build(baseline)
    data = request if isinstance(request, bytes) else request.SerializeToString()
    before = ledger_state(table_server.settings.db_path)

    with pytest.raises(grpc.RpcError) as caught:
        raw_call(table_channel, bad.method, data)

    assert caught.value.code() == bad.code, caught.value.details()  # type: ignore[attr-defined]
    error = rich_error(caught.value)
    assert (error.info.domain, error.info.reason) == ("rating", bad.reason)
    assert error.message
    got = [(v.field, v.reason) for v in error.violations]
    assert [field for field, _ in got] == [field for field, _ in bad.violations]
    for (_, reason), (_, expected) in zip(got, bad.violations, strict=True):
        assert expected is ANY or reason == expected, got
    if bad.violations:
        assert error.info.metadata["violations"] == str(len(bad.violations))
    if bad.code == Code.NOT_FOUND:
        assert error.resource is not None and error.resource.resource_name

    assert_unchanged(before, ledger_state(table_server.settings.db_path))
    assert invariants.check(table_server.ledger) == []
    assert_serving(table_channel)


# --- random bytes on every RPC ---------------------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


@st.composite
def wire_field(draw: st.DrawFn, payloads: st.SearchStrategy[bytes]) -> bytes:
    """One protobuf field: a small field number, any wire type, a fitting payload."""
    number = draw(st.integers(1, 8))
    wire_type = draw(st.sampled_from([0, 0, 1, 2, 2, 2, 5, 3, 4]))
    tag = varint(number << 3 | wire_type)
    if wire_type == 0:
        return tag + varint(draw(st.integers(0, 2**64 - 1)))
    if wire_type == 1:
        return tag + draw(st.binary(min_size=8, max_size=8))
    if wire_type == 5:
        return tag + draw(st.binary(min_size=4, max_size=4))
    if wire_type == 2:
        payload = draw(payloads)
        return tag + varint(len(payload)) + payload
    return tag  # a group start or end, which proto3 messages never hold


def protobuf_like() -> st.SearchStrategy[bytes]:
    texts = st.text(max_size=12).map(str.encode)
    payloads = st.recursive(
        st.one_of(st.binary(max_size=12), texts),
        lambda inner: st.lists(wire_field(inner), max_size=4).map(b"".join),
        max_leaves=8,
    )
    return st.lists(wire_field(payloads), max_size=6).map(b"".join)


def decodes(method: str, data: bytes) -> bool:
    try:
        REQUEST_TYPES[method].FromString(data)
    except DecodeError:
        return False
    return True


@pytest.fixture(scope="module")
def fuzz_server(new_database: NewDatabase) -> Iterator[RatingServer]:
    with running_server(new_database("fuzz")) as server:
        yield server


@pytest.fixture(scope="module")
def fuzz_channel(fuzz_server: RatingServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(fuzz_server.address) as opened:
        build_baseline(opened)
        yield opened


@settings(
    max_examples=100,
    derandomize=True,
    database=None,
)
@given(
    method=st.sampled_from(sorted(REQUEST_TYPES)),
    data=st.one_of(st.binary(max_size=64), protobuf_like()),
)
def test_random_bytes_on_any_rpc_never_crash_and_undecodable_ones_are_malformed_request(
    fuzz_server: RatingServer, fuzz_channel: grpc.Channel, method: str, data: bytes
) -> None:
    db_path = fuzz_server.settings.db_path
    before = ledger_state(db_path)
    try:
        raw_call(fuzz_channel, method, data)
    except grpc.RpcError as failure:
        code = failure.code()  # type: ignore[attr-defined]
        assert code not in (Code.INTERNAL, Code.UNKNOWN), failure.details()  # type: ignore[attr-defined]
        error = rich_error(failure)
        event(f"{code.name} {error.info.reason}")
        if not decodes(method, data):
            assert (code, error.info.reason) == (Code.INVALID_ARGUMENT, "MALFORMED_REQUEST")
        assert_unchanged(before, ledger_state(db_path))
    else:
        event(f"OK {method}")
        assert decodes(method, data)
        if method not in WRITERS:
            assert_unchanged(before, ledger_state(db_path))
    assert invariants.check(fuzz_server.ledger) == []
    assert_serving(fuzz_channel)


# --- limits gRPC and the guard enforce --------------------------------------------------


def test_calls_past_the_concurrency_limit_get_resource_exhausted_until_slots_free(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered = threading.Semaphore(0)
    release = threading.Event()
    original = rating_servicer.rate_batch

    def held(*args: Any, **kwargs: Any) -> RatedBatch:
        entered.release()
        assert release.wait(TIMEOUT), "the test never released the held call"
        return original(*args, **kwargs)

    monkeypatch.setattr(rating_servicer, "rate_batch", held)
    # Plain quotes skip rate_batch (plain_quote): these take the general path.
    monkeypatch.setattr(rating_servicer.plain_quote.PlainQuoter, "quote", lambda *_args: None)
    request = rat.QuoteRequest(items=[calls(1, "u-held")])
    with (
        running_server(database, max_concurrent_rpcs=2) as server,
        grpc.insecure_channel(server.address) as channel,
    ):
        rating = rating_service_pb2_grpc.RatingServiceStub(channel)
        catalog = catalog_service_pb2_grpc.CatalogServiceStub(channel)
        try:
            first = rating.Quote.future(request, timeout=TIMEOUT)
            second = rating.Quote.future(request, timeout=TIMEOUT)
            assert entered.acquire(timeout=TIMEOUT) and entered.acquire(timeout=TIMEOUT)

            for refused in (
                lambda: rating.Quote(request, timeout=TIMEOUT),
                lambda: catalog.GetSku(cat.GetSkuRequest(sku="agent.call"), timeout=TIMEOUT),
            ):
                with pytest.raises(grpc.RpcError) as caught:
                    refused()
                error = rich_error(caught.value)
                assert error.code == Code.RESOURCE_EXHAUSTED
                assert error.info.reason == "TOO_MANY_CONCURRENT_CALLS"
                assert error.info.metadata["limit"] == "2"
        finally:
            release.set()
        assert first.result(timeout=TIMEOUT).total_points == "2"
        assert second.result(timeout=TIMEOUT).total_points == "2"

        again = [rating.Quote.future(request, timeout=TIMEOUT) for _ in range(2)]
        assert [call.result(timeout=TIMEOUT).total_points for call in again] == ["2", "2"]
        sku = catalog.GetSku(cat.GetSkuRequest(sku="agent.call"), timeout=TIMEOUT)
        assert sku.sku.id == "agent.call"


def test_a_request_over_32_mib_gets_resource_exhausted_and_the_server_keeps_serving(
    table_server: RatingServer, table_channel: grpc.Channel, baseline: Baseline
) -> None:
    size = table_server.settings.max_message_bytes
    assert size == 32 * 1024 * 1024
    account_id = b"a" * size  # QuoteRequest.account_id alone is already over the limit
    data = b"\x12" + varint(len(account_id)) + account_id
    before = ledger_state(table_server.settings.db_path)

    with pytest.raises(grpc.RpcError) as caught:
        raw_call(table_channel, QUOTE, data)

    assert caught.value.code() == Code.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    assert "larger than max" in caught.value.details()  # type: ignore[attr-defined]
    assert_unchanged(before, ledger_state(table_server.settings.db_path))
    assert_serving(table_channel)
