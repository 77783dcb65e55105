"""``make bench-scale``: does the service's cost grow with the ledger or the catalog?

1. On each engine (SQLite; PostgreSQL, on a throwaway cluster, when the machine has its
   programs): commit (batch 100) and GetBalance latency on an empty ledger, then again
   after ``--lines`` committed lines (default 10 million; on PostgreSQL at most
   ``--postgres-lines``, default 10 million too, which its write path loads in about 3
   minutes on 2 cores) are loaded, with the server's peak memory (RSS). Target: within
   1.25x, RSS under 300 MB. The lines are written by the ledger's own write path
   (``open_ledger``, ``LedgerTx.write_charge``), 1,000-line charges funded by the
   September pay-as-you-go bills with the balances that follow, many charges per
   transaction (on PostgreSQL by 2 processes, each its own accounts): the loaded ledger
   is what the service writes, and ``rating-server ledger check`` holds on it
   (``--check`` runs it). The load rate is reported.
2. Quote (batch 1,000) with the seed catalog, then with ``--skus`` more SKUs (default
   10,000) in it, on SQLite (the catalog is held in memory alike on both engines).
   Target: as fast.

Writes ``bench/results/scale.md``. One caller, sequential calls, the same client work
on both sides of each comparison; both sides are served at once and measured in turns
(``in_turns``), so that a slow spell of the shared machine falls on both.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import workload
from run import (
    BENCH,
    ROOT,
    SEED,
    Postgres,
    Server,
    create_accounts,
    postgres_missing,
    prepare_database,
    run_server_command,
    serve,
)

from rating import RatingClient, usage
from rating.v1 import usage_pb2
from rating_server.engine import Usage
from rating_server.ledger.model import PAYG, BalanceChanges, ChargedLine, FundingPart, Receipt
from rating_server.ledger.receipts import request_hash
from rating_server.ledger.store import NewCharge
from rating_server.ledger.stores import open_ledger

OCCURRED = datetime.datetime(2026, 10, 15, 4, tzinfo=datetime.UTC)
#: The loaded lines' usage: in September (UTC, the accounts' zone), a month before the
#: measured commits'.
LOADED_MONTH = "2026-09"
LOADED_AT_NS = int(datetime.datetime(2026, 9, 10, tzinfo=datetime.UTC).timestamp()) * 10**9
#: Lines loaded on PostgreSQL by default: what its write path loads in about 5 minutes
#: on 2 cores.
POSTGRES_LINES = 10_000_000
#: Lines per loaded charge, and charges per write transaction.
CHARGE_LINES = 1000
CHARGES_PER_TX = 20
#: The operator's command that recomputes every balance from the ledger.
CHECK = ("ledger", "check")
#: An agent call at the seed's price: 2 points.
CALL_MICROS = 2_000_000


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


def synthetic_charge(number: int, account_id: str) -> NewCharge:
    """Charge ``number``: ``CHARGE_LINES`` agent calls of ``account_id`` (a main account)
    in September, each funded whole by the month's pay-as-you-go bill, as the service
    would write it for an account with no free points or pack left."""
    part = FundingPart(PAYG, CALL_MICROS, month=LOADED_MONTH)
    first = number * CHARGE_LINES
    usages = [
        Usage(f"scale-{first + n}", account_id, "agent.call", 1, LOADED_AT_NS + first + n)
        for n in range(CHARGE_LINES)
    ]
    lines = tuple(
        ChargedLine(
            usage_id=item.usage_id,
            account_id=account_id,
            billing_account_id=account_id,
            requested_sku="agent.call",
            sku="agent.call",
            category="agent",
            quantity=1,
            rated_quantity=1,
            unit="call",
            price_unit=1,
            price_unit_label="call",
            unit_price="2",
            micros=CALL_MICROS,
            billed_by="coze",
            price_effective_from_ns=0,
            funding=(part,),
        )
        for item in usages
    )
    receipt = Receipt(f"ch_scale_{number:08d}", 1, LOADED_AT_NS + first, lines)
    changes = BalanceChanges(
        free_used={}, pack_drawn={}, payg={(account_id, LOADED_MONTH): CALL_MICROS * len(lines)}
    )
    return NewCharge(
        receipt,
        f"scale-{number}",
        request_hash(usages),
        usages,
        [LOADED_MONTH] * len(lines),
        changes,
    )


def _load_share(db: str | Path, charges: int, share: int, shares: int) -> None:
    """Charges ``share``, ``share + shares``, ... of ``charges``: with ``shares`` dividing
    the accounts' number, each share's charges are of accounts of its own."""
    accounts = workload.ACCOUNTS
    numbers = range(share, charges, shares)
    store = open_ledger(db)
    try:
        for first in range(0, len(numbers), CHARGES_PER_TX):
            built = [
                synthetic_charge(number, accounts[number % len(accounts)])
                for number in numbers[first : first + CHARGES_PER_TX]
            ]
            with store.write() as tx:
                for charge in built:
                    tx.write_charge(charge)
    finally:
        store.close()


def load_lines(db: str | Path, lines: int, processes: int) -> float:
    """``lines`` committed lines through the ledger's write path, ``CHARGE_LINES`` per
    charge (each charge one account's, the accounts in turn), ``CHARGES_PER_TX``
    charges per transaction, by ``processes`` processes at once (each writing the
    charges of accounts of its own). Seconds it took."""
    started = time.perf_counter()
    charges = (lines + CHARGE_LINES - 1) // CHARGE_LINES
    if processes <= 1:
        _load_share(db, charges, 0, 1)
        return time.perf_counter() - started
    if len(workload.ACCOUNTS) % processes:
        raise SystemExit(f"--load-processes must divide {len(workload.ACCOUNTS)}")
    context = multiprocessing.get_context("spawn")
    loaders = [
        context.Process(target=_load_share, args=(db, charges, share, processes))
        for share in range(processes)
    ]
    for loader in loaders:
        loader.start()
    for loader in loaders:
        loader.join()
    failed = [loader.exitcode for loader in loaders if loader.exitcode]
    if failed:
        raise SystemExit(f"a loader failed (exit codes {failed})")
    return time.perf_counter() - started


def settle(db: str | Path) -> None:
    """After the load, what an operator's database would have done by itself before it
    is measured: SQLite's WAL checkpointed into the file and synced, PostgreSQL's new
    tables vacuumed and analyzed (autovacuum's work) and checkpointed; else the
    gigabytes would still be going to disk while the full ledger is measured."""
    if str(db).startswith("postgresql://"):
        import psycopg

        with psycopg.connect(str(db), autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
            conn.execute("CHECKPOINT")
    else:
        import sqlite3

        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.sync()


def database_bytes(db: str | Path) -> int:
    if str(db).startswith("postgresql://"):
        import psycopg

        with psycopg.connect(str(db)) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0
    return Path(db).stat().st_size


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


@contextmanager
def serving(
    databases: dict[str, str | Path], work: Path, prefix: str
) -> Iterator[dict[str, Server]]:
    servers: dict[str, Server] = {}
    try:
        for side, db in databases.items():
            servers[side] = serve(db, work / f"{prefix}-{side}.log")
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@dataclass(slots=True)
class LedgerScale:
    """One engine's ledger comparison."""

    engine: str
    lines: int
    load_seconds: float = 0.0
    size_bytes: int = 0
    check: str = ""  # what ``ledger check`` said, when run
    empty: dict[str, tuple[float, float]] = field(default_factory=dict)
    full: dict[str, tuple[float, float]] = field(default_factory=dict)
    rss_mb: float = 0.0


def ledger_scale(
    engine: str,
    databases: dict[str, str | Path],
    lines: int,
    args: argparse.Namespace,
    work: Path,
) -> LedgerScale:
    """Empty against ``lines`` loaded, on the two databases given (fresh, same engine)."""
    result = LedgerScale(engine, lines)
    for side, db in databases.items():
        prepare_database(db)
        with serving({side: db}, work, f"{engine}-setup") as servers:
            create_accounts(servers[side].address)
    print(f"{engine}: loading {lines:,} lines ...", flush=True)
    processes = 1 if engine == "SQLite" else args.load_processes  # SQLite: one writer
    result.load_seconds = load_lines(databases["full"], lines, processes)
    print(
        f"{engine}: {lines:,} lines in {result.load_seconds:.0f} s "
        f"({lines / result.load_seconds:,.0f} lines/s)",
        flush=True,
    )
    for db in databases.values():  # both sides alike: the empty one's tables analyzed too
        settle(db)
    result.size_bytes = database_bytes(databases["full"])
    if args.check:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "rating_server", "--db", str(databases["full"]), *CHECK],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        said = (done.stdout + done.stderr).strip().splitlines()
        result.check = (
            f"{'holds' if done.returncode == 0 else 'FAILS'} "
            f"({said[-1] if said else done.returncode}; {time.perf_counter() - started:.0f} s)"
        )
        print(f"{engine}: ledger check {result.check}", flush=True)
    per_turn = max(1, args.calls // TURNS)
    with serving(databases, work, engine) as servers:
        pooled = in_turns(
            servers,
            lambda side, server, turn: commit_and_balance(
                server.address, f"{side}-{turn}", per_turn
            ),
        )
        result.rss_mb = servers["full"].peak_rss_mb()
    result.empty = {call: summary(samples) for call, samples in pooled["empty"].items()}
    result.full = {call: summary(samples) for call, samples in pooled["full"].items()}
    return result


def catalog_scale(work: Path, skus: int, calls: int) -> dict[str, float]:
    """Quote@1000 items/s with the seed catalog and with ``skus`` more SKUs."""
    seed_db, big_db = work / "seed.db", work / "big.db"
    prepare_database(seed_db)
    catalog = work / "big.toml"
    big_catalog(catalog, skus)
    run_server_command(big_db, "catalog", "import", str(catalog))
    with serving({"seed": seed_db, "big": big_db}, work, "catalog") as catalogs:
        quotes = in_turns(
            catalogs,
            lambda _side, server, _turn: {
                "quote": quote_latencies(server.address, max(4, calls // 5 // TURNS))
            },
        )
    return {side: 1000 / statistics.median(quotes[side]["quote"]) for side in quotes}


def ledger_lines(scale: LedgerScale) -> tuple[list[str], list[str]]:
    """The verdicts and the table rows of one engine."""
    rows = []
    verdicts = []
    for call in ("commit", "balance"):
        (p50_a, p99_a), (p50_b, p99_b) = scale.empty[call], scale.full[call]
        rows.append(
            f"| {scale.engine} | {call} | {p50_a:.2f} | {p50_b:.2f} | {p50_b / p50_a:.2f}x | "
            f"{p99_a:.2f} | {p99_b:.2f} | {p99_b / p99_a:.2f}x |"
        )
        ok = p50_b / p50_a <= 1.25
        verdicts.append(
            f"- {'PASS' if ok else 'FAIL'} {scale.engine}: {call} p50 with {scale.lines:,} "
            f"lines within 1.25x of an empty ledger: {p50_b / p50_a:.2f}x "
            f"({p50_b:.2f} vs {p50_a:.2f} ms)"
        )
    verdicts.append(
        f"- {'PASS' if scale.rss_mb < 300 else 'FAIL'} {scale.engine}: server RSS under "
        f"300 MB with {scale.lines:,} lines: {scale.rss_mb:.0f} MB"
    )
    return verdicts, rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument(
        "--postgres-lines",
        type=int,
        default=POSTGRES_LINES,
        help=f"lines loaded on PostgreSQL (default {POSTGRES_LINES:,}; its load runs at "
        "about 50,000 lines/s on 2 cores)",
    )
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument(
        "--check", action="store_true", help="run `rating-server ledger check` on each full ledger"
    )
    parser.add_argument(
        "--load-processes",
        type=int,
        default=2,
        help="PostgreSQL: processes loading the lines at once, each its own accounts "
        "(default 2; SQLite's one writer loads alone)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="results folder")
    args = parser.parse_args(argv)
    command = "python bench/scale.py" + " ".join(["", *(sys.argv[1:] if argv is None else argv)])
    began = time.perf_counter()
    missing = "--no-postgres" if args.no_postgres else postgres_missing()
    if missing:
        print(f"PostgreSQL half skipped: {missing}", flush=True)
    scales: list[LedgerScale] = []
    with tempfile.TemporaryDirectory(prefix="rating-scale-") as scratch:
        work = Path(scratch)
        sqlite_dbs: dict[str, str | Path] = {"empty": work / "empty.db", "full": work / "full.db"}
        scales.append(ledger_scale("SQLite", sqlite_dbs, args.lines, args, work))
        for db in sqlite_dbs.values():  # gigabytes: not kept while PostgreSQL's are made
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        if not missing:
            postgres = Postgres()
            try:
                pg_dbs: dict[str, str | Path] = {
                    side: postgres.database(f"scale_{side}") for side in ("empty", "full")
                }
                pg_lines = min(args.postgres_lines, args.lines)
                scales.append(ledger_scale("PostgreSQL", pg_dbs, pg_lines, args, work))
            finally:
                postgres.stop()
        rates = catalog_scale(work, args.skus, args.calls)

    verdicts: list[str] = []
    rows: list[str] = []
    for scale in scales:
        found, table = ledger_lines(scale)
        verdicts += found
        rows += table
    quote_ratio = rates["big"] / rates["seed"]
    verdicts.append(
        f"- {'PASS' if quote_ratio >= 0.9 else 'FAIL'} Quote@1000 with {args.skus:,} more SKUs "
        f"as fast as with the seed's (within 10%): {quote_ratio:.2f}x "
        f"({rates['big']:,.0f} vs {rates['seed']:,.0f} items/s)"
    )
    loads = [
        f"- {scale.engine}: {scale.lines:,} lines loaded in {scale.load_seconds:.0f} s "
        f"({scale.lines / scale.load_seconds:,.0f} lines/s, {CHARGE_LINES:,}-line charges, "
        f"{CHARGES_PER_TX} per transaction, through `LedgerTx.write_charge`); the database "
        f"then held {scale.size_bytes / 2**30:.2f} GiB"
        + (f"; `ledger check` {scale.check}" if scale.check else "")
        for scale in scales
    ]
    text = "\n".join(
        [
            "# Scale: the ledger's and the catalog's size",
            "",
            f"Run {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, `{command}`, in "
            f"{time.perf_counter() - began:.0f} s."
            + (f" PostgreSQL skipped: {missing}." if missing else ""),
            "",
            *loads,
            "",
            *verdicts,
            "",
            f"One caller, sequential calls; commit = 100 agent calls with new usage_ids. "
            f"Both sides of each comparison are served at once and measured in {TURNS} "
            "turns that alternate between them, samples pooled.",
            "",
            "| engine | call | empty p50 ms | full p50 ms | x | empty p99 ms | full p99 ms | x |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
