"""The standard gRPC server metrics (grpc_metrics.py) and the /metrics endpoint
(metrics.py), on the real server in this process, scraped over HTTP.

The names and labels are go-grpc-prometheus's, what the usual gRPC dashboards query:
``grpc_server_started_total``, ``grpc_server_handled_total`` (``grpc_code``: Go's name
of the code), ``grpc_server_handling_seconds``, ``grpc_server_msg_received_total`` and
``grpc_server_msg_sent_total``, each by ``grpc_type``, ``grpc_service``, ``grpc_method``.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from support import item

from rating import RatingClient
from rating.options import ClientOptions
from rating.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    rating_service_pb2,
    rating_service_pb2_grpc,
)
from rating_server.auth import hash_token
from rating_server.config import Settings
from rating_server.grpc_metrics import meter, series_of
from rating_server.metrics import Metrics
from rating_server.server import RatingServer, create_server

TIMEOUT = 30.0
# How long a test waits for the server to let go of a cancelled stream.
WAIT = 60.0
QUOTE = ("unary", "rating.v1.RatingService", "Quote")
CHECK = ("unary", "grpc.health.v1.Health", "Check")
REFLECTION = ("bidi_stream", "grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo")
WATCH = ("server_stream", "rating.v1.AccountService", "WatchCharges")
TOKEN = "metrics-reader-token-0123456789"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape_text(port: int, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=TIMEOUT) as page:
        assert page.status == 200
        return page.read().decode()


def samples_of(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, rpc: tuple[str, str, str], **labels: str) -> float:
    kind, service, method = rpc
    wanted = {"grpc_type": kind, "grpc_service": service, "grpc_method": method, **labels}
    key = (name, frozenset(wanted.items()))
    assert key in samples, f"no {name}{wanted}; have {sorted(k for k in samples if k[0] == name)}"
    return samples[key]


def handled(samples: Samples, rpc: tuple[str, str, str], code: str = "OK") -> float:
    return value(samples, "grpc_server_handled_total", rpc, grpc_code=code)


def wait_for_handled(port: int, rpc: tuple[str, str, str], code: str) -> Samples:
    """The scrape once ``rpc`` has been counted as handled with ``code``: the server lets
    go of a cancelled stream when gRPC tells its thread, a moment after the cancel."""
    labels = dict(zip(("grpc_type", "grpc_service", "grpc_method"), rpc, strict=True))
    key = ("grpc_server_handled_total", frozenset({**labels, "grpc_code": code}.items()))
    deadline = time.monotonic() + WAIT
    while key not in (samples := samples_of(scrape_text(port))):
        assert time.monotonic() < deadline, f"{rpc} was never counted as {code}"
        time.sleep(0.05)
    return samples


@pytest.fixture
def metered(seeded_db: Path) -> Iterator[RatingServer]:
    running = create_server(
        Settings(listen="127.0.0.1:0", db_path=str(seeded_db), metrics_listen="127.0.0.1:0")
    )
    running.start()
    yield running
    running.stop(grace=0)


def test_a_quote_a_health_check_a_reflection_list_and_a_watch_are_counted_by_the_standard_names(
    metered: RatingServer,
) -> None:
    assert metered.metrics_port
    with RatingClient(metered.address) as client:
        client.create_account("acme", plan="basic")
    with grpc.insecure_channel(metered.address) as channel:
        rating_service_pb2_grpc.RatingServiceStub(channel).Quote(
            rating_service_pb2.QuoteRequest(items=[item("agent.call", 3)]), timeout=TIMEOUT
        )
        with pytest.raises(grpc.RpcError):
            rating_service_pb2_grpc.RatingServiceStub(channel).Quote(
                rating_service_pb2.QuoteRequest(items=[item("no.such.sku", 1)]), timeout=TIMEOUT
            )
        health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT
        )
        listed = list(
            reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=TIMEOUT
            )
        )
        assert listed and listed[0].list_services_response.service
        watch = account_service_pb2_grpc.AccountServiceStub(channel).WatchCharges(
            account_service_pb2.WatchChargesRequest(account_id="acme"), timeout=TIMEOUT
        )
        first = next(watch)  # where the feed starts: the stream is open, and counted
        assert first.cursor
        watch.cancel()

        samples = wait_for_handled(metered.metrics_port, WATCH, "Canceled")
        text = scrape_text(metered.metrics_port)

    started = "grpc_server_started_total"
    assert value(samples, started, QUOTE) == 2
    assert handled(samples, QUOTE) == 1
    assert handled(samples, QUOTE, "InvalidArgument") == 1
    assert value(samples, "grpc_server_handling_seconds_count", QUOTE) == 2
    assert value(samples, "grpc_server_handling_seconds_bucket", QUOTE, le="+Inf") == 2
    assert value(samples, "grpc_server_msg_received_total", QUOTE) == 2
    assert value(samples, "grpc_server_msg_sent_total", QUOTE) == 1  # the failed one sent none

    assert value(samples, started, CHECK) == 1
    assert handled(samples, CHECK) == 1

    assert value(samples, started, REFLECTION) == 1
    assert handled(samples, REFLECTION) == 1
    assert value(samples, "grpc_server_msg_received_total", REFLECTION) == 1
    assert value(samples, "grpc_server_msg_sent_total", REFLECTION) == 1

    assert value(samples, started, WATCH) == 1
    assert handled(samples, WATCH, "Canceled") == 1
    assert value(samples, "grpc_server_msg_sent_total", WATCH) == 1
    assert value(samples, "grpc_server_handling_seconds_count", WATCH) == 1

    # The service's own metrics are still there, and the old per-method ones are gone.
    assert value_of(samples, "rating_items_rated_total") == 1
    assert value_of(samples, "rating_catalog_version") == 1
    assert value_of(samples, "rating_rpcs_in_flight") == 0
    assert not {name for name, _ in samples if name.startswith("rating_rpc_")}
    print("\n" + "\n".join(line for line in text.splitlines() if "grpc_server_" in line))


def value_of(samples: Samples, name: str) -> float:
    return samples[(name, frozenset())]


def test_calls_the_guard_refuses_are_counted_with_their_code(
    seeded_db: Path, tmp_path: Path
) -> None:
    """Unauthenticated, and past the streams' limit: counted as started and handled."""
    access = tmp_path / "access.toml"
    access.write_text(
        f'[[principals]]\nname = "reader"\ntoken_sha256 = "{hash_token(TOKEN)}"\n'
        'roles = ["read", "admin"]\n'
    )
    settings = Settings(
        listen="127.0.0.1:0",
        db_path=str(seeded_db),
        metrics_listen="127.0.0.1:0",
        auth_file=str(access),
        max_streams=1,
    )
    server = create_server(settings)
    server.start()
    try:
        assert server.metrics_port
        bearer = (("authorization", f"Bearer {TOKEN}"),)
        with RatingClient(options=ClientOptions(target=server.address, token=TOKEN)) as client:
            client.create_account("acme", plan="basic")
        with grpc.insecure_channel(server.address) as channel:
            accounts = account_service_pb2_grpc.AccountServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                accounts.GetBalance(
                    account_service_pb2.GetBalanceRequest(account_id="acme"), timeout=TIMEOUT
                )
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
            request = account_service_pb2.WatchChargesRequest(account_id="acme")
            open_stream = accounts.WatchCharges(request, metadata=bearer, timeout=TIMEOUT)
            assert next(open_stream).cursor  # it holds the one stream slot
            with pytest.raises(grpc.RpcError) as exhausted:
                next(accounts.WatchCharges(request, metadata=bearer, timeout=TIMEOUT))
            assert exhausted.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
            samples = samples_of(scrape_text(server.metrics_port))
            open_stream.cancel()
    finally:
        server.stop(grace=0)

    balance = ("unary", "rating.v1.AccountService", "GetBalance")
    assert value(samples, "grpc_server_started_total", balance) == 1
    assert handled(samples, balance, "Unauthenticated") == 1
    assert value(samples, "grpc_server_started_total", WATCH) == 2
    assert handled(samples, WATCH, "ResourceExhausted") == 1


