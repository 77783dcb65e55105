"""The charges feed (``AccountService.WatchCharges``) as an iterator that resumes.

::

    with client.watch_charges("acme", cursor=saved) as feed:
        for event in feed:           # ChargeEvent: a line, a settlement or a void
            handle(event)
            saved = event.cursor     # or feed.cursor, also before any event

The server streams every committed line, reservation settlement and void after a
cursor, and ends its streams with UNAVAILABLE when it stops. The iterator keeps the
cursor of the last message it read (the start marker's, until an event comes) and, on
UNAVAILABLE (a server stopping, a dropped connection), opens the stream again after it,
with backoff: nothing is skipped and nothing comes twice. It does so for ever, or
``max_reconnects`` times in a row without a message read; other errors raise (a
``rating.errors.RatingError``). ``close()`` (or leaving the ``with`` block) ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import grpc

from rating.errors import RatingError, UnavailableError, from_call
from rating.options import RETRY_INITIAL_BACKOFF, RETRY_MAX_BACKOFF
from rating.types import BalanceUpdate, ChargeEvent
from rating.v1 import account_service_pb2

#: The first and the longest wait before reconnecting, doubling between: the client's.
BACKOFF = (RETRY_INITIAL_BACKOFF, RETRY_MAX_BACKOFF)


def _request(account_id: str, cursor: str) -> account_service_pb2.WatchChargesRequest:
    return account_service_pb2.WatchChargesRequest(account_id=account_id, cursor=cursor)


class _Resume:
    """What both iterators share: the cursor, and when and how long to wait to resume.
    A stream of another method overrides ``_method``, ``_make_request``, ``_read`` and
    ``_reads_first`` (``BalanceWatch``)."""

    _method = "WatchCharges"

    def __init__(
        self,
        account_id: str,
        cursor: str,
        max_reconnects: int | None,
        backoff: tuple[float, float],
    ) -> None:
        if max_reconnects is not None and max_reconnects < 0:
            raise ValueError(f"max_reconnects must be None or 0 or more, not {max_reconnects}")
        if not 0 <= backoff[0] <= backoff[1]:
            raise ValueError(
                f"backoff is (first, longest) seconds, 0 <= first <= longest: {backoff}"
            )
        self.account_id = account_id
        #: Where the feed is: the cursor of the last message read (the start marker's
        #: until an event comes), or the one given. Keep it to resume after it.
        self.cursor = cursor
        #: Streams opened again after UNAVAILABLE, in all.
        self.reconnects = 0
        self._max_reconnects = max_reconnects
        self._backoff = backoff
        self._failed = 0  # failures in a row, since the last message read
        self._started = False

    def _make_request(self) -> Any:
        return _request(self.account_id, self.cursor)

    def _reads_first(self) -> bool:
        """Whether ``start`` reads the stream's first message (the start marker)."""
        return not self.cursor

    def _read(self, raw: Any) -> Any:
        """Take a message in: its cursor kept, its event if it has one."""
        self._failed = 0
        self.cursor = raw.cursor or self.cursor
        return ChargeEvent.of(raw) if raw.WhichOneof("event") else None

    def _wait_before_resuming(self, error: RatingError) -> float:
        """The wait before the next stream, or ``error`` raised when it may not resume."""
        if not isinstance(error, UnavailableError):
            raise error
        if self._max_reconnects is not None and self._failed >= self._max_reconnects:
            raise error
        delay = min(self._backoff[0] * 2.0**self._failed, self._backoff[1])
        self._failed += 1
        self.reconnects += 1
        return delay * random.uniform(0.5, 1.0)  # jitter: not every watcher at once


#: The error a stream that ends without one gets: the feed never ends while the server
#: runs, so something between ended it, and it resumes as after UNAVAILABLE.
def _ended() -> RatingError:
    return UnavailableError(grpc.StatusCode.UNAVAILABLE, "the feed's stream ended")


