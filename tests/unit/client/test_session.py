"""Sessions (``rating/session.py``), sync and async, against the fake server: a
reservation made on entering, settled once with the usage, released otherwise."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2

from rating import AsyncRatingClient, RatingClient, errors
from rating.session import AsyncSession, Session, SessionEndedError
from rating.types import (
    Receipt,
)
from rating.v1 import (
    rating_service_pb2,
    usage_pb2,
)

from .fake import (
    NOON,
    TTL,
    Fake,
    async_options,
    connect,
    fail,
    fail_with,
    reply,
    reservation_message,
    rich_status,
    stamp,
    unavailable,
)


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
