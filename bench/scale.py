"""``make bench-scale``: does the service's cost grow with the ledger or the catalog?

1. Commit (batch 100) and GetBalance latency on an empty ledger, then again after
   ``--lines`` committed lines (default 10 million) are loaded straight into SQLite
   (charges, lines, their funding and the balances, consistent: ``ledger check`` holds),
   with the server's peak memory (RSS). Target: within 1.25x, RSS under 300 MB.
2. Quote (batch 1,000) with the seed catalog, then with ``--skus`` more SKUs (default
   10,000) in it. Target: as fast.

Writes ``bench/results/scale.md``. One caller, sequential calls, the same client work
on both sides of each comparison; both sides are served at once and measured in turns
(``in_turns``), so that a slow spell of the shared machine falls on both.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import workload
from run import BENCH, SEED, Server, create_accounts, prepare_database

from rating import RatingClient, usage
from rating.v1 import usage_pb2

OCCURRED = datetime.datetime(2026, 10, 15, 4, tzinfo=datetime.UTC)


def latencies(call: Callable[[], object], count: int) -> list[float]:
    for _ in range(min(20, count)):  # warm-up
        call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99) - 1] * 1000


def commit_and_balance(address: str, tag: str, calls: int) -> dict[str, list[float]]:
    sequence = iter(range(10**9))
    account = workload.ACCOUNTS[0]

    def batch() -> list[usage_pb2.UsageItem]:
        n = next(sequence)
        return [
            usage.agent_calls(
                1, usage_id=f"{tag}-{n}-{i}", account_id=account, occurred_at=OCCURRED
            )
            for i in range(100)
        ]

    with RatingClient(address) as client:
        commit = latencies(lambda: client.commit(batch()), calls)
        balance = latencies(lambda: client.get_balance(account, day="2026-10-15"), calls * 2)
    return {"commit": commit, "balance": balance}


def load_lines(db: Path, lines: int) -> float:
    """Committed lines straight into the tables, 1,000 per charge, each funded by the
    November bill of one of the accounts; the balances follow. Seconds it took."""
    started = time.perf_counter()
    accounts = workload.ACCOUNTS
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")  # a bulk load, not the service's own writes
    conn.execute("BEGIN")
    charges = (lines + 999) // 1000
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO charges (charge_id, request_id, request_hash, catalog_version, "
        "commit_time_ns, receipt) SELECT 'ch_scale_' || i, 'scale-' || i, '', 1, 0, x'' FROM n",
        [charges - 1],
    )
    occurred = int(OCCURRED.timestamp()) * 10**9 - 30 * 86400 * 10**9  # in September
    cases = " ".join(f"WHEN {n} THEN '{a}'" for n, a in enumerate(accounts))
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO charge_lines (charge_id, line_number, usage_id, account_id, "
        "billing_account_id, sku, category, quantity, micros, billed_by, occurred_at_ns, "
        "month, commit_time_ns) SELECT 'ch_scale_' || (i / 1000), i % 1000, 'scale-' || i, "
        f"a, a, 'agent.call', 'agent', 1, 2000000, 'coze', {occurred}, '2026-09', 0 "
        f"FROM (SELECT i, CASE i % {len(accounts)} {cases} END AS a FROM n)",
        [lines - 1],
    )
    conn.execute(
        "INSERT INTO funding_entries (charge_id, line_number, billing_account_id, source, "
        "micros, month) SELECT charge_id, line_number, billing_account_id, 'payg', micros, "
        "month FROM charge_lines WHERE charge_id LIKE 'ch_scale_%'"
    )
    conn.execute(
        "INSERT INTO payg_months (billing_account_id, month, micros) SELECT "
        "billing_account_id, month, sum(micros) FROM charge_lines WHERE charge_id LIKE "
        "'ch_scale_%' GROUP BY billing_account_id, month ON CONFLICT (billing_account_id, "
        "month) DO UPDATE SET micros = micros + excluded.micros"
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    # Written without syncs, the gigabytes would still be going to disk while the full
    # ledger is measured, and each commit's sync would wait behind them.
    os.sync()
    return time.perf_counter() - started


def big_catalog(path: Path, extra: int) -> None:
    """The seed plus ``extra`` more token SKUs, each with an alias."""
    blocks = [SEED.read_text(encoding="utf-8")]
    for n in range(extra):
        blocks.append(
            f'\n[[skus]]\nid = "model.scale-{n:05d}.input"\nname = "Scale {n}"\n'
            f'category = "model"\nunit = "token"\nbilled_by = "coze"\n'
            f'aliases = ["Scale-{n:05d}.input"]\n'
            f'prices = [{{ effective_from = 1970-01-01T00:00:00Z, points = "1" }}]\n'
        )
    path.write_text("".join(blocks), encoding="utf-8")


def quote_latencies(address: str, calls: int) -> list[float]:
    """Seconds of each Quote at batch 1,000 of seed SKUs."""
    items = [
        usage.model_tokens(
            "doubao-lite-32k",
            input_tokens=1000 + n,
            usage_id=f"q-{n}",
            account_id="a",
            occurred_at=OCCURRED,
        )[0]
        for n in range(1000)
    ]
    with RatingClient(address) as client:
        return latencies(lambda: client.quote(items), calls)


#: Each side of a comparison is measured in this many turns, the sides alternating.
TURNS = 5


def in_turns(
    servers: dict[str, Server],
    measure: Callable[[str, Server, int], dict[str, list[float]]],
) -> dict[str, dict[str, list[float]]]:
    """Samples of each server, measured in ``TURNS`` turns that alternate between them
    and pooled: the shared machine's slow and fast spells fall on both sides alike."""
    pooled: dict[str, dict[str, list[float]]] = {side: {} for side in servers}
    for turn in range(TURNS):
        for side, server in servers.items():
            for name, samples in measure(side, server, turn).items():
                pooled[side].setdefault(name, []).extend(samples)
    return pooled


