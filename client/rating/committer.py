"""``BatchCommitter``: buffer usage items and commit them in batches, exactly once.

For pipelines that produce usage one item at a time::

    with BatchCommitter(client, max_batch=1000, max_delay=1.0) as committer:
        for event in events:
            committer.add(usage.agent_calls(1, usage_id=event.id, account_id=event.account))
    # closing flushes what is left; so does interpreter exit
    for failure in committer.failures:
        ...  # the items the server refused, with why, to fix or store

- A batch goes out when it holds ``max_batch`` items or its oldest item is
  ``max_delay`` seconds old, whichever comes first.
- Memory is bounded: ``add`` blocks while ``max_buffered`` items wait, and raises
  ``BufferFullError`` if that lasts longer than its ``timeout``.
- Exactly once: each batch gets one request_id, kept through every retry, so a batch
  the server committed but whose answer was lost is never charged twice. Retryable
  errors (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED) are retried with
  backoff, but never forever: a batch is given up after ``max_attempts`` sends that
  failed with one, or once ``batch_deadline`` seconds have passed since its first send
  (on close, at ``close_timeout``), and the batches behind it go on.
- Nothing is dropped silently: items the server refuses (their item-level
  violations, INVALID_ARGUMENT's or, for an unknown account, NOT_FOUND's) are split
  off into ``failures`` and the rest of the batch is committed; a batch given up is
  reported in ``failures`` with its request_id and the last error, so it can be resent
  as it was.
- Batches go as columns (``commit_columns``; ``on_commit`` gets a ``ColumnReceipt``),
  or as rows with ``columns=False`` (``commit``; a ``Receipt``). A batch with an item
  columns cannot carry (``rating.columns.ColumnsError``) goes as rows.
- A batch larger than the server's message limit (``MessageTooLargeError``: many long
  attributes) is split in halves before it is sent, each with its own request_id,
  until each part fits; a single item too large is reported in ``failures``.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from rating._operations import new_request_id
from rating.client import RatingClient
from rating.columns import ColumnReceipt, ColumnsError, columns_of
from rating.errors import (
    FieldViolation,
    InvalidArgumentError,
    MessageTooLargeError,
    NotFoundError,
    RatingError,
)
from rating.types import Receipt
from rating.v1.columns_pb2 import UsageColumns
from rating.v1.usage_pb2 import UsageItem

log = logging.getLogger(__name__)
T = TypeVar("T")


class BufferFullError(RuntimeError):
    """``add`` waited ``timeout`` seconds for room in the buffer."""


class CommitterClosedError(RuntimeError):
    """``add`` after ``close``."""


@dataclass(frozen=True)
class Failure:
    """Items that were not committed, and why.

    - A batch that could not be committed (``violations`` empty): the server may or
      may not have it. Resend ``items`` with this ``request_id``
      (``client.commit(items, request_id=...)``) to keep exactly-once.
    - Items the server refused (``violations`` says why): nothing of them was written;
      fix them and send them as a new request (``request_id`` is empty: the batch's id
      went to the rest of the batch).
    """

    items: tuple[UsageItem, ...]
    request_id: str
    error: Exception
    violations: tuple[FieldViolation, ...] = ()


@dataclass
class Stats:
    batches: int = 0
    committed_items: int = 0
    duplicate_items: int = 0
    failed_items: int = 0
    retries: int = 0
    #: Batches given up after retrying (each is in ``failures``).
    batches_given_up: int = 0


@dataclass
class _Batch:
    items: list[UsageItem]
    request_id: str = field(default_factory=new_request_id)
    #: The items as columns, made at the first send (None: not made yet, or the
    #: items changed); ``rows`` once they could not be.
    columns: UsageColumns | None = None
    rows: bool = False


class BatchCommitter:
    def __init__(
        self,
        client: RatingClient,
        *,
        max_batch: int = 1000,
        max_delay: float = 1.0,
        max_buffered: int = 100_000,
        close_timeout: float = 30.0,
        on_commit: Callable[[Receipt | ColumnReceipt], None] | None = None,
        on_failure: Callable[[Failure], None] | None = None,
        backoff: tuple[float, float] = (0.1, 5.0),
        max_attempts: int = 20,
        batch_deadline: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        columns: bool = True,
    ) -> None:
        """``backoff`` is the first and the longest wait between two sends of a batch
        (doubling from one to the other); ``max_attempts`` and ``batch_deadline`` (seconds
        from its first send) bound how long one batch is retried. ``clock`` and
        ``sleep`` time the retries (tests give fakes). ``columns`` sends batches as
        columns (``commit_columns``), else as rows (``commit``)."""
        if not 1 <= max_batch <= 10_000:
            raise ValueError("max_batch must be 1 to 10,000 (the server's batch limit)")
        if max_buffered < max_batch:
            raise ValueError("max_buffered must hold at least one batch")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 < batch_deadline < float("inf"):
            raise ValueError("batch_deadline must be a positive number of seconds")
        self._client = client
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._max_buffered = max_buffered
        self._close_timeout = close_timeout
        self._on_commit = on_commit
        self._on_failure = on_failure
        self._backoff = backoff
        self._max_attempts = max_attempts
        self._batch_deadline = batch_deadline
        self._clock = clock
        self._sleep = sleep
        self._columns = columns
        self._buffer: deque[tuple[float, UsageItem]] = deque()
        self._changed = threading.Condition()
        self._closing = False
        self._closed = False
        self._flushing = 0
        self._in_flight = False
        self._give_up_at: float | None = None
        self.failures: list[Failure] = []
        self.stats = Stats()
        self._worker = threading.Thread(target=self._run, name="rating-committer", daemon=True)
        self._worker.start()
        atexit.register(self.close)

    def __enter__(self) -> BatchCommitter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def add(self, items: UsageItem | Iterable[UsageItem], *, timeout: float | None = None) -> None:
        """Buffer one item or several; blocks while the buffer is full."""
        batch = [items] if isinstance(items, UsageItem) else list(items)
        for item in batch:
            if not isinstance(item, UsageItem):
                raise TypeError(f"usage items are rating.v1.UsageItem messages, not {type(item)}")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            for item in batch:
                while len(self._buffer) >= self._max_buffered:
                    if self._closing:
                        raise CommitterClosedError("the committer is closed")
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise BufferFullError(
                            f"{len(self._buffer)} items wait to be committed; "
                            "the server may be down or slow"
                        )
                    self._changed.wait(remaining)
                if self._closing:
                    raise CommitterClosedError("the committer is closed")
                self._buffer.append((time.monotonic(), item))
            self._changed.notify_all()

    @property
    def pending(self) -> int:
        """Items buffered and not yet sent."""
        with self._changed:
            return len(self._buffer)

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything buffered now and wait until it is committed or failed;
        False if that took longer than ``timeout``."""
        with self._changed:
            self._flushing += 1
            self._changed.notify_all()
            try:
                return self._changed.wait_for(
                    lambda: not self._buffer and not self._in_flight, timeout
                )
            finally:
                self._flushing -= 1

    def close(self, timeout: float | None = None) -> None:
        """Flush and stop. Retryable failures are retried until ``timeout`` (default
        ``close_timeout``), which also bounds the deadline of commits sent from then on
        (one already in flight keeps its own); what is left is reported in ``failures``."""
        with self._changed:
            if self._closed:
                return
            self._closing = True
            self._give_up_at = time.monotonic() + (
                self._close_timeout if timeout is None else timeout
            )
            self._changed.notify_all()
        self._worker.join()
        with self._changed:
            self._closed = True
        atexit.unregister(self.close)

    # The worker.

    def _take(self) -> list[UsageItem] | None:
        """Wait for a batch to send: full, old enough, flushed, or the last ones."""
        with self._changed:
            while True:
                if len(self._buffer) >= self._max_batch:
                    break
                if self._buffer:
                    age = time.monotonic() - self._buffer[0][0]
                    if self._closing or self._flushing or age >= self._max_delay:
                        break
                    self._changed.wait(self._max_delay - age)
                elif self._closing:
                    return None
                else:
                    self._changed.wait()
            count = min(self._max_batch, len(self._buffer))
            self._in_flight = True
            self._changed.notify_all()  # room for blocked add()s
            return [self._buffer.popleft()[1] for _ in range(count)]

    def _run(self) -> None:
        while (items := self._take()) is not None:
            batch = _Batch(items)
            try:
                self._send(batch)
            except Exception as error:  # never let the worker die with items unreported
                log.exception("committing %s failed unexpectedly", batch.request_id)
                if batch.items:
                    self._fail(Failure(tuple(batch.items), batch.request_id, error))
            finally:
                with self._changed:
                    self._in_flight = False
                    self._changed.notify_all()

    def _send(self, batch: _Batch) -> None:
        delay = self._backoff[0]
        started = self._clock()
        deadline = started + self._batch_deadline
        failed = 0  # sends that failed with a retryable error
        sent = False  # whether the server may have this batch under its request_id
        while batch.items:
            try:
                receipt = self._commit(batch, self._time_left(deadline))
            except MessageTooLargeError as error:
                if sent or len(batch.items) == 1:
                    self._fail(
                        Failure(tuple(batch.items), "" if not sent else batch.request_id, error)
                    )
                    return
                # Never sent: its halves go as batches of their own, each with a new id.
                half = len(batch.items) // 2
                log.info("batch %s is too large to send (%s): split", batch.request_id, error)
                self._send(_Batch(batch.items[:half]))
                self._send(_Batch(batch.items[half:]))
                return
            except (InvalidArgumentError, NotFoundError) as error:
                # NOT_FOUND names the items whose account or reservation does not exist.
                sent = True
                refused = _refused_items(batch.items, error)
                if not refused:  # a problem with the request itself
                    self._fail(Failure(tuple(batch.items), batch.request_id, error))
                    return
                # Nothing was written: split the refused items off and send the rest
                # (the server names the first bad items, as many as fit its answer).
                for index in sorted(refused, reverse=True):
                    item = batch.items.pop(index)
                    self._fail(Failure((item,), "", error, tuple(refused[index])))
                batch.columns = None
                continue
            except RatingError as error:
                sent = True
                if not error.retryable or self._giving_up():
                    self._fail(Failure(tuple(batch.items), batch.request_id, error))
                    return
                failed += 1
                if failed >= self._max_attempts or self._clock() + delay >= deadline:
                    # Retrying it for ever would hold up every batch behind it.
                    log.error(
                        "commit %s given up after %d attempt(s), %.1fs",
                        batch.request_id,
                        failed,
                        self._clock() - started,
                    )
                    self.stats.batches_given_up += 1
                    self._fail(Failure(tuple(batch.items), batch.request_id, error))
                    return
                self.stats.retries += 1
                log.warning(
                    "commit %s failed (%s); retrying in %.1fs", batch.request_id, error, delay
                )
                self._sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            if isinstance(receipt, ColumnReceipt):  # counted without making its lines
                lines, duplicates = len(receipt), len(receipt.duplicate_lines)
            else:
                lines, duplicates = len(receipt.lines), len(receipt.duplicates)
            self.stats.batches += 1
            self.stats.committed_items += lines - duplicates
            self.stats.duplicate_items += duplicates
            _notify(self._on_commit, receipt)
            return

    def _commit(self, batch: _Batch, timeout: float | None) -> Receipt | ColumnReceipt:
        """One send of a batch, as columns unless they cannot carry it."""
        if self._columns and batch.columns is None and not batch.rows:
            try:
                batch.columns = columns_of(batch.items)
            except ColumnsError as error:
                log.info("batch %s goes as rows: %s", batch.request_id, error)
                batch.rows = True
        if batch.columns is not None:
            return self._client.commit_columns(
                batch.columns, request_id=batch.request_id, timeout=timeout
            )
        return self._client.commit(batch.items, request_id=batch.request_id, timeout=timeout)

    def _giving_up(self) -> bool:
        with self._changed:
            return self._give_up_at is not None and time.monotonic() >= self._give_up_at

    def _time_left(self, deadline: float) -> float | None:
        """The deadline of a commit of a batch due by ``deadline`` (on ``clock``): what
        is left of it, or of the close timeout while closing, if less than the client's
        own commit deadline; None (the client's) otherwise."""
        left = deadline - self._clock()
        with self._changed:
            if self._give_up_at is not None:
                left = min(left, self._give_up_at - time.monotonic())
        if left >= self._client.options.commit_timeout:
            return None
        return max(0.05, left)

    def _fail(self, failure: Failure) -> None:
        self.failures.append(failure)
        self.stats.failed_items += len(failure.items)
        log.error("%d usage item(s) not committed: %s", len(failure.items), failure.error)
        _notify(self._on_failure, failure)


def _refused_items(items: list[UsageItem], error: RatingError) -> dict[int, list[FieldViolation]]:
    """The violations of an error by the index of the item they name."""
    refused: dict[int, list[FieldViolation]] = {}
    for violation in error.violations:
        index = violation.item_index
        if index is not None and index < len(items):
            refused.setdefault(index, []).append(violation)
    return refused


def _notify(callback: Callable[[T], object] | None, value: T) -> None:
    """Call a user's callback; its exceptions are logged, never fatal to the worker."""
    if callback is not None:
        try:
            callback(value)
        except Exception:
            log.exception("a BatchCommitter callback raised")
