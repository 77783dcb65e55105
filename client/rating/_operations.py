"""The client's operations, shared by the sync and the async client: each builds its
request message from Python values and knows how to read the response."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar, cast

from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import Message

from rating.columns import ColumnQuote, ColumnReceipt, columns_of
from rating.errors import MessageTooLargeError
from rating.options import MAX_MESSAGE_BYTES, ClientOptions
from rating.types import (
    Account,
    AlertThresholds,
    Balance,
    CapacityPurchase,
    ChargeEntry,
    Limits,
    Pack,
    Page,
    Quote,
    Receipt,
    Reservation,
    Sku,
    Statement,
    VoidResult,
)
from rating.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    catalog_service_pb2,
    catalog_service_pb2_grpc,
    columns_pb2,
    rating_service_pb2,
    rating_service_pb2_grpc,
    usage_pb2,
)

#: The categories a SKU may have, by name ("model", "agent", ...): the names of the API's
#: Category enum (CATEGORY_MODEL is "model"), less CATEGORY_UNSPECIFIED.
CATEGORIES = tuple(
    name.removeprefix("CATEGORY_").lower()
    for name, number in usage_pb2.Category.items()
    if number != usage_pb2.CATEGORY_UNSPECIFIED
)
T = TypeVar("T")

#: The service of each method, as the stub attribute of a client.
SERVICE_OF = {
    **dict.fromkeys(("Quote", "CommitCharges", "VoidCharge"), "rating_stub"),
    **dict.fromkeys(("Reserve", "Extend", "Release", "GetLimits"), "rating_stub"),
    **dict.fromkeys(
        (
            "CreateAccount",
            "GetAccount",
            "UpdateAccount",
            "GrantResourcePack",
            "GrantCapacity",
            "GetBalance",
            "ListCharges",
            "GetStatement",
            "SetAlertThresholds",
            "GetAlertThresholds",
        ),
        "account_stub",
    ),
    **dict.fromkeys(("ListSkus", "GetSku"), "catalog_stub"),
}


class Connected:
    """What both clients hold: options, a channel, the generated stubs, call metadata."""

    def _connect(
        self,
        options: ClientOptions,
        channel: Any,
        secure_channel: Callable[..., Any],
        insecure_channel: Callable[..., Any],
    ) -> None:
        self.options = options
        self._owns_channel = channel is None
        if channel is None:
            credentials = options.credentials()
            channel = (
                secure_channel(options.target, credentials, options.channel_options())
                if credentials
                else insecure_channel(options.target, options.channel_options())
            )
        self.channel = channel
        #: The generated stubs, for calls made with raw messages.
        self.rating_stub = rating_service_pb2_grpc.RatingServiceStub(channel)
        self.account_stub = account_service_pb2_grpc.AccountServiceStub(channel)
        self.catalog_stub = catalog_service_pb2_grpc.CatalogServiceStub(channel)
        self._metadata = options.call_metadata()


def stub_attribute(method: str) -> str:
    try:
        return SERVICE_OF[method]
    except KeyError:
        raise ValueError(f"no rating.v1 method {method!r}") from None


@dataclass(frozen=True, slots=True)
class Operation(Generic[T]):
    """One call to make: the method, its request, and how to read its response."""

    method: str
    request: Message
    #: Reads the response, an instance of the method's own response class (Any: each
    #: operation has its own).
    parse: Callable[[Any], T]


def deadline(options: ClientOptions, method: str, timeout: float | None) -> float:
    """The deadline of a call: ``timeout`` if given, else the commit or call default."""
    if timeout is not None:
        return timeout
    return options.commit_timeout if method == "CommitCharges" else options.timeout


def new_request_id() -> str:
    return f"req-{uuid.uuid4().hex}"


def timestamp(when: datetime) -> timestamp_pb2.Timestamp:
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (e.g. datetime.now(UTC))")
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when.astimezone(UTC))
    return stamp


def points(value: Decimal | int | str) -> str:
    """Points as a plain decimal string; floats are refused (money is exact)."""
    if isinstance(value, (float, bool)):
        raise TypeError("give points as Decimal, int or str, never float")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"not a finite number of points: {value!r}")
    return format(number, "f")


def items(values: Iterable[usage_pb2.UsageItem]) -> list[usage_pb2.UsageItem]:
    batch = list(values)
    for value in batch:
        if not isinstance(value, usage_pb2.UsageItem):
            raise TypeError(f"usage items are rating.v1.UsageItem messages, not {type(value)}")
    return batch


def within_message_limit(
    method: str, request: rating_service_pb2.QuoteRequest | rating_service_pb2.CommitChargesRequest
) -> None:
    """Refuse, before it is sent, a batch larger than the server's message limit
    (MessageTooLargeError): gRPC would answer it with a bare RESOURCE_EXHAUSTED."""
    size = request.ByteSize()
    if size > MAX_MESSAGE_BYTES:
        count = (
            len(request.columns.usage_ids) if request.HasField("columns") else len(request.items)
        )
        raise MessageTooLargeError(method, size, MAX_MESSAGE_BYTES, count)


def quote(values: Iterable[usage_pb2.UsageItem], account_id: str) -> Operation[Quote]:
    request = rating_service_pb2.QuoteRequest(items=items(values), account_id=account_id)
    within_message_limit("Quote", request)
    return Operation("Quote", request, Quote.of)


def commit(values: Iterable[usage_pb2.UsageItem], request_id: str | None) -> Operation[Receipt]:
    request = rating_service_pb2.CommitChargesRequest(
        request_id=request_id or new_request_id(), items=items(values)
    )
    within_message_limit("CommitCharges", request)
    return Operation("CommitCharges", request, lambda raw: Receipt.of(request.request_id, raw))


def as_columns(
    values: columns_pb2.UsageColumns | Iterable[usage_pb2.UsageItem],
) -> columns_pb2.UsageColumns:
    """A ``UsageColumns`` message as given, or the columns of usage items."""
    if isinstance(values, columns_pb2.UsageColumns):
        return values
    if isinstance(values, Message):
        raise TypeError(f"give UsageColumns or UsageItem messages, not a {type(values).__name__}")
    return columns_of(values)


def quote_columns(
    values: columns_pb2.UsageColumns | Iterable[usage_pb2.UsageItem], account_id: str
) -> Operation[ColumnQuote]:
    request = rating_service_pb2.QuoteRequest(columns=as_columns(values), account_id=account_id)
    within_message_limit("Quote", request)
    return Operation("Quote", request, lambda raw: ColumnQuote(raw, request.columns))


def commit_columns(
    values: columns_pb2.UsageColumns | Iterable[usage_pb2.UsageItem], request_id: str | None
) -> Operation[ColumnReceipt]:
    request = rating_service_pb2.CommitChargesRequest(
        request_id=request_id or new_request_id(), columns=as_columns(values)
    )
    within_message_limit("CommitCharges", request)
    return Operation(
        "CommitCharges",
        request,
        lambda raw: ColumnReceipt(request.request_id, raw, request.columns),
    )


def void_charge(charge_id: str, reason: str) -> Operation[VoidResult]:
    request = rating_service_pb2.VoidChargeRequest(charge_id=charge_id, reason=reason)
    return Operation("VoidCharge", request, VoidResult.of)


def get_limits() -> Operation[Limits]:
    return Operation("GetLimits", rating_service_pb2.GetLimitsRequest(), Limits.of)


def duration(ttl: timedelta | float) -> duration_pb2.Duration:
    """A time to live, as a ``timedelta`` or a number of seconds."""
    if isinstance(ttl, bool) or not isinstance(ttl, (timedelta, int, float)):
        raise TypeError(f"a ttl is a timedelta or a number of seconds, not {type(ttl)}")
    if not isinstance(ttl, timedelta):
        if not math.isfinite(ttl):
            raise ValueError(f"not a finite number of seconds: {ttl!r}")
        ttl = timedelta(seconds=ttl)
    message = duration_pb2.Duration()
    message.FromTimedelta(ttl)
    return message


def reservation(
    raw: rating_service_pb2.ReserveResponse | rating_service_pb2.ExtendResponse,
) -> Reservation:
    return Reservation.of(raw.reservation)


def reserve(
    account_id: str, sku: str, quantity: int, ttl: timedelta | float, request_id: str | None
) -> Operation[Reservation]:
    request = rating_service_pb2.ReserveRequest(
        request_id=request_id or new_request_id(),
        account_id=account_id,
        sku=sku,
        quantity=quantity,
        ttl=duration(ttl),
    )
    return Operation("Reserve", request, reservation)


def extend(
    reservation_id: str, quantity: int, ttl: timedelta | float | None, request_id: str | None
) -> Operation[Reservation]:
    request = rating_service_pb2.ExtendRequest(
        request_id=request_id or new_request_id(),
        reservation_id=reservation_id,
        quantity=quantity,
    )
    if ttl is not None:
        request.ttl.CopyFrom(duration(ttl))
    return Operation("Extend", request, reservation)


def release(reservation_id: str) -> Operation[Reservation]:
    request = rating_service_pb2.ReleaseRequest(reservation_id=reservation_id)
    return Operation(
        "Release", request, lambda raw: Reservation.of(raw.reservation, raw.already_ended)
    )


def optional_points(value: Decimal | int | str | None) -> str:
    """Points as ``points`` does, or "" for None (not set)."""
    return "" if value is None else points(value)


def create_account(
    account_id: str,
    plan: str,
    time_zone: str,
    parent_account_id: str,
    pay_as_you_go: bool,
    monthly_budget_points: Decimal | int | str | None = None,
) -> Operation[Account]:
    request = account_service_pb2.CreateAccountRequest(
        account_id=account_id,
        plan=plan,
        time_zone=time_zone,
        parent_account_id=parent_account_id,
        pay_as_you_go=pay_as_you_go,
        monthly_budget_points=optional_points(monthly_budget_points),
    )
    return Operation("CreateAccount", request, lambda raw: Account.of(raw.account))


def get_account(account_id: str) -> Operation[Account]:
    request = account_service_pb2.GetAccountRequest(account_id=account_id)
    return Operation(
        "GetAccount",
        request,
        lambda raw: Account.of(
            raw.account,
            tuple(raw.sub_account_ids),
            tuple(CapacityPurchase.of(p) for p in raw.capacity_purchases),
        ),
    )


def grant_pack(
    account_id: str,
    amount: Decimal | int | str,
    valid_from: datetime | None,
    expire_time: datetime | None,
    priority: int,
    request_id: str | None,
) -> Operation[Pack]:
    request = account_service_pb2.GrantResourcePackRequest(
        account_id=account_id,
        points=points(amount),
        priority=priority,
        request_id=request_id or new_request_id(),
    )
    if valid_from is not None:
        request.valid_from.CopyFrom(timestamp(valid_from))
    if expire_time is not None:
        request.expire_time.CopyFrom(timestamp(expire_time))
    return Operation("GrantResourcePack", request, lambda raw: Pack.of(raw.pack))


#: Capacity terms by name: a calendar month or year from valid_from.
CAPACITY_TERMS = {
    "month": account_service_pb2.CAPACITY_TERM_MONTH,
    "year": account_service_pb2.CAPACITY_TERM_YEAR,
}


def grant_capacity(
    account_id: str,
    gib: int,
    term: str | None,
    valid_from: datetime | None,
    expire_time: datetime | None,
    price_points: Decimal | int | str | None,
    price_yuan: Decimal | int | str | None,
    request_id: str | None,
) -> Operation[CapacityPurchase]:
    if (price_points is None) == (price_yuan is None):
        raise ValueError("state the price paid in price_points or price_yuan (one of them)")
    if isinstance(gib, bool) or not isinstance(gib, int):
        raise TypeError(f"gib is a whole number of GiB, not {gib!r}")
    request = account_service_pb2.GrantCapacityRequest(
        account_id=account_id, gib=gib, request_id=request_id or new_request_id()
    )
    if term is not None:
        if term not in CAPACITY_TERMS:
            raise ValueError(f"term must be one of {tuple(CAPACITY_TERMS)}, not {term!r}")
        request.term = CAPACITY_TERMS[term]
    if price_points is not None:
        request.price_points = points(price_points)
    else:
        assert price_yuan is not None
        request.price_yuan = points(price_yuan)  # the same exact decimal, in yuan
    if valid_from is not None:
        request.valid_from.CopyFrom(timestamp(valid_from))
    if expire_time is not None:
        request.expire_time.CopyFrom(timestamp(expire_time))
    return Operation("GrantCapacity", request, lambda raw: CapacityPurchase.of(raw.purchase))


#: ``update_account``'s ``monthly_budget_points`` when the budget is to stay as it is.
KEEP: Any = object()


def update_account(
    account_id: str,
    plan: str | None,
    pay_as_you_go: bool | None,
    monthly_budget_points: Decimal | int | str | None = KEEP,
) -> Operation[Account]:
    """``monthly_budget_points``: KEEP leaves the budget, None removes it."""
    request = account_service_pb2.UpdateAccountRequest(account_id=account_id)
    if plan is not None:
        request.plan = plan
    if pay_as_you_go is not None:
        request.pay_as_you_go = pay_as_you_go
    if monthly_budget_points is not KEEP:
        request.monthly_budget_points = optional_points(monthly_budget_points)
    return Operation("UpdateAccount", request, lambda raw: Account.of(raw.account))


def percent(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} is a whole percent, 1 to 100 (0: not set), not {value!r}")
    return value


def set_alert_thresholds(
    account_id: str,
    free_points_below: Decimal | int | str | None,
    pack_points_below: Decimal | int | str | None,
    pack_percent_below: int,
    pay_as_you_go_points_above: Decimal | int | str | None,
    pay_as_you_go_budget_percent_above: int,
) -> Operation[AlertThresholds]:
    request = account_service_pb2.SetAlertThresholdsRequest(
        account_id=account_id,
        free_points_below=optional_points(free_points_below),
        pack_points_below=optional_points(pack_points_below),
        pack_percent_below=percent("pack_percent_below", pack_percent_below),
        pay_as_you_go_points_above=optional_points(pay_as_you_go_points_above),
        pay_as_you_go_budget_percent_above=percent(
            "pay_as_you_go_budget_percent_above", pay_as_you_go_budget_percent_above
        ),
    )
    return Operation("SetAlertThresholds", request, lambda raw: AlertThresholds.of(raw.thresholds))


def get_alert_thresholds(account_id: str) -> Operation[AlertThresholds]:
    request = account_service_pb2.GetAlertThresholdsRequest(account_id=account_id)
    return Operation("GetAlertThresholds", request, lambda raw: AlertThresholds.of(raw.thresholds))


def get_balance(account_id: str, day: date | str | None) -> Operation[Balance]:
    if isinstance(day, datetime):
        raise TypeError("a day is a date or 'YYYY-MM-DD' in the account's time zone")
    text = day.isoformat() if isinstance(day, date) else (day or "")
    request = account_service_pb2.GetBalanceRequest(account_id=account_id, day=text)
    return Operation("GetBalance", request, Balance.of)


def get_statement(account_id: str, month: date | str) -> Operation[Statement]:
    text = month.strftime("%Y-%m") if isinstance(month, date) else month
    request = account_service_pb2.GetStatementRequest(account_id=account_id, month=text)
    return Operation("GetStatement", request, Statement.of)


def list_charges(
    account_id: str,
    start_time: datetime | None,
    end_time: datetime | None,
    page_size: int,
    page_token: str,
) -> Operation[Page[ChargeEntry]]:
    request = account_service_pb2.ListChargesRequest(
        account_id=account_id, page_size=page_size, page_token=page_token
    )
    if start_time is not None:
        request.start_time.CopyFrom(timestamp(start_time))
    if end_time is not None:
        request.end_time.CopyFrom(timestamp(end_time))
    return Operation(
        "ListCharges",
        request,
        lambda raw: Page(tuple(ChargeEntry.of(c) for c in raw.charges), raw.next_page_token),
    )


def list_skus(category: str | None, page_size: int, page_token: str) -> Operation[Page[Sku]]:
    number = usage_pb2.CATEGORY_UNSPECIFIED
    if category:
        if category not in CATEGORIES:
            raise ValueError(f"category must be one of {CATEGORIES}, not {category!r}")
        number = cast(
            "usage_pb2.Category", usage_pb2.Category.Value(f"CATEGORY_{category.upper()}")
        )
    request = catalog_service_pb2.ListSkusRequest(
        category=number, page_size=page_size, page_token=page_token
    )
    return Operation(
        "ListSkus",
        request,
        lambda raw: Page(tuple(Sku.of(s) for s in raw.skus), raw.next_page_token),
    )


def get_sku(sku: str) -> Operation[Sku]:
    request = catalog_service_pb2.GetSkuRequest(sku=sku)
    return Operation("GetSku", request, lambda raw: Sku.of(raw.sku))