def serve(db: Path, log: Path) -> Server:
    return Server(
        "rating-server",
        ["-m", "rating_server", "--db", str(db), "serve", "--listen", "127.0.0.1:0"],
        log,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args(argv)
    began = time.perf_counter()
    per_turn = max(1, args.calls // TURNS)
    with tempfile.TemporaryDirectory(prefix="rating-scale-") as scratch:
        work = Path(scratch)
        empty_db, full_db = work / "empty.db", work / "full.db"
        for db in (empty_db, full_db):
            prepare_database(db)
            server = serve(db, work / f"{db.stem}-setup.log")
            try:
                create_accounts(server.address)
            finally:
                server.stop()
        loaded = load_lines(full_db, args.lines)
        size_gb = full_db.stat().st_size / 2**30
        ledgers = {"empty": serve(empty_db, work / "empty.log")}
        try:
            ledgers["full"] = serve(full_db, work / "full.log")
            pooled = in_turns(
                ledgers,
                lambda side, server, turn: commit_and_balance(
                    server.address, f"{side}-{turn}", per_turn
                ),
            )
            rss = ledgers["full"].peak_rss_mb()
        finally:
            for server in ledgers.values():
                server.stop()
        empty = {call: summary(samples) for call, samples in pooled["empty"].items()}
        full = {call: summary(samples) for call, samples in pooled["full"].items()}

        seed_db, big_db = work / "seed.db", work / "big.db"
        prepare_database(seed_db)
        catalog = work / "big.toml"
        big_catalog(catalog, args.skus)
        importing = ["catalog", "import", str(catalog)]
        subprocess.run(
            [sys.executable, "-m", "rating_server", "--db", str(big_db), *importing],
            check=True,
            capture_output=True,
        )
        catalogs = {"seed": serve(seed_db, work / "seed.log")}
        try:
            catalogs["big"] = serve(big_db, work / "big.log")
            quotes = in_turns(
                catalogs,
                lambda _side, server, _turn: {
                    "quote": quote_latencies(server.address, max(4, args.calls // 5 // TURNS))
                },
            )
        finally:
            for server in catalogs.values():
                server.stop()
        rates = {side: 1000 / statistics.median(quotes[side]["quote"]) for side in catalogs}

    rows = []
    verdicts = []
    for call in ("commit", "balance"):
        (p50_a, p99_a), (p50_b, p99_b) = empty[call], full[call]
        rows.append(
            f"| {call} | {p50_a:.2f} | {p50_b:.2f} | {p50_b / p50_a:.2f}x | "
            f"{p99_a:.2f} | {p99_b:.2f} | {p99_b / p99_a:.2f}x |"
        )
        ok = p50_b / p50_a <= 1.25
        verdicts.append(
            f"- {'PASS' if ok else 'FAIL'} {call} p50 with {args.lines:,} lines within 1.25x "
            f"of an empty ledger: {p50_b / p50_a:.2f}x"
        )
    verdicts.append(
        f"- {'PASS' if rss < 300 else 'FAIL'} server RSS under 300 MB with {args.lines:,} "
        f"lines: {rss:.0f} MB"
    )
    quote_ratio = rates["big"] / rates["seed"]
    verdicts.append(
        f"- {'PASS' if quote_ratio >= 0.9 else 'FAIL'} Quote@1000 with {args.skus:,} more SKUs "
        f"as fast as with the seed's (within 10%): {quote_ratio:.2f}x "
        f"({rates['big']:,.0f} vs {rates['seed']:,.0f} items/s)"
    )
    text = "\n".join(
        [
            "# Scale: the ledger's and the catalog's size",
            "",
            f"Run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, "
            f"`python bench/scale.py --lines {args.lines} --skus {args.skus}`, in "
            f"{time.perf_counter() - began:.0f} s. {args.lines:,} lines loaded in "
            f"{loaded:.0f} s; the database then held {size_gb:.2f} GiB.",
            "",
            *verdicts,
            "",
            f"One caller, sequential calls; commit = 100 agent calls with new usage_ids. "
            f"Both sides of each comparison are served at once and measured in {TURNS} "
            "turns that alternate between them, samples pooled.",
            "",
            "| call | empty p50 ms | full p50 ms | x | empty p99 ms | full p99 ms | x |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / "scale.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
