"""AccountService.WatchCharges over gRPC, on both engines: the feed as it comes, resumed
by cursor, seen on another server of the same database, and ended when a server
stops.

Waits are for events (a stream's next message, with a generous deadline), never
sleeps whose length decides a verdict."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from support import NOON, item, rich_error, running

from rating.v1 import account_service_pb2 as acc
from rating.v1 import account_service_pb2_grpc, rating_service_pb2, rating_service_pb2_grpc
from rating_server.config import Settings
from rating_server.server import RatingServer, create_server

TIMEOUT = 30.0  # a stream's whole life in a test: events come well within it


def calls(count: int, usage_id: str, account_id: str = "acme") -> object:
    return item("agent.call", count, usage_id=usage_id, account_id=account_id, occurred_at=NOON)


class Node:
    """A server on the test's database, with stubs."""

    def __init__(self, server: RatingServer) -> None:
        self.server = server
        self.channel = grpc.insecure_channel(server.address)
        self.accounts = account_service_pb2_grpc.AccountServiceStub(self.channel)
        self.rating = rating_service_pb2_grpc.RatingServiceStub(self.channel)

    def commit(self, request_id: str, *items: object) -> rating_service_pb2.CommitChargesResponse:
        return self.rating.CommitCharges(
            rating_service_pb2.CommitChargesRequest(request_id=request_id, items=items),
            timeout=TIMEOUT,
        )

    def watch(
        self, account_id: str = "acme", cursor: str = ""
    ) -> Iterator[acc.WatchChargesResponse]:
        """The stream, once it has started: without a cursor, after its first message,
        which says where the feed starts (what is committed after that comes)."""
        stream = self.accounts.WatchCharges(
            acc.WatchChargesRequest(account_id=account_id, cursor=cursor), timeout=TIMEOUT
        )
        if not cursor:
            start = next(stream)
            assert start.cursor and start.WhichOneof("event") is None
        return stream


@pytest.fixture
def nodes(database: str) -> Iterator[tuple[Node, Node]]:
    """Two servers on one database (SQLite: one file; PostgreSQL: one database)."""
    with (
        running(Settings(listen="127.0.0.1:0", db_path=database)) as first,
        running(Settings(listen="127.0.0.1:0", db_path=database)) as second,
    ):
        a, b = Node(first), Node(second)
        a.accounts.CreateAccount(acc.CreateAccountRequest(account_id="acme"), timeout=TIMEOUT)
        a.accounts.CreateAccount(acc.CreateAccountRequest(account_id="globex"), timeout=TIMEOUT)
        yield a, b
        a.channel.close()
        b.channel.close()


def usage_ids(events: list[acc.WatchChargesResponse]) -> list[str]:
    return [event.line.usage_id for event in events]


def test_a_watcher_on_one_server_gets_the_lines_committed_on_another_then_resumes_by_cursor(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    stream = b.watch()  # from now: what was committed before is not sent
    a.commit("before-nothing", calls(1, "other", "globex"))
    charge = a.commit("c1", calls(1, "u1"), calls(2, "u2"))
    first, second = next(stream), next(stream)
    assert usage_ids([first, second]) == ["u1", "u2"]
    assert {first.line.charge_id, first.billing_account_id} == {charge.charge_id, "acme"}
    assert first.line.funding[0].points == "2"
    stream.cancel()
    a.commit("c2", calls(3, "u3"))
    resumed = b.watch(cursor=first.cursor)  # after u1: u2, then u3, nothing twice
    assert usage_ids([next(resumed), next(resumed)]) == ["u2", "u3"]
    resumed.cancel()


def test_settlements_and_voids_come_after_the_lines_they_concern(
    nodes: tuple[Node, Node],
) -> None:
    a, _ = nodes
    stream = a.watch()
    reserved = a.rating.Reserve(
        rating_service_pb2.ReserveRequest(
            request_id="rsv", account_id="acme", sku="agent.call", quantity=5, ttl={"seconds": 60}
        ),
        timeout=TIMEOUT,
    ).reservation
    settling = calls(5, "session")
    settling.reservation_id = reserved.reservation_id  # type: ignore[attr-defined]
    charge = a.commit("settle", settling)
    a.rating.VoidCharge(rating_service_pb2.VoidChargeRequest(charge_id=charge.charge_id))
    line, settled, voided = next(stream), next(stream), next(stream)
    assert line.line.usage_id == "session"
    assert (settled.settlement.reservation_id, settled.settlement.charge_id) == (
        reserved.reservation_id,
        charge.charge_id,
    )
    assert voided.void.charge_id == charge.charge_id
    assert [part.points for part in voided.void.reversals] == ["-10"]
    stream.cancel()


def test_the_feed_of_every_account_and_bad_requests(nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    stream = a.watch(account_id="")
    a.commit("both", calls(1, "a1"), calls(1, "g1", "globex"))
    events = [next(stream), next(stream)]
    assert sorted((e.billing_account_id, e.line.usage_id) for e in events) == [
        ("acme", "a1"),
        ("globex", "g1"),
    ]
    stream.cancel()
    with pytest.raises(grpc.RpcError) as forged:
        next(a.watch(cursor=events[0].cursor))  # a cursor of another feed
    assert forged.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert rich_error(forged.value).violations[0].reason == "CURSOR_INVALID"


def test_stopping_the_server_ends_its_streams_at_once_for_the_caller_to_resume_elsewhere(
    database: str,
) -> None:
    server = create_server(Settings(listen="127.0.0.1:0", db_path=database, grace_seconds=60))
    server.start()
    node = Node(server)
    node.accounts.CreateAccount(acc.CreateAccountRequest(account_id="acme"), timeout=TIMEOUT)
    stream = node.watch()
    node.commit("c1", calls(1, "u1"))
    assert next(stream).line.usage_id == "u1"
    server.stop()  # with 60 s of grace: the stream is ended by the server, not the grace
    with pytest.raises(grpc.RpcError) as ended:
        next(stream)
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    assert rich_error(ended.value).info.reason == "SERVER_STOPPING"
    node.channel.close()
