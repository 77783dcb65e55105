"""Observability and a bounded load test (issue 5: "Observability" and the load test).

The metrics and access-log tests run the real server in this process, where its
``/metrics`` endpoint is scraped with urllib and its log records are caught by caplog.
The load test runs it as an operator does, a ``python -m rating_server`` process, so its
memory is its own: several clients mix quotes, commits, balances and voids until they
have made a fixed number of calls, and for at least ``RATING_LOAD_SECONDS`` (default 8),
then the ledger is checked every way there is.

No verdict depends on speed: the load test asserts what every call returned, what the
ledger holds and that the server's memory stays bounded, never a throughput.
"""

from __future__ import annotations

import io
import json
import logging
import os
import random
import re
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from processes import Launch, ServerProcess, ledger_check
from prometheus_client.parser import text_string_to_metric_families
from support import LedgerReader, item

from rating import RatingClient, usage
from rating.errors import InvalidArgumentError, RatingError
from rating.options import ClientOptions
from rating.v1 import rating_service_pb2, rating_service_pb2_grpc, usage_pb2
from rating_server import access_log
from rating_server.access_log import AccessLog
from rating_server.auth import hash_token
from rating_server.config import Settings
from rating_server.logs import JsonFormatter
from rating_server.server import RatingServer

RPC_TIMEOUT = 30.0
CLI_TIMEOUT = 60.0
# How long a test waits for a condition before it fails.
WAIT = 60.0
# How long the load runs at least; set RATING_LOAD_SECONDS for a longer soak.
LOAD_SECONDS = float(os.environ.get("RATING_LOAD_SECONDS") or 8.0)
# And how much load, at least, however slow the machine: what the memory bound and
# the mix of calls need is work done, not seconds passed (about 2,000 calls take 8 s
# here, on 2 idle cores; with 3 CPU hogs beside it, 1,100).
LOAD_CALLS = 2_000
# Memory is first measured after this much load: the thread pool, the per-thread
# SQLite readers and the allocator's arenas are warm by then.
WARM_UP_SECONDS = min(2.0, LOAD_SECONDS / 4)
WARM_UP_CALLS = LOAD_CALLS // 4
# A load that has not made its calls by then has a server that stopped answering.
LOAD_GIVE_UP_SECONDS = 600.0
CLIENTS = 6
# The server's resident memory at the end may exceed its warm value by this factor
# plus this many MiB, and no more. Measured here (2 cores): a healthy server grows by
# at most 2.3 MiB, in 8 s as in 60 s (flat after warm-up), so the bound leaves it a wide
# margin; a server keeping every commit's receipt grows by 17 MiB in 8 s and fails it.
# Smaller leaks need a longer run (RATING_LOAD_SECONDS) to show.
RSS_FACTOR = 1.1
RSS_SLACK_MIB = 6.0

ACCESS_LOGGER = "rating_server.access"
#: A request id the server made (a UUID).
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
MONTH = "2026-11"
# Load usage falls in these days: mid-month in every time zone, one statement month.
USAGE_FROM = datetime(2026, 11, 9, tzinfo=UTC)
USAGE_SPAN_SECONDS = 5 * 86_400
# The accounts the load names, and the main account that funds each.
BILLING_ACCOUNT = {
    "load-payg": "load-payg",
    "load-pack": "load-pack",
    "load-pack-sub": "load-pack",
}
MAIN_ACCOUNTS = sorted(set(BILLING_ACCOUNT.values()))
KINDS = ("quote", "commit", "balance", "void")


# Metrics and the access log, in-process.


@dataclass(frozen=True)
class Scrape:
    """One /metrics exposition: every sample by name and labels."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        assert key in self.samples, f"no sample {name}{labels}; have {sorted(self.names())}"
        return self.samples[key]

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}

    def matching(self, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
        """Every sample called ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return {
            key: value
            for (sample, key), value in self.samples.items()
            if sample == name and wanted <= key
        }


