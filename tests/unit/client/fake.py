"""A fake rating server for the client's tests, in this process on 127.0.0.1:0.

A ``grpc.server`` serves fake RatingService, AccountService and CatalogService
servicers that record every request they receive (with its metadata and the
deadline left) and answer as each test scripts them: a response, a plain or rich
error status, or a stall. No rating server runs here."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import grpc
from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import Message
from google.rpc import status_pb2
from grpc_status import rpc_status

from rating import ClientOptions, RatingClient, usage
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

NOON = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))
# Generous deadlines: a loaded 2-core machine may be slow, but never this slow.
TIMEOUT = 30.0
COMMIT_TIMEOUT = 60.0
# How long a test waits for a condition before it fails.
WAIT = 60.0
OPTIONS = ClientOptions(timeout=TIMEOUT, commit_timeout=COMMIT_TIMEOUT)

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


def connect(fake: Fake, **changes: Any) -> RatingClient:
    return RatingClient(fake.target, options=dataclasses.replace(OPTIONS, **changes))


# Reservations and sessions.

TTL = duration_pb2.Duration(seconds=300)


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


# AsyncRatingClient.


def async_options(fake: Fake, **changes: Any) -> ClientOptions:
    return dataclasses.replace(OPTIONS, target=fake.target, **changes)


def items_of(count: int, prefix: str = "u") -> list[usage_pb2.UsageItem]:
    return [call(f"{prefix}-{n}") for n in range(count)]
