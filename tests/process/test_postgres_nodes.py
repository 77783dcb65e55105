"""Several rating nodes over one PostgreSQL database, as an operator runs them past one
machine: every promise holds across them, through a node killed mid-load and through
PostgreSQL itself killed and restarted, and a catalog import reaches every node.

No assertion depends on timing: the tests wait for conditions, with generous
deadlines, and print what they measured.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from processes import Launch, ServerProcess, cli
from support import CATALOG, NOON, SEED, WAIT, item, wait_until

from rating import RatingClient
from rating.v1 import rating_service_pb2, rating_service_pb2_grpc, usage_pb2
from rating_server.catalog.imports import import_file
from rating_server.catalog.stores import open_catalog
from rating_server.ledger.postgres import migrate
from rating_server.ledger.postgres.cluster import Cluster

CALL_TIMEOUT = 30.0
#: What a caller may see from a node that is killed, or whose database is down.
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED})

ACCOUNTS = [f"acct-{n}" for n in range(4)]
DAILY_FREE = Decimal(500)  # the seed's basic plan
PACK = Decimal(300)
CALLS = 10  # agent calls per item: 20 points
MONTH = NOON.strftime("%Y-%m")
DAY = NOON.strftime("%Y-%m-%d")  # the free points' day (Asia/Shanghai): the 27th too

FREE = usage_pb2.FUNDING_SOURCE_FREE_POINTS
PACKED = usage_pb2.FUNDING_SOURCE_RESOURCE_PACK
PAYG = usage_pb2.FUNDING_SOURCE_PAY_AS_YOU_GO


# -- the nodes -----------------------------------------------------------------------------


def start_nodes(launch: Launch, url: str, count: int) -> list[ServerProcess]:
    """``count`` ``rating-server serve`` processes, each on a port of its own."""
    nodes = [launch("--db", url, "serve", "--listen", "127.0.0.1:0") for _ in range(count)]
    for node in nodes:
        node.wait_started()
    return nodes


def own_connection(address: str) -> grpc.Channel:
    """A channel with a TCP connection of its own (channels otherwise share one)."""
    return grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


def health(address: str) -> int | None:
    """The node's overall health status; None when it does not answer."""
    with own_connection(address) as channel:
        try:
            return (
                health_pb2_grpc.HealthStub(channel)
                .Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
                .status
            )
        except grpc.RpcError:
            return None


