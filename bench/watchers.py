"""``make bench-watchers``: do idle watchers slow commits?

On each engine (SQLite; PostgreSQL when the machine has its programs), the real server
on a fresh database commits single items and batches of 100 (1 caller), measured
three times in one run: without watchers, with ``WATCHERS`` idle streams open (half
``WatchBalance``, half ``WatchCharges``, each on an account nothing is committed to),
and without them again. The figure is the ratio of the run with watchers to the mean of
the two without (items/s, and p99 latency). Writes ``bench/results/watchers.md``.

    python bench/watchers.py             # 5 s per measurement
    python bench/watchers.py --seconds 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import loadgen
import run
import workload

from rating import RatingClient
from rating.v1 import account_service_pb2, account_service_pb2_grpc

WATCHERS = 50
BATCHES = (1, 100)


class Watchers:
    """``count`` idle streams, each in a thread of its own, on one channel per stream."""

    def __init__(self, target: str, count: int) -> None:
        self._calls: list[grpc.Future] = []
        self._channels: list[grpc.Channel] = []
        self._threads: list[threading.Thread] = []
        self.started = threading.Semaphore(0)
        for number in range(count):
            channel = grpc.insecure_channel(target)
            stub = account_service_pb2_grpc.AccountServiceStub(channel)
            account = f"idle-{number}"
            if number % 2:
                stream = stub.WatchBalance(
                    account_service_pb2.WatchBalanceRequest(account_id=account)
                )
            else:
                stream = stub.WatchCharges(
                    account_service_pb2.WatchChargesRequest(account_id=account)
                )
            self._channels.append(channel)
            self._calls.append(stream)
            thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _drain(self, stream: Iterator[object]) -> None:
        try:
            for _ in stream:
                self.started.release()  # the first message: it is open
        except grpc.RpcError:
            pass

    def close(self) -> None:
        for call in self._calls:
            call.cancel()
        for thread in self._threads:
            thread.join(10)
        for channel in self._channels:
            channel.close()


def measure(callers: loadgen.Callers, target: str, batch: int, seconds: float) -> run.Figures:
    result = callers.measure(
        loadgen.Cell((target,), workload.COMMIT, batch),
        1,
        warmup=min(1.0, seconds / 2),
        seconds=seconds,
        min_calls=20,
    )
    return run.Figures(
        calls=len(result.latencies),
        items_per_second=result.items_per_second,
        p50_ms=result.percentile_ms(0.50),
        p99_ms=result.percentile_ms(0.99),
        server_cores=0.0,
        client_cores=result.client_cpu_seconds / result.seconds,
        built_late=result.built_late,
    )


@contextmanager
def server_on(engine: str, work: Path) -> Iterator[run.Server]:
    postgres = None
    try:
        if engine == "SQLite":
            database: str | Path = work / "watchers.db"
        else:
            postgres = run.Postgres()
            database = postgres.database("watchers")
        run.prepare_database(database)
        server = run.serve(database, work / f"server-{engine}.log")
        try:
            run.create_accounts(server.address)
            with RatingClient(server.address) as client:
                for number in range(WATCHERS):
                    client.create_account(f"idle-{number}")
            yield server
        finally:
            server.stop()
    finally:
        if postgres is not None:
            postgres.stop()


def bench_engine(engine: str, work: Path, seconds: float) -> list[str]:
    rows = []
    with server_on(engine, work) as server:
        callers = loadgen.Callers(1, f"watchers-{engine.lower()}")
        try:
            callers.connect((server.address,), 1)
            for batch in BATCHES:
                before = measure(callers, server.address, batch, seconds)
                watchers = Watchers(server.address, WATCHERS)
                for _ in range(WATCHERS):
                    if not watchers.started.acquire(timeout=60):
                        raise RuntimeError("a watcher never started")
                watched = measure(callers, server.address, batch, seconds)
                watchers.close()
                after = measure(callers, server.address, batch, seconds)
                base_rate = statistics.mean([before.items_per_second, after.items_per_second])
                base_p99 = statistics.mean([before.p99_ms, after.p99_ms])
                rows.append(
                    f"| {engine} | {batch:,} | {base_rate:,.0f} | {watched.items_per_second:,.0f} "
                    f"| {watched.items_per_second / base_rate:.2f}x | {base_p99:.2f} "
                    f"| {watched.p99_ms:.2f} | {watched.p99_ms / base_p99:.2f}x |"
                )
                print(rows[-1], flush=True)
        finally:
            callers.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--out", type=Path, default=run.BENCH / "results", help="results folder")
    args = parser.parse_args(argv)
    started = time.monotonic()
    engines = ["SQLite"]
    missing = run.postgres_missing()
    if missing is None:
        engines.append("PostgreSQL")
    else:
        print(f"PostgreSQL skipped: {missing}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="rating-watchers-") as folder:
        for engine in engines:
            rows += bench_engine(engine, Path(folder), args.seconds)
    lines = [
        "# Idle watchers and commits",
        "",
        f"`make bench-watchers`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"CommitCharges, 1 caller, {args.seconds:g} s per measurement, without watchers, with "
        f"{WATCHERS} idle streams ({WATCHERS // 2} WatchBalance, {WATCHERS // 2} WatchCharges, "
        "each on an account nothing is committed to), and without them again.",
        "",
        *(f"- {fact}" for fact in run.machine_facts()),
        "",
        "| engine | batch | items/s without | items/s with | ratio | p99 ms without "
        "| p99 ms with | ratio |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Total time {time.monotonic() - started:.0f} s.",
        "",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "watchers.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
