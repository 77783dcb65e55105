"""Sessions: funding held for a live call, then settled by the commit of its usage.

A session reserves on entering its block and, unless it was settled, releases on
leaving it (also when the block raises; the exception propagates)::

    with client.session(
        account_id="acme", sku="rtc.audio.voice", quantity=600_000, ttl=300
    ) as s:
        if s.granted_quantity == 0:
            ...  # the account can fund none of it: refuse the call
        s.extend(quantity=300_000, ttl=300)  # optional: more quantity, more time
        receipt = s.settle(412_000, usage_id="room-9:alice")

``AsyncRatingClient.session`` is the same with ``async with`` and awaited ``extend`` /
``settle``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, cast

from rating import _operations as ops
from rating import usage
from rating.errors import FailedPreconditionError
from rating.types import Receipt, Reservation
from rating.v1.usage_pb2 import UsageItem

if TYPE_CHECKING:
    from rating.aio import AsyncRatingClient
    from rating.client import RatingClient
    from rating.v1 import rating_service_pb2

#: The reason a release gets for a reservation that was settled: nothing is held.
RESERVATION_SETTLED = "RESERVATION_SETTLED"


class SessionEndedError(RuntimeError):
    """``settle`` or ``extend`` of a session that was settled, or has left its block (or
    not entered it): nothing was sent."""


class _SessionState:
    """What the sync and the async session share: the reservation, whether it was
    settled, and the requests they make."""

    def __init__(
        self,
        account_id: str,
        sku: str,
        quantity: int,
        ttl: timedelta | float,
        request_id: str | None,
        timeout: float | None,
    ) -> None:
        self.account_id = account_id
        self.sku = sku
        self._reserve = ops.reserve(account_id, sku, quantity, ttl, request_id)
        self._timeout = timeout
        #: The Reserve's answer, and the reservation as last answered.
        self._reserved_as: Reservation | None = None
        self._reservation: Reservation | None = None
        self._started_at = datetime.now(UTC)
        self._entered = False
        self._left = False
        self._settling = False
        self._settle_request_id: str | None = None
        self._lock = threading.Lock()
        #: The settling commit's result, once ``settle`` returned.
        self.receipt: Receipt | None = None

    @property
    def reservation(self) -> Reservation:
        """The reservation as last answered: by Reserve, then each Extend, and the
        release on leaving the block."""
        if self._reservation is None:
            raise SessionEndedError("the session has not reserved yet: enter its block first")
        return self._reservation

    @property
    def reservation_id(self) -> str:
        return self._reserve_answer().reservation_id

    @property
    def granted_quantity(self) -> int:
        """How much of the SKU the hold covers, in its base unit (0: the account can fund
        none of it; refuse the call)."""
        return self.reservation.granted_quantity

    @property
    def held_points(self) -> Decimal:
        return self.reservation.held_points

    @property
    def started_at(self) -> datetime:
        """The session's start: the reservation's create_time (the server's clock), or
        the client's clock when it sent the Reserve if the answer had none."""
        self._reserve_answer()
        return self._started_at

    @property
    def settled(self) -> bool:
        return self.receipt is not None

    @property
    def request_id(self) -> str:
        """The Reserve's request_id (generated when none was given)."""
        request = cast("rating_service_pb2.ReserveRequest", self._reserve.request)
        return request.request_id

    def _enter(self) -> ops.Operation[Reservation]:
        if self._entered:
            raise RuntimeError("a session is entered once")
        self._entered = True
        self._started_at = datetime.now(UTC)
        return self._reserve

    def _reserved(self, reservation: Reservation) -> None:
        self._reserved_as = self._reservation = reservation
        if reservation.raw.HasField("create_time"):
            self._started_at = reservation.create_time

    def _reserve_answer(self) -> Reservation:
        if self._reserved_as is None:
            raise SessionEndedError("the session has not reserved yet: enter its block first")
        return self._reserved_as

    def _check_open(self, action: str) -> None:
        if self._reservation is None or self._left:
            raise SessionEndedError(f"cannot {action}: the session is not inside its block")
        if self.receipt is not None:
            raise SessionEndedError(
                f"cannot {action}: reservation {self.reservation_id} was settled by "
                f"charge {self.receipt.charge_id}"
            )

    def _extend(
        self, quantity: int, ttl: timedelta | float | None, request_id: str | None
    ) -> ops.Operation[Reservation]:
        with self._lock:
            self._check_open("extend")
        return ops.extend(self.reservation_id, quantity, ttl, request_id)

    def _start_settle(
        self,
        quantity: int,
        usage_id: str,
        occurred_at: datetime | None,
        attributes: Mapping[str, str] | None,
        request_id: str | None,
    ) -> tuple[UsageItem, str]:
        """The settling item and the request_id to commit it with."""
        with self._lock:
            self._check_open("settle")
            if self._settling:
                raise SessionEndedError(
                    f"cannot settle: reservation {self.reservation_id} is being settled"
                )
            self._settling = True
        reserved = self._reserve_answer()
        try:
            item = usage.item(
                reserved.sku or self.sku,
                quantity,
                usage_id=usage_id,
                account_id=reserved.account_id or self.account_id,
                occurred_at=occurred_at or self.started_at,
                attributes=attributes,
                reservation_id=self.reservation_id,
            )
        except BaseException:
            self._end_settle(None)
            raise
        # A settle that failed is resent with the first attempt's request_id: if its
        # commit was made after all, the resend answers it and charges nothing again.
        self._settle_request_id = request_id or self._settle_request_id or ops.new_request_id()
        return item, self._settle_request_id

    def _end_settle(self, receipt: Receipt | None) -> None:
        with self._lock:
            self._settling = False
            self.receipt = receipt

    def _leave(self) -> ops.Operation[Reservation] | None:
        """The release to send on leaving the block, if one is needed."""
        self._left = True
        if self._reservation is None or self.receipt is not None:
            return None
        return ops.release(self.reservation_id)

    def _release_failed(self, error: Exception, exiting_on: BaseException | None) -> None:
        """A release on leaving the block failed: a reservation settled meanwhile (a
        settle whose answer was lost) holds nothing, so that is no failure; otherwise
        the release's error is raised, or noted on the block's own exception."""
        if isinstance(error, FailedPreconditionError) and error.reason == RESERVATION_SETTLED:
            return
        if exiting_on is None:
            raise error
        exiting_on.add_note(
            f"and releasing reservation {self.reservation_id} on leaving the session failed: "
            f"{error} (its hold ends at {self.reservation.expire_time.isoformat()})"
        )


class Session(_SessionState):
    """A live session's reservation, from ``RatingClient.session``: reserved on entering
    the ``with`` block, released on leaving it unless settled.

    - ``granted_quantity``: how much the hold covers (0: refuse the call);
      ``reservation`` is the whole answer (held points, holds, expire_time).
    - ``extend(quantity=..., ttl=...)`` holds more, or for longer.
    - ``settle(quantity, usage_id=...)`` commits the session's usage naming the
      reservation, once; leaving the block after it releases nothing.
    - Leaving the block without settling releases the reservation, also when the block
      raises (the block's exception propagates; a failed release is added to it as a
      note, and otherwise raised: the hold still ends at its expire_time).
    """

    def __init__(
        self,
        client: RatingClient,
        account_id: str,
        sku: str,
        quantity: int,
        ttl: timedelta | float,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__(account_id, sku, quantity, ttl, request_id, timeout)
        self._client = client

    def __enter__(self) -> Session:
        self._reserved(self._client._run_keeping_request_id(self._enter(), self._timeout))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        operation = self._leave()
        if operation is None:
            return
        try:
            self._reservation = self._client._run(operation, self._timeout)
        except Exception as error:
            self._release_failed(error, value)

    def extend(
        self,
        *,
        quantity: int = 0,
        ttl: timedelta | float | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> Reservation:
        """Hold more (``quantity`` more base units, granted in part when the account
        cannot cover it) or for longer (a new ``ttl`` from now), or both; returns the
        reservation as it is now (also in ``self.reservation``)."""
        operation = self._extend(quantity, ttl, request_id)
        self._reservation = self._client._run_keeping_request_id(operation, timeout)
        return self._reservation

    def settle(
        self,
        quantity: int,
        *,
        usage_id: str,
        occurred_at: datetime | None = None,
        attributes: Mapping[str, str] | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> Receipt:
        """Commit the session's usage: one item of ``quantity`` base units of the
        reservation's SKU for its account, naming the reservation, so its held points pay
        first and any cost beyond them is drawn as any commit's (a quantity above
        ``granted_quantity`` is charged too). ``usage_id`` is the producer's id, as in
        every usage item; ``occurred_at`` defaults to the session's start
        (``started_at``), so the usage is rated on the day and at the price the
        reservation was; ``attributes`` are kept with it.

        Once only: a second ``settle`` after one returned raises ``SessionEndedError``
        before sending anything. A settle that raised may be called again: it resends
        with the same request_id (unless given another), so a commit that was made but
        whose answer was lost is not made twice."""
        item, request_id = self._start_settle(
            quantity, usage_id, occurred_at, attributes, request_id
        )
        receipt = None
        try:
            receipt = self._client.commit([item], request_id=request_id, timeout=timeout)
        finally:
            self._end_settle(receipt)
        return receipt


class AsyncSession(_SessionState):
    """``Session`` for ``AsyncRatingClient.session``: ``async with``, and ``extend`` and
    ``settle`` awaited; the same rules."""

    def __init__(
        self,
        client: AsyncRatingClient,
        account_id: str,
        sku: str,
        quantity: int,
        ttl: timedelta | float,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__(account_id, sku, quantity, ttl, request_id, timeout)
        self._client = client

    async def __aenter__(self) -> AsyncSession:
        operation = self._enter()
        self._reserved(await self._client._run_keeping_request_id(operation, self._timeout))
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        operation = self._leave()
        if operation is None:
            return
        try:
            released = await self._client._run(operation, self._timeout)
            self._reservation = released
        except Exception as error:
            self._release_failed(error, value)

    async def extend(
        self,
        *,
        quantity: int = 0,
        ttl: timedelta | float | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> Reservation:
        """As ``Session.extend``."""
        operation = self._extend(quantity, ttl, request_id)
        extended = await self._client._run_keeping_request_id(operation, timeout)
        self._reservation = extended
        return extended

    async def settle(
        self,
        quantity: int,
        *,
        usage_id: str,
        occurred_at: datetime | None = None,
        attributes: Mapping[str, str] | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> Receipt:
        """As ``Session.settle``."""
        item, request_id = self._start_settle(
            quantity, usage_id, occurred_at, attributes, request_id
        )
        receipt = None
        try:
            receipt = await self._client.commit([item], request_id=request_id, timeout=timeout)
        finally:
            self._end_settle(receipt)
        return receipt
