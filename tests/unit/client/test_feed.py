"""The charges feed (``rating/feed.py``), sync and async, against the fake server: the
events read, the cursor kept, the stream resumed after UNAVAILABLE, closed from
another thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from rating import AsyncRatingClient, RatingClient, errors
from rating.types import (
    ChargeEvent,
    ReservationSettled,
)
from rating.v1 import (
    account_service_pb2,
    usage_pb2,
)

from .fake import (
    NOON,
    WAIT,
    Action,
    Fake,
    async_options,
    connect,
    fail_with,
    rich_status,
    stamp,
    unavailable,
    wait_until,
)

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
