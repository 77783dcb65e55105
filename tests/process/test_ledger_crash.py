"""Crash safety of the ledger: the server killed with SIGKILL mid-load.

The server runs as an operator runs it, a ``python -m rating_server`` process, on each
engine: a SQLite file, or a PostgreSQL database (which outlives the server's process, and
rolls back what the killed process left uncommitted). Clients commit concurrently; the
process is killed while requests are in flight, restarted on the same database, and
every request that was sent is retried with its request_id. Nothing acknowledged may be
lost, nothing may be charged twice, and every balance must still equal its ledger
entries.

Beside them a client runs live sessions: it reserves, then commits the session's usage
naming the reservation; after the restart every Reserve and every settling commit is
retried by its request_id, and each reservation must end settled exactly once, by the
charge its commit's retry returns.

Nothing here depends on timing for its verdict: the kill lands wherever it lands, and
the assertions hold for every place it can land.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import grpc
from google.protobuf import duration_pb2
from processes import Launch, ServerProcess, ledger_check
from support import LedgerReader, item, list_lines, query, timestamp

from rating.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    rating_service_pb2,
    rating_service_pb2_grpc,
)

RPC_TIMEOUT = 30.0
CLI_TIMEOUT = 60.0
LOAD_SECONDS = 1.5
CLIENTS = 6
# Every client has this many commits acknowledged before the kill, however slow the
# machine, so the kill always interrupts a server under load.
MIN_ACKED_PER_CLIENT = 3

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 16:00 UTC is midnight in Asia/Shanghai: usage around it on two UTC days falls on three
# local days, so the day boundary is crossed by every run.
BOUNDARIES = (
    datetime(2026, 11, 25, 16, 0, tzinfo=UTC),
    datetime(2026, 11, 26, 16, 0, tzinfo=UTC),
)
SKUS: tuple[tuple[str, int, int], ...] = (
    # (sku, smallest quantity, largest quantity), base units
    ("agent.call", 1, 5),
    ("model.doubao-lite-32k.input", 100, 40_000),
    ("model.doubao-lite-32k.output", 100, 20_000),
    ("rtc.audio.voice", 1_000, 300_000),
)
# The accounts the usage names, and the main account that funds each.
BILLING_ACCOUNT = {
    "crash-payg": "crash-payg",
    "crash-pack": "crash-pack",
    "crash-pack-sub": "crash-pack",
}


SESSION_ACCOUNT = "crash-session"  # basic, pay-as-you-go off, a large pack
SESSION_SKU = "rtc.audio.voice"
MIN_SESSIONS = 2


def serve(launch: Launch, database: str) -> ServerProcess:
    """The server on ``database``, on a free port, started."""
    server = launch("--db", database, "serve", "--listen", "127.0.0.1:0")
    server.wait_started()
    return server


@dataclass
class Sent:
    """A CommitCharges request a client sent, and its response if one came back."""

    request: rating_service_pb2.CommitChargesRequest
    acknowledged: rating_service_pb2.CommitChargesResponse | None = None
    error: str = ""


@dataclass
class Client:
    """One committing client: what it sent, in order, and any error before the kill."""

    index: int
    sent: list[Sent] = field(default_factory=list)
    failure: str = ""

    @property
    def acknowledged(self) -> int:
        return sum(1 for sent in self.sent if sent.acknowledged is not None)


@dataclass
class Session:
    """A live session's two requests, and their answers if they came back."""

    reserve: rating_service_pb2.ReserveRequest
    reserved: rating_service_pb2.ReserveResponse | None = None
    settle: rating_service_pb2.CommitChargesRequest | None = None
    settled: rating_service_pb2.CommitChargesResponse | None = None


def settle_request(
    session: Session, reservation: rating_service_pb2.Reservation, rng: random.Random
) -> rating_service_pb2.CommitChargesRequest:
    """The session's usage (more or less than it reserved), naming its reservation."""
    usage = item(
        SESSION_SKU,
        rng.randint(1_000, 120_000),
        usage_id=f"{session.reserve.request_id}.call",
        account_id=SESSION_ACCOUNT,
        occurred_at=datetime.now(UTC),
    )
    usage.reservation_id = reservation.reservation_id
    return rating_service_pb2.CommitChargesRequest(
        request_id=f"{session.reserve.request_id}.settle", items=[usage]
    )


