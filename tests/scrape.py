"""The service's ``/metrics`` endpoint scraped and parsed, and the calls the tests of
metrics, the access log and the load make."""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from rating import usage
from rating.v1 import usage_pb2
from rating_server.logs import JsonFormatter

RPC_TIMEOUT = 30.0


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


def parsed(record: logging.LogRecord) -> dict[str, Any]:
    """A record's line, as the server process writes it: a JSON object."""
    line = json.loads(JsonFormatter().format(record))
    assert isinstance(line, dict)
    return line
