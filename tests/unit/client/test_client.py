"""Unit tests of the client package's own logic, against an in-process fake server.

No rating server runs here. A ``grpc.server`` on 127.0.0.1:0 serves fake
RatingService, AccountService and CatalogService servicers that record every request
they receive (with its metadata and the deadline left) and answer as each test
scripts them: a response, a plain or rich error status, or a stall.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from rating import AsyncRatingClient, BatchCommitter, ClientOptions, RatingClient, errors, usage
from rating import columns as column_form
from rating._operations import new_request_id
from rating.columns import ColumnQuote, ColumnReceipt
from rating.committer import BufferFullError, CommitterClosedError, Failure
from rating.session import AsyncSession, Session, SessionEndedError
from rating.types import (
    Balance,
    CapacityPurchase,
    ChargeEvent,
    Receipt,
    Reservation,
    ReservationSettled,
)
from rating.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    catalog_service_pb2,
    catalog_service_pb2_grpc,
    columns_pb2,
    rating_service_pb2,
    rating_service_pb2_grpc,
    reservation_pb2,
    usage_pb2,
)
from rating_server.catalog.model import CatalogSnapshot

NOON = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))
# Generous deadlines: a loaded 2-core machine may be slow, but never this slow.
TIMEOUT = 30.0
COMMIT_TIMEOUT = 60.0
# How long a test waits for a condition before it fails.
WAIT = 60.0
OPTIONS = ClientOptions(timeout=TIMEOUT, commit_timeout=COMMIT_TIMEOUT)
FAST = (0.01, 0.05)  # committer backoff

Action = Callable[[Any, grpc.ServicerContext], Message]


def stamp(when: datetime) -> timestamp_pb2.Timestamp:
    result = timestamp_pb2.Timestamp()
    result.FromDatetime(when)
    return result


def call(usage_id: str = "u-1", account_id: str = "acme") -> usage_pb2.UsageItem:
    return usage.agent_calls(1, usage_id=usage_id, account_id=account_id, occurred_at=NOON)


ITEM = call()


# The fake server.


@dataclass(frozen=True)
class Call:
    """One request the fake received."""

    method: str
    request: Any
    metadata: dict[str, str]
    time_remaining: float | None
    at: float
    #: When the fake started: every call was made after it.
    since: float


def sent_items(
    request: rating_service_pb2.QuoteRequest | rating_service_pb2.CommitChargesRequest,
) -> list[usage_pb2.UsageItem]:
    """The items of a request, sent as rows or as columns."""
    if request.HasField("columns"):
        return column_form.items_of(request.columns)
    return list(request.items)


def rated_columns(columns: columns_pb2.UsageColumns) -> columns_pb2.RatedColumns:
    """The fake's lines of columns: 1 point per item, at one price per SKU name."""
    return columns_pb2.RatedColumns(
        prices=[columns_pb2.LinePrice(sku=sku, requested_sku=sku) for sku in columns.skus],
        price_indices=columns.sku_indices,
        rated_quantities=columns.quantities,
        micros=[1_000_000] * len(columns.usage_ids),
    )


def quoted(request: rating_service_pb2.QuoteRequest) -> Message:
    """A quote's answer: nothing for rows; 1 point per item for columns."""
    if not request.HasField("columns"):
        return rating_service_pb2.QuoteResponse()
    count = len(request.columns.usage_ids)
    return rating_service_pb2.QuoteResponse(
        columns=rated_columns(request.columns), total_points=str(count)
    )


def committed(request: rating_service_pb2.CommitChargesRequest) -> Message:
    """A commit's answer: one line per item (as the request sent them: rows or columns),
    a charge id made of the request_id."""
    if request.HasField("columns"):
        return rating_service_pb2.CommitChargesResponse(
            charge_id=f"ch-{request.request_id}",
            columns=rated_columns(request.columns),
            total_points=str(len(request.columns.usage_ids)),
            commit_time=stamp(NOON),
        )
    return rating_service_pb2.CommitChargesResponse(
        charge_id=f"ch-{request.request_id}",
        lines=[
            usage_pb2.RatedLine(
                usage_id=item.usage_id,
                account_id=item.account_id,
                sku=item.sku,
                quantity=item.quantity,
                points="1",
            )
            for item in request.items
        ],
        total_points=str(len(request.items)),
        commit_time=stamp(NOON),
    )


RESPONSES: dict[str, type[Message]] = {
    "VoidCharge": rating_service_pb2.VoidChargeResponse,
    "Reserve": rating_service_pb2.ReserveResponse,
    "Extend": rating_service_pb2.ExtendResponse,
    "Release": rating_service_pb2.ReleaseResponse,
    "GetLimits": rating_service_pb2.GetLimitsResponse,
    "CreateAccount": account_service_pb2.CreateAccountResponse,
    "GetAccount": account_service_pb2.GetAccountResponse,
    "UpdateAccount": account_service_pb2.UpdateAccountResponse,
    "GrantResourcePack": account_service_pb2.GrantResourcePackResponse,
    "GrantCapacity": account_service_pb2.GrantCapacityResponse,
    "GetBalance": account_service_pb2.GetBalanceResponse,
    "ListCharges": account_service_pb2.ListChargesResponse,
    "GetStatement": account_service_pb2.GetStatementResponse,
    "SetAlertThresholds": account_service_pb2.SetAlertThresholdsResponse,
    "GetAlertThresholds": account_service_pb2.GetAlertThresholdsResponse,
    "ListSkus": catalog_service_pb2.ListSkusResponse,
    "GetSku": catalog_service_pb2.GetSkuResponse,
}


def reserved(request: rating_service_pb2.ReserveRequest) -> Message:
    """A Reserve's answer: all of it granted, 1 point per unit, held from free points."""
    return rating_service_pb2.ReserveResponse(
        reservation=reservation_pb2.Reservation(
            reservation_id=f"rsv-{request.request_id}",
            account_id=request.account_id,
            billing_account_id=request.account_id,
            sku=f"{request.sku}.voice",
            requested_sku=request.sku,
            requested_quantity=request.quantity,
            granted_quantity=request.quantity,
            held_points=str(request.quantity),
            holds=[
                usage_pb2.Funding(
                    source=usage_pb2.FUNDING_SOURCE_FREE_POINTS,
                    points=str(request.quantity),
                    day="2026-11-27",
                )
            ],
            state=reservation_pb2.RESERVATION_STATE_HELD,
            create_time=stamp(NOON),
            expire_time=stamp(NOON + request.ttl.ToTimedelta()),
        )
    )


def extended(request: rating_service_pb2.ExtendRequest) -> Message:
    return rating_service_pb2.ExtendResponse(
        reservation=reservation_pb2.Reservation(
            reservation_id=request.reservation_id,
            state=reservation_pb2.RESERVATION_STATE_HELD,
            granted_quantity=request.quantity,
        )
    )


def released(request: rating_service_pb2.ReleaseRequest) -> Message:
    return rating_service_pb2.ReleaseResponse(
        reservation=reservation_pb2.Reservation(
            reservation_id=request.reservation_id,
            state=reservation_pb2.RESERVATION_STATE_RELEASED,
            end_time=stamp(NOON + timedelta(minutes=1)),
        )
    )


def answer_by_default(method: str) -> Action:
    if method == "Quote":
        return lambda request, context: quoted(request)
    if method == "CommitCharges":
        return lambda request, context: committed(request)
    if method == "Reserve":
        return lambda request, context: reserved(request)
    if method == "Extend":
        return lambda request, context: extended(request)
    if method == "Release":
        return lambda request, context: released(request)
    if method == "WatchCharges":
        return lambda request, context: iter(())
    return lambda request, context: RESPONSES[method]()


class Fake:
    """What the fake servicers share: the calls received and the scripted answers."""

    def __init__(self) -> None:
        self.target = ""
        self.started = time.monotonic()
        self.calls: list[Call] = []
        #: Set at teardown, so that no handler stays stalled.
        self.released = threading.Event()
        self._scripts: dict[str, deque[Action]] = defaultdict(deque)
        self._defaults: dict[str, Action] = {}
        self._lock = threading.Lock()

    def script(self, method: str, *actions: Action) -> None:
        """The next answers to ``method``, one per call; then its default answer."""
        with self._lock:
            self._scripts[method].extend(actions)

    def always(self, method: str, action: Action) -> None:
        with self._lock:
            self._defaults[method] = action

    def requests(self, method: str) -> list[Any]:
        with self._lock:
            return [c.request for c in self.calls if c.method == method]

    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def handle(self, method: str, request: Any, context: grpc.ServicerContext) -> Message:
        with self._lock:
            self.calls.append(
                Call(
                    method,
                    request,
                    dict(context.invocation_metadata()),  # type: ignore[arg-type]
                    context.time_remaining(),
                    time.monotonic(),
                    self.started,
                )
            )
            script = self._scripts[method]
            action = (
                script.popleft()
                if script
                else self._defaults.get(method) or answer_by_default(method)
            )
        return action(request, context)