def run_sessions(sessions: list[Session], address: str, killing: threading.Event) -> str:
    """Reserve, then settle, session after session, until the server is gone; a failure
    before the kill, in words."""
    rng = random.Random(99)
    deadline = time.monotonic() + 120
    with grpc.insecure_channel(address) as channel:
        rating = rating_service_pb2_grpc.RatingServiceStub(channel)
        while time.monotonic() < deadline:
            session = Session(
                rating_service_pb2.ReserveRequest(
                    request_id=f"session-{len(sessions)}",
                    account_id=SESSION_ACCOUNT,
                    sku=SESSION_SKU,
                    quantity=60_000,
                    ttl=duration_pb2.Duration(seconds=3600),
                )
            )
            sessions.append(session)
            try:
                session.reserved = rating.Reserve(session.reserve, timeout=RPC_TIMEOUT)
                session.settle = settle_request(session, session.reserved.reservation, rng)
                session.settled = rating.CommitCharges(session.settle, timeout=RPC_TIMEOUT)
            except grpc.RpcError as error:
                if not killing.is_set():
                    return f"{session.reserve.request_id} failed before the kill: {error}"
                return ""
    return "the server was never killed"


def create_accounts(channel: grpc.Channel, *, with_packs: bool) -> None:
    accounts = account_service_pb2_grpc.AccountServiceStub(channel)
    for request in (
        account_service_pb2.CreateAccountRequest(
            account_id="crash-payg", plan="pro", pay_as_you_go=True
        ),
        account_service_pb2.CreateAccountRequest(account_id="crash-pack", plan="basic"),
        account_service_pb2.CreateAccountRequest(
            account_id="crash-pack-sub", parent_account_id="crash-pack"
        ),
        account_service_pb2.CreateAccountRequest(account_id=SESSION_ACCOUNT, plan="basic"),
    ):
        accounts.CreateAccount(request, timeout=RPC_TIMEOUT)
    if not with_packs:
        return
    accounts.GrantResourcePack(
        account_service_pb2.GrantResourcePackRequest(
            account_id=SESSION_ACCOUNT, points="1000000", request_id="crash-session-pack"
        ),
        timeout=RPC_TIMEOUT,
    )
    # A small pack that expires at the first day boundary (exclusive) and is drawn
    # first, and a larger one without expiry behind it.
    accounts.GrantResourcePack(
        account_service_pb2.GrantResourcePackRequest(
            account_id="crash-pack",
            points="400",
            valid_from=timestamp(datetime(2026, 11, 1, tzinfo=UTC)),
            expire_time=timestamp(BOUNDARIES[0]),
            priority=0,
            request_id="crash-pack-early",
        ),
        timeout=RPC_TIMEOUT,
    )
    accounts.GrantResourcePack(
        account_service_pb2.GrantResourcePackRequest(
            account_id="crash-pack",
            points="2500.5",
            valid_from=timestamp(datetime(2026, 11, 1, tzinfo=UTC)),
            priority=1,
            request_id="crash-pack-late",
        ),
        timeout=RPC_TIMEOUT,
    )


def usage_request(
    rng: random.Random, request_id: str, size: int
) -> rating_service_pb2.CommitChargesRequest:
    """A batch of ``size`` items with unique usage_ids, mixed SKUs, accounts and days."""
    items = []
    for number in range(size):
        sku, smallest, largest = rng.choice(SKUS)
        occurred_at = rng.choice(BOUNDARIES) + timedelta(seconds=rng.randrange(-7200, 7200))
        items.append(
            item(
                sku,
                rng.randint(smallest, largest),
                usage_id=f"{request_id}.{number}",
                account_id=rng.choice(list(BILLING_ACCOUNT)),
                occurred_at=occurred_at,
                channel=rng.choice(("api", "web")),
            )
        )
    return rating_service_pb2.CommitChargesRequest(request_id=request_id, items=items)


