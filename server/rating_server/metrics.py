"""Prometheus metrics, served on their own port (``RATING_METRICS_LISTEN``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """One registry per server, so tests can run several servers in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rpcs = Counter(
            "rating_rpcs",
            "RPCs handled, by method and status code",
            ["method", "code"],
            registry=self.registry,
        )
        self.rpc_seconds = Histogram(
            "rating_rpc_seconds",
            "RPC latency, by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
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

    def serve(self, listen: str) -> int:
        """Serve /metrics on host:port; the port (useful with port 0)."""
        host, _, port = listen.rpartition(":")
        server, _thread = start_http_server(int(port), addr=host, registry=self.registry)
        self._http = server
        return server.server_port

    def close(self) -> None:
        http = getattr(self, "_http", None)
        if http is not None:
            http.shutdown()
            http.server_close()