def scrape(port: int) -> Scrape:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=RPC_TIMEOUT) as page:
        assert page.status == 200
        text = page.read().decode()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return Scrape(samples)


def rpc(service: str, method: str, grpc_code: str = "OK") -> dict[str, str]:
    """The labels of a unary rating.v1 method's standard gRPC series (grpc_metrics.py)."""
    labels = {"grpc_type": "unary", "grpc_service": f"rating.v1.{service}"}
    return labels | {"grpc_method": method, "grpc_code": grpc_code}


def rpc_of(method: str) -> dict[str, str]:
    service = "AccountService" if method == "GetBalance" else "RatingService"
    return rpc(service, method)


# Without the code: the labels the started, timing and message series have.
QUOTE = {k: v for k, v in rpc("RatingService", "Quote").items() if k != "grpc_code"}
COMMIT = {k: v for k, v in rpc("RatingService", "CommitCharges").items() if k != "grpc_code"}


@pytest.fixture
def metered_server(database: str) -> Iterator[RatingServer]:
    """The real server in this process, with /metrics on a free port of 127.0.0.1."""
    running = RatingServer(
        Settings(listen="127.0.0.1:0", db_path=database, metrics_listen="127.0.0.1:0")
    )
    running.start()
    yield running
    running.stop(grace=0)


def agent_calls(count: int, prefix: str, account_id: str) -> list[usage_pb2.UsageItem]:
    """``count`` items of one agent call each (2 points apiece), at noon of a November day."""
    return [
        usage.agent_calls(
            1,
            usage_id=f"{prefix}-{number}",
            account_id=account_id,
            occurred_at=datetime(2026, 11, 20, 4, tzinfo=UTC),
        )
        for number in range(count)
    ]


def test_metrics_endpoint_counts_calls_by_method_and_code_items_points_catalog_and_db_time(
    metered_server: RatingServer,
) -> None:
    assert metered_server.metrics_port
    with RatingClient(metered_server.address) as client:
        client.create_account("metrics-acct", plan="basic")
        quoted = [client.quote(agent_calls(size, "q", "metrics-acct")) for size in (1, 2, 3)]
        receipt = client.commit(agent_calls(4, "c", "metrics-acct"), request_id="metrics-commit")
        for _ in range(2):
            with pytest.raises(InvalidArgumentError):
                client.quote([usage.item("no.such.sku", 1, usage_id="bad", account_id="")])

    assert [len(quote.lines) for quote in quoted] == [1, 2, 3]
    assert receipt.total_points == Decimal(8)
    metrics = scrape(metered_server.metrics_port)

    assert metrics.value("grpc_server_handled_total", **QUOTE, grpc_code="OK") == 3
    assert metrics.value("grpc_server_handled_total", **QUOTE, grpc_code="InvalidArgument") == 2
    assert metrics.value("grpc_server_handled_total", **COMMIT, grpc_code="OK") == 1
    assert metrics.value("grpc_server_handled_total", **rpc("AccountService", "CreateAccount")) == 1
    # Every Quote is timed, the failed ones too; +Inf holds them all.
    assert metrics.value("grpc_server_handling_seconds_count", **QUOTE) == 5
    assert metrics.value("grpc_server_handling_seconds_bucket", **QUOTE, le="+Inf") == 5
    assert len(metrics.matching("grpc_server_handling_seconds_bucket", **QUOTE)) > 2
    assert metrics.value("grpc_server_handling_seconds_sum", **QUOTE) > 0
    # Items rated: the good quotes' 1 + 2 + 3 and the commit's 4; failed quotes rate none.
    assert metrics.value("rating_items_rated_total") == 10
    assert metrics.value("rating_points_committed_total", category="agent") == 8.0
    assert metrics.value("rating_catalog_version") == 1.0
    # CreateAccount and CommitCharges each wrote in one transaction, at least.
    assert metrics.value("rating_db_transaction_seconds_count") >= 2
    assert metrics.value("rating_db_transaction_seconds_sum") > 0
    # Scraped with no call open.
    assert metrics.value("rating_rpcs_in_flight") == 0