def run_client(client: Client, address: str, killing: threading.Event) -> None:
    """Commit small batches back to back until the server is gone.

    A request is recorded as sent before the call, so the one the kill interrupts (or
    the first one after it) is kept, unacknowledged. An error before the kill is a
    failure of the test.
    """
    rng = random.Random(client.index)
    deadline = time.monotonic() + 120
    with grpc.insecure_channel(address) as channel:
        rating = rating_service_pb2_grpc.RatingServiceStub(channel)
        while time.monotonic() < deadline:
            request_id = f"crash-{client.index}-{len(client.sent)}"
            sent = Sent(usage_request(rng, request_id, rng.randint(1, 20)))
            client.sent.append(sent)
            try:
                sent.acknowledged = rating.CommitCharges(sent.request, timeout=RPC_TIMEOUT)
            except grpc.RpcError as error:
                sent.error = f"{error.code()}: {error.details()}"  # type: ignore[attr-defined]
                if not killing.is_set():
                    client.failure = f"{request_id} failed before the kill: {sent.error}"
                return
        client.failure = "the server was never killed"


def retry_sessions(address: str, sessions: list[Session]) -> dict[str, str]:
    """Retry every session's Reserve, then its settling commit (made now for one whose
    Reserve was never answered), and check that each reservation ended settled exactly
    once, by the charge its commit's retry returned, and that nothing stays held. Each
    reservation's id, with the charge that settled it."""
    rng = random.Random(7)
    with grpc.insecure_channel(address) as channel:
        rating = rating_service_pb2_grpc.RatingServiceStub(channel)
        accounts = account_service_pb2_grpc.AccountServiceStub(channel)
        settled: dict[str, str] = {}
        for session in sessions:
            reserved = rating.Reserve(session.reserve, timeout=RPC_TIMEOUT)
            if session.reserved is not None:
                assert reserved == session.reserved, session.reserve.request_id
            reservation = reserved.reservation
            assert reservation.granted_quantity == session.reserve.quantity
            settle = session.settle or settle_request(session, reservation, rng)
            receipt = rating.CommitCharges(settle, timeout=RPC_TIMEOUT)
            if session.settled is not None:
                assert receipt == session.settled, settle.request_id
            assert not receipt.lines[0].duplicate
            settled[reservation.reservation_id] = receipt.charge_id
        assert len(settled) == len(sessions), "each session has its own reservation"
        balance = accounts.GetBalance(
            account_service_pb2.GetBalanceRequest(account_id=SESSION_ACCOUNT), timeout=RPC_TIMEOUT
        )
        assert list(balance.reservations) == [], "a reservation is still held"
        assert balance.free_points_held == "0"
        lines = list_lines(channel, SESSION_ACCOUNT)
        assert sorted(line.charge_id for line in lines) == sorted(settled.values())
    return settled


def retry(
    address: str, requests: list[rating_service_pb2.CommitChargesRequest]
) -> list[rating_service_pb2.CommitChargesResponse | str]:
    """Send every request again, concurrently; each response, or the error it got."""
    with grpc.insecure_channel(address) as channel:
        rating = rating_service_pb2_grpc.RatingServiceStub(channel)

        def send(
            request: rating_service_pb2.CommitChargesRequest,
        ) -> rating_service_pb2.CommitChargesResponse | str:
            try:
                return rating.CommitCharges(request, timeout=RPC_TIMEOUT)
            except grpc.RpcError as error:
                return f"{error.code()}: {error.details()}"  # type: ignore[attr-defined]

        with ThreadPoolExecutor(CLIENTS) as pool:
            return list(pool.map(send, requests))


def funded_points(channel: grpc.Channel, account_id: str, days: set[str]) -> Decimal:
    """What GetBalance says the account has drawn for ``days``: free points, packs, bills."""
    accounts = account_service_pb2_grpc.AccountServiceStub(channel)
    total = Decimal(0)
    months: set[str] = set()
    packs: dict[str, Decimal] = {}
    for day in sorted(days):
        balance = accounts.GetBalance(
            account_service_pb2.GetBalanceRequest(account_id=account_id, day=day),
            timeout=RPC_TIMEOUT,
        )
        assert balance.billing_account_id == account_id
        assert Decimal(balance.free_points_used) <= Decimal(balance.free_points_granted)
        total += Decimal(balance.free_points_used)
        if balance.month not in months:
            months.add(balance.month)
            total += Decimal(balance.pay_as_you_go_points)
        for pack in balance.packs:
            assert Decimal(pack.remaining_points) >= 0
            packs[pack.pack_id] = Decimal(pack.points) - Decimal(pack.remaining_points)
    return total + sum(packs.values(), Decimal(0))


def local_day(stamp: datetime) -> str:
    return stamp.astimezone(SHANGHAI).strftime("%Y-%m-%d")