@pytest.mark.parametrize("path", ["/", "/healthz", "/metrics/", "/metricsx", "/other"])
def test_the_metrics_endpoint_answers_404_on_every_path_but_metrics(
    metered: RatingServer, path: str
) -> None:
    assert metered.metrics_port
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{metered.metrics_port}{path}", timeout=TIMEOUT)
    assert missing.value.code == 404
    assert "grpc_server" not in missing.value.read().decode()
    assert "rating_catalog_version" in scrape_text(metered.metrics_port)


def test_a_health_watch_is_counted_as_it_starts_and_sends(metered: RatingServer) -> None:
    assert metered.metrics_port
    health_watch = ("server_stream", "grpc.health.v1.Health", "Watch")
    with grpc.insecure_channel(metered.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT
        )
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        samples = samples_of(scrape_text(metered.metrics_port))
        watch.cancel()
    assert value(samples, "grpc_server_started_total", health_watch) == 1
    assert value(samples, "grpc_server_msg_sent_total", health_watch) == 1


class WatchContext:
    """What the metering reads of a call's context."""

    def __init__(self) -> None:
        self.active = True

    def code(self) -> None:
        return None

    def is_active(self) -> bool:
        return self.active


def test_a_non_blocking_stream_stays_non_blocking_and_is_counted_when_its_call_closes() -> None:
    """health's Watch answers through a callback and holds no thread; metered, it still
    does, and it ends when gRPC closes the call (the callback is given None)."""
    callbacks: list[Any] = []

    def watch(request: object, context: object, send_response_callback: Any = None) -> None:
        callbacks.append(send_response_callback)
        send_response_callback(b"SERVING")

    watch.experimental_non_blocking = True  # type: ignore[attr-defined]
    handler = grpc.unary_stream_rpc_method_handler(watch)
    metrics = Metrics()
    method = "/grpc.health.v1.Health/Watch"
    metered = meter(handler, series_of(metrics, method, handler))
    assert metered.unary_stream is not None
    assert getattr(metered.unary_stream, "experimental_non_blocking", False) is True

    sent: list[object] = []
    context = WatchContext()
    metered.unary_stream(b"", context, sent.append)
    labels = {"grpc_type": "server_stream", "grpc_service": "grpc.health.v1.Health"}
    labels["grpc_method"] = "Watch"
    sample = metrics.registry.get_sample_value
    assert sample("grpc_server_msg_sent_total", labels) == 1
    assert sample("grpc_server_handled_total", {**labels, "grpc_code": "Canceled"}) is None
    context.active = False
    callbacks[0](None)  # what health does when gRPC closes the call
    callbacks[0](None)  # once only
    assert sent == [b"SERVING", None, None]
    assert sample("grpc_server_handled_total", {**labels, "grpc_code": "Canceled"}) == 1
    assert sample("grpc_server_handling_seconds_count", labels) == 1
