"""The bench's report (bench/run.py): the targets of columns read the row-wise cells
they compare with, and a cell that failed makes its target an error, not a verdict."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import run
import workload

LABELS = {
    "floor": "floor",
    "sqlite": "SQLite, one process",
    "sqlite-workers": "SQLite, 2 workers",
    "pg-1": "PostgreSQL, 1 node",
    "pg-2": "PostgreSQL, 2 nodes",
}


def figures(items_per_second: float) -> run.Figures:
    return run.Figures(
        calls=100,
        items_per_second=items_per_second,
        p50_ms=1.0,
        p99_ms=2.0,
        server_cores=1.0,
        client_cores=0.1,
        built_late=0,
    )


def row(path: str, batch: int, concurrency: int, columns: bool, **rates: float) -> run.Row:
    found = run.Row(path, batch, concurrency, columns)
    found.figures = {key.replace("_", "-"): figures(rate) for key, rate in rates.items()}
    return found


def by_number(number: str) -> list[run.Target]:
    before, after = run.column_targets(2)
    return [target for target in before + after if target.text.startswith(number + ".")]


def test_a_quote_of_columns_is_judged_against_the_row_wise_floor() -> None:
    rows = []
    for concurrency in (1, 8):
        rows.append(row(workload.QUOTE, 10_000, concurrency, False, floor=700_000))
        rows.append(
            row(workload.QUOTE, 10_000, concurrency, True, floor=5_000_000, sqlite_workers=720_000)
        )
    [seven] = by_number("7")

    line = run.verdict(seven, rows, LABELS)

    assert line.startswith("- PASS 7. Quote of 10,000 items as columns")
    assert "1.03x with 1 caller (items/s 720,000 vs 700,000)" in line
    assert "1.03x with 8 callers" in line


def test_a_commit_of_columns_is_judged_against_the_same_servers_row_wise_commit() -> None:
    rows = [
        row(workload.COMMIT, 1000, 1, False, floor=700_000, sqlite=20_000, sqlite_workers=30_000),
        row(workload.COMMIT, 1000, 1, True, floor=1_300_000, sqlite=40_000, sqlite_workers=40_000),
    ]
    sqlite = by_number("10")[0]

    line = run.verdict(sqlite, rows, LABELS)

    assert line.startswith("- FAIL 10. SQLite CommitCharges of 1,000 items as columns")
    assert "1.33x with 1 caller (items/s 40,000 vs 30,000) (SQLite, one process: 2.00x)" in line


def test_a_target_whose_cell_failed_is_an_error_that_says_why() -> None:
    failed = row(workload.QUOTE, 1000, 8, True, floor=1_000_000)
    failed.errors["sqlite-workers"] = "caller process 1: Quote of 1,000 as columns: UNIMPLEMENTED"
    rows = [
        row(workload.QUOTE, 1000, 1, False, floor=700_000),
        row(workload.QUOTE, 1000, 1, True, floor=1_000_000, sqlite_workers=500_000),
        row(workload.QUOTE, 1000, 8, False, floor=700_000),
        failed,
    ]
    [nine] = by_number("9")

    line = run.verdict(nine, rows, LABELS)

    assert line.startswith("- ERROR 9. Quote of 1,000 items as columns")
    assert "0.71x with 1 caller" in line
    assert "failed with 8 callers" in line
    assert line.endswith("; caller process 1: Quote of 1,000 as columns: UNIMPLEMENTED")
    assert "| Quote (columns) | 1,000 | 8 | SQLite, 2 workers | error |" in run.table(
        rows, [run.Config(key, label, "", ()) for key, label in LABELS.items()]
    )