def micros(points: str) -> int:
    return int(Decimal(points) * 1_000_000)


def test_sigkill_under_concurrent_commits_loses_no_acknowledged_charge_and_charges_nothing_twice(
    launch: Launch, database: str
) -> None:
    first = serve(launch, database)
    with grpc.insecure_channel(first.address) as channel:
        create_accounts(channel, with_packs=True)

    clients = [Client(index) for index in range(CLIENTS)]
    killing = threading.Event()
    threads = [
        threading.Thread(
            target=run_client, args=(client, first.address, killing), name=f"client-{client.index}"
        )
        for client in clients
    ]
    sessions: list[Session] = []
    session_failure: list[str] = []
    threads.append(
        threading.Thread(
            target=lambda: session_failure.append(run_sessions(sessions, first.address, killing)),
            name="sessions",
        )
    )
    for thread in threads:
        thread.start()
    time.sleep(LOAD_SECONDS)
    # However slow the machine, the kill comes only once every client is under way.
    deadline = time.monotonic() + 60
    while (
        (
            any(client.acknowledged < MIN_ACKED_PER_CLIENT for client in clients)
            or sum(1 for one in sessions if one.settled) < MIN_SESSIONS
        )
        and not any(client.failure for client in clients)
        and not session_failure
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    killing.set()
    first.kill()
    for thread in threads:
        thread.join(RPC_TIMEOUT + 10)
    assert not any(thread.is_alive() for thread in threads), "a client never returned"
    assert [client.failure for client in clients] == [""] * CLIENTS, first.stderr
    assert session_failure == [""], first.stderr
    assert sum(1 for one in sessions if one.settled) >= MIN_SESSIONS
    for client in clients:
        assert client.acknowledged >= MIN_ACKED_PER_CLIENT
        # Each client stops at its first error, the kill's: every request before it was
        # acknowledged, the last one was not.
        assert [sent.acknowledged is not None for sent in client.sent] == [True] * (
            len(client.sent) - 1
        ) + [False]

    sent = [one for client in clients for one in client.sent]
    restarted_at = time.time()
    second = serve(launch, database)
    retried = retry(second.address, [one.request for one in sent])

    # Every retry succeeds.
    errors = [
        f"{one.request.request_id}: {answer}"
        for one, answer in zip(sent, retried, strict=True)
        if isinstance(answer, str)
    ]
    assert errors == [], errors[:5]
    settled = retry_sessions(second.address, sessions)
    receipts = [
        answer for answer in retried if isinstance(answer, rating_service_pb2.CommitChargesResponse)
    ]
    assert len(receipts) == len(sent)

    # Nothing acknowledged is lost: its retry is the acknowledged receipt itself.
    changed = [
        one.request.request_id
        for one, receipt in zip(sent, receipts, strict=True)
        if one.acknowledged is not None and receipt != one.acknowledged
    ]
    assert changed == [], changed[:5]
    for one, receipt in zip(sent, receipts, strict=True):
        assert [line.usage_id for line in receipt.lines] == [
            usage.usage_id for usage in one.request.items
        ]
        assert not any(line.duplicate for line in receipt.lines), one.request.request_id
        assert [line.billing_account_id for line in receipt.lines] == [
            BILLING_ACCOUNT[usage.account_id] for usage in one.request.items
        ]
        assert sum((Decimal(line.points) for line in receipt.lines), Decimal(0)) == Decimal(
            receipt.total_points
        )
        for line in receipt.lines:
            assert sum((Decimal(part.points) for part in line.funding), Decimal(0)) == Decimal(
                line.points
            )

    # One charge per request, and the ledger holds exactly those charges' lines.
    charge_ids = {receipt.charge_id for receipt in receipts}
    assert len(charge_ids) == len(sent)
    charged = sum((Decimal(receipt.total_points) for receipt in receipts), Decimal(0))
    usage_ids = Counter(usage.usage_id for one in sent for usage in one.request.items)
    assert set(usage_ids.values()) == {1}, "the test's usage_ids are unique"

    committed: dict[str, Decimal] = defaultdict(Decimal)
    days: dict[str, set[str]] = defaultdict(set)
    for one, receipt in zip(sent, receipts, strict=True):
        for usage, line in zip(one.request.items, receipt.lines, strict=True):
            committed[line.billing_account_id] += Decimal(line.points)
            days[line.billing_account_id].add(local_day(usage.occurred_at.ToDatetime(UTC)))

    with grpc.insecure_channel(second.address) as channel:
        lines = [
            line
            for account in sorted(set(BILLING_ACCOUNT.values()))
            for line in list_lines(channel, account)
        ]
        # Each usage_id is charged exactly once, and only under its request's charge.
        assert Counter(line.usage_id for line in lines) == usage_ids
        assert {line.charge_id for line in lines} == charge_ids
        assert sum((Decimal(line.points) for line in lines), Decimal(0)) == charged
        assert not any(line.voided for line in lines)
        # Every point committed is drawn exactly once: free points, packs or the bill.
        for account in sorted(committed):
            assert funded_points(channel, account, days[account]) == committed[account], account
        # The usage crossed the Asia/Shanghai day boundary: three local days per billing
        # account. Always so: the first requests of every client are always sent, and
        # their items (seeded per client) already fall on all three days.
        assert all(len(seen) == 3 for seen in days.values()), days

    assert second.terminate() == 0, second.stderr
    check = ledger_check(database)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "every balance equals its ledger entries" in check.stdout

    with LedgerReader(database) as ledger:
        kept = ledger.rows("SELECT reservation_id, state, settle_charge_id FROM reservations")
        assert {row[0]: (row[1], row[2]) for row in kept} == {
            reservation_id: ("settled", charge_id) for reservation_id, charge_id in settled.items()
        }
        charge_ids |= set(settled.values())
        ledger_ids = {row[0] for row in ledger.rows("SELECT charge_id FROM charges")}
        others = f"WHERE billing_account_id <> '{SESSION_ACCOUNT}'"  # the sessions' checked above
        [(line_count, line_micros)] = ledger.rows(
            f"SELECT count(*), sum(micros) FROM charge_lines {others}"
        )
        usage_keys = ledger.value(
            "SELECT count(DISTINCT billing_account_id || '/' || usage_id) FROM charge_lines "
            + others
        )
    assert ledger_ids == charge_ids, "a charge in the ledger that no retry returned"
    assert line_count == usage_keys == len(usage_ids)
    assert line_micros == sum(micros(receipt.total_points) for receipt in receipts)

    unacknowledged = [
        receipt for one, receipt in zip(sent, receipts, strict=True) if one.acknowledged is None
    ]
    survived = sum(1 for r in unacknowledged if r.commit_time.ToNanoseconds() < restarted_at * 1e9)
    print(
        f"\n{len(sent)} requests, {len(usage_ids)} items; {len(sent) - len(unacknowledged)} "
        f"acknowledged; of the {len(unacknowledged)} unacknowledged, {survived} had been "
        f"committed before the kill, {len(unacknowledged) - survived} were committed by the retry"
    )


BIG_BATCH = 10_000  # the largest batch: its write transaction takes long enough to hit


class Trigger(Protocol):
    """When to kill the server while a commit is in flight."""

    def __call__(self) -> bool: ...

    def close(self) -> None: ...


class WalWritten:
    """SQLite: whether the WAL has been written since this was made: a transaction
    spilled or committed pages. The big batch spills pages before it commits, so a kill
    right at the first write most likely lands inside its transaction."""

    def __init__(self, database: str) -> None:
        self._wal = Path(f"{database}-wal")
        self._before = self._signature()

    def _signature(self) -> tuple[int, int]:
        try:
            stat = self._wal.stat()
        except FileNotFoundError:
            return (-1, -1)
        return (stat.st_size, stat.st_mtime_ns)

    def __call__(self) -> bool:
        return self._signature() != self._before

    def close(self) -> None:
        pass


class TransactionWriting:
    """PostgreSQL: whether a transaction of the database other than this reader's has
    taken a transaction id, which it does at its first write (a commit's first is the
    lock on its billing accounts' rows): a kill right then lands inside the big batch's
    transaction, which the database rolls back when the server's connection is gone."""

    def __init__(self, database: str) -> None:
        self._reader = LedgerReader(database)

    def __call__(self) -> bool:
        return (
            self._reader.value(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
            )
            > 0
        )

    def close(self) -> None:
        self._reader.close()


class Committed:
    """Whether a reader sees the request's charge: it has committed, and the server is
    now building or sending its response, so a kill right then leaves a charge that was
    never acknowledged."""

    def __init__(self, database: str, request_id: str) -> None:
        self._reader = LedgerReader(database)
        self._request_id = request_id

    def __call__(self) -> bool:
        found = self._reader.rows("SELECT 1 FROM charges WHERE request_id = ?", self._request_id)
        return bool(found)

    def close(self) -> None:
        self._reader.close()


def lines_of(database: str, request_id: str) -> list[tuple[str, int, int]]:
    """(charge_id, lines, micros) per charge holding the request's usage_ids."""
    return query(
        database,
        "SELECT charge_id, count(*), sum(micros) FROM charge_lines WHERE usage_id LIKE ? "
        "GROUP BY charge_id",
        f"{request_id}.%",
    )


def charge_of(database: str, request_id: str) -> list[str]:
    return [
        row[0]
        for row in query(database, "SELECT charge_id FROM charges WHERE request_id = ?", request_id)
    ]


def test_a_commit_in_flight_at_sigkill_is_wholly_present_or_wholly_absent_after_restart(
    launch: Launch, database: str, engine: str
) -> None:
    server = serve(launch, database)
    earlier = usage_request(random.Random(0), "earlier", 20)
    with grpc.insecure_channel(server.address) as channel:
        create_accounts(channel, with_packs=False)
        rating = rating_service_pb2_grpc.RatingServiceStub(channel)
        earlier_receipt = rating.CommitCharges(earlier, timeout=RPC_TIMEOUT)

    first_write: tuple[str, Callable[[str], Trigger]] = (
        ("first-wal-write", lambda _request_id: WalWritten(database))
        if engine == "sqlite"
        else ("first-write", lambda _request_id: TransactionWriting(database))
    )
    triggers: list[tuple[str, Callable[[str], Trigger]]] = [
        first_write,
        ("committed", lambda request_id: Committed(database, request_id)),
    ]
    outcomes: list[str] = []
    for name, make_trigger in triggers:
        request = usage_request(random.Random(name), f"big-{name}", BIG_BATCH)
        trigger = make_trigger(request.request_id)
        with grpc.insecure_channel(server.address) as channel:
            call = rating_service_pb2_grpc.RatingServiceStub(channel).CommitCharges.future(
                request, timeout=RPC_TIMEOUT
            )
            deadline = time.monotonic() + RPC_TIMEOUT
            while not trigger() and not call.done() and time.monotonic() < deadline:
                time.sleep(0.001)
            server.kill()
            trigger.close()
            try:
                acknowledged: rating_service_pb2.CommitChargesResponse | None = call.result(
                    timeout=RPC_TIMEOUT
                )
            except grpc.RpcError:
                acknowledged = None

        server = serve(launch, database)
        # All of its lines, under the one charge of its request_id, or nothing at all.
        found = lines_of(database, request.request_id)
        charge_ids = charge_of(database, request.request_id)
        if found:
            outcomes.append(f"{name}: present" + ("" if acknowledged else ", unacknowledged"))
            assert [(charge_id, count) for charge_id, count, _ in found] == [
                (charge_ids[0], BIG_BATCH)
            ]
            if acknowledged is not None:
                assert charge_ids == [acknowledged.charge_id]
        else:
            outcomes.append(f"{name}: absent")
            assert charge_ids == []
            assert acknowledged is None, "an acknowledged commit was lost"

        # The retry returns the charge that survived, or commits the batch now, once.
        with grpc.insecure_channel(server.address) as channel:
            rating = rating_service_pb2_grpc.RatingServiceStub(channel)
            receipt = rating.CommitCharges(request, timeout=RPC_TIMEOUT)
            assert rating.CommitCharges(earlier, timeout=RPC_TIMEOUT) == earlier_receipt
        if acknowledged is not None:
            assert receipt == acknowledged
        if found:
            assert receipt.charge_id == charge_ids[0]
        assert len(receipt.lines) == BIG_BATCH
        assert not any(line.duplicate for line in receipt.lines)
        assert lines_of(database, request.request_id) == [
            (receipt.charge_id, BIG_BATCH, micros(receipt.total_points))
        ]

    assert server.terminate() == 0, server.stderr
    check = ledger_check(database)
    assert check.returncode == 0, check.stdout + check.stderr
    print(f"\nthe in-flight commits after restart: {'; '.join(outcomes)}")
