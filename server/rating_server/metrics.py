"""Prometheus metrics, served on their own port (``RATING_METRICS_LISTEN``), at /metrics.

Two kinds: the standard gRPC server metrics, named and labelled as go-grpc-prometheus
names them (``grpc_server_*``, counted by ``grpc_metrics.ServerMetrics`` for every call,
health and reflection included), so the usual gRPC dashboards and alerts work as they
are; and the service's own (``rating_*``): items rated, points committed, the catalog
version, time in the database, calls in flight.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

#: The labels of every standard gRPC series, in go-grpc-prometheus's order.
GRPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")

#: The only path the metrics endpoint answers; every other one is 404.
METRICS_PATH = "/metrics"


class Metrics:
    """One registry per server, so tests can run several servers in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.started = Counter(
            "grpc_server_started",
            "RPCs started on the server",
            GRPC_LABELS,
            registry=self.registry,
        )
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, by status code (the Go name: OK, InvalidArgument)",
            (*GRPC_LABELS, "grpc_code"),
            registry=self.registry,
        )
        self.handling_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time from an RPC's start to its status (a stream's whole life), in seconds",
            GRPC_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.msg_received = Counter(
            "grpc_server_msg_received",
            "Request messages received on the server",
            GRPC_LABELS,
            registry=self.registry,
        )
        self.msg_sent = Counter(
            "grpc_server_msg_sent",
            "Response messages sent by the server",
            GRPC_LABELS,
            registry=self.registry,
        )
        self.items_rated = Counter(
            "rating_items_rated", "Usage items rated (quoted or committed)", registry=self.registry
        )
        self.points_committed = Counter(
            "rating_points_committed",
            "Points committed to the ledger, by category (duplicates and voids excluded)",
            ["category"],
            registry=self.registry,
        )
        self.catalog_version = Gauge(
            "rating_catalog_version", "The catalog version being served", registry=self.registry
        )
        self.db_seconds = Histogram(
            "rating_db_transaction_seconds",
            "Time inside ledger write transactions",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "rating_rpcs_in_flight", "RPCs being handled now", registry=self.registry
        )
        self._http: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def serve(self, listen: str) -> int:
        """Serve /metrics on host:port, in a thread; the port (useful with port 0)."""
        host, _, port = listen.rpartition(":")
        host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
        family, *_, address = socket.getaddrinfo(
            host, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]

        class Server(_ThreadingWSGIServer):
            address_family = family

        http = make_server(
            str(address[0]),
            int(port),
            metrics_only(make_wsgi_app(self.registry)),
            Server,
            handler_class=_QuietHandler,
        )
        self._http = http
        self._thread = threading.Thread(target=http.serve_forever, name="metrics", daemon=True)
        self._thread.start()
        return http.server_port

    def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.shutdown()
            http.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)


_WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def metrics_only(app: _WSGIApp) -> _WSGIApp:
    """``app`` at /metrics, and 404 on every other path (``/``, ``/healthz``, ...): a
    probe or a scraper pointed at the wrong path is told so, not handed the metrics."""

    def route(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == METRICS_PATH:
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"not found: the metrics are at {METRICS_PATH}\n".encode()]

    return route


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """A scrape per thread, so a slow scraper holds up no other."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No line on stderr per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        pass
