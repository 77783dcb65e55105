"""The bench's ceiling server (bench/ceiling_server.py) does the whole per-item work it
claims: it answers what the floor answers, and its ledger refuses a usage twice."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import ceiling_server
import workload

from rating.v1 import rating_service_pb2


@pytest.mark.parametrize("batch", [1, 10, 1000])
def test_the_ceilings_quote_is_the_floors_byte_for_byte(batch: int) -> None:
    request = rating_service_pb2.QuoteRequest.FromString(workload.quote_request(batch))
    lines, _rows, total = ceiling_server.rate(request.items, funded=False)

    written = b"".join(lines) + ceiling_server.totals(total, 2)

    assert written == workload.quote_response(batch).SerializeToString()


@pytest.mark.parametrize("batch", [1, 10, 1000])
def test_the_ceilings_commit_lines_are_the_floors_with_the_requests_ids(batch: int) -> None:
    data = workload.CommitRequests("c0ffee00", 0).next(batch)
    request = rating_service_pb2.CommitChargesRequest.FromString(data)
    lines, rows, total = ceiling_server.rate(request.items, funded=True)
    expected = workload.commit_response(batch)
    expected.ClearField("charge_id")
    expected.ClearField("commit_time")
    for line, item in zip(expected.lines, request.items, strict=True):
        line.usage_id = item.usage_id

    written = b"".join(lines) + ceiling_server.totals(total, 3)

    assert written == expected.SerializeToString()
    assert [row[0] for row in rows] == [item.usage_id for item in request.items]


def test_the_ceilings_ledger_keeps_each_usage_once(tmp_path: Path) -> None:
    ledger = ceiling_server.SqliteLedger(str(tmp_path / "ceiling.db"))
    row = ("u-1", "acct", "agent.call", 1, 2_000_000)
    ledger.commit("r-1", [row], 2_000_000)

    with pytest.raises(sqlite3.IntegrityError):
        ledger.commit("r-2", [row], 2_000_000)

    with sqlite3.connect(tmp_path / "ceiling.db") as db:
        assert db.execute("SELECT request_id FROM line").fetchall() == [("r-1",)]
        assert db.execute("SELECT request_id FROM charge").fetchall() == [("r-1",)]


@pytest.mark.parametrize("lines", [1, 3])
def test_the_ceilings_postgres_ledger_keeps_each_usage_once_per_account(
    postgres_database: str, lines: int
) -> None:
    ledger = ceiling_server.PostgresLedger(postgres_database)
    rows = [(f"u-{n}", "acct", "agent.call", 1, 2_000_000) for n in range(lines)]
    ledger.commit("r-1", rows, 2_000_000 * lines)

    with pytest.raises(psycopg.errors.UniqueViolation):
        ledger.commit("r-2", rows, 2_000_000 * lines)
    ledger.commit("r-3", [("u-0", "other", "agent.call", 1, 2_000_000)], 2_000_000)

    with psycopg.connect(postgres_database) as conn:
        assert conn.execute(
            "SELECT account_id, usage_id, request_id FROM ceiling_line ORDER BY 1, 2"
        ).fetchall() == [("acct", f"u-{n}", "r-1") for n in range(lines)] + [
            ("other", "u-0", "r-3")
        ]
        assert conn.execute("SELECT request_id FROM ceiling_charge ORDER BY 1").fetchall() == [
            ("r-1",),
            ("r-3",),
        ]