def ledger_check(url: str, cwd: Path) -> str:
    done = cli("--db", url, "ledger", "check", cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


# -- the load ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    request_id: str
    items: tuple[tuple[str, str], ...]  # (usage_id, account_id)

    def message(self) -> rating_service_pb2.CommitChargesRequest:
        return rating_service_pb2.CommitChargesRequest(
            request_id=self.request_id,
            items=[
                item("agent.call", CALLS, usage_id=usage_id, account_id=account_id)
                for usage_id, account_id in self.items
            ],
        )


def workload(streams: int, per_stream: int) -> list[list[Request]]:
    """``streams`` lists of requests. Request k of every stream has four usage_ids in
    common with request k of the others (one per account, under different
    request_ids), and one of its own."""
    return [
        [
            Request(
                f"r-{stream}-{k}",
                (
                    *((f"u-{k}-{i}", ACCOUNTS[(k + i) % 4]) for i in range(4)),
                    (f"u-{k}-own-{stream}", ACCOUNTS[(k + stream) % 4]),
                ),
            )
            for k in range(per_stream)
        ]
        for stream in range(streams)
    ]


@dataclass
class Figures:
    """What the callers saw, shared by the committers (under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: int = 0
    items_sent: int = 0
    acknowledged: int = 0
    retries: int = 0
    codes: Counter[grpc.StatusCode] = field(default_factory=Counter)
    in_flight: Counter[int] = field(default_factory=Counter)  # calls by node, now
    unavailable_seen_by: set[str] = field(default_factory=set)  # committers' names
    unexpected: list[str] = field(default_factory=list)
    # request_id -> every receipt it was answered with (a replay answers again).
    receipts: dict[str, list[rating_service_pb2.CommitChargesResponse]] = field(
        default_factory=dict
    )


class Nodes:
    """The nodes' addresses, and which of them the callers still send to."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self._alive = list(range(len(addresses)))
        self._lock = threading.Lock()

    def pick(self, number: int) -> int:
        with self._lock:
            return self._alive[number % len(self._alive)]

    def forget(self, index: int) -> None:
        with self._lock:
            self._alive.remove(index)


class Committer(threading.Thread):
    """Sends its requests one after the other, each to a node chosen by turn, on a
    connection of its own per node; a retryable failure is sent again, with the same
    request_id, to the next node, until it is acknowledged."""

    def __init__(self, number: int, requests: list[Request], nodes: Nodes, figures: Figures):
        super().__init__(name=f"committer-{number}", daemon=True)
        self.number = number
        self.requests = requests
        self.nodes = nodes
        self.figures = figures
        self.channels: dict[int, grpc.Channel] = {}

    def stub(self, index: int) -> rating_service_pb2_grpc.RatingServiceStub:
        if index not in self.channels:
            self.channels[index] = own_connection(self.nodes.addresses[index])
        return rating_service_pb2_grpc.RatingServiceStub(self.channels[index])

    def run(self) -> None:
        try:
            for k, request in enumerate(self.requests):
                self.commit(k, request)
        except BaseException as error:  # reported by the test
            with self.figures.lock:
                self.figures.unexpected.append(f"{self.name}: {error!r}")
        finally:
            for channel in self.channels.values():
                channel.close()

    def commit(self, k: int, request: Request) -> None:
        message = request.message()
        give_up = time.monotonic() + WAIT
        attempt = 0
        while True:
            index = self.nodes.pick(self.number + k + attempt)
            with self.figures.lock:
                self.figures.calls += 1
                self.figures.items_sent += len(request.items)
                self.figures.in_flight[index] += 1
            try:
                receipt = self.stub(index).CommitCharges(message, timeout=CALL_TIMEOUT)
            except grpc.RpcError as error:
                code = error.code()  # type: ignore[attr-defined]
                with self.figures.lock:
                    self.figures.in_flight[index] -= 1
                    self.figures.codes[code] += 1
                    if code == grpc.StatusCode.UNAVAILABLE:
                        self.figures.unavailable_seen_by.add(self.name)
                    if code not in RETRYABLE:
                        self.figures.unexpected.append(
                            f"{request.request_id} on node {index}: {code.name} {error.details()}"  # type: ignore[attr-defined]
                        )
                        return
                    self.figures.retries += 1
                if time.monotonic() > give_up:
                    with self.figures.lock:
                        self.figures.unexpected.append(f"{request.request_id}: never landed")
                    return
                attempt += 1
                time.sleep(min(0.02 * attempt, 0.5))  # backoff, as a client does
                continue
            with self.figures.lock:
                self.figures.in_flight[index] -= 1
                self.figures.acknowledged += 1
                self.figures.receipts.setdefault(request.request_id, []).append(receipt)
            return


def set_up_accounts(address: str) -> None:
    """Each account: the basic plan's 500 free points a day, a pack of 300 points, and
    pay-as-you-go for the rest: the load spends them all."""
    with RatingClient(address) as admin:
        for account_id in ACCOUNTS:
            admin.create_account(account_id, plan="basic", pay_as_you_go=True)
            admin.grant_pack(
                account_id,
                PACK,
                valid_from=NOON - timedelta(days=30),
                request_id=f"pack-{account_id}",
            )


def check_every_usage_charged_once(
    streams: list[list[Request]], figures: Figures, address: str
) -> dict[str, int]:
    """Each request answered with one charge; each usage charged once, by the receipts
    and by the ledger; balances and statements equal what the receipts sum to, no free
    or pack point spent twice. The figures of duplicates and replays."""
    assert not figures.unexpected, figures.unexpected
    sent = {request.request_id for stream in streams for request in stream}
    assert set(figures.receipts) == sent
    charges: dict[str, rating_service_pb2.CommitChargesResponse] = {}
    replays = 0
    for request_id, answers in figures.receipts.items():
        assert len({answer.charge_id for answer in answers}) == 1, request_id
        first = answers[0]
        assert all(answer == first for answer in answers), request_id  # a replay is the same
        replays += len(answers) - 1
        charges[first.charge_id] = first
    # Every usage charged once, by exactly one acknowledged receipt.
    charged: dict[str, str] = {}  # usage_id -> account
    duplicates = 0
    points: Counter[str] = Counter()
    funded: dict[str, Counter[int]] = {account: Counter() for account in ACCOUNTS}
    for receipt in charges.values():
        for line in receipt.lines:
            if line.duplicate:
                duplicates += 1
                assert line.original_charge_id in charges, line
                assert not line.funding
                continue
            assert line.usage_id not in charged, f"{line.usage_id} charged twice"
            charged[line.usage_id] = line.account_id
            points[line.account_id] += Decimal(line.points)
            for part in line.funding:
                funded[line.account_id][part.source] += Decimal(part.points)
    expected = {
        usage_id: account_id
        for stream in streams
        for request in stream
        for usage_id, account_id in request.items
    }
    assert charged == expected
    with RatingClient(address) as reader:
        for account_id in ACCOUNTS:
            ledger_lines = list(reader.iter_charges(account_id, page_size=500))
            assert {line.charge_id for line in ledger_lines} <= set(charges)
            assert sorted(line.usage_id for line in ledger_lines) == sorted(
                u for u, a in expected.items() if a == account_id
            )
            statement = reader.get_statement(account_id, MONTH)
            sums = funded[account_id]
            assert statement.total.points == points[account_id]
            assert statement.total.lines == len(ledger_lines)
            assert (
                statement.total.free_points,
                statement.total.pack_points,
                statement.total.pay_as_you_go_points,
            ) == (sums[FREE], sums[PACKED], sums[PAYG])
            balance = reader.get_balance(account_id, day=DAY)
            # The load spends more than the free points and the pack: all of both, once.
            assert balance.free_points_used == sums[FREE] == DAILY_FREE
            assert [pack.remaining_points for pack in balance.packs] == [PACK - sums[PACKED]]
            assert sums[PACKED] == PACK
            assert balance.pay_as_you_go_points == sums[PAYG] > 0
    return {
        "requests": len(sent),
        "usages charged": len(charged),
        "duplicate lines": duplicates,
        "replays": replays,
    }


# -- several nodes, one killed -------------------------------------------------------------


def test_three_nodes_over_one_database_charge_every_usage_once_through_a_node_killed_mid_load(
    launch: Launch, postgres_seeded: str, tmp_path: Path
) -> None:
    nodes = start_nodes(launch, postgres_seeded, 3)
    set_up_accounts(nodes[1].address)
    # Streams in pairs: both of a pair send the same requests (same request_ids), each
    # starting at another node; every stream shares usage_ids with the others.
    streams = workload(streams=3, per_stream=30)
    spread = Nodes([node.address for node in nodes])
    figures = Figures()
    committers = [Committer(number, streams[number % 3], spread, figures) for number in range(6)]
    for committer in committers:
        committer.start()
    total = sum(len(committer.requests) for committer in committers)
    # A third of the calls answered: node 0 dies, with calls in flight (as far as the
    # callers know: one may be answered before the kill lands).
    assert wait_until(
        lambda: (
            (figures.acknowledged >= total // 3 and figures.in_flight[0] > 0)
            or bool(figures.unexpected)
        )
    )
    spread.forget(0)
    nodes[0].kill()
    kills = 1
    for committer in committers:
        committer.join(WAIT * 2)
        assert not committer.is_alive()
    report = check_every_usage_charged_once(streams, figures, nodes[2].address)
    report.update(
        calls=figures.calls,
        items=figures.items_sent,
        kills=kills,
        retries=figures.retries,
        **{f"code {code.name}": count for code, count in figures.codes.items()},
    )
    print("\nseveral nodes:", ", ".join(f"{key} {value}" for key, value in report.items()))
    assert report["replays"] > 0 and report["duplicate lines"] > 0
    assert "every balance equals its ledger entries" in ledger_check(postgres_seeded, tmp_path)
    for node in nodes[1:]:
        assert node.process.poll() is None, node.stderr
        assert node.terminate() == 0
        assert "Traceback" not in node.stderr, node.stderr


# -- PostgreSQL killed ---------------------------------------------------------------------


@pytest.fixture
def own_cluster(postgres_cluster: Cluster) -> Iterator[Cluster]:
    """A cluster of the test's own, migrated and seeded, to kill: the session's
    (``postgres_cluster``, asked for its skip, or failure under CI, where there is no
    PostgreSQL) serves the other tests meanwhile."""
    folder = tempfile.mkdtemp(prefix="rating-pg-kill-")
    cluster = Cluster(folder)
    try:
        cluster.create()
        cluster.start()
        cluster.create_database()
        migrate.migrate_url(cluster.url)
        store = open_catalog(cluster.url)
        try:
            import_file(store, SEED)
        finally:
            store.close()
        yield cluster
    finally:
        if cluster.running():
            cluster.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_postgresql_killed_under_load_and_restarted_answers_only_retryable_errors_and_loses_nothing(
    launch: Launch, own_cluster: Cluster, tmp_path: Path
) -> None:
    nodes = start_nodes(launch, own_cluster.url, 2)
    set_up_accounts(nodes[0].address)
    streams = workload(streams=2, per_stream=30)
    spread = Nodes([node.address for node in nodes])
    figures = Figures()
    committers = [Committer(number, streams[number % 2], spread, figures) for number in range(4)]
    for committer in committers:
        committer.start()
    total = sum(len(committer.requests) for committer in committers)
    assert wait_until(lambda: figures.acknowledged >= total // 4 or figures.unexpected)
    own_cluster.stop("immediate")  # as a crash: no session is told, recovery at start
    outage = time.monotonic()
    acknowledged_before = figures.acknowledged
    assert wait_until(lambda: all(health(n.address) == NOT_SERVING for n in nodes))
    # Every caller meets the outage (each has calls left to send).
    assert wait_until(lambda: len(figures.unavailable_seen_by) == len(committers))
    codes_in_outage = dict(figures.codes)
    own_cluster.start()
    assert wait_until(lambda: all(health(n.address) == SERVING for n in nodes))
    back = time.monotonic()
    for committer in committers:
        committer.join(WAIT * 2)
        assert not committer.is_alive()
    assert set(figures.codes) <= RETRYABLE, figures.codes
    report = check_every_usage_charged_once(streams, figures, nodes[1].address)
    report.update(
        calls=figures.calls,
        items=figures.items_sent,
        retries=figures.retries,
        **{f"code {code.name}": count for code, count in figures.codes.items()},
        **{f"in the outage {code.name}": count for code, count in codes_in_outage.items()},
    )
    print(
        f"\npostgresql killed after {acknowledged_before} of {total} acknowledged, back "
        f"serving {back - outage:.1f} s later:",
        ", ".join(f"{key} {value}" for key, value in report.items()),
    )
    assert "every balance equals its ledger entries" in ledger_check(own_cluster.url, tmp_path)
    for node in nodes:
        assert node.terminate() == 0
        assert "INTERNAL" not in node.stderr and "Traceback" not in node.stderr, node.stderr


# -- the catalog ---------------------------------------------------------------------------

# A price of 3 points from 2099: a version of its own, which no commit uses yet.
NEW_PRICE = CATALOG.format(start="2099-01-01T00:00:00Z", points="3")


def quoted_version(address: str) -> int:
    with own_connection(address) as channel:
        request = rating_service_pb2.QuoteRequest(items=[item("agent.call", 1)])
        stub = rating_service_pb2_grpc.RatingServiceStub(channel)
        return stub.Quote(request, timeout=CALL_TIMEOUT).catalog_version


def test_a_catalog_imported_into_the_shared_database_is_used_by_every_node(
    launch: Launch, postgres_seeded: str, tmp_path: Path
) -> None:
    nodes = start_nodes(launch, postgres_seeded, 3)
    assert [quoted_version(node.address) for node in nodes] == [1, 1, 1]
    source = tmp_path / "new-price.toml"
    source.write_text(NEW_PRICE, encoding="utf-8")
    done = cli("--db", postgres_seeded, "catalog", "import", str(source), cwd=tmp_path)
    imported = time.monotonic()
    assert done.returncode == 0, done.stderr
    assert "catalog version 2" in done.stdout
    delays = []
    for node in nodes:
        assert wait_until(lambda n=node: quoted_version(n.address) == 2), node.stderr
        delays.append(time.monotonic() - imported)
    print(
        "\ncatalog version 2 quoted by each node, after the import:", [f"{d:.3f} s" for d in delays]
    )
    for node in nodes:
        assert node.terminate() == 0
