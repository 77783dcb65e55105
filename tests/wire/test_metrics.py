"""The service's metrics (``metrics.py``) on the real server in this process, its
``/metrics`` endpoint scraped with urllib: calls, items, points, the catalog and
database time."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from scrape import agent_calls, rpc, scrape

from rating import RatingClient, usage
from rating.errors import InvalidArgumentError
from rating_server.config import Settings
from rating_server.server import RatingServer, create_server

# Without the code: the labels the started, timing and message series have.
QUOTE = {k: v for k, v in rpc("RatingService", "Quote").items() if k != "grpc_code"}
COMMIT = {k: v for k, v in rpc("RatingService", "CommitCharges").items() if k != "grpc_code"}


@pytest.fixture
def metered_server(database: str) -> Iterator[RatingServer]:
    """The real server in this process, with /metrics on a free port of 127.0.0.1."""
    running = create_server(
        Settings(listen="127.0.0.1:0", db_path=database, metrics_listen="127.0.0.1:0")
    )
    running.start()
    yield running
    running.stop(grace=0)


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