def test_a_duplicate_usage_id_under_a_new_request_adds_no_points_to_the_committed_metric(
    metered_server: RatingServer,
) -> None:
    assert metered_server.metrics_port
    with RatingClient(metered_server.address) as client:
        client.create_account("dup-acct", plan="basic")
        client.commit(agent_calls(3, "d", "dup-acct"), request_id="dup-1")
        # The same usage_ids under a new request_id: duplicates, charged once.
        again = client.commit(agent_calls(3, "d", "dup-acct"), request_id="dup-2")

    assert len(again.duplicates) == 3
    metrics = scrape(metered_server.metrics_port)
    assert metrics.value("rating_points_committed_total", category="agent") == 6.0
    assert metrics.value("grpc_server_handled_total", **COMMIT, grpc_code="OK") == 2


def test_a_replayed_commit_adds_no_points_to_the_committed_metric(
    metered_server: RatingServer,
) -> None:
    assert metered_server.metrics_port
    with RatingClient(metered_server.address) as client:
        client.create_account("replay-acct", plan="basic")
        first = client.commit(agent_calls(3, "r", "replay-acct"), request_id="replay-1")
        # A client retrying after a lost response: the same request, the same receipt.
        replay = client.commit(agent_calls(3, "r", "replay-acct"), request_id="replay-1")

    assert replay.charge_id == first.charge_id
    metrics = scrape(metered_server.metrics_port)
    assert metrics.value("rating_points_committed_total", category="agent") == 6.0


AGENT_TOKEN = "agent-secret-token-0123456789"
ADMIN_TOKEN = "console-secret-token-9876543210"


@pytest.fixture
def guarded_server(database: str, tmp_path: Path) -> Iterator[RatingServer]:
    """The real server in this process, with an access file of two principals."""
    access = tmp_path / "access.toml"
    access.write_text(
        "[[principals]]\n"
        'name = "agent-runtime"\n'
        f'token_sha256 = "{hash_token(AGENT_TOKEN)}"\n'
        'roles = ["quote", "charge", "read"]\n'
        "\n"
        "[[principals]]\n"
        'name = "console"\n'
        f'token_sha256 = "{hash_token(ADMIN_TOKEN)}"\n'
        'roles = ["admin"]\n'
    )
    running = RatingServer(Settings(listen="127.0.0.1:0", db_path=database, auth_file=str(access)))
    running.start()
    yield running
    running.stop(grace=0)


def parsed(record: logging.LogRecord) -> dict[str, Any]:
    """A record's line, as the server process writes it: a JSON object."""
    line = json.loads(JsonFormatter().format(record))
    assert isinstance(line, dict)
    return line