class FakeRatingService(rating_service_pb2_grpc.RatingServiceServicer):
    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    def Quote(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("Quote", request, context)

    def CommitCharges(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("CommitCharges", request, context)

    def VoidCharge(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("VoidCharge", request, context)

    def Reserve(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("Reserve", request, context)

    def Extend(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("Extend", request, context)

    def Release(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("Release", request, context)

    def GetLimits(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("GetLimits", request, context)


class FakeAccountService(account_service_pb2_grpc.AccountServiceServicer):
    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    def CreateAccount(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("CreateAccount", request, context)

    def GetAccount(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("GetAccount", request, context)

    def UpdateAccount(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("UpdateAccount", request, context)

    def GrantResourcePack(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("GrantResourcePack", request, context)

    def GrantCapacity(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("GrantCapacity", request, context)

    def GetBalance(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("GetBalance", request, context)

    def ListCharges(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("ListCharges", request, context)

    def GetStatement(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("GetStatement", request, context)

    def SetAlertThresholds(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("SetAlertThresholds", request, context)

    def GetAlertThresholds(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("GetAlertThresholds", request, context)

    def WatchCharges(self, request: Any, context: grpc.ServicerContext) -> Iterator[Message]:
        """A stream: its action returns the messages (see ``feed``)."""
        yield from self.fake.handle("WatchCharges", request, context)  # type: ignore[misc]


class FakeCatalogService(catalog_service_pb2_grpc.CatalogServiceServicer):
    def __init__(self, fake: Fake) -> None:
        self.fake = fake

    def ListSkus(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("ListSkus", request, context)

    def GetSku(self, request: Any, context: grpc.ServicerContext) -> Message:
        return self.fake.handle("GetSku", request, context)


# Scripted answers.


def reply(response: Message) -> Action:
    return lambda request, context: response


def fail(code: grpc.StatusCode, message: str = "scripted failure") -> Action:
    """Abort with a plain status: a code and a message, no google.rpc details."""

    def action(request: Any, context: grpc.ServicerContext) -> Message:
        context.abort(code, message)
        raise AssertionError("abort returned")

    return action


def rich_status(code: grpc.StatusCode, message: str, *details: Message) -> status_pb2.Status:
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        status.details.add().Pack(detail)
    return status


def fail_with(status: status_pb2.Status) -> Action:
    """Abort with a rich google.rpc.Status in the grpc-status-details-bin trailer."""

    def action(request: Any, context: grpc.ServicerContext) -> Message:
        context.abort_with_status(rpc_status.to_status(status))
        raise AssertionError("abort returned")

    return action


def unavailable() -> Action:
    return fail(grpc.StatusCode.UNAVAILABLE, "scripted outage")


def stalled(fake: Fake, until: threading.Event, method: str = "CommitCharges") -> Action:
    """Answer by default only once ``until`` (or the fake's teardown) is set."""

    def action(request: Any, context: grpc.ServicerContext) -> Message:
        deadline = time.monotonic() + WAIT
        while not (until.is_set() or fake.released.is_set()) and time.monotonic() < deadline:
            until.wait(0.01)
        return answer_by_default(method)(request, context)

    return action


def too_slow(request: Any, context: grpc.ServicerContext) -> Message:
    """Answer only after the caller's deadline has passed."""
    deadline = time.monotonic() + 5
    while context.is_active() and time.monotonic() < deadline:
        time.sleep(0.01)
    return rating_service_pb2.QuoteResponse()


def assert_deadline(received: Call, seconds: float) -> None:
    """The call carried a deadline ``seconds`` from when it was made (gRPC sends it
    rounded up). It was made after the fake started, so no more than the time since
    then can have run off it by its arrival, however slow the machine."""
    assert received.time_remaining is not None, f"{received.method} had no deadline"
    elapsed = received.at - received.since
    assert seconds - elapsed - 0.01 <= received.time_remaining <= seconds + 0.1


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


# Fixtures.


@pytest.fixture
def fake() -> Iterator[Fake]:
    fake = Fake()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    rating_service_pb2_grpc.add_RatingServiceServicer_to_server(FakeRatingService(fake), server)
    account_service_pb2_grpc.add_AccountServiceServicer_to_server(FakeAccountService(fake), server)
    catalog_service_pb2_grpc.add_CatalogServiceServicer_to_server(FakeCatalogService(fake), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    fake.target = f"127.0.0.1:{port}"
    yield fake
    fake.released.set()
    server.stop(grace=None).wait()


def connect(fake: Fake, **changes: Any) -> RatingClient:
    return RatingClient(fake.target, options=dataclasses.replace(OPTIONS, **changes))


@pytest.fixture
def client(fake: Fake) -> Iterator[RatingClient]:
    with connect(fake) as opened:
        yield opened


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


# Reservations and sessions.

TTL = duration_pb2.Duration(seconds=300)
WHO_AT_NOON: dict[str, Any] = {"account_id": "acme", "occurred_at": NOON}


def reservation_message(**fields: Any) -> reservation_pb2.Reservation:
    values: dict[str, Any] = {
        "reservation_id": "rsv-1",
        "account_id": "acme",
        "sku": "rtc.audio.voice",
        "state": reservation_pb2.RESERVATION_STATE_HELD,
        "create_time": stamp(NOON),
        "expire_time": stamp(NOON + timedelta(minutes=5)),
        **fields,
    }
    return reservation_pb2.Reservation(**values)


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


def test_a_settled_reservation_reads_its_charge_and_end_time() -> None:
    raw = reservation_message(
        state=reservation_pb2.RESERVATION_STATE_SETTLED,
        end_time=stamp(NOON + timedelta(minutes=3)),
        settle_charge_id="ch-9",
    )
    settled = Reservation.of(raw)
    assert (settled.state, settled.settle_charge_id) == ("settled", "ch-9")
    assert settled.end_time == NOON + timedelta(minutes=3)


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


def test_a_balance_without_holds_reads_zero_held() -> None:
    balance = Balance.of(account_service_pb2.GetBalanceResponse(packs=[{}]))
    assert (balance.free_points_held, balance.pay_as_you_go_held_points) == (0, 0)
    assert (balance.packs[0].held_points, balance.reservations) == (0, ())


def open_session(client: RatingClient, **changes: Any) -> Session:
    fields: dict[str, Any] = {
        "account_id": "acme",
        "sku": "rtc.audio",
        "quantity": 600_000,
        "ttl": 300,
        **changes,
    }
    return client.session(**fields)


def test_a_session_reserves_on_entering_and_settles_with_one_item_naming_its_reservation(
    fake: Fake, client: RatingClient
) -> None:
    with open_session(client, request_id="call-1") as session:
        assert fake.requests("Reserve") == [
            rating_service_pb2.ReserveRequest(
                request_id="call-1", account_id="acme", sku="rtc.audio", quantity=600_000, ttl=TTL
            )
        ]
        assert (session.reservation_id, session.granted_quantity) == ("rsv-call-1", 600_000)
        assert session.held_points == Decimal(600_000)
        assert session.started_at == NOON
        receipt = session.settle(412_000, usage_id="room-9:alice", attributes={"room": "9"})

    [commit] = fake.requests("CommitCharges")
    assert commit.request_id.startswith("req-")
    assert list(commit.items) == [
        usage_pb2.UsageItem(
            usage_id="room-9:alice",
            account_id="acme",
            # The SKU the reservation resolved, as it was rated.
            sku="rtc.audio.voice",
            quantity=412_000,
            # The session's start: the usage is rated as the reservation was.
            occurred_at=stamp(NOON),
            attributes={"room": "9"},
            reservation_id="rsv-call-1",
        )
    ]
    assert (receipt.request_id, receipt.charge_id) == (commit.request_id, f"ch-{commit.request_id}")
    assert session.receipt == receipt
    assert session.settled
    # Settled: leaving releases nothing.
    assert fake.requests("Release") == []


def test_a_session_settles_at_the_occurred_at_given(fake: Fake, client: RatingClient) -> None:
    later = NOON + timedelta(minutes=2)
    with open_session(client) as session:
        session.settle(1000, usage_id="u", occurred_at=later, request_id="settle-1")
    [commit] = fake.requests("CommitCharges")
    assert (commit.request_id, commit.items[0].occurred_at) == ("settle-1", stamp(later))


def test_a_session_left_without_settling_releases_its_reservation(
    fake: Fake, client: RatingClient
) -> None:
    with open_session(client, request_id="call-2") as session:
        pass
    assert fake.requests("Release") == [
        rating_service_pb2.ReleaseRequest(reservation_id="rsv-call-2")
    ]
    assert fake.requests("CommitCharges") == []
    assert session.reservation.state == "released"
    assert not session.settled


def test_a_session_granted_nothing_releases_its_reservation_too(
    fake: Fake, client: RatingClient
) -> None:
    fake.script(
        "Reserve",
        reply(
            rating_service_pb2.ReserveResponse(
                reservation=reservation_message(granted_quantity=0, held_points="0")
            )
        ),
    )
    with open_session(client) as session:
        refused = session.granted_quantity == 0
    assert refused
    assert [r.reservation_id for r in fake.requests("Release")] == ["rsv-1"]


def test_a_session_left_by_an_exception_releases_and_the_exception_propagates(
    fake: Fake, client: RatingClient
) -> None:
    with pytest.raises(KeyError, match="hang-up"), open_session(client, request_id="call-3"):
        raise KeyError("hang-up")
    assert [r.reservation_id for r in fake.requests("Release")] == ["rsv-call-3"]


def test_a_second_settle_and_an_extend_after_settle_raise_before_any_call(
    fake: Fake, client: RatingClient
) -> None:
    with open_session(client) as session:
        session.settle(1000, usage_id="u-1")
        with pytest.raises(SessionEndedError, match="settled"):
            session.settle(1000, usage_id="u-1")
        with pytest.raises(SessionEndedError, match="settled"):
            session.extend(quantity=1000)
    assert len(fake.requests("CommitCharges")) == 1
    assert fake.requests("Extend") == []
    assert fake.requests("Release") == []


def test_a_session_refuses_to_settle_or_extend_outside_its_block(
    fake: Fake, client: RatingClient
) -> None:
    session = open_session(client)
    with pytest.raises(SessionEndedError):
        session.settle(1000, usage_id="u-1")
    with session:
        pass
    with pytest.raises(SessionEndedError):
        session.settle(1000, usage_id="u-1")
    with pytest.raises(SessionEndedError):
        session.extend(ttl=60)
    assert (fake.requests("CommitCharges"), fake.requests("Extend")) == ([], [])
    with pytest.raises(RuntimeError, match="once"), session:
        pass


def test_a_session_extends_its_reservation_and_reads_the_new_grant(
    fake: Fake, client: RatingClient
) -> None:
    fake.script(
        "Extend",
        reply(
            rating_service_pb2.ExtendResponse(
                reservation=reservation_message(reservation_id="rsv-x", granted_quantity=900_000)
            )
        ),
    )
    with open_session(client, request_id="x") as session:
        extended = session.extend(quantity=300_000, ttl=600)
        assert session.granted_quantity == 900_000
        assert session.reservation == extended
    [sent] = fake.requests("Extend")
    assert (sent.reservation_id, sent.quantity, sent.ttl) == (
        "rsv-x",
        300_000,
        duration_pb2.Duration(seconds=600),
    )
    assert sent.request_id.startswith("req-")


def test_a_settle_that_failed_is_resent_with_the_same_request_id(
    fake: Fake, client: RatingClient
) -> None:
    fake.script("CommitCharges", fail(grpc.StatusCode.DEADLINE_EXCEEDED, "lost"))
    with open_session(client) as session:
        with pytest.raises(errors.DeadlineExceededError) as caught:
            session.settle(1000, usage_id="u-1")
        assert not session.settled
        receipt = session.settle(1000, usage_id="u-1")
    first, second = fake.requests("CommitCharges")
    assert first == second
    assert caught.value.request_id == receipt.request_id == first.request_id
    assert fake.requests("Release") == []


def test_leaving_after_a_settle_whose_answer_was_lost_takes_settled_for_released(
    fake: Fake, client: RatingClient
) -> None:
    fake.script("CommitCharges", fail(grpc.StatusCode.DEADLINE_EXCEEDED, "lost"))
    fake.script(
        "Release",
        fail_with(
            rich_status(
                grpc.StatusCode.FAILED_PRECONDITION,
                "reservation rsv-1 was settled",
                error_details_pb2.ErrorInfo(reason="RESERVATION_SETTLED", domain="rating"),
            )
        ),
    )
    with open_session(client) as session, pytest.raises(errors.DeadlineExceededError):
        session.settle(1000, usage_id="u-1")
    assert len(fake.requests("Release")) == 1


def test_a_release_that_fails_on_leaving_by_an_exception_is_noted_on_it(fake: Fake) -> None:
    fake.script("Release", unavailable())
    with (
        connect(fake, max_attempts=1) as client,
        pytest.raises(KeyError) as caught,
        open_session(client),
    ):
        raise KeyError("hang-up")
    [note] = caught.value.__notes__
    assert "releasing reservation rsv-" in note
    assert "UNAVAILABLE" in note


def test_a_release_that_fails_on_a_normal_exit_is_raised(fake: Fake) -> None:
    fake.script("Release", fail(grpc.StatusCode.FAILED_PRECONDITION, "no"))
    with (
        connect(fake, max_attempts=1) as client,
        pytest.raises(errors.FailedPreconditionError),
        open_session(client),
    ):
        pass


def test_a_session_whose_reserve_fails_raises_and_releases_nothing(
    fake: Fake, client: RatingClient
) -> None:
    fake.script("Reserve", fail(grpc.StatusCode.INVALID_ARGUMENT, "bad ttl"))
    entered = False
    with pytest.raises(errors.InvalidArgumentError), open_session(client, ttl=10**6):
        entered = True
    assert not entered
    assert fake.requests("Release") == []


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


def test_a_balance_reads_its_budget_and_what_is_left_and_none_without_one() -> None:
    balance = Balance.of(
        account_service_pb2.GetBalanceResponse(budget_points="100", budget_left_points="0")
    )
    assert (balance.budget_points, balance.budget_left_points) == (Decimal(100), Decimal(0))
    none = Balance.of(account_service_pb2.GetBalanceResponse())
    assert (none.budget_points, none.budget_left_points) == (None, None)


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


def capacity_purchase(**fields: Any) -> account_service_pb2.CapacityPurchase:
    return account_service_pb2.CapacityPurchase(
        **{
            "purchase_id": "cap-1",
            "account_id": "acme",
            "gib": 5,
            "term": account_service_pb2.CAPACITY_TERM_MONTH,
            "valid_from": stamp(NOON),
            "expire_time": stamp(NOON + timedelta(days=30)),
            "price_points": "30500",
            "price_yuan": "30.5",
            "create_time": stamp(NOON),
        }
        | fields
    )


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


def sku_message(sku_id: str = "agent.call", priced: bool = True) -> catalog_service_pb2.Sku:
    version = catalog_service_pb2.PriceVersion(
        effective_from=stamp(datetime(2026, 1, 1, tzinfo=UTC)), unit_price="0.1"
    )
    raw = catalog_service_pb2.Sku(
        id=sku_id,
        category=usage_pb2.CATEGORY_AGENT,
        unit="call",
        price_unit=1,
        billed_by=usage_pb2.BILLED_BY_COZE,
        aliases=["智能体调用"],
        price_versions=[version] if priced else [],
    )
    if priced:
        raw.current_price.CopyFrom(version)
    return raw


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


# The charges feed (WatchCharges).

Feed = account_service_pb2.WatchChargesResponse
#: How a scripted stream ends: held open until the caller goes (the server's feed
#: never ends by itself), ended with an OK status, or failed with a status.
HOLD = "hold"
OK = "ok"


def marker(cursor: str) -> Feed:
    """The first message of a stream started without a cursor: where it starts."""
    return Feed(cursor=cursor)


def line_event(cursor: str, usage_id: str, charge_id: str = "ch-1") -> Feed:
    return Feed(
        cursor=cursor,
        billing_account_id="acme",
        event_time=stamp(NOON),
        line=account_service_pb2.ChargeEntry(
            charge_id=charge_id,
            usage_id=usage_id,
            account_id="acme",
            billing_account_id="acme",
            points="2",
            funding=[usage_pb2.Funding(source=usage_pb2.FUNDING_SOURCE_FREE_POINTS, points="2")],
            commit_time=stamp(NOON),
        ),
    )


def stopping() -> status_pb2.Status:
    """What a server that stops ends its streams with."""
    return rich_status(
        grpc.StatusCode.UNAVAILABLE,
        "the server is stopping: reconnect with the cursor of the last event",
        error_details_pb2.ErrorInfo(reason="SERVER_STOPPING", domain="rating.v1"),
    )


def stream(fake: Fake, *messages: Feed, end: str | status_pb2.Status = HOLD) -> Action:
    """A WatchCharges answer: ``messages``, then ``end``."""

    def action(request: Any, context: grpc.ServicerContext) -> Any:
        def messages_then_end() -> Iterator[Feed]:
            yield from messages
            if isinstance(end, status_pb2.Status):
                context.abort_with_status(rpc_status.to_status(end))
            while end == HOLD and context.is_active() and not fake.released.is_set():
                fake.released.wait(0.01)

        return messages_then_end()

    return action


def cursors_sent(fake: Fake) -> list[str]:
    return [request.cursor for request in fake.requests("WatchCharges")]


NO_WAIT = (0.0, 0.0)  # reconnect backoff in tests: at once


def test_watch_charges_reads_lines_settlements_and_voids_and_keeps_the_markers_cursor(
    fake: Fake, client: RatingClient
) -> None:
    settled = Feed(
        cursor="c2",
        billing_account_id="acme",
        event_time=stamp(NOON),
        settlement=account_service_pb2.ReservationSettled(reservation_id="rsv-1", charge_id="ch-1"),
    )
    voided = Feed(
        cursor="c3",
        billing_account_id="acme",
        event_time=stamp(NOON + timedelta(minutes=1)),
        void=account_service_pb2.ChargeVoided(
            charge_id="ch-1",
            reversals=[usage_pb2.Funding(source=usage_pb2.FUNDING_SOURCE_FREE_POINTS, points="-2")],
        ),
    )
    fake.script("WatchCharges", stream(fake, marker("c0"), line_event("c1", "u1"), settled, voided))
    with client.watch_charges("acme") as feed:
        assert feed.cursor == "c0"  # where it starts, before any event: to keep
        line, settlement, void = next(feed), next(feed), next(feed)
        assert feed.cursor == "c3"
    assert fake.requests("WatchCharges") == [
        account_service_pb2.WatchChargesRequest(account_id="acme", cursor="")
    ]
    assert [e.kind for e in (line, settlement, void)] == ["line", "settlement", "void"]
    assert (line.cursor, line.billing_account_id, line.event_time) == ("c1", "acme", NOON)
    assert line.line is not None and line.settlement is None and line.void is None
    assert (line.line.usage_id, line.line.points) == ("u1", Decimal(2))
    assert line.line.funding[0].source == "free_points"
    assert settlement.settlement == ReservationSettled("rsv-1", "ch-1")
    assert void.void is not None and void.void.charge_id == "ch-1"
    assert [(f.source, f.points) for f in void.void.reversals] == [("free_points", Decimal(-2))]
    assert void.event_time == NOON + timedelta(minutes=1)
    assert void.raw == voided
    # Closed by leaving the block: the iteration is over.
    assert feed.closed
    with pytest.raises(StopIteration):
        next(feed)


def test_a_start_marker_is_no_event() -> None:
    with pytest.raises(ValueError, match="start marker"):
        ChargeEvent.of(marker("c0"))


def test_the_feed_resumes_after_unavailable_mid_stream_from_the_last_events_cursor(
    fake: Fake, client: RatingClient
) -> None:
    fake.script(
        "WatchCharges",
        stream(fake, marker("c0"), line_event("c1", "u1"), line_event("c2", "u2"), end=stopping()),
        stream(fake, line_event("c3", "u3")),
    )
    with client.watch_charges("acme", backoff=NO_WAIT) as feed:
        assert [next(feed).line.usage_id for _ in range(3)] == ["u1", "u2", "u3"]  # type: ignore[union-attr]
        assert feed.reconnects == 1
    assert cursors_sent(fake) == ["", "c2"]


def test_the_feed_resumes_from_the_markers_cursor_when_no_event_came_before_unavailable(
    fake: Fake, client: RatingClient
) -> None:
    fake.script(
        "WatchCharges",
        stream(fake, marker("c0"), end=stopping()),
        stream(fake, line_event("c1", "u1")),
    )
    with client.watch_charges("acme", backoff=NO_WAIT) as feed:
        assert next(feed).cursor == "c1"
    assert cursors_sent(fake) == ["", "c0"]


def test_a_feed_given_a_cursor_starts_after_it_and_resumes_after_a_stream_ended_early(
    fake: Fake, client: RatingClient
) -> None:
    fake.script(
        "WatchCharges",
        stream(fake, line_event("c6", "u6"), end=OK),  # something between ended it
        stream(fake, line_event("c7", "u7")),
    )
    feed = client.watch_charges("acme", cursor="c5", backoff=NO_WAIT)
    assert feed.cursor == "c5"
    assert [next(feed).cursor, next(feed).cursor] == ["c6", "c7"]
    feed.close()
    assert cursors_sent(fake) == ["c5", "c6"]


def test_a_bad_cursor_raises_invalid_argument_naming_it_and_is_not_retried(
    fake: Fake, client: RatingClient
) -> None:
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(
                field="cursor", reason="CURSOR_INVALID", description="not one this feed gave"
            )
        ]
    )
    status = rich_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad request",
        error_details_pb2.ErrorInfo(reason="INVALID_REQUEST"),
        bad,
    )
    fake.always("WatchCharges", fail_with(status))
    with (
        client.watch_charges("acme", cursor="forged", backoff=NO_WAIT) as feed,
        pytest.raises(errors.InvalidArgumentError) as caught,
    ):
        next(feed)
    assert [(v.field, v.reason) for v in caught.value.violations] == [("cursor", "CURSOR_INVALID")]
    assert len(fake.calls_of("WatchCharges")) == 1


def test_a_feed_raises_unavailable_after_max_reconnects_in_a_row_without_a_message(
    fake: Fake,
) -> None:
    fake.always("WatchCharges", unavailable())
    with (
        connect(fake, max_attempts=1) as client,
        pytest.raises(errors.UnavailableError),
    ):
        next(client.watch_charges("acme", max_reconnects=2, backoff=NO_WAIT))
    assert len(fake.calls_of("WatchCharges")) == 3  # the first stream and 2 reconnects


def test_max_reconnects_counts_failures_in_a_row_a_message_read_starts_it_again(
    fake: Fake, client: RatingClient
) -> None:
    fake.script(
        "WatchCharges",
        stream(fake, marker("c0"), line_event("c1", "u1"), end=stopping()),
        stream(fake, line_event("c2", "u2"), end=stopping()),
        stream(fake, line_event("c3", "u3")),
    )
    with client.watch_charges("acme", max_reconnects=1, backoff=NO_WAIT) as feed:
        assert [next(feed).cursor for _ in range(3)] == ["c1", "c2", "c3"]
        assert feed.reconnects == 2
    assert cursors_sent(fake) == ["", "c1", "c2"]


def iterate_in_a_thread(feed: Any) -> tuple[threading.Thread, list[Any]]:
    """``list(feed)`` in a thread: what it returned (or raised), once it ends."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(list(feed))
        except Exception as error:  # handed to the test
            result.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_close_ends_a_next_waiting_on_an_idle_stream_from_another_thread(
    fake: Fake, client: RatingClient
) -> None:
    fake.script("WatchCharges", stream(fake, marker("c0")))
    feed = client.watch_charges("acme").start()
    thread, result = iterate_in_a_thread(feed)
    feed.close()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert result == [[]]
    assert feed.cursor == "c0"


def test_close_ends_the_wait_before_a_reconnect(fake: Fake) -> None:
    fake.always("WatchCharges", unavailable())
    with connect(fake, max_attempts=1) as client:
        feed = client.watch_charges("acme", backoff=(600.0, 600.0))
        thread, result = iterate_in_a_thread(feed)
        wait_until(lambda: len(fake.calls_of("WatchCharges")) == 1)
        feed.close()
        thread.join(WAIT)  # far less than the 300 s at least that the backoff would wait
    assert not thread.is_alive()
    assert result == [[]]
    assert len(fake.calls_of("WatchCharges")) == 1


def test_a_feed_sends_the_token_and_has_no_deadline(fake: Fake) -> None:
    fake.script("WatchCharges", stream(fake, marker("c0")))
    with connect(fake, token="t") as client, client.watch_charges("acme"):
        pass
    [received] = fake.calls_of("WatchCharges")
    assert received.metadata["authorization"] == "Bearer t"
    # No deadline (gRPC tells it as none, or as centuries): the feed never ends by itself.
    assert received.time_remaining is None or received.time_remaining > 10**9


def test_a_feed_refuses_a_negative_bound_or_a_backoff_that_is_no_range(
    client: RatingClient,
) -> None:
    with pytest.raises(ValueError, match="max_reconnects"):
        client.watch_charges("acme", max_reconnects=-1)
    with pytest.raises(ValueError, match="backoff"):
        client.watch_charges("acme", backoff=(2.0, 1.0))


# Every call: deadline, token.

CALLS: list[tuple[str, Callable[[RatingClient], object]]] = [
    ("Quote", lambda c: c.quote([ITEM])),
    ("CommitCharges", lambda c: c.commit([ITEM])),
    ("VoidCharge", lambda c: c.void_charge("ch-1")),
    ("Reserve", lambda c: c.reserve("acme", "rtc.audio", 60_000, 60)),
    ("Extend", lambda c: c.extend("rsv-1", ttl=60)),
    ("Release", lambda c: c.release("rsv-1")),
    ("CreateAccount", lambda c: c.create_account("acme")),
    ("GetAccount", lambda c: c.get_account("acme")),
    ("UpdateAccount", lambda c: c.update_account("acme", plan="pro")),
    ("GrantResourcePack", lambda c: c.grant_pack("acme", 1)),
    ("GrantCapacity", lambda c: c.grant_capacity("acme", 5, term="month", price_points=0)),
    ("GetBalance", lambda c: c.get_balance("acme")),
    ("ListCharges", lambda c: c.list_charges("acme")),
    ("GetStatement", lambda c: c.get_statement("acme", "2026-11")),
    ("SetAlertThresholds", lambda c: c.set_alert_thresholds("acme", pack_percent_below=10)),
    ("GetAlertThresholds", lambda c: c.get_alert_thresholds("acme")),
    ("ListSkus", lambda c: c.list_skus()),
    ("GetSku", lambda c: c.get_sku("agent.call")),
    ("GetLimits", lambda c: c.get_limits()),
]
#: The same RPCs, with the items sent as columns.
COLUMN_CALLS: list[tuple[str, Callable[[RatingClient], object]]] = [
    ("Quote", lambda c: c.quote_columns([ITEM])),
    ("CommitCharges", lambda c: c.commit_columns([ITEM])),
]
CALL_IDS = [method for method, _ in CALLS] + [f"{method}-columns" for method, _ in COLUMN_CALLS]
CALLS += COLUMN_CALLS


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


#: The streams: no deadline (they never end while the server runs); the feed's own
#: tests check their token and their resumption.
STREAMS = ["WatchCharges", "WatchBalance"]


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


# Errors.

ERROR_CLASSES: dict[grpc.StatusCode, tuple[type[errors.RatingError], bool]] = {
    grpc.StatusCode.CANCELLED: (errors.CancelledError, False),
    grpc.StatusCode.UNKNOWN: (errors.InternalError, False),
    grpc.StatusCode.INVALID_ARGUMENT: (errors.InvalidArgumentError, False),
    grpc.StatusCode.DEADLINE_EXCEEDED: (errors.DeadlineExceededError, True),
    grpc.StatusCode.NOT_FOUND: (errors.NotFoundError, False),
    grpc.StatusCode.ALREADY_EXISTS: (errors.AlreadyExistsError, False),
    grpc.StatusCode.PERMISSION_DENIED: (errors.PermissionDeniedError, False),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (errors.ResourceExhaustedError, True),
    grpc.StatusCode.FAILED_PRECONDITION: (errors.FailedPreconditionError, False),
    grpc.StatusCode.ABORTED: (errors.AbortedError, True),
    grpc.StatusCode.OUT_OF_RANGE: (errors.InvalidArgumentError, False),
    grpc.StatusCode.UNIMPLEMENTED: (errors.InternalError, False),
    grpc.StatusCode.INTERNAL: (errors.InternalError, False),
    grpc.StatusCode.UNAVAILABLE: (errors.UnavailableError, True),
    grpc.StatusCode.DATA_LOSS: (errors.InternalError, False),
    grpc.StatusCode.UNAUTHENTICATED: (errors.UnauthenticatedError, False),
}
CODES = list(ERROR_CLASSES)


def test_the_error_table_covers_every_status_code_but_ok() -> None:
    assert set(ERROR_CLASSES) == set(grpc.StatusCode) - {grpc.StatusCode.OK}


@pytest.mark.parametrize("code", CODES, ids=lambda code: code.name)
def test_each_status_code_maps_to_its_error_class_with_the_error_info(
    fake: Fake, code: grpc.StatusCode
) -> None:
    info = error_details_pb2.ErrorInfo(
        reason="SOME_REASON", domain="rating", metadata={"account_id": "acme"}
    )
    fake.script("GetSku", fail_with(rich_status(code, f"{code.name} happened", info)))
    with connect(fake, max_attempts=1) as client, pytest.raises(errors.RatingError) as caught:
        client.get_sku("agent.call")

    error = caught.value
    expected, retryable = ERROR_CLASSES[code]
    assert type(error) is expected
    assert error.code == code
    assert error.retryable is retryable
    assert error.message == f"{code.name} happened"
    assert (error.reason, error.domain, error.metadata) == (
        "SOME_REASON",
        "rating",
        {"account_id": "acme"},
    )
    assert str(error) == f"{code.name} [SOME_REASON]: {code.name} happened"


@pytest.mark.parametrize("code", CODES, ids=lambda code: code.name)
def test_an_error_without_rich_details_maps_by_code_with_its_message(
    fake: Fake, code: grpc.StatusCode
) -> None:
    fake.script("GetSku", fail(code, "plain words"))
    with connect(fake, max_attempts=1) as client, pytest.raises(errors.RatingError) as caught:
        client.get_sku("agent.call")
    error = caught.value
    assert type(error) is ERROR_CLASSES[code][0]
    assert (error.code, error.message) == (code, "plain words")
    assert (error.reason, error.domain, dict(error.metadata)) == ("", "", {})
    assert error.violations == ()
    assert (error.resource_type, error.resource_name) == ("", "")


def test_an_error_without_a_message_is_named_by_its_code(fake: Fake, client: RatingClient) -> None:
    fake.script("GetSku", fail(grpc.StatusCode.NOT_FOUND, ""))
    with pytest.raises(errors.NotFoundError) as caught:
        client.get_sku("x")
    assert caught.value.message == "NOT_FOUND"


def test_a_bad_request_reports_every_field_violation_with_its_item_index(
    fake: Fake, client: RatingClient
) -> None:
    violation = error_details_pb2.BadRequest.FieldViolation
    status = rich_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "items[2].sku: no SKU 'x'",
        error_details_pb2.ErrorInfo(
            reason="INVALID_USAGE", domain="rating", metadata={"violations": "4"}
        ),
        error_details_pb2.BadRequest(
            field_violations=[
                violation(field="items[2].sku", reason="SKU_UNKNOWN", description="no SKU 'x'"),
                violation(field="items[0].quantity", reason="QUANTITY_NEGATIVE", description="-1"),
                violation(field="items[12].usage_id", reason="USAGE_ID_MISSING", description="!"),
                violation(field="request_id", reason="REQUEST_ID_MISSING", description="?"),
            ]
        ),
        error_details_pb2.RetryInfo(),  # a detail the client does not read: ignored
    )
    fake.script("Quote", fail_with(status))

    with pytest.raises(errors.InvalidArgumentError) as caught:
        client.quote([ITEM])

    error = caught.value
    assert (error.reason, error.domain, error.metadata) == (
        "INVALID_USAGE",
        "rating",
        {"violations": "4"},
    )
    assert error.message == "items[2].sku: no SKU 'x'"
    assert [(v.field, v.reason, v.description, v.item_index) for v in error.violations] == [
        ("items[2].sku", "SKU_UNKNOWN", "no SKU 'x'", 2),
        ("items[0].quantity", "QUANTITY_NEGATIVE", "-1", 0),
        ("items[12].usage_id", "USAGE_ID_MISSING", "!", 12),
        ("request_id", "REQUEST_ID_MISSING", "?", None),
    ]
    assert not error.retryable


def test_a_not_found_error_names_the_missing_resource(fake: Fake, client: RatingClient) -> None:
    status = rich_status(
        grpc.StatusCode.NOT_FOUND,
        "no account 'acme'",
        error_details_pb2.ErrorInfo(reason="ACCOUNT_NOT_FOUND", domain="rating"),
        error_details_pb2.ResourceInfo(resource_type="account", resource_name="acme"),
    )
    fake.script("GetAccount", fail_with(status))
    with pytest.raises(errors.NotFoundError) as caught:
        client.get_account("acme")
    assert (caught.value.resource_type, caught.value.resource_name) == ("account", "acme")
    assert caught.value.reason == "ACCOUNT_NOT_FOUND"


def test_every_error_class_is_a_rating_error() -> None:
    for expected, _ in ERROR_CLASSES.values():
        assert issubclass(expected, errors.RatingError)
        assert issubclass(expected, Exception)


# Options.


def test_options_from_env_read_every_variable(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / name for name in ("ca.pem", "cert.pem", "key.pem"))
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n")
    cert.write_bytes(b"-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n")
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n")

    options = ClientOptions.from_env(
        {
            "RATING_TARGET": "rating.internal:443",
            "RATING_TIMEOUT": "2.5",
            "RATING_TOKEN": "s3cret",
            "RATING_TLS": "1",
            "RATING_TLS_CA": str(ca),
            "RATING_TLS_CERT": str(cert),
            "RATING_TLS_KEY": str(key),
            "RATING_TLS_SERVER_NAME": "rating.test",
        }
    )

    assert options.target == "rating.internal:443"
    assert options.timeout == 2.5
    assert options.token == "s3cret"
    assert options.tls
    assert options.secure
    assert options.root_certificates == ca.read_bytes()
    assert options.certificate_chain == cert.read_bytes()
    assert options.private_key == key.read_bytes()
    assert options.server_name == "rating.test"
    assert ("grpc.ssl_target_name_override", "rating.test") in options.channel_options()
    assert options.credentials() is not None
    # Over TLS the token travels in the call credentials, not as plain metadata.
    assert options.call_metadata() == ()


def test_options_from_an_empty_env_are_the_defaults() -> None:
    options = ClientOptions.from_env({})
    assert options == ClientOptions()
    assert options.target == "127.0.0.1:50051"
    assert not options.secure
    assert options.credentials() is None
    assert options.call_metadata() == ()


@pytest.mark.parametrize(
    ("value", "tls"), [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)]
)
def test_rating_tls_turns_tls_on(value: str, tls: bool) -> None:
    assert ClientOptions.from_env({"RATING_TLS": value}).tls is tls


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RATING_TIMEOUT", "ten", "RATING_TIMEOUT must be a number of seconds above 0, not 'ten'"),
        ("RATING_TIMEOUT", "0", "RATING_TIMEOUT must be a number of seconds above 0, not '0'"),
        ("RATING_TIMEOUT", "inf", "RATING_TIMEOUT must be a number of seconds above 0"),
        ("RATING_TIMEOUT", "nan", "RATING_TIMEOUT must be a number of seconds above 0"),
        ("RATING_TLS", "maybe", "RATING_TLS must be 1 or 0"),
        ("RATING_TLS_CA", "/nonexistent/ca.pem", "RATING_TLS_CA: cannot read /nonexistent/ca.pem"),
    ],
)
def test_options_from_env_name_a_variable_they_cannot_use(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        ClientOptions.from_env({variable: value})
    assert str(refused.value).startswith(message), refused.value


def test_a_ca_alone_turns_tls_on(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"ca")
    assert ClientOptions.from_env({"RATING_TLS_CA": str(ca)}).secure


def test_client_from_env_connects_to_rating_target_with_the_token(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RATING_TARGET", fake.target)
    monkeypatch.setenv("RATING_TIMEOUT", "40")
    monkeypatch.setenv("RATING_TOKEN", "from-env")
    for name in ("RATING_TLS", "RATING_TLS_CA", "RATING_TLS_CERT", "RATING_TLS_KEY"):
        monkeypatch.delenv(name, raising=False)
    with RatingClient.from_env() as client:
        client.get_sku("agent.call")
    [received] = fake.calls
    assert received.metadata["authorization"] == "Bearer from-env"
    assert_deadline(received, 40.0)


def test_retries_are_configured_for_unavailable_only() -> None:
    options = dict(ClientOptions().channel_options())
    assert options["grpc.enable_retries"] == 1
    config = str(options["grpc.service_config"])
    assert '"retryableStatusCodes": ["UNAVAILABLE", "ABORTED"]' in config
    assert dict(ClientOptions(max_attempts=1).channel_options())["grpc.enable_retries"] == 0


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


# AsyncRatingClient.


def async_options(fake: Fake, **changes: Any) -> ClientOptions:
    return dataclasses.replace(OPTIONS, target=fake.target, **changes)


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


def test_async_session_settles_once_and_leaving_then_releases_nothing(fake: Fake) -> None:
    async def run() -> tuple[AsyncSession, Receipt]:
        async with AsyncRatingClient(options=async_options(fake)) as client:
            async with client.session("acme", "rtc.audio", 600_000, 300) as session:
                await session.extend(quantity=1000)
                receipt = await session.settle(5000, usage_id="room-1")
                with pytest.raises(SessionEndedError):
                    await session.settle(5000, usage_id="room-1")
            return session, receipt

    session, receipt = asyncio.run(run())
    [commit] = fake.requests("CommitCharges")
    assert [(i.reservation_id, i.quantity, i.occurred_at) for i in commit.items] == [
        (session.reservation_id, 5000, stamp(NOON))
    ]
    assert session.receipt == receipt
    assert [r.reservation_id for r in fake.requests("Extend")] == [session.reservation_id]
    assert fake.requests("Release") == []


def test_async_session_left_without_settling_or_by_an_exception_releases(fake: Fake) -> None:
    async def run() -> None:
        async with AsyncRatingClient(options=async_options(fake)) as client:
            async with client.session("acme", "rtc.audio", 1000, 60, request_id="a-1"):
                pass
            with pytest.raises(KeyError, match="hang-up"):
                async with client.session("acme", "rtc.audio", 1000, 60, request_id="a-2"):
                    raise KeyError("hang-up")

    asyncio.run(run())
    assert [r.reservation_id for r in fake.requests("Release")] == ["rsv-a-1", "rsv-a-2"]
    assert fake.requests("CommitCharges") == []


def test_async_watch_charges_keeps_the_markers_cursor_and_resumes_after_unavailable(
    fake: Fake,
) -> None:
    fake.script(
        "WatchCharges",
        stream(fake, marker("c0"), line_event("c1", "u1"), end=stopping()),
        stream(fake, line_event("c2", "u2")),
    )

    async def run() -> tuple[str, list[str], int]:
        async with (
            AsyncRatingClient(options=async_options(fake)) as client,
            client.watch_charges("acme", backoff=NO_WAIT) as feed,
        ):
            start = feed.cursor
            events = [await anext(feed), await anext(feed)]
            return start, [e.line.usage_id for e in events if e.line], feed.reconnects

    assert asyncio.run(run()) == ("c0", ["u1", "u2"], 1)
    assert cursors_sent(fake) == ["", "c1"]


def test_async_watch_charges_raises_a_bad_cursor_and_gives_up_after_max_reconnects(
    fake: Fake,
) -> None:
    bad = rich_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad request",
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field="cursor", reason="CURSOR_INVALID")
            ]
        ),
    )
    fake.script("WatchCharges", fail_with(bad))

    async def run() -> tuple[BaseException, BaseException]:
        options = async_options(fake, max_attempts=1)
        async with AsyncRatingClient(options=options) as client:
            with pytest.raises(errors.InvalidArgumentError) as forged:
                async for _ in client.watch_charges("acme", cursor="forged"):
                    pass
            fake.always("WatchCharges", unavailable())
            with pytest.raises(errors.UnavailableError) as down:
                await client.watch_charges("acme", max_reconnects=1, backoff=NO_WAIT).start()
            return forged.value, down.value

    forged, down = asyncio.run(run())
    assert [v.reason for v in forged.violations] == ["CURSOR_INVALID"]  # type: ignore[attr-defined]
    assert down.retryable  # type: ignore[attr-defined]
    assert cursors_sent(fake) == ["forged", "", ""]


def test_async_close_ends_an_iteration_waiting_on_an_idle_stream(fake: Fake) -> None:
    fake.script("WatchCharges", stream(fake, marker("c0")))

    async def run() -> tuple[list[Any], str]:
        async with AsyncRatingClient(options=async_options(fake)) as client:
            feed = await client.watch_charges("acme").start()

            async def drain() -> list[Any]:
                return [event async for event in feed]

            task = asyncio.create_task(drain())
            await asyncio.sleep(0)  # the task starts waiting (or not: the same either way)
            await feed.close()
            return await asyncio.wait_for(task, WAIT), feed.cursor

    assert asyncio.run(run()) == ([], "c0")


# Usage builders.

WHO: dict[str, Any] = {"account_id": "acme", "occurred_at": NOON}


def test_model_tokens_makes_one_item_per_direction_with_suffixed_usage_ids() -> None:
    items = usage.model_tokens(
        "doubao-lite-32k",
        input_tokens=1234,
        output_tokens=567,
        usage_id="conv-7:turn-3",
        attributes={"channel": "api"},
        **WHO,
    )
    assert [(i.sku, i.usage_id, i.quantity) for i in items] == [
        ("doubao-lite-32k.input", "conv-7:turn-3:input", 1234),
        ("doubao-lite-32k.output", "conv-7:turn-3:output", 567),
    ]
    for item in items:
        assert item.account_id == "acme"
        assert item.occurred_at == stamp(NOON)
        assert dict(item.attributes) == {"channel": "api"}
        assert not item.HasField("duration")


def test_model_tokens_skips_a_direction_without_tokens() -> None:
    only_output = usage.model_tokens("DeepSeek-R1", output_tokens=9, usage_id="u", **WHO)
    assert [(i.sku, i.usage_id, i.quantity) for i in only_output] == [
        ("DeepSeek-R1.output", "u:output", 9)
    ]
    only_input = usage.model_tokens("DeepSeek-R1", input_tokens=3, usage_id="u", **WHO)
    assert [i.usage_id for i in only_input] == ["u:input"]


@pytest.mark.parametrize("builder", [usage.model_tokens, usage.ark_tokens])
def test_token_builders_refuse_zero_tokens_in_both_directions(
    builder: Callable[..., list[usage_pb2.UsageItem]],
) -> None:
    with pytest.raises(ValueError, match="no tokens"):
        builder("ep-1", usage_id="u", **WHO)


def test_ark_tokens_name_the_endpoint_sku() -> None:
    items = usage.ark_tokens(
        "ep-20250101-abc", input_tokens=10, output_tokens=20, usage_id="u", **WHO
    )
    assert [(i.sku, i.usage_id, i.quantity) for i in items] == [
        ("model.ark.ep-20250101-abc.input", "u:input", 10),
        ("model.ark.ep-20250101-abc.output", "u:output", 20),
    ]


@pytest.mark.parametrize("endpoint", ["", "ep.1"])
def test_ark_tokens_refuse_a_bad_endpoint(endpoint: str) -> None:
    with pytest.raises(ValueError):
        usage.ark_tokens(endpoint, input_tokens=1, usage_id="u", **WHO)


@pytest.mark.parametrize(
    ("resolution", "sku"),
    [("720p", "rtc.video.720p"), ("4K", "rtc.video.4k"), ("1080p", "rtc.video.1080p")],
)
def test_rtc_video_sends_whole_milliseconds_at_a_resolution(resolution: str, sku: str) -> None:
    made = usage.rtc_video(
        timedelta(minutes=2, milliseconds=5), resolution=resolution, usage_id="r", **WHO
    )
    assert (made.sku, made.quantity, made.usage_id) == (sku, 120_005, "r")
    assert not made.HasField("duration")


def test_rtc_audio_asr_and_the_others_name_their_skus() -> None:
    assert usage.rtc_audio(timedelta(seconds=61), usage_id="a", **WHO).sku == "rtc.audio.voice"
    audio = usage.rtc_audio(timedelta(seconds=1), kind="conversational_ai", usage_id="a", **WHO)
    assert (audio.sku, audio.quantity) == ("rtc.audio.conversational_ai", 1000)
    streaming = usage.asr(timedelta(seconds=1.5), usage_id="s", **WHO)
    assert (streaming.sku, streaming.quantity) == ("speech.asr.streaming", 1500)
    assert usage.asr(timedelta(hours=1), mode="file", usage_id="s", **WHO).quantity == 3_600_000
    assert usage.asr(timedelta(0), mode="file", usage_id="s", **WHO).sku == "speech.asr.file"
    assert usage.agent_calls(3, usage_id="c", **WHO).sku == "agent.call"
    tts = usage.tts_characters(42, usage_id="t", **WHO)
    assert (tts.sku, tts.quantity) == ("speech.tts.system_voice", 42)


@pytest.mark.parametrize(
    "build",
    [
        lambda: usage.rtc_video(timedelta(seconds=1), resolution="8k", usage_id="x", **WHO),
        lambda: usage.rtc_audio(timedelta(seconds=1), kind="video", usage_id="x", **WHO),
        lambda: usage.asr(timedelta(seconds=1), mode="batch", usage_id="x", **WHO),
    ],
    ids=["resolution", "kind", "mode"],
)
def test_duration_builders_refuse_an_unknown_variant(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        build()


@pytest.mark.parametrize(
    "duration",
    [timedelta(microseconds=1500), timedelta(microseconds=1), timedelta(seconds=-1)],
    ids=["sub-millisecond", "one-microsecond", "negative"],
)
@pytest.mark.parametrize(
    "builder",
    [
        lambda d: usage.rtc_video(d, resolution="720p", usage_id="x", **WHO),
        lambda d: usage.rtc_audio(d, usage_id="x", **WHO),
        lambda d: usage.asr(d, usage_id="x", **WHO),
        lambda d: usage.storage(1, d, usage_id="x", **WHO),
    ],
    ids=["rtc_video", "rtc_audio", "asr", "storage"],
)
def test_durations_must_be_whole_non_negative_milliseconds(
    builder: Callable[[timedelta], object], duration: timedelta
) -> None:
    with pytest.raises(ValueError):
        builder(duration)


def test_storage_sends_the_bytes_as_quantity_and_the_interval_as_duration() -> None:
    made = usage.storage(5 * 2**30, timedelta(hours=1), usage_id="kb:1", **WHO)
    assert (made.sku, made.quantity) == ("knowledge.storage", 5 * 2**30)
    assert made.HasField("duration")
    assert made.duration == duration_pb2.Duration(seconds=3600)


def test_a_builder_stamps_now_when_no_occurred_at_is_given() -> None:
    before = datetime.now(UTC)
    made = usage.agent_calls(1, usage_id="c", account_id="acme")
    after = datetime.now(UTC)
    occurred = made.occurred_at.ToDatetime(tzinfo=UTC)
    assert before - timedelta(microseconds=1) <= occurred <= after


def test_a_builder_converts_an_aware_occurred_at_to_utc() -> None:
    made = usage.agent_calls(
        1, usage_id="c", account_id="acme", occurred_at=datetime(2026, 11, 27, 12, tzinfo=BEIJING)
    )
    assert made.occurred_at == stamp(NOON)


def test_a_builder_refuses_a_naive_occurred_at() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        usage.agent_calls(1, usage_id="c", account_id="acme", occurred_at=datetime(2026, 11, 27))


def test_a_builder_keeps_the_attributes_and_refuses_negative_quantities() -> None:
    made = usage.item("agent.call", 2, usage_id="c", attributes={"agent": "a-1", "k": "v"}, **WHO)
    assert dict(made.attributes) == {"agent": "a-1", "k": "v"}
    with pytest.raises(ValueError, match="negative"):
        usage.item("agent.call", -1, usage_id="c", **WHO)


def test_a_builder_names_the_reservation_its_item_settles() -> None:
    assert usage.item("agent.call", 1, usage_id="u", **WHO).reservation_id == ""
    voice = usage.rtc_audio(timedelta(seconds=1), usage_id="u", reservation_id="rsv-1", **WHO)
    assert voice.reservation_id == "rsv-1"
    settled = usage.item("rtc.audio", 1000, usage_id="u", reservation_id="rsv-2", **WHO)
    assert settled.reservation_id == "rsv-2"


def test_every_builder_sku_resolves_in_the_seed_catalog(
    catalog_snapshot: CatalogSnapshot,
) -> None:
    second = timedelta(seconds=1)
    built = [
        *usage.model_tokens(
            "doubao-lite-32k", input_tokens=1, output_tokens=1, usage_id="m", **WHO
        ),
        *usage.model_tokens("DeepSeek-R1", input_tokens=1, output_tokens=1, usage_id="m", **WHO),
        *usage.ark_tokens("ep-1", input_tokens=1, output_tokens=1, usage_id="a", **WHO),
        usage.agent_calls(1, usage_id="c", **WHO),
        usage.tts_characters(1, usage_id="t", **WHO),
        usage.storage(1, second, usage_id="s", **WHO),
        *(usage.asr(second, mode=mode, usage_id="x", **WHO) for mode in usage.ASR_MODES),
        *(
            usage.rtc_audio(second, kind=kind, usage_id="x", **WHO)
            for kind in usage.RTC_AUDIO_KINDS
        ),
        *(
            usage.rtc_video(second, resolution=resolution, usage_id="x", **WHO)
            for resolution in usage.RTC_VIDEO_RESOLUTIONS
        ),
    ]
    unresolved = [made.sku for made in built if catalog_snapshot.resolve(made.sku) is None]
    assert unresolved == []


# BatchCommitter.


@pytest.fixture
def single_shot(fake: Fake) -> Iterator[RatingClient]:
    """A client that does not retry by itself, so the committer's retries show."""
    with connect(fake, max_attempts=1, commit_timeout=10.0) as opened:
        yield opened


def items_of(count: int, prefix: str = "u") -> list[usage_pb2.UsageItem]:
    return [call(f"{prefix}-{n}") for n in range(count)]


def committed_ids(fake: Fake) -> list[str]:
    """The usage ids of every commit request the fake received, in order."""
    return [item.usage_id for r in fake.requests("CommitCharges") for item in sent_items(r)]


def failed_items(committer: BatchCommitter) -> list[usage_pb2.UsageItem]:
    return [item for failure in committer.failures for item in failure.items]


def test_committer_sends_a_batch_as_soon_as_it_is_full(
    fake: Fake, single_shot: RatingClient
) -> None:
    committer = BatchCommitter(single_shot, max_batch=3, max_delay=60, backoff=FAST)
    try:
        committer.add(items_of(7))
        wait_until(lambda: len(fake.requests("CommitCharges")) == 2)
        assert committer.pending == 1
    finally:
        committer.close()
    batches = fake.requests("CommitCharges")
    assert [len(sent_items(b)) for b in batches] == [3, 3, 1]
    assert committed_ids(fake) == [f"u-{n}" for n in range(7)]
    assert len({b.request_id for b in batches}) == 3
    assert committer.stats.batches == 3
    assert committer.stats.committed_items == 7
    assert committer.failures == []


def test_committer_sends_a_partial_batch_once_its_oldest_item_is_max_delay_old(
    fake: Fake, single_shot: RatingClient
) -> None:
    committer = BatchCommitter(single_shot, max_batch=100, max_delay=0.2, backoff=FAST)
    try:
        added_at = time.monotonic()
        committer.add(items_of(3))
        wait_until(lambda: len(fake.calls) == 1)
    finally:
        committer.close()
    [sent] = fake.calls
    assert sent.at - added_at >= 0.2 * 0.9
    assert len(sent_items(sent.request)) == 3


def test_flush_sends_now_and_returns_true_once_committed(
    fake: Fake, single_shot: RatingClient
) -> None:
    receipts: list[Receipt] = []
    committer = BatchCommitter(
        single_shot, max_batch=100, max_delay=60, backoff=FAST, on_commit=receipts.append
    )
    try:
        committer.add(items_of(2))
        assert committer.flush(timeout=WAIT) is True
        assert committer.pending == 0
        assert [len(sent_items(r)) for r in fake.requests("CommitCharges")] == [2]
        assert [r.request_id for r in receipts] == [fake.requests("CommitCharges")[0].request_id]
    finally:
        committer.close()


def test_flush_returns_false_when_the_server_does_not_answer_in_time(
    fake: Fake, single_shot: RatingClient
) -> None:
    release = threading.Event()
    fake.script("CommitCharges", stalled(fake, release))
    committer = BatchCommitter(single_shot, max_batch=100, max_delay=60, backoff=FAST)
    try:
        committer.add(items_of(1))
        assert committer.flush(timeout=0.1) is False
        release.set()
        assert committer.flush(timeout=WAIT) is True
    finally:
        release.set()
        committer.close()
    assert committer.stats.committed_items == 1


def test_close_sends_what_is_left_and_refuses_more(fake: Fake, single_shot: RatingClient) -> None:
    with BatchCommitter(single_shot, max_batch=100, max_delay=60, backoff=FAST) as committer:
        committer.add(items_of(3))
        assert fake.calls == []
    assert [len(sent_items(r)) for r in fake.requests("CommitCharges")] == [3]
    assert committer.stats.committed_items == 3
    with pytest.raises(CommitterClosedError):
        committer.add(call("late"))
    committer.close()  # a second close does nothing


def test_add_blocks_then_raises_buffer_full_while_the_server_is_stuck(
    fake: Fake, single_shot: RatingClient
) -> None:
    release = threading.Event()
    fake.script("CommitCharges", stalled(fake, release))
    committer = BatchCommitter(single_shot, max_batch=2, max_delay=60, max_buffered=2, backoff=FAST)
    try:
        committer.add(items_of(2, "first"))  # a full batch: sent, and stuck
        wait_until(lambda: len(fake.calls) == 1)
        committer.add(items_of(2, "second"))  # fills the buffer
        started = time.monotonic()
        with pytest.raises(BufferFullError):
            committer.add(call("third"), timeout=0.2)
        assert time.monotonic() - started >= 0.2 * 0.9
        assert committer.pending == 2
        release.set()
        assert committer.flush(timeout=WAIT)
    finally:
        release.set()
        committer.close()
    assert committed_ids(fake) == ["first-0", "first-1", "second-0", "second-1"]
    assert committer.failures == []


def waiting_for_room(thread: threading.Thread) -> bool:
    """Whether ``thread`` waits inside ``BatchCommitter.add`` for room in the buffer."""
    frame = sys._current_frames().get(thread.ident or 0)
    return (
        frame is not None
        and frame.f_code is threading.Condition.wait.__code__
        and frame.f_back is not None
        and frame.f_back.f_code is BatchCommitter.add.__code__
    )


def test_a_blocked_add_goes_through_once_the_buffer_drains(
    fake: Fake, single_shot: RatingClient
) -> None:
    release = threading.Event()
    fake.script("CommitCharges", stalled(fake, release))
    committer = BatchCommitter(single_shot, max_batch=1, max_delay=60, max_buffered=1, backoff=FAST)
    try:
        committer.add(call("a"))
        wait_until(lambda: len(fake.calls) == 1)
        committer.add(call("b"))
        adder = threading.Thread(target=committer.add, args=(call("c"),), kwargs={"timeout": WAIT})
        adder.start()
        wait_until(lambda: waiting_for_room(adder))  # the buffer is full
        release.set()  # the stuck commit ends, "b" goes out: room for "c"
        adder.join(WAIT)
        assert not adder.is_alive()
    finally:
        release.set()
        committer.close()
    assert committed_ids(fake) == ["a", "b", "c"]


def test_committer_retries_a_batch_on_unavailable_with_the_same_request_id(
    fake: Fake, single_shot: RatingClient
) -> None:
    fake.script("CommitCharges", unavailable(), unavailable(), unavailable())
    receipts: list[Receipt] = []
    with BatchCommitter(
        single_shot, max_batch=2, max_delay=60, backoff=FAST, on_commit=receipts.append
    ) as committer:
        committer.add(items_of(2))
        assert committer.flush(timeout=WAIT)
    sent = fake.requests("CommitCharges")
    assert len(sent) == 4
    assert len({r.request_id for r in sent}) == 1
    assert all(sent_items(r) == items_of(2) for r in sent)
    assert [r.request_id for r in receipts] == [sent[0].request_id]
    assert committer.stats.retries == 3
    assert committer.stats.committed_items == 2
    assert committer.failures == []


def test_committer_retries_deadline_exceeded_and_resource_exhausted_too(
    fake: Fake, single_shot: RatingClient
) -> None:
    fake.script(
        "CommitCharges",
        fail(grpc.StatusCode.RESOURCE_EXHAUSTED),
        fail(grpc.StatusCode.DEADLINE_EXCEEDED),
    )
    with BatchCommitter(single_shot, max_batch=1, max_delay=60, backoff=FAST) as committer:
        committer.add(call("u"))
    sent = fake.requests("CommitCharges")
    assert len(sent) == 3
    assert len({r.request_id for r in sent}) == 1
    assert committer.stats.committed_items == 1


class FakeTime:
    """A clock that only moves when the committer sleeps: its retries, without waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_committer_gives_up_a_batch_after_max_attempts_and_commits_the_batches_behind_it(
    fake: Fake, single_shot: RatingClient
) -> None:
    fake.script("CommitCharges", *[unavailable()] * 4)
    time_ = FakeTime()
    reported: list[Failure] = []
    receipts: list[Receipt] = []
    with BatchCommitter(
        single_shot,
        max_batch=2,
        max_delay=60,
        backoff=(1.0, 3.0),
        max_attempts=4,
        clock=time_.clock,
        sleep=time_.sleep,
        on_failure=reported.append,
        on_commit=receipts.append,
    ) as committer:
        committer.add(items_of(4))

    sent = fake.requests("CommitCharges")
    assert [[i.usage_id for i in sent_items(r)] for r in sent] == [["u-0", "u-1"]] * 4 + [
        ["u-2", "u-3"]
    ]
    assert len({r.request_id for r in sent[:4]}) == 1
    assert time_.sleeps == [1.0, 2.0, 3.0]  # between the four sends, doubling to the cap
    [failure] = committer.failures
    assert reported == [failure]
    assert (failure.request_id, list(failure.items)) == (sent[0].request_id, items_of(2))
    assert isinstance(failure.error, errors.UnavailableError) and failure.violations == ()
    assert [r.request_id for r in receipts] == [sent[4].request_id]
    stats = committer.stats
    assert (stats.batches_given_up, stats.retries, stats.failed_items) == (1, 3, 2)
    assert (stats.batches, stats.committed_items) == (1, 2)


def test_committer_gives_up_a_batch_at_its_deadline_and_bounds_its_last_send_by_it(
    fake: Fake, single_shot: RatingClient
) -> None:
    # RESOURCE_EXHAUSTED, as a status too big for the trailers once came back, every time.
    fake.script("CommitCharges", *[fail(grpc.StatusCode.RESOURCE_EXHAUSTED)] * 3)
    time_ = FakeTime()
    with BatchCommitter(
        single_shot,  # commit_timeout 10 s
        max_batch=1,
        max_delay=60,
        backoff=(8.0, 8.0),
        max_attempts=1000,
        batch_deadline=20.0,
        clock=time_.clock,
        sleep=time_.sleep,
    ) as committer:
        committer.add(items_of(2))

    # Sent at 0 and 8 with the client's own deadline; at 16 with the 4 s left of the
    # batch's; not again at 24, past its deadline.
    first, second, third, behind = fake.calls_of("CommitCharges")
    assert time_.sleeps == [8.0, 8.0]
    assert_deadline(first, 10.0)
    assert_deadline(second, 10.0)
    assert_deadline(third, 4.0)
    assert {c.request.request_id for c in (first, second, third)} == {
        committer.failures[0].request_id
    }
    [failure] = committer.failures
    assert isinstance(failure.error, errors.ResourceExhaustedError)
    assert [i.usage_id for i in failure.items] == ["u-0"]
    assert [i.usage_id for i in sent_items(behind.request)] == ["u-1"]
    assert committer.stats.committed_items == 1
    assert committer.stats.batches_given_up == 1


@pytest.mark.parametrize(
    "bounds",
    [{"max_attempts": 0}, {"batch_deadline": 0}, {"batch_deadline": float("inf")}],
    ids=["no-attempt", "no-time", "for-ever"],
)
def test_committer_refuses_retry_bounds_that_are_none(
    single_shot: RatingClient, bounds: dict[str, float]
) -> None:
    with pytest.raises(ValueError):
        BatchCommitter(single_shot, **bounds)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("columns", "items"), [(True, "columns.items"), (False, "items")], ids=["columns", "rows"]
)
def test_committer_splits_off_the_items_a_bad_request_names_and_commits_the_rest(
    fake: Fake, single_shot: RatingClient, columns: bool, items: str
) -> None:
    violation = error_details_pb2.BadRequest.FieldViolation
    status = rich_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "2 bad items",
        error_details_pb2.ErrorInfo(reason="INVALID_USAGE", domain="rating"),
        error_details_pb2.BadRequest(
            field_violations=[
                violation(field=f"{items}[1].sku", reason="SKU_UNKNOWN"),
                violation(field=f"{items}[3].quantity", reason="QUANTITY_NEGATIVE"),
                violation(field=f"{items}[3].sku", reason="SKU_UNKNOWN"),
            ]
        ),
    )
    fake.script("CommitCharges", fail_with(status))
    failures: list[Failure] = []
    added = items_of(5)
    with BatchCommitter(
        single_shot,
        max_batch=5,
        max_delay=60,
        backoff=FAST,
        on_failure=failures.append,
        columns=columns,
    ) as committer:
        committer.add(added)

    first, second = fake.requests("CommitCharges")
    assert first.HasField("columns") is second.HasField("columns") is columns
    assert second.request_id == first.request_id
    assert [i.usage_id for i in sent_items(second)] == ["u-0", "u-2", "u-4"]
    assert failures == committer.failures
    by_usage = {f.items[0].usage_id: f for f in committer.failures}
    assert sorted(by_usage) == ["u-1", "u-3"]
    assert all(len(f.items) == 1 for f in committer.failures)
    assert [(v.field, v.reason) for v in by_usage["u-1"].violations] == [
        (f"{items}[1].sku", "SKU_UNKNOWN")
    ]
    assert [(v.field, v.reason) for v in by_usage["u-3"].violations] == [
        (f"{items}[3].quantity", "QUANTITY_NEGATIVE"),
        (f"{items}[3].sku", "SKU_UNKNOWN"),
    ]
    assert all(isinstance(f.error, errors.InvalidArgumentError) for f in committer.failures)
    # Their batch's request_id went to the rest: refused items are sent anew, fixed.
    assert all(f.request_id == "" for f in committer.failures)
    assert committer.stats.committed_items == 3
    assert committer.stats.failed_items == 2
    assert committer.stats.committed_items + committer.stats.failed_items == len(added)


def test_committer_splits_off_the_items_naming_an_unknown_account_and_commits_the_rest(
    fake: Fake, single_shot: RatingClient
) -> None:
    # An unknown account is NOT_FOUND ACCOUNT_NOT_FOUND, its items named in a BadRequest.
    status = rich_status(
        grpc.StatusCode.NOT_FOUND,
        "items[2].account_id: no account 'stranger'; create it first",
        error_details_pb2.ErrorInfo(reason="ACCOUNT_NOT_FOUND", domain="rating"),
        error_details_pb2.ResourceInfo(resource_type="account", resource_name="stranger"),
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field="columns.items[2].account_id", reason="ACCOUNT_NOT_FOUND"
                )
            ]
        ),
    )
    fake.script("CommitCharges", fail_with(status))
    with BatchCommitter(single_shot, max_batch=4, max_delay=60, backoff=FAST) as committer:
        committer.add(items_of(4))

    first, second = fake.requests("CommitCharges")
    assert second.request_id == first.request_id
    assert [i.usage_id for i in sent_items(second)] == ["u-0", "u-1", "u-3"]
    (failure,) = committer.failures
    assert [i.usage_id for i in failure.items] == ["u-2"]
    assert isinstance(failure.error, errors.NotFoundError)
    assert failure.error.resource_name == "stranger"
    assert [(v.field, v.reason) for v in failure.violations] == [
        ("columns.items[2].account_id", "ACCOUNT_NOT_FOUND")
    ]
    assert committer.stats.committed_items == 3


def test_committer_reports_a_request_level_bad_request_as_a_failed_batch(
    fake: Fake, single_shot: RatingClient
) -> None:
    status = rich_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "request_id too long",
        error_details_pb2.ErrorInfo(reason="INVALID_REQUEST", domain="rating"),
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field="request_id", reason="REQUEST_ID_INVALID"
                )
            ]
        ),
    )
    fake.script("CommitCharges", fail_with(status))
    added = items_of(3)
    with BatchCommitter(single_shot, max_batch=3, max_delay=60, backoff=FAST) as committer:
        committer.add(added)

    [sent] = fake.requests("CommitCharges")
    [failure] = committer.failures
    assert failure.request_id == sent.request_id
    assert list(failure.items) == added
    assert isinstance(failure.error, errors.InvalidArgumentError)
    assert failure.error.reason == "INVALID_REQUEST"
    assert committer.stats.failed_items == 3
    assert committer.stats.committed_items == 0


def test_committer_reports_a_non_retryable_error_without_retrying(
    fake: Fake, single_shot: RatingClient
) -> None:
    fake.script("CommitCharges", fail(grpc.StatusCode.FAILED_PRECONDITION, "request_id reused"))
    with BatchCommitter(single_shot, max_batch=2, max_delay=60, backoff=FAST) as committer:
        committer.add(items_of(2))
    [sent] = fake.requests("CommitCharges")
    [failure] = committer.failures
    assert isinstance(failure.error, errors.FailedPreconditionError)
    assert (failure.request_id, len(failure.items)) == (sent.request_id, 2)


def test_committer_gives_up_at_close_timeout_and_reports_every_batch_left(
    fake: Fake, single_shot: RatingClient
) -> None:
    fake.always("CommitCharges", unavailable())
    added = items_of(5)
    # Retried for ever but for the close timeout: close() returning shows it gave up.
    committer = BatchCommitter(
        single_shot,
        max_batch=2,
        max_delay=60,
        backoff=FAST,
        max_attempts=10**9,
        batch_deadline=10**9,
    )
    try:
        committer.add(added)
        wait_until(lambda: len(fake.calls) >= 2)  # the first batch is being retried
        closer = threading.Thread(target=committer.close, kwargs={"timeout": 0.2}, daemon=True)
        closer.start()
        closer.join(WAIT)
        assert not closer.is_alive(), "close() retried past its timeout"
    finally:
        committer.close(timeout=0)

    # Every batch is reported, in order, each with its own request_id. The ones sent
    # after the close timeout have a deadline of 50 ms: on a busy machine they may
    # fail DEADLINE_EXCEEDED before they reach the fake, so what reached it is checked
    # against the failures, not the other way round.
    reported = {f.request_id: [i.usage_id for i in f.items] for f in committer.failures}
    assert list(reported.values()) == [["u-0", "u-1"], ["u-2", "u-3"], ["u-4"]]
    for request in fake.requests("CommitCharges"):  # same items, same id
        assert reported[request.request_id] == [i.usage_id for i in sent_items(request)]
    assert fake.requests("CommitCharges")[0].request_id == committer.failures[0].request_id
    retryable = (errors.UnavailableError, errors.DeadlineExceededError)
    assert all(isinstance(f.error, retryable) for f in committer.failures)
    assert failed_items(committer) == added
    assert committer.stats.committed_items == 0
    assert committer.stats.committed_items + committer.stats.failed_items == len(added)


def test_committer_loses_nothing_when_some_batches_fail_and_others_commit(
    fake: Fake, single_shot: RatingClient
) -> None:
    bad = rich_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "bad item",
        error_details_pb2.BadRequest(
            field_violations=[error_details_pb2.BadRequest.FieldViolation(field="items[0].sku")]
        ),
    )
    fake.script(
        "CommitCharges",
        unavailable(),
        fail_with(bad),
        fail(grpc.StatusCode.PERMISSION_DENIED),
    )
    added = items_of(10)
    with BatchCommitter(single_shot, max_batch=3, max_delay=60, backoff=FAST) as committer:
        for made in added:
            committer.add(made)

    # u-0..2: UNAVAILABLE, then u-0 refused, then u-1..2 PERMISSION_DENIED; the rest commit.
    assert [[i.usage_id for i in sent_items(r)] for r in fake.requests("CommitCharges")] == [
        ["u-0", "u-1", "u-2"],
        ["u-0", "u-1", "u-2"],
        ["u-1", "u-2"],
        ["u-3", "u-4", "u-5"],
        ["u-6", "u-7", "u-8"],
        ["u-9"],
    ]
    assert [[i.usage_id for i in f.items] for f in committer.failures] == [["u-0"], ["u-1", "u-2"]]
    assert isinstance(committer.failures[1].error, errors.PermissionDeniedError)
    stats = committer.stats
    assert (stats.committed_items, stats.failed_items, stats.retries) == (7, 3, 1)
    assert stats.committed_items + stats.failed_items == len(added)


def test_committer_refuses_what_is_not_a_usage_item_at_add(
    fake: Fake, single_shot: RatingClient
) -> None:
    with BatchCommitter(single_shot, max_batch=10, max_delay=60, backoff=FAST) as committer:
        with pytest.raises(TypeError):
            committer.add([{"usage_id": "oops"}])  # type: ignore[list-item]
        committer.add(items_of(1))
    assert committed_ids(fake) == ["u-0"]


@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_committer_sends_columns_by_default_and_rows_when_told(
    fake: Fake, single_shot: RatingClient, columns: bool
) -> None:
    receipts: list[Receipt | ColumnReceipt] = []
    added = [*items_of(2), usage.storage(10, timedelta(hours=1), usage_id="kb", account_id="b")]
    options: dict[str, Any] = {} if columns else {"columns": False}
    with BatchCommitter(
        single_shot, max_batch=3, max_delay=60, backoff=FAST, on_commit=receipts.append, **options
    ) as committer:
        committer.add(added)

    [sent] = fake.requests("CommitCharges")
    assert sent.HasField("columns") is columns
    assert sent_items(sent) == added
    [receipt] = receipts
    assert isinstance(receipt, ColumnReceipt if columns else Receipt)
    assert receipt.request_id == sent.request_id
    assert (committer.stats.batches, committer.stats.committed_items) == (1, 3)


def test_committer_counts_the_duplicates_of_a_column_receipt(
    fake: Fake, single_shot: RatingClient
) -> None:
    def answer(request: Any, context: grpc.ServicerContext) -> Message:
        response = committed(request)
        response.columns.duplicate_lines.append(1)  # type: ignore[attr-defined]
        response.columns.original_charge_ids.append("ch-0")  # type: ignore[attr-defined]
        return response

    fake.script("CommitCharges", answer)
    receipts: list[Any] = []
    with BatchCommitter(
        single_shot, max_batch=3, max_delay=60, backoff=FAST, on_commit=receipts.append
    ) as committer:
        committer.add(items_of(3))

    assert (committer.stats.committed_items, committer.stats.duplicate_items) == (2, 1)
    [receipt] = receipts
    assert [(line.usage_id, line.original_charge_id) for line in receipt.duplicates] == [
        ("u-1", "ch-0")
    ]


def test_committer_sends_a_batch_columns_cannot_carry_as_rows(
    fake: Fake, single_shot: RatingClient
) -> None:
    epoch = usage.agent_calls(1, usage_id="epoch", account_id="acme", occurred_at=EPOCH)
    with BatchCommitter(single_shot, max_batch=2, max_delay=60, backoff=FAST) as committer:
        committer.add([call("u-0"), epoch, call("u-2")])

    first, second = fake.requests("CommitCharges")
    # occurred_at 0 reads as unset in columns: that batch goes as rows, the next as columns.
    assert not first.HasField("columns")
    assert list(first.items) == [call("u-0"), epoch]
    assert second.HasField("columns")
    assert sent_items(second) == [call("u-2")]
    assert committer.stats.committed_items == 3
    assert committer.failures == []


def request_bytes(count: int) -> int:
    """The encoded size of a commit of ``count`` items as columns (the committer's form)."""
    request = rating_service_pb2.CommitChargesRequest(
        request_id=new_request_id(), columns=column_form.columns_of(items_of(count))
    )
    return request.ByteSize()


def test_committer_splits_a_batch_over_the_message_limit_into_halves_that_fit(
    fake: Fake, single_shot: RatingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("rating._operations.MAX_MESSAGE_BYTES", request_bytes(2))
    with BatchCommitter(single_shot, max_batch=8, max_delay=60, backoff=FAST) as committer:
        committer.add(items_of(8))

    batches = fake.requests("CommitCharges")
    assert [len(sent_items(b)) for b in batches] == [2, 2, 2, 2]
    assert committed_ids(fake) == [f"u-{n}" for n in range(8)]
    assert len({b.request_id for b in batches}) == 4
    assert committer.failures == []
    assert (committer.stats.batches, committer.stats.committed_items) == (4, 8)


def test_committer_reports_an_item_too_large_alone_without_sending_it(
    fake: Fake, single_shot: RatingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("rating._operations.MAX_MESSAGE_BYTES", 10)
    with BatchCommitter(single_shot, max_batch=2, max_delay=60, backoff=FAST) as committer:
        committer.add(items_of(2))

    assert fake.requests("CommitCharges") == []
    assert [failure.items for failure in committer.failures] == [
        (call("u-0"),),
        (call("u-1"),),
    ]
    for failure in committer.failures:
        assert isinstance(failure.error, errors.MessageTooLargeError)
        assert failure.request_id == ""  # never sent: resend it as a new request
    assert committer.stats.failed_items == 2


def test_a_raising_callback_does_not_stop_the_committer(
    fake: Fake, single_shot: RatingClient
) -> None:
    def explode(_receipt: object) -> None:
        raise RuntimeError("a bug in the caller's callback")

    with BatchCommitter(
        single_shot, max_batch=1, max_delay=60, backoff=FAST, on_commit=explode
    ) as committer:
        committer.add(items_of(3))
        assert committer.flush(timeout=WAIT)
    assert committed_ids(fake) == ["u-0", "u-1", "u-2"]
    assert committer.stats.committed_items == 3
    assert committer.failures == []


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
