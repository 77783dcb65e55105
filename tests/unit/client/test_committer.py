"""The batch committer (``rating/committer.py``) against the fake server: batches sent
when full or old, retried, split, given up and reported; nothing lost."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from rating import BatchCommitter, RatingClient, errors, usage
from rating import columns as column_form
from rating._operations import new_request_id
from rating.columns import ColumnReceipt
from rating.committer import BufferFullError, CommitterClosedError, Failure
from rating.types import (
    Receipt,
)
from rating.v1 import (
    rating_service_pb2,
    usage_pb2,
)

from .fake import (
    WAIT,
    Action,
    Fake,
    answer_by_default,
    assert_deadline,
    call,
    committed,
    connect,
    fail,
    fail_with,
    items_of,
    rich_status,
    unavailable,
    wait_until,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAST = (0.01, 0.05)  # committer backoff


def sent_items(
    request: rating_service_pb2.QuoteRequest | rating_service_pb2.CommitChargesRequest,
) -> list[usage_pb2.UsageItem]:
    """The items of a request, sent as rows or as columns."""
    if request.HasField("columns"):
        return column_form.items_of(request.columns)
    return list(request.items)


def stalled(fake: Fake, until: threading.Event, method: str = "CommitCharges") -> Action:
    """Answer by default only once ``until`` (or the fake's teardown) is set."""

    def action(request: Any, context: grpc.ServicerContext) -> Message:
        deadline = time.monotonic() + WAIT
        while not (until.is_set() or fake.released.is_set()) and time.monotonic() < deadline:
            until.wait(0.01)
        return answer_by_default(method)(request, context)

    return action


# BatchCommitter.


@pytest.fixture
def single_shot(fake: Fake) -> Iterator[RatingClient]:
    """A client that does not retry by itself, so the committer's retries show."""
    with connect(fake, max_attempts=1, commit_timeout=10.0) as opened:
        yield opened


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