def access_lines(server: RatingServer, caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    server.access_log.flush()  # lines are logged off the RPC threads
    return [parsed(record) for record in caplog.records if record.name == ACCESS_LOGGER]


def test_access_log_has_one_json_line_per_call_with_code_request_ids_principal_and_peer(
    guarded_server: RatingServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    peer = re.compile(r"^ipv4:127\.0\.0\.1:\d+$")
    bearer = ("authorization", f"Bearer {AGENT_TOKEN}")
    agent = RatingClient(options=ClientOptions(target=guarded_server.address, token=AGENT_TOKEN))
    admin = RatingClient(options=ClientOptions(target=guarded_server.address, token=ADMIN_TOKEN))
    with agent, admin:
        admin.create_account("log-acct", plan="basic")
        receipt = agent.commit(agent_calls(2, "l", "log-acct"), request_id="log-commit-1")
        # The caller's x-request-id is the call's request id; without one, the server's.
        agent.rating_stub.Quote(
            rating_service_pb2.QuoteRequest(items=agent_calls(1, "q", "log-acct")),
            metadata=(bearer, ("x-request-id", "trace-42")),
            timeout=RPC_TIMEOUT,
        )
        with pytest.raises(grpc.RpcError) as failed:
            agent.rating_stub.Quote(
                rating_service_pb2.QuoteRequest(items=[item("no.such.sku", 1)]),
                metadata=(bearer, ("x-request-id", "trace-43")),
                timeout=RPC_TIMEOUT,
            )
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        with pytest.raises(RatingError) as denied:
            agent.create_account("not-allowed")
        assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED
        anonymous = RatingClient(guarded_server.address)
        with anonymous, pytest.raises(RatingError) as unauthenticated:
            anonymous.get_balance("log-acct")
        assert unauthenticated.value.code == grpc.StatusCode.UNAUTHENTICATED

    lines = access_lines(guarded_server, caplog)
    assert [(line["rpc"], line["code"]) for line in lines] == [
        ("/rating.v1.AccountService/CreateAccount", "OK"),
        ("/rating.v1.RatingService/CommitCharges", "OK"),
        ("/rating.v1.RatingService/Quote", "OK"),
        ("/rating.v1.RatingService/Quote", "INVALID_ARGUMENT"),
        ("/rating.v1.AccountService/CreateAccount", "PERMISSION_DENIED"),
        ("/rating.v1.AccountService/GetBalance", "UNAUTHENTICATED"),
    ]
    for line in lines:
        assert list(line) == [
            "time",
            "level",
            "logger",
            "message",
            "request_id",
            "rpc",
            "code",
            "ms",
            "idempotency_key",
            "principal",
            "peer",
        ], line
        assert (line["level"], line["logger"]) == ("INFO", ACCESS_LOGGER), line
        assert line["message"] == f"{line['rpc']} {line['code']}", line
        assert isinstance(line["ms"], int | float) and line["ms"] >= 0, line
        assert peer.match(str(line["peer"])), line
    assert [line["principal"] for line in lines[:4]] == [
        "console",
        "agent-runtime",
        "agent-runtime",
        "agent-runtime",
    ]
    assert lines[5]["principal"] is None
    assert receipt.request_id == "log-commit-1"
    # The commit's request_id has a field of its own; a call without one has null there.
    assert [line["idempotency_key"] for line in lines] == [None, "log-commit-1", *[None] * 4]
    made = [lines[0]["request_id"], lines[1]["request_id"], *(r["request_id"] for r in lines[4:])]
    assert [line["request_id"] for line in lines[2:4]] == ["trace-42", "trace-43"]
    assert all(UUID.fullmatch(str(request_id)) for request_id in made), made
    assert len(set(made)) == len(made)  # one of its own for each call
    # No token reaches any log, the access log or another.
    for record in caplog.records:
        assert AGENT_TOKEN not in record.getMessage()
        assert ADMIN_TOKEN not in record.getMessage()


def test_access_log_lines_are_bounded_whatever_request_id_a_caller_sends(
    guarded_server: RatingServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    bearer = ("authorization", f"Bearer {AGENT_TOKEN}")
    huge = "r" * (4 * 2**20)  # refused (over 128 characters), after it is read
    with grpc.insecure_channel(guarded_server.address) as channel:
        stub = rating_service_pb2_grpc.RatingServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.CommitCharges(
                rating_service_pb2.CommitChargesRequest(
                    request_id=huge, items=agent_calls(1, "h", "log-acct")
                ),
                metadata=(bearer,),
                timeout=RPC_TIMEOUT,
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
        # No request_id in a Quote: the x-request-id is logged, cut as short.
        stub.Quote(
            rating_service_pb2.QuoteRequest(items=agent_calls(1, "q", "log-acct")),
            metadata=(bearer, ("x-request-id", "trace-" + "x" * 6000)),
            timeout=RPC_TIMEOUT,
        )

    commit, quote = access_lines(guarded_server, caplog)
    assert commit["idempotency_key"] == "r" * 128 + f"…(+{len(huge) - 128} bytes)"
    # An x-request-id that long is no request id: the server makes one instead.
    assert UUID.fullmatch(quote["request_id"]), quote
    assert "xxxx" not in json.dumps(quote)
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert all(len(line) < 800 for line in lines), lines


def test_every_string_of_an_access_line_is_cut_to_its_bound_at_a_character(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.bounded-access")
    caplog.set_level(logging.INFO, logger="test.bounded-access")
    access = AccessLog(logger)
    access.record(
        "/m/" + "价" * 500, "OK", 0.001, "r-1", "😀" * 500, "é" * 500, "unix:/" + "p" * 500
    )
    access.record("/m", "OK", 0.001, "r-2", "r-" + "a" * 126, "agent", "ipv4:127.0.0.1:1")
    access.close()

    long, short = (parsed(r) for r in caplog.records)
    limit = access_log.MAX_FIELD_BYTES
    # As many whole characters as fit in the bound: never half of one.
    assert long["rpc"] == "/m/" + "价" * 41 + f"…(+{1503 - 126} bytes)"
    assert long["idempotency_key"] == "😀" * 32 + f"…(+{2000 - 128} bytes)"
    assert long["principal"] == "é" * 64 + f"…(+{1000 - 128} bytes)"
    assert long["peer"] == "unix:/" + "p" * 122 + f"…(+{506 - 128} bytes)"
    for value in (long["rpc"], long["idempotency_key"], long["principal"], long["peer"]):
        assert len(str(value).split("…")[0].encode()) <= limit
    # A value of MAX_FIELD_BYTES is written whole.
    assert short["idempotency_key"] == "r-" + "a" * 126 and short["principal"] == "agent"


# The load test, against a server process.


@dataclass
class Charge:
    """A commit a client made: its points per billing account."""

    charge_id: str
    points: dict[str, Decimal]
    voided: bool = False


@dataclass
class LoadClient:
    """One client thread: what it called, what failed, and the charges it made."""

    index: int
    calls: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)
    items_committed: int = 0


def usage_items(
    rng: random.Random, prefix: str, size: int, account_ids: list[str]
) -> list[usage_pb2.UsageItem]:
    """``size`` usage items of mixed kinds, unique ids under ``prefix``, in November."""
    items: list[usage_pb2.UsageItem] = []
    number = 0
    while len(items) < size:
        common = {
            "usage_id": f"{prefix}.{number}",
            "account_id": rng.choice(account_ids),
            "occurred_at": USAGE_FROM + timedelta(seconds=rng.randrange(USAGE_SPAN_SECONDS)),
        }
        number += 1
        kind = rng.randrange(4)
        if kind == 0:
            items.append(usage.agent_calls(rng.randint(1, 5), **common))
        elif kind == 1:
            items.extend(
                usage.model_tokens(
                    "doubao-lite-32k",
                    input_tokens=rng.randint(100, 40_000),
                    output_tokens=rng.randint(0, 20_000),
                    **common,  # type: ignore[arg-type]
                )
            )
        elif kind == 2:
            items.append(usage.rtc_audio(timedelta(milliseconds=rng.randint(1, 300_000)), **common))
        else:
            items.append(usage.tts_characters(rng.randint(1, 5_000), **common))
    return items[:size]


def run_load_client(client: LoadClient, address: str, stop: threading.Event) -> None:
    """Mix quotes, commits, balances and voids of its own charges until ``stop``."""
    rng = random.Random(client.index)
    accounts = list(BILLING_ACCOUNT)
    with RatingClient(address) as rating:
        while not stop.is_set():
            open_charges = [charge for charge in client.charges if not charge.voided]
            kind = rng.choices(KINDS, weights=(4, 4, 2, 1 if open_charges else 0))[0]
            number = sum(client.calls.values()) + len(client.errors)
            try:
                if kind == "quote":
                    size = rng.randint(1, 100)
                    # With an account, the quote also says how it would fund the items,
                    # which must then be that account's or its sub-accounts'.
                    main = rng.choice(("", *MAIN_ACCOUNTS))
                    named = [a for a in accounts if not main or BILLING_ACCOUNT[a] == main]
                    items = usage_items(rng, f"quote-{client.index}-{number}", size, named)
                    quote = rating.quote(items, account_id=main, timeout=RPC_TIMEOUT)
                    assert len(quote.lines) == size
                elif kind == "commit":
                    prefix = f"load-{client.index}-{number}"
                    items = usage_items(rng, prefix, rng.randint(1, 50), accounts)
                    receipt = rating.commit(items, request_id=prefix, timeout=RPC_TIMEOUT)
                    assert not receipt.duplicates, prefix
                    points: dict[str, Decimal] = defaultdict(Decimal)
                    for line in receipt.lines:
                        points[line.billing_account_id] += line.points
                    client.charges.append(Charge(receipt.charge_id, dict(points)))
                    client.items_committed += len(items)
                elif kind == "balance":
                    account_id = rng.choice(accounts)
                    day = (USAGE_FROM + timedelta(days=rng.randrange(5))).date()
                    balance = rating.get_balance(account_id, day=day, timeout=RPC_TIMEOUT)
                    assert balance.billing_account_id == BILLING_ACCOUNT[account_id]
                else:
                    charge = rng.choice(open_charges)
                    result = rating.void_charge(
                        charge.charge_id, reason="load test", timeout=RPC_TIMEOUT
                    )
                    assert not result.already_voided, charge.charge_id
                    charge.voided = True
            except Exception as error:  # every failure is counted, none ends the client
                client.errors.append(f"{kind}: {type(error).__name__}: {error}")
            else:
                client.calls[kind] += 1


def resident_mib(pid: int) -> float:
    """VmRSS of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def metrics_port_of(server: ServerProcess) -> int:
    found = re.search(r"metrics on port (\d+)", server.wait_for_line("metrics on port"))
    assert found, server.stderr
    return int(found[1])


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def wait_for_load(
    clients: list[LoadClient], calls: int, give_up: float, every_kind: bool = False
) -> None:
    """Until the clients have made ``calls`` calls (and of every kind, if asked)."""
    while True:
        made: Counter[str] = Counter()
        for client in clients:
            made.update(dict(client.calls))  # a copy: the client's thread adds to it
        if sum(made.values()) >= calls and (not every_kind or all(made[k] for k in KINDS)):
            return
        failed = [error for client in clients for error in client.errors]
        assert not failed, failed[:5]
        assert time.monotonic() < give_up, f"only {made} calls after {LOAD_GIVE_UP_SECONDS} s"
        time.sleep(0.05)


def test_concurrent_clients_mixing_every_call_get_no_error_keep_the_ledger_exact_and_memory_bounded(
    launch: Launch, database: str
) -> None:
    env = {**os.environ, "RATING_METRICS_LISTEN": "127.0.0.1:0"}
    server = launch("--db", database, "serve", "--listen", "127.0.0.1:0", env=env)
    server.wait_started()
    metrics_port = metrics_port_of(server)
    with RatingClient(server.address) as admin:
        admin.create_account("load-payg", plan="pro", pay_as_you_go=True)
        admin.create_account("load-pack", plan="basic")
        admin.create_account("load-pack-sub", parent_account_id="load-pack")
        admin.grant_pack(
            "load-pack", "20000", valid_from=datetime(2026, 11, 1, tzinfo=UTC), request_id="pk"
        )

    clients = [LoadClient(index) for index in range(CLIENTS)]
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=run_load_client,
            args=(client, server.address, stop),
            name=f"load-{client.index}",
        )
        for client in clients
    ]
    started = time.monotonic()
    give_up = started + LOAD_GIVE_UP_SECONDS
    for thread in threads:
        thread.start()
    sleep_until(started + WARM_UP_SECONDS)
    wait_for_load(clients, WARM_UP_CALLS, give_up)
    rss_start = resident_mib(server.process.pid)
    sleep_until(started + WARM_UP_SECONDS + (LOAD_SECONDS - WARM_UP_SECONDS) / 2)
    wait_for_load(clients, (WARM_UP_CALLS + LOAD_CALLS) // 2, give_up)
    rss_mid = resident_mib(server.process.pid)
    sleep_until(started + LOAD_SECONDS)
    wait_for_load(clients, LOAD_CALLS, give_up, every_kind=True)
    rss_end = resident_mib(server.process.pid)
    stop.set()
    for thread in threads:
        thread.join(RPC_TIMEOUT + 10)
    seconds = time.monotonic() - started
    assert not any(thread.is_alive() for thread in threads), "a client never returned"

    calls: Counter[str] = Counter()
    for client in clients:
        calls.update(client.calls)
    errors = [error for client in clients for error in client.errors]
    total = sum(calls.values())
    print(
        f"\nload: {CLIENTS} clients, {seconds:.1f} s, {total} calls "
        f"({', '.join(f'{kind} {calls[kind]}' for kind in KINDS)}), "
        f"{sum(c.items_committed for c in clients)} items committed, "
        f"{len(errors)} errors, {total / seconds:.0f} calls/s, "
        f"server RSS start {rss_start:.1f} MiB, mid {rss_mid:.1f} MiB, end {rss_end:.1f} MiB"
    )
    assert errors == [], errors[:5]
    assert all(calls[kind] > 0 for kind in KINDS), calls

    # The server counted exactly the calls the clients made (and the setup's), all OK.
    metrics = scrape(metrics_port)
    for method, kind in (
        ("Quote", "quote"),
        ("CommitCharges", "commit"),
        ("GetBalance", "balance"),
        ("VoidCharge", "void"),
    ):
        assert metrics.value("grpc_server_handled_total", **rpc_of(method)) == calls[kind]
    not_ok = {
        key: value
        for key, value in metrics.matching("grpc_server_handled_total").items()
        if ("grpc_code", "OK") not in key and value
    }
    assert not_ok == {}, "calls the server failed, RESOURCE_EXHAUSTED included"
    assert metrics.value("rating_rpcs_in_flight") == 0

    # What the clients were told they owe, voided charges left out.
    charges = [charge for client in clients for charge in client.charges]
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for charge in charges:
        if not charge.voided:
            for account_id, points in charge.points.items():
                expected[account_id] += points
    committed = sum((sum(c.points.values(), Decimal(0)) for c in charges), Decimal(0))
    assert sum(metrics.matching("rating_points_committed_total").values()) == pytest.approx(
        float(committed)
    )

    with RatingClient(server.address) as reader:
        for account_id in MAIN_ACCOUNTS:
            statement = reader.get_statement(account_id, MONTH)
            assert statement.total.points == expected[account_id], account_id

    assert server.terminate() == 0, server.stderr[-2000:]
    check = ledger_check(database)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "every balance equals its ledger entries" in check.stdout

    with LedgerReader(database) as ledger:
        ledger_charges = {row[0] for row in ledger.rows("SELECT charge_id FROM charges")}
        ledger_voids = {row[0] for row in ledger.rows("SELECT charge_id FROM voids")}
        owed = dict(
            ledger.rows(
                "SELECT billing_account_id, sum(micros) FROM charge_lines l WHERE NOT EXISTS "
                "(SELECT 1 FROM voids v WHERE v.charge_id = l.charge_id) "
                "GROUP BY billing_account_id"
            )
        )
    assert ledger_charges == {charge.charge_id for charge in charges}
    assert ledger_voids == {charge.charge_id for charge in charges if charge.voided}
    assert {account: Decimal(micros) / 1_000_000 for account, micros in owed.items()} == {
        account: points for account, points in expected.items() if points
    }

    # Memory is bounded: no more than RSS_FACTOR x the warm value plus RSS_SLACK_MIB.
    limit = rss_start * RSS_FACTOR + RSS_SLACK_MIB
    assert rss_end <= limit, (
        f"server RSS grew from {rss_start:.1f} MiB (warm) to {rss_end:.1f} MiB "
        f"(mid {rss_mid:.1f}), over {limit:.1f} MiB"
    )


def test_the_access_log_writes_every_entry_in_order_by_close_and_survives_a_broken_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.access")

    class Broken(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if getattr(record, "request_id", None) == "x-3":
                raise RuntimeError("disk full")

    broken = Broken()
    broken.handleError = Broken.emit.__get__(broken)  # type: ignore[method-assign]
    logger.addHandler(broken)
    caplog.set_level(logging.INFO, logger="test.access")
    try:
        access = AccessLog(logger)
        for number in range(200):
            access.record("/m", "OK", 0.001, f"x-{number}", None, None, "ipv4:127.0.0.1:1")
        access.close()
    finally:
        logger.removeHandler(broken)
    ids = [parsed(r)["request_id"] for r in caplog.records if r.name == "test.access"]
    # The entry the handler choked on is lost, with a log line that says so; the
    # thread goes on with the rest.
    assert ids == [f"x-{number}" for number in range(200) if number != 3]


def test_an_access_log_that_cannot_keep_up_drops_lines_and_says_how_many(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("test.slow-access")
    release = threading.Event()

    class Stuck(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            release.wait(WAIT)  # the disk is slow, until the test is done with it

    stuck = Stuck()
    logger.addHandler(stuck)
    caplog.set_level(logging.INFO, logger="test.slow-access")
    try:
        access = AccessLog(logger, max_pending=10)
        access.record("/m", "OK", 0.001, "first", None, None, "peer")
        deadline = time.monotonic() + WAIT
        while access._entries.qsize():  # until the thread took it, and is stuck with it
            assert time.monotonic() < deadline, "the access log thread never took a line"
            time.sleep(0.01)
        for number in range(49):
            access.record("/m", "OK", 0.001, f"x-{number}", None, None, "peer")
        release.set()
        access.close()
    finally:
        logger.removeHandler(stuck)
    logged = [r for r in caplog.records if r.name == "test.slow-access"]
    warnings = [r.getMessage() for r in caplog.records if "lines dropped" in r.getMessage()]
    assert len(logged) == 11  # the first, then the ten that could wait
    assert warnings == ["access log: 39 lines dropped, more than 10 were waiting"]


def test_a_line_written_directly_is_the_json_formatters_line_of_the_same_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entries = [
        ("/rating.v1.RatingService/Quote", "OK", 0.0012, "r-7", None, None, "peer"),
        ("/m/价", "INVALID_ARGUMENT", 1.5, 'r-"8"', "键-1", "é\\", "ipv4:127.0.0.1:1"),
    ]
    stream = io.StringIO()
    saved = access_log._direct
    caplog.set_level(logging.INFO, logger=access_log.LOGGER.name)
    try:
        access_log.write_directly(stream)
        direct = AccessLog()
        for entry in entries:
            direct.record(*entry)
        direct.close()
    finally:
        access_log._direct = saved
    assert not caplog.records  # written straight, not as records
    recorded = AccessLog()  # (not written directly now: as records, for the handlers)
    for entry in entries:
        recorded.record(*entry)
    recorded.close()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    # Byte for byte what the server's formatter writes of the records, but the time,
    # which is when each call was recorded.
    for line, record in zip(lines, caplog.records, strict=True):
        written, formatted = json.loads(line), parsed(record)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", written["time"])
        assert line == JsonFormatter().format(record).replace(formatted["time"], written["time"])
    assert [json.loads(line)["request_id"] for line in lines] == ["r-7", 'r-"8"']
