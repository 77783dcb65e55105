"""The client package (``rating``) across a server process killed (SIGKILL) and
restarted on the same port: a commit, the batch committer and the feed lose
nothing and charge nothing twice. No verdict depends on timing: a kill lands
wherever it lands, and every assertion holds for every place it can land."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

import pytest
from client_calls import COMING_BACK, DAY, calls, commit_until_up, usage_ids_of
from processes import Launch, ServerProcess, ledger_check
from support import query

from rating import BatchCommitter, RatingClient
from rating.errors import (
    UnavailableError,
)
from rating.types import Receipt

# Retries: the server as a subprocess, killed and restarted on the same port


def serve(launch: Launch, database: str, listen: str = "127.0.0.1:0") -> ServerProcess:
    """The server on ``database``, started (``listen`` port 0: a free port)."""
    process = launch("--db", str(database), "serve", "--listen", listen)
    process.wait_started()
    return process


def restart(launch: Launch, database: str, address: str) -> ServerProcess:
    """The server again, on the address the killed one had: at once, as docs/operations.md
    promises (the killed one's connections in TIME_WAIT do not hold the port)."""
    process = launch("--db", str(database), "serve", "--listen", address)
    process.wait_started()
    assert process.address == address
    return process


def test_a_commit_sent_while_the_server_is_down_is_charged_once_when_retried_after_restart(
    launch: Launch, database: str
) -> None:
    first = serve(launch, database)
    address = first.address
    items = [calls(100, "u-1")]
    with RatingClient(address) as client:
        client.create_account("acme", plan="pro")
        first.kill()
        with pytest.raises(UnavailableError) as caught:
            client.commit(items, request_id="req-down")
        assert caught.value.retryable

        restart(launch, database, address)
        receipt = commit_until_up(client, items, "req-down")
        again = client.commit(items, request_id="req-down")
        assert again.raw == receipt.raw
        assert not receipt.duplicates
        assert [(c.charge_id, c.usage_id) for c in client.iter_charges("acme")] == [
            (receipt.charge_id, "u-1")
        ]
        assert client.get_balance("acme", day=DAY).free_points_used == Decimal("200")


def test_a_commit_made_before_a_crash_whose_answer_was_never_seen_returns_the_same_charge(
    launch: Launch, database: str
) -> None:
    first = serve(launch, database)
    address = first.address
    items = [calls(100, "u-1"), calls(20, "u-2")]
    with RatingClient(address) as client:
        client.create_account("acme", plan="pro")
        made = client.commit(items, request_id="req-lost")  # as if its answer never came
        first.kill()
        restart(launch, database, address)

        retried = commit_until_up(client, items, "req-lost")
        assert retried.charge_id == made.charge_id
        assert retried.raw == made.raw
        assert not retried.duplicates
        # Even resent under a new request_id, no usage_id is charged twice: every line
        # is a duplicate naming the charge that holds it.
        fresh = client.commit(items)
        assert [(line.duplicate, line.original_charge_id) for line in fresh.lines] == [
            (True, made.charge_id),
            (True, made.charge_id),
        ]
        assert fresh.total_points == Decimal("0")
        assert [(c.charge_id, c.usage_id) for c in client.iter_charges("acme")] == [
            (made.charge_id, "u-1"),
            (made.charge_id, "u-2"),
        ]
        assert client.get_balance("acme", day=DAY).free_points_used == Decimal("240")


# The batching committer under a server restart

PIPELINE_ITEMS = 2_000
FEED_CHUNK = 10
FEED_PAUSE = 0.02  # about 500 items a second
KILL_AFTER = 600  # items handed to the committer before the kill


class Feeder(threading.Thread):
    """Hands PIPELINE_ITEMS agent calls, each with its own usage_id, to the committer
    at a steady pace."""

    def __init__(self, committer: BatchCommitter) -> None:
        super().__init__(name="feeder", daemon=True)
        self._committer = committer
        self.added = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for start in range(0, PIPELINE_ITEMS, FEED_CHUNK):
                self._committer.add(
                    calls(1, f"event-{number}", account_id="pipeline")
                    for number in range(start, start + FEED_CHUNK)
                )
                self.added += FEED_CHUNK
                time.sleep(FEED_PAUSE)
        except BaseException as error:  # reported by the test
            self.error = error


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


def test_the_batch_committer_commits_every_item_exactly_once_across_a_sigkill_and_restart(
    launch: Launch, database: str
) -> None:
    first = serve(launch, database)
    address = first.address
    receipts: list[Receipt] = []
    with RatingClient(address) as client:
        client.create_account("pipeline", plan="pro", pay_as_you_go=True)
        committer = BatchCommitter(
            client,
            max_batch=200,
            max_delay=0.2,
            backoff=(0.05, 0.5),
            # However long the restart takes, no batch is given up before its 300 s
            # batch_deadline: not after a count of attempts a slow restart can use up.
            max_attempts=10**9,
            close_timeout=COMING_BACK,
            on_commit=receipts.append,
        )
        feeder = Feeder(committer)
        feeder.start()
        # However slow the machine, the kill lands mid-stream, after some batches.
        wait_until(
            lambda: feeder.added >= KILL_AFTER and committer.stats.batches >= 1,
            COMING_BACK,
            "the pipeline is under way",
        )
        first.kill()
        # The server stays down until a commit has failed past the client's own
        # attempts, so the committer's retries (not only gRPC's) are put to work.
        wait_until(lambda: committer.stats.retries >= 1, COMING_BACK, "a commit failed")
        second = restart(launch, database, address)
        feeder.join(COMING_BACK)
        assert not feeder.is_alive() and feeder.error is None, feeder.error
        committer.close()

        assert committer.failures == []
        stats = committer.stats
        assert stats.committed_items + stats.duplicate_items == PIPELINE_ITEMS
        # Each batch kept its request_id through its retries, so none came back as a
        # duplicate of itself.
        assert stats.duplicate_items == 0
        assert committer.pending == 0

        lines = list(client.iter_charges("pipeline", page_size=1000))
        usage_ids = Counter(line.usage_id for line in lines)
        assert usage_ids == Counter(f"event-{number}" for number in range(PIPELINE_ITEMS))
        assert sum((line.points for line in lines), Decimal(0)) == 2 * PIPELINE_ITEMS
        # Every charge in the ledger is one the committer got a receipt for.
        assert {line.charge_id for line in lines} == {receipt.charge_id for receipt in receipts}
        assert sum(len(receipt.lines) for receipt in receipts) == PIPELINE_ITEMS
        balance = client.get_balance("pipeline", day=DAY)
        assert (balance.free_points_used, balance.pay_as_you_go_points) == (
            Decimal("500"),
            Decimal(2 * PIPELINE_ITEMS - 500),
        )

    assert second.terminate() == 0, second.stderr
    [(count, distinct, micros)] = query(
        database, "SELECT count(*), count(DISTINCT usage_id), sum(micros) FROM charge_lines"
    )
    assert (count, distinct, micros) == (PIPELINE_ITEMS, PIPELINE_ITEMS, 2 * PIPELINE_ITEMS * 10**6)
    check = ledger_check(database)
    assert check.returncode == 0, check.stdout + check.stderr
    print(
        f"\n{stats.batches} batches, {stats.retries} retried commits, "
        f"{len(receipts)} receipts across the restart"
    )


def test_a_feed_read_across_a_sigkill_and_restart_yields_every_line_once_in_order(
    launch: Launch, database: str
) -> None:
    first = serve(launch, database)
    address = first.address
    with RatingClient(address) as client:
        client.create_account("acme", plan="pro")
        with client.watch_charges("acme") as feed:
            client.commit([calls(1, f"u-{n}") for n in range(1, 6)], request_id="req-1")
            read = [next(feed), next(feed)]
            first.kill()  # the connection drops, wherever the stream was
            restart(launch, database, address)
            commit_until_up(client, [calls(1, "u-6")], "req-2")
            read += [next(feed) for _ in range(4)]
        listed = [(c.charge_id, c.line_number) for c in client.iter_charges("acme")]
    assert usage_ids_of(read) == [f"u-{n}" for n in range(1, 7)]
    assert [(e.line.charge_id, e.line.line_number) for e in read if e.line] == listed
    assert feed.reconnects >= 1