class ChargeFeed(_Resume):
    """The charges feed of a ``RatingClient`` (see the module); iterate it for
    ``ChargeEvent`` values. It starts (opens its stream and, without a cursor, reads
    where the feed starts) on ``start()``, on entering ``with``, or at the first
    ``next()``: what is committed after that comes."""

    def __init__(
        self,
        stub: Any,
        metadata: tuple[tuple[str, str], ...],
        account_id: str,
        cursor: str,
        max_reconnects: int | None,
        backoff: tuple[float, float],
    ) -> None:
        super().__init__(account_id, cursor, max_reconnects, backoff)
        self._stub = stub
        self._metadata = metadata
        self._call: Any = None
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._early: ChargeEvent | None = None  # an event read by start()

    def start(self) -> ChargeFeed:
        """Open the stream now; without a cursor, wait for the one where it starts
        (``cursor``). Raises as ``next()`` does; StopIteration is not raised: a feed
        closed meanwhile just stays closed."""
        if not self._started:
            self._started = True
            if self._reads_first():
                with contextlib.suppress(StopIteration):  # closed meanwhile
                    self._early = self._next_message()
        return self

    def __iter__(self) -> ChargeFeed:
        return self

    def __next__(self) -> ChargeEvent:
        self.start()
        if self._early is not None:
            early, self._early = self._early, None
            return early
        while True:
            event: ChargeEvent | None = self._next_message()
            if event is not None:
                return event

    def _next_message(self) -> Any:
        """The next message's event (None for the start marker), resuming as needed."""
        while True:
            if self._closed.is_set():
                raise StopIteration
            call = self._call or self._open()
            try:
                return self._read(next(call))
            except StopIteration:
                error = _ended()
            except grpc.RpcError as failure:
                if self._closed.is_set():
                    raise StopIteration from None
                error = from_call(
                    failure.code(),
                    failure.details(),
                    failure.trailing_metadata(),
                )
            self._call = None
            if self._closed.wait(self._wait_before_resuming(error)):
                raise StopIteration

    def _open(self) -> Any:
        with self._lock:
            if self._closed.is_set():
                raise StopIteration
            self._call = getattr(self._stub, self._method)(
                self._make_request(), metadata=self._metadata
            )
            return self._call

    def close(self) -> None:
        """End the feed: its stream is cancelled, a ``next()`` waiting returns (the
        iteration stops), and the feed stays closed. ``cursor`` is where it got to."""
        with self._lock:
            self._closed.set()
            if self._call is not None:
                self._call.cancel()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __enter__(self) -> ChargeFeed:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncChargeFeed(_Resume):
    """The charges feed of an ``AsyncRatingClient``: ``ChargeFeed`` as an async
    iterator. It starts on ``await start()``, on entering ``async with``, or at the
    first ``__anext__``; ``await close()`` ends it."""

    def __init__(
        self,
        stub: Any,
        metadata: tuple[tuple[str, str], ...],
        account_id: str,
        cursor: str,
        max_reconnects: int | None,
        backoff: tuple[float, float],
    ) -> None:
        super().__init__(account_id, cursor, max_reconnects, backoff)
        self._stub = stub
        self._metadata = metadata
        self._call: Any = None
        self._closed = False
        self._closing = asyncio.Event()
        self._early: ChargeEvent | None = None

    async def start(self) -> AsyncChargeFeed:
        """Open the stream now; without a cursor, wait for the one where it starts."""
        if not self._started:
            self._started = True
            if self._reads_first():
                with contextlib.suppress(StopAsyncIteration):  # closed meanwhile
                    self._early = await self._next_message()
        return self

    def __aiter__(self) -> AsyncIterator[ChargeEvent]:
        return self

    async def __anext__(self) -> ChargeEvent:
        await self.start()
        if self._early is not None:
            early, self._early = self._early, None
            return early
        while True:
            event: ChargeEvent | None = await self._next_message()
            if event is not None:
                return event

    async def _next_message(self) -> Any:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._call is None:
                self._call = getattr(self._stub, self._method)(
                    self._make_request(), metadata=self._metadata
                )
            try:
                raw = await self._call.read()
            except asyncio.CancelledError:
                if self._closed:  # our own close() cancelled the call
                    raise StopAsyncIteration from None
                raise
            except grpc.aio.AioRpcError as failure:
                if self._closed:
                    raise StopAsyncIteration from None
                error = from_call(failure.code(), failure.details(), failure.trailing_metadata())
            else:
                if raw is not grpc.aio.EOF:
                    return self._read(raw)
                error = _ended()
            self._call = None
            delay = self._wait_before_resuming(error)
            try:
                await asyncio.wait_for(self._closing.wait(), delay)
            except TimeoutError:
                continue
            raise StopAsyncIteration

    async def close(self) -> None:
        """End the feed: its stream is cancelled and the iteration stops."""
        self._closed = True
        self._closing.set()
        if self._call is not None:
            self._call.cancel()

    aclose = close

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> AsyncChargeFeed:
        return await self.start()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class _Balance:
    """What makes a charges feed a balance watch (``AccountService.WatchBalance``): its
    first message is the balance now, and a reconnection starts with the balance again."""

    _method = "WatchBalance"
    account_id: str
    every_change: bool
    _failed: int

    def _make_request(self) -> account_service_pb2.WatchBalanceRequest:
        return account_service_pb2.WatchBalanceRequest(
            account_id=self.account_id, every_change=self.every_change
        )

    def _reads_first(self) -> bool:
        return True

    def _read(self, raw: account_service_pb2.WatchBalanceResponse) -> BalanceUpdate:
        self._failed = 0
        return BalanceUpdate.of(raw)


class BalanceWatch(_Balance, ChargeFeed):
    """A balance watch of a ``RatingClient``: iterate it for ``BalanceUpdate`` values:
    the balance now, then after each change that crosses a threshold (every change with
    ``every_change``), each with the alerts it crossed. After UNAVAILABLE it reconnects
    as the charges feed does, and the next update is the balance again (no alerts: what
    changed while it was away is in it)."""

    def __init__(
        self,
        stub: Any,
        metadata: tuple[tuple[str, str], ...],
        account_id: str,
        every_change: bool,
        max_reconnects: int | None,
        backoff: tuple[float, float],
    ) -> None:
        self.every_change = every_change
        super().__init__(stub, metadata, account_id, "", max_reconnects, backoff)


class AsyncBalanceWatch(_Balance, AsyncChargeFeed):
    """``BalanceWatch`` for an ``AsyncRatingClient``."""

    def __init__(
        self,
        stub: Any,
        metadata: tuple[tuple[str, str], ...],
        account_id: str,
        every_change: bool,
        max_reconnects: int | None,
        backoff: tuple[float, float],
    ) -> None:
        self.every_change = every_change
        super().__init__(stub, metadata, account_id, "", max_reconnects, backoff)
