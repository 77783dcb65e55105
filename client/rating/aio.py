"""``AsyncRatingClient``: the rating service from asyncio code (``grpc.aio``).

The same methods as ``RatingClient``, awaited::

    async with AsyncRatingClient.from_env() as client:
        quote = await client.quote(items)
        async for charge in client.iter_charges("acme"):
            ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from rating import _operations as ops
from rating.client import options_for
from rating.columns import ColumnQuote, ColumnReceipt
from rating.errors import RatingError, from_call
from rating.feed import BACKOFF, AsyncBalanceWatch, AsyncChargeFeed
from rating.options import ClientOptions
from rating.session import AsyncSession
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
    columns_pb2,
    usage_pb2,
)

T = TypeVar("T")


class AsyncRatingClient(ops.Connected):
    def __init__(
        self,
        target: str | None = None,
        *,
        options: ClientOptions | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        """Connect to ``target`` (or ``options.target``); or use ``channel`` as given.
        Make it inside the event loop that will use it."""
        self._connect(
            options_for(target, options),
            channel,
            grpc.aio.secure_channel,
            grpc.aio.insecure_channel,
        )

    @classmethod
    def from_env(cls) -> AsyncRatingClient:
        """A client configured from ``RATING_TARGET`` and friends (ClientOptions.from_env)."""
        return cls(options=ClientOptions.from_env())

    async def close(self) -> None:
        if self._owns_channel:
            await self.channel.close()

    async def __aenter__(self) -> AsyncRatingClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def invoke(self, method: str, request: Message, timeout: float | None = None) -> Message:
        """Call ``method`` ("Quote", "GetBalance", ...) with a raw request message and
        return the raw response, with the client's deadline, retries and errors."""
        callable_ = getattr(getattr(self, ops.stub_attribute(method)), method)
        try:
            response: Message = await callable_(
                request, timeout=self._deadline(method, timeout), metadata=self._metadata
            )
        except grpc.aio.AioRpcError as error:
            raise from_call(error.code(), error.details(), error.trailing_metadata()) from None
        return response

    def _deadline(self, method: str, timeout: float | None) -> float:
        return ops.deadline(self.options, method, timeout)

    async def _run(self, operation: ops.Operation[T], timeout: float | None) -> T:
        return operation.parse(await self.invoke(operation.method, operation.request, timeout))

    async def _run_keeping_request_id(
        self, operation: ops.Operation[T], timeout: float | None
    ) -> T:
        """``_run``, and a failure tells the request_id it was sent with, to resend it."""
        try:
            return await self._run(operation, timeout)
        except RatingError as error:
            error.request_id = operation.request.request_id  # type: ignore[attr-defined]  # a commit's
            raise

    # RatingService

    async def quote(
        self,
        items: Iterable[usage_pb2.UsageItem],
        *,
        account_id: str = "",
        timeout: float | None = None,
    ) -> Quote:
        """Price items without writing anything; with ``account_id``, also how that
        account would fund them now (``Quote.funding``)."""
        return await self._run(ops.quote(items, account_id), timeout)

    async def commit(
        self,
        items: Iterable[usage_pb2.UsageItem],
        *,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> Receipt:
        """Commit usage exactly once. A ``request_id`` is generated when none is given;
        to retry a commit yourself, pass the ``Receipt``'s or your own id again."""
        operation = ops.commit(items, request_id)
        try:
            return await self._run(operation, timeout)
        except RatingError as error:
            error.request_id = operation.request.request_id  # type: ignore[attr-defined]  # a commit's
            raise

    async def quote_columns(
        self,
        columns: columns_pb2.UsageColumns | Iterable[usage_pb2.UsageItem],
        *,
        account_id: str = "",
        timeout: float | None = None,
    ) -> ColumnQuote:
        """``quote``, with the items sent as columns (a ``UsageColumns`` message, or
        usage items, encoded by ``rating.columns.columns_of``) and the lines read as
        columns (``ColumnQuote``: ``micros``, ``price_indices``, ...; ``Line`` values
        only when asked)."""
        return await self._run(ops.quote_columns(columns, account_id), timeout)

    async def commit_columns(
        self,
        columns: columns_pb2.UsageColumns | Iterable[usage_pb2.UsageItem],
        *,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> ColumnReceipt:
        """``commit``, with the items sent as columns and the lines read as columns
        (``ColumnReceipt``). Exactly once as ``commit``: the request_id is generated
        when none is given, kept through retries, and told by a failure
        (``error.request_id``); a retry may send the same items as rows or columns."""
        operation = ops.commit_columns(columns, request_id)
        return await self._run_keeping_request_id(operation, timeout)

    async def void_charge(
        self, charge_id: str, *, reason: str = "", timeout: float | None = None
    ) -> VoidResult:
        return await self._run(ops.void_charge(charge_id, reason), timeout)

    async def get_limits(self, *, timeout: float | None = None) -> Limits:
        """The limits the server enforces: batch and item bounds, ids, the largest
        message, page sizes and the keepalive policy."""
        return await self._run(ops.get_limits(), timeout)

    # RatingService: reservations for live sessions

    async def reserve(
        self,
        account_id: str,
        sku: str,
        quantity: int,
        ttl: timedelta | float,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> Reservation:
        """Hold funding for a live session before it runs: ``quantity`` base units of
        ``sku`` (an id, alias or pattern) rated at the price in force now, for ``ttl``
        (a ``timedelta`` or seconds; 1 s to 24 h). An account that cannot cover it all
        is granted what it can (``granted_quantity``, down to 0). A ``request_id`` is
        generated when none is given and kept through retries, so a retried Reserve
        holds once; a failure tells it (``error.request_id``) to resend with."""
        operation = ops.reserve(account_id, sku, quantity, ttl, request_id)
        return await self._run_keeping_request_id(operation, timeout)

    async def extend(
        self,
        reservation_id: str,
        *,
        quantity: int = 0,
        ttl: timedelta | float | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> Reservation:
        """Hold more for a held reservation (``quantity`` more base units, granted in
        part when the account cannot cover it) or keep it longer (a new ``ttl`` from
        now), or both. Idempotent by ``request_id`` as ``reserve`` is."""
        operation = ops.extend(reservation_id, quantity, ttl, request_id)
        return await self._run_keeping_request_id(operation, timeout)

    async def release(self, reservation_id: str, *, timeout: float | None = None) -> Reservation:
        """End a reservation without usage: its points are free again. Releasing one
        that had ended (released or expired) answers it as it is, ``already_ended``
        true; a settled one is refused (FailedPreconditionError, RESERVATION_SETTLED)."""
        return await self._run(ops.release(reservation_id), timeout)

    def session(
        self,
        account_id: str,
        sku: str,
        quantity: int,
        ttl: timedelta | float,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> AsyncSession:
        """A live session's reservation, as a context manager (async ``with``): it reserves
        (as ``reserve``) on entering, ``settle`` commits the usage naming it, and leaving
        the block without settling releases it (see ``rating.session.AsyncSession``).
        ``timeout`` is the deadline of the Reserve and of that release."""
        return AsyncSession(self, account_id, sku, quantity, ttl, request_id, timeout)

    # AccountService

    async def create_account(
        self,
        account_id: str,
        *,
        plan: str = "",
        time_zone: str = "",
        parent_account_id: str = "",
        pay_as_you_go: bool = False,
        monthly_budget_points: Decimal | int | str | None = None,
        timeout: float | None = None,
    ) -> Account:
        """Create an account; ``monthly_budget_points`` caps what pay-as-you-go may
        spend a month, for quotes and reservations (a main account's only)."""
        operation = ops.create_account(
            account_id, plan, time_zone, parent_account_id, pay_as_you_go, monthly_budget_points
        )
        return await self._run(operation, timeout)

    async def get_account(self, account_id: str, *, timeout: float | None = None) -> Account:
        return await self._run(ops.get_account(account_id), timeout)

    async def update_account(
        self,
        account_id: str,
        *,
        plan: str | None = None,
        pay_as_you_go: bool | None = None,
        monthly_budget_points: Decimal | int | str | None = ops.KEEP,
        timeout: float | None = None,
    ) -> Account:
        """Change what is given; ``monthly_budget_points=None`` removes the budget."""
        operation = ops.update_account(account_id, plan, pay_as_you_go, monthly_budget_points)
        return await self._run(operation, timeout)

    async def set_alert_thresholds(
        self,
        account_id: str,
        *,
        free_points_below: Decimal | int | str | None = None,
        pack_points_below: Decimal | int | str | None = None,
        pack_percent_below: int = 0,
        pay_as_you_go_points_above: Decimal | int | str | None = None,
        pay_as_you_go_budget_percent_above: int = 0,
        timeout: float | None = None,
    ) -> AlertThresholds:
        """Replace all of a main account's alert thresholds with those given (the
        others are removed)."""
        operation = ops.set_alert_thresholds(
            account_id,
            free_points_below,
            pack_points_below,
            pack_percent_below,
            pay_as_you_go_points_above,
            pay_as_you_go_budget_percent_above,
        )
        return await self._run(operation, timeout)

    async def get_alert_thresholds(
        self, account_id: str, *, timeout: float | None = None
    ) -> AlertThresholds:
        return await self._run(ops.get_alert_thresholds(account_id), timeout)

    async def grant_pack(
        self,
        account_id: str,
        points: Decimal | int | str,
        *,
        valid_from: datetime | None = None,
        expire_time: datetime | None = None,
        priority: int = 0,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> Pack:
        """Grant a resource pack; a retried grant with the same request_id grants once."""
        operation = ops.grant_pack(
            account_id, points, valid_from, expire_time, priority, request_id
        )
        return await self._run(operation, timeout)

    async def grant_capacity(
        self,
        account_id: str,
        gib: int,
        *,
        term: str | None = None,
        valid_from: datetime | None = None,
        expire_time: datetime | None = None,
        price_points: Decimal | int | str | None = None,
        price_yuan: Decimal | int | str | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> CapacityPurchase:
        """Grant knowledge-base capacity: ``gib`` GiB for a ``term`` ("month" or "year")
        or to ``expire_time``, from ``valid_from`` (default now), at the price paid in
        points or yuan (exactly one); a retry with the same request_id grants once."""
        operation = ops.grant_capacity(
            account_id, gib, term, valid_from, expire_time, price_points, price_yuan, request_id
        )
        return await self._run(operation, timeout)

    async def get_balance(
        self, account_id: str, *, day: date | str | None = None, timeout: float | None = None
    ) -> Balance:
        return await self._run(ops.get_balance(account_id, day), timeout)

    async def list_charges(
        self,
        account_id: str,
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> Page[ChargeEntry]:
        operation = ops.list_charges(account_id, start_time, end_time, page_size, page_token)
        return await self._run(operation, timeout)

    async def iter_charges(
        self,
        account_id: str,
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page_size: int = 0,
    ) -> AsyncIterator[ChargeEntry]:
        """Every committed line of the account, page after page."""
        token = ""
        while True:
            page = await self.list_charges(
                account_id,
                start_time=start_time,
                end_time=end_time,
                page_size=page_size,
                page_token=token,
            )
            for entry in page.items:
                yield entry
            token = page.next_page_token
            if not token:
                return

    async def get_statement(
        self, account_id: str, month: date | str, *, timeout: float | None = None
    ) -> Statement:
        return await self._run(ops.get_statement(account_id, month), timeout)

    # AccountService: the charges feed

    def watch_charges(
        self,
        account_id: str = "",
        *,
        cursor: str = "",
        max_reconnects: int | None = None,
        backoff: tuple[float, float] = BACKOFF,
    ) -> AsyncChargeFeed:
        """The charges feed of main account ``account_id`` (its sub-accounts' lines too;
        empty: every account's, for the admin role): every committed line, reservation
        settlement and void, as ``ChargeEvent`` values (an async iterator), after
        ``cursor`` (empty: from when the feed starts). On UNAVAILABLE (the server
        stopping, the connection dropped) it opens the stream again after the last cursor
        it has (``feed.cursor``) with backoff (``backoff``: the first and the longest
        wait, doubling), for ever or up to ``max_reconnects`` times in a row without a
        message; other errors raise.
        ``await close()`` it, or use it in an ``async with`` block (which starts it)."""
        return AsyncChargeFeed(
            self.account_stub, self._metadata, account_id, cursor, max_reconnects, backoff
        )

    def watch_balance(
        self,
        account_id: str,
        *,
        every_change: bool = False,
        max_reconnects: int | None = None,
        backoff: tuple[float, float] = BACKOFF,
    ) -> AsyncBalanceWatch:
        """The balance of ``account_id`` (a sub-account: its main account's) as
        ``BalanceUpdate`` values: the balance now, then after each change that crosses
        one of its alert thresholds, with the alerts (every change with
        ``every_change``). It reconnects after UNAVAILABLE as ``watch_charges`` does;
        the update after a reconnection is the balance again. ``await close()`` it, or use
        it in an ``async with`` block."""
        return AsyncBalanceWatch(
            self.account_stub, self._metadata, account_id, every_change, max_reconnects, backoff
        )

    # CatalogService

    async def list_skus(
        self,
        *,
        category: str | None = None,
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> Page[Sku]:
        return await self._run(ops.list_skus(category, page_size, page_token), timeout)

    async def iter_skus(
        self, *, category: str | None = None, page_size: int = 0
    ) -> AsyncIterator[Sku]:
        token = ""
        while True:
            page = await self.list_skus(category=category, page_size=page_size, page_token=token)
            for entry in page.items:
                yield entry
            token = page.next_page_token
            if not token:
                return

    async def get_sku(self, sku: str, *, timeout: float | None = None) -> Sku:
        return await self._run(ops.get_sku(sku), timeout)
