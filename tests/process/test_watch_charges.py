"""AccountService.WatchCharges across a server process killed and restarted: every
line once, in commit order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import grpc
from processes import Launch
from support import NOON, item, list_lines

from rating.v1 import account_service_pb2 as acc
from rating.v1 import account_service_pb2_grpc, rating_service_pb2, rating_service_pb2_grpc

TIMEOUT = 30.0  # a stream's whole life in a test: events come well within it


def calls(count: int, usage_id: str, account_id: str = "acme") -> object:
    return item("agent.call", count, usage_id=usage_id, account_id=account_id, occurred_at=NOON)


def test_a_feed_read_across_a_kill_and_a_restart_yields_every_line_once_in_commit_order(
    launch: Launch, database: str
) -> None:
    """A consumer keeps the cursor of each event it takes; the server is killed (-9)
    under commits, restarted, every commit is retried by its request_id, and the
    consumer reconnects with its cursor: what it took is every committed line, once
    each, in ListCharges' order."""
    first = launch("--db", database, "serve", "--listen", "127.0.0.1:0")
    first.wait_started()
    with grpc.insecure_channel(first.address) as channel:
        account_service_pb2_grpc.AccountServiceStub(channel).CreateAccount(
            acc.CreateAccountRequest(account_id="acme", pay_as_you_go=True), timeout=TIMEOUT
        )
    taken: list[str] = []
    cursor = [""]
    sent: list[rating_service_pb2.CommitChargesRequest] = []
    acknowledged = [0]
    killed = threading.Event()

    def consume(address: str) -> None:
        """Take events until the stream ends (the kill)."""
        with grpc.insecure_channel(address) as channel:
            stream = account_service_pb2_grpc.AccountServiceStub(channel).WatchCharges(
                acc.WatchChargesRequest(account_id="acme", cursor=cursor[0]), timeout=120
            )
            try:
                for event in stream:
                    if event.WhichOneof("event") == "line":
                        taken.append(event.line.usage_id)
                    cursor[0] = event.cursor
            except grpc.RpcError:
                assert killed.is_set(), "the stream failed before the kill"

    def commit_until_killed(address: str) -> None:
        with grpc.insecure_channel(address) as channel:
            rating = rating_service_pb2_grpc.RatingServiceStub(channel)
            while not killed.is_set() and len(sent) < 2000:
                number = len(sent)
                request = rating_service_pb2.CommitChargesRequest(
                    request_id=f"r{number}",
                    items=[calls(1, f"u{number}.{n}") for n in range(1 + number % 7)],
                )
                sent.append(request)
                try:
                    rating.CommitCharges(request, timeout=TIMEOUT)
                except grpc.RpcError:
                    return
                acknowledged[0] += 1

    consumer = threading.Thread(target=consume, args=(first.address,))
    consumer.start()
    wait_until(lambda: bool(cursor[0]), "the stream's start")
    committer = threading.Thread(target=commit_until_killed, args=(first.address,))
    committer.start()
    wait_until(lambda: len(taken) >= 30 and acknowledged[0] >= 10, "lines taken before the kill")
    killed.set()
    first.kill()
    committer.join(TIMEOUT)
    consumer.join(TIMEOUT)
    assert not committer.is_alive() and not consumer.is_alive()
    before = len(taken)

    second = launch("--db", database, "serve", "--listen", "127.0.0.1:0")
    second.wait_started()
    with grpc.insecure_channel(second.address) as channel:
        rating = rating_service_pb2_grpc.RatingServiceStub(channel)
        for request in sent:  # what the kill left unanswered is committed now, once
            rating.CommitCharges(request, timeout=TIMEOUT)
        committed = list_lines(channel, "acme")
        stream = account_service_pb2_grpc.AccountServiceStub(channel).WatchCharges(
            acc.WatchChargesRequest(account_id="acme", cursor=cursor[0]), timeout=120
        )
        for event in stream:
            if event.WhichOneof("event") == "line":
                taken.append(event.line.usage_id)
            if len(taken) >= len(committed):
                break
        stream.cancel()
    assert second.terminate() == 0, second.stderr
    assert len(committed) == sum(len(request.items) for request in sent)
    assert taken == [line.usage_id for line in committed], (before, len(taken), len(committed))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Until ``condition`` holds; fails after ``timeout`` (only a broken server takes it)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.01)
