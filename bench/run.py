"""``make bench``: the rating service against the wire floor, in one run, on loopback.

It starts the null server (``bench/null_server.py``: the floor, gRPC with no logic) and
the real server (``python -m rating_server``, durable, on a fresh database with the seed
catalog, accounts and packs), then measures Quote, CommitCharges and GetBalance on both,
for each batch size and number of concurrent callers: items/s, p50 and p99 latency, and
each figure's ratio to the floor's same cell. Servers and callers share the machine. In
the targets' cells it also measures the ceiling (``bench/ceiling_server.py``: the least
per-item work a server in Python must do), which bounds what the targets can reach.

Writes ``bench/results/results.md`` (the table, the machine, the targets of issue 6 as
PASS/FAIL) and ``bench/results/throughput.png``; prints the table.

    python bench/run.py            # the full matrix (a few minutes)
    python bench/run.py --quick    # batch 1 and 1000, 1 caller, 1 s per cell: a smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import loadgen
import workload
from google import protobuf

from rating import RatingClient

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SEED = ROOT / "server" / "catalog" / "seed.toml"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
LISTENING = re.compile(
    r"(?:rating-server|null-server|ceiling-server) listening on (?P<address>[^\s,]+)"
)

METHODS = {
    workload.QUOTE: "Quote",
    workload.COMMIT: "CommitCharges",
    workload.BALANCE: "GetBalance",
}


@dataclass(frozen=True, slots=True)
class Plan:
    batches: tuple[int, ...]
    concurrency: tuple[int, ...]
    seconds: float
    warmup: float
    min_calls: int


FULL = Plan(
    batches=(1, 100, 1000, 10_000), concurrency=(1, 8), seconds=3.0, warmup=0.5, min_calls=2
)
QUICK = Plan(batches=(1, 1000), concurrency=(1,), seconds=1.0, warmup=0.3, min_calls=2)


# The servers


class Server:
    """A server subprocess, its stderr in a file, its address read from its start line."""

    def __init__(self, name: str, args: Sequence[str], log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=ROOT,
            )
        self.address = self._wait_started()

    def _wait_started(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = LISTENING.search(self.log.read_text(errors="replace"))
            if found:
                return found["address"]
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not start:\n{self.log.read_text(errors='replace')}")

    def pids(self) -> list[int]:
        """The process and its children (the workers of ``--workers``)."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        found = children.read_text().split() if children.exists() else []
        return [pid, *map(int, found)]

    def cpu_seconds(self) -> float:
        """User and system CPU time the process and its children have used."""
        total = 0
        for pid in self.pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except FileNotFoundError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """The largest peak RSS of the process and its children."""
        peaks = [0.0]
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        return max(peaks)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def prepare_database(db: Path) -> None:
    """A fresh database with the seed catalog (the operator's command)."""
    subprocess.run(
        [sys.executable, "-m", "rating_server", "--db", str(db), "catalog", "import", str(SEED)],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def create_accounts(target: str) -> None:
    """The accounts items name, pay-as-you-go on, each with a pack that outlasts the run."""
    since = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    with RatingClient(target) as client:
        for account_id in workload.ACCOUNTS:
            client.create_account(account_id, plan=workload.ACCOUNT_PLAN, pay_as_you_go=True)
            client.grant_pack(
                account_id, workload.PACK_POINTS, valid_from=since, request_id=f"pack-{account_id}"
            )


# Measuring


@dataclass(frozen=True, slots=True)
class Figures:
    calls: int
    items_per_second: float
    p50_ms: float
    p99_ms: float
    server_cores: float
    client_cores: float
    built_late: int


def throughput_ratio(real: Figures, floor: Figures) -> float:
    """A server's items/s over the floor's (higher is better)."""
    return real.items_per_second / floor.items_per_second


def p99_ratio(real: Figures, floor: Figures) -> float:
    """A server's p99 latency over the floor's (lower is better)."""
    return real.p99_ms / floor.p99_ms


@dataclass(frozen=True, slots=True)
class Row:
    """One cell: a method at a batch size and concurrency, on the floor and for real."""

    path: str
    batch: int
    concurrency: int
    floor: Figures
    real: Figures
    #: The real server with several worker processes, when measured.
    workers: Figures | None = None
    #: The ceiling server (``ceiling_server.py``), in the cells of the targets.
    ceiling: Figures | None = None

    @property
    def method(self) -> str:
        return METHODS[self.path]

    @property
    def throughput_ratio(self) -> float:
        return throughput_ratio(self.real, self.floor)

    @property
    def p50_ratio(self) -> float:
        return self.real.p50_ms / self.floor.p50_ms

    @property
    def p99_ratio(self) -> float:
        return p99_ratio(self.real, self.floor)

    @property
    def deployed(self) -> Figures:
        """The configuration the targets are judged on: the workers when measured (the
        README's advice for a machine of several cores), else the single process."""
        return self.workers or self.real


def measure(
    callers: loadgen.Callers, server: Server, cell: loadgen.Cell, concurrency: int, plan: Plan
) -> Figures:
    cpu_at_start: list[float] = []
    result = callers.measure(
        cell,
        concurrency,
        warmup=plan.warmup,
        seconds=plan.seconds,
        min_calls=plan.min_calls,
        on_start=lambda: cpu_at_start.append(server.cpu_seconds()),
    )
    server_cpu = server.cpu_seconds() - cpu_at_start[0]
    return Figures(
        calls=len(result.latencies),
        items_per_second=result.items_per_second,
        p50_ms=result.percentile_ms(0.50),
        p99_ms=result.percentile_ms(0.99),
        server_cores=server_cpu / result.seconds,
        client_cores=result.client_cpu_seconds / result.seconds,
        built_late=result.built_late,
    )


def cells(plan: Plan) -> list[tuple[str, int, int]]:
    """(method path, batch, concurrency), in the order they run."""
    order = []
    for concurrency in plan.concurrency:
        for path in (workload.QUOTE, workload.COMMIT):
            order += [(path, batch, concurrency) for batch in plan.batches]
        order.append((workload.BALANCE, 1, concurrency))
    return order


@dataclass(frozen=True, slots=True)
class Size:
    method: str
    batch: int
    floor_bytes: int
    real_bytes: int


def compare_responses(
    floor: str, real: str, batches: Sequence[int], tag: str, balance: bool = True
) -> list[Size]:
    """One call of each kind to both servers: the floor must answer what the real server
    does (quotes byte for byte; commits and balances within a few bytes: ids and times).
    ``balance``: whether ``real`` serves GetBalance (the ceiling server does not)."""
    commits = workload.CommitRequests(tag, 99)
    commits.check(3)
    sizes = []
    with grpc.insecure_channel(floor) as floor_channel, grpc.insecure_channel(real) as channel:

        def both(path: str, data: bytes) -> tuple[bytes, bytes]:
            answers = []
            for target in (floor_channel, channel):
                call = target.unary_unary(path, request_serializer=None, response_deserializer=None)
                answers.append(call(data, timeout=loadgen.CALL_TIMEOUT))
            return answers[0], answers[1]

        for batch in batches:
            quote = workload.quote_request(batch)
            floor_answer, real_answer = both(workload.QUOTE, quote)
            if floor_answer != real_answer:
                raise AssertionError(f"the floor's Quote of {batch} differs from the server's")
            sizes.append(Size("Quote", batch, len(floor_answer), len(real_answer)))
            floor_answer, real_answer = both(workload.COMMIT, commits.next(batch))
            sizes.append(Size("CommitCharges", batch, len(floor_answer), len(real_answer)))
        if balance:
            floor_answer, real_answer = both(workload.BALANCE, workload.balance_request(0))
            sizes.append(Size("GetBalance", 1, len(floor_answer), len(real_answer)))
    for size in sizes:
        if abs(size.floor_bytes - size.real_bytes) > max(16, size.real_bytes // 50):
            raise AssertionError(f"the floor's response differs in size from the server's: {size}")
    return sizes


# The report


def machine_facts() -> list[str]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return [
        f"{os.cpu_count()} CPUs{f' ({model})' if model else ''}, {platform.platform()}",
        f"Python {platform.python_version()}, grpcio {grpc.__version__}, "
        f"protobuf {protobuf.__version__}, SQLite {sqlite3.sqlite_version}",
    ]


def number(value: float) -> str:
    return f"{value:,.0f}"


def millis(value: float) -> str:
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:.0f}"


def ratio(value: float) -> str:
    return f"{value:.2f}x"


def table(rows: Sequence[Row], workers: int) -> str:
    head = (
        "| call | batch | callers | calls | floor items/s | items/s | x floor "
        "| floor p50 ms | p50 ms | x floor | floor p99 ms | p99 ms | x floor "
        "| server CPU | floor CPU | callers CPU |"
    )
    columns = 16
    if workers > 1:
        head += f" {workers} workers: items/s | x floor | p50 ms | p99 ms | x floor | CPU |"
        columns += 6
    lines = [head, "|" + "---|" * columns]
    for row in rows:
        floor, real = row.floor, row.real
        extra = []
        if row.workers is not None:
            extra = [
                number(row.workers.items_per_second),
                ratio(throughput_ratio(row.workers, floor)),
                millis(row.workers.p50_ms),
                millis(row.workers.p99_ms),
                ratio(p99_ratio(row.workers, floor)),
                f"{row.workers.server_cores:.2f}",
            ]
        lines.append(
            "| "
            + " | ".join(
                [
                    row.method,
                    "-" if row.path == workload.BALANCE else f"{row.batch:,}",
                    str(row.concurrency),
                    f"{real.calls:,}",
                    number(floor.items_per_second),
                    number(real.items_per_second),
                    ratio(row.throughput_ratio),
                    millis(floor.p50_ms),
                    millis(real.p50_ms),
                    ratio(row.p50_ratio),
                    millis(floor.p99_ms),
                    millis(real.p99_ms),
                    ratio(row.p99_ratio),
                    f"{real.server_cores:.2f}",
                    f"{floor.server_cores:.2f}",
                    f"{real.client_cores:.2f}",
                    *extra,
                ]
            )
            + " |"
        )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Target:
    text: str
    path: str
    batch: int
    value: Callable[[Figures, Figures], float]  # (server, floor) -> the ratio
    passes: Callable[[float], bool]


TARGETS = (
    Target(
        "Quote at batch 1,000: items/s at least 0.6x the floor's",
        workload.QUOTE,
        1000,
        throughput_ratio,
        lambda value: value >= 0.6,
    ),
    Target(
        "CommitCharges at batch 1,000 (durable): items/s at least 0.3x the floor's",
        workload.COMMIT,
        1000,
        throughput_ratio,
        lambda value: value >= 0.3,
    ),
    Target(
        "Quote of a single item: p99 at most 1.5x the floor's",
        workload.QUOTE,
        1,
        p99_ratio,
        lambda value: value <= 1.5,
    ),
)


#: The cells the ceiling server is measured in: those of the targets.
CEILING_CELLS = {(target.path, target.batch) for target in TARGETS}


def _ratios(target: Target, found: Sequence[Row], side: Callable[[Row], Figures]) -> str:
    return ", ".join(
        f"{ratio(target.value(side(row), row.floor))} with {row.concurrency} caller"
        + ("s" if row.concurrency > 1 else "")
        for row in found
    )


def verdicts(rows: Sequence[Row], workers: int) -> list[str]:
    """One line per target: PASS when it holds at every concurrency measured, for the
    deployed configuration (``Row.deployed``); the single process's ratios follow."""
    lines = []
    for target in TARGETS:
        found = [row for row in rows if row.path == target.path and row.batch == target.batch]
        if not found:
            lines.append(f"- NOT MEASURED {target.text}")
            continue
        held = all(target.passes(target.value(row.deployed, row.floor)) for row in found)
        detail = _ratios(target, found, lambda row: row.deployed)
        if workers > 1:
            one = _ratios(target, found, lambda row: row.real)
            detail = f"{workers} workers {detail}; one process {one}"
        if all(row.ceiling is not None for row in found):
            detail += f"; the ceiling {_ratios(target, found, lambda row: row.ceiling)}"
        lines.append(f"- {'PASS' if held else 'FAIL'} {target.text}: {detail}")
    return lines


def ceiling_section(rows: Sequence[Row], workers: int) -> list[str]:
    """The ceiling server against the floor and the real server, in the targets' cells."""
    found = [row for row in rows if row.ceiling is not None]
    if not found:
        return []
    server = f"{workers} workers" if workers > 1 else "server"
    lines = [
        "## The ceiling: the least a server in Python can do",
        "",
        "`bench/ceiling_server.py` does only the per-item work no rating server in Python "
        "can skip: it reads each item's fields, finds its price in a dict, rounds, writes "
        "the line's bytes, and for a commit inserts each line into one SQLite table keyed "
        "by usage_id, durably. No rule is checked and no account funded; it answers what "
        f"the floor answers. It runs as {workers} process{'es' if workers > 1 else ''} on "
        "one port, as the real server's workers do. What it reaches bounds what any "
        "server in Python can reach on this machine.",
        "",
        f"| call | batch | callers | floor items/s | ceiling items/s | x floor | {server} "
        "items/s | x floor | x ceiling | floor p99 ms | ceiling p99 ms | x floor "
        f"| {server} p99 ms | x floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in found:
        ceiling, deployed, floor = row.ceiling, row.deployed, row.floor
        assert ceiling is not None
        lines.append(
            "| "
            + " | ".join(
                [
                    row.method,
                    f"{row.batch:,}",
                    str(row.concurrency),
                    number(floor.items_per_second),
                    number(ceiling.items_per_second),
                    ratio(throughput_ratio(ceiling, floor)),
                    number(deployed.items_per_second),
                    ratio(throughput_ratio(deployed, floor)),
                    ratio(throughput_ratio(deployed, ceiling)),
                    millis(floor.p99_ms),
                    millis(ceiling.p99_ms),
                    ratio(p99_ratio(ceiling, floor)),
                    millis(deployed.p99_ms),
                    ratio(p99_ratio(deployed, floor)),
                ]
            )
            + " |"
        )
    return lines


def plot(rows: Sequence[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    concurrencies = sorted({row.concurrency for row in rows})
    figure, axes = plt.subplots(
        1, len(concurrencies), figsize=(6 * len(concurrencies), 4.5), sharey=True, squeeze=False
    )
    series = [
        ("floor (Quote)", workload.QUOTE, "floor", "tab:gray", "--"),
        ("floor (CommitCharges)", workload.COMMIT, "floor", "black", ":"),
        ("Quote, one process", workload.QUOTE, "real", "tab:blue", "-"),
        ("CommitCharges (durable), one process", workload.COMMIT, "real", "tab:red", "-"),
    ]
    if any(row.workers is not None for row in rows):
        series += [
            ("Quote, workers", workload.QUOTE, "workers", "tab:cyan", "-."),
            ("CommitCharges, workers", workload.COMMIT, "workers", "tab:orange", "-."),
        ]
    for axis, concurrency in zip(axes[0], concurrencies, strict=True):
        for label, method, side, color, style in series:
            points = sorted(
                (row.batch, getattr(row, side).items_per_second)
                for row in rows
                if row.path == method
                and row.concurrency == concurrency
                and getattr(row, side) is not None
            )
            if points:
                xs, ys = zip(*points, strict=True)
                axis.plot(xs, ys, style, marker="o", color=color, label=label)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("batch size (items per call)")
        axis.set_title(f"{concurrency} concurrent caller{'s' if concurrency > 1 else ''}")
        axis.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("items/s")
    axes[0][0].legend(loc="lower right")
    figure.suptitle("Rating service against the gRPC floor (loopback, shared cores)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def report(
    rows: Sequence[Row],
    sizes: Sequence[Size],
    plan: Plan,
    args: argparse.Namespace,
    rss: tuple[float, float, float],
    elapsed: float,
) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    late = [
        f"{row.method} {row.batch:,} x{row.concurrency} ({row.floor.built_late} floor, "
        f"{row.real.built_late} real)"
        for row in rows
        if row.floor.built_late or row.real.built_late
    ]
    lines = [
        "# Rating service benchmark",
        "",
        f"Run {now}{' (quick)' if args.quick else ''}, `python bench/run.py"
        f"{' --quick' if args.quick else ''}`, in {elapsed:.0f} s.",
        "",
        *(f"- {fact}" for fact in machine_facts()),
        f"- real server: `python -m rating_server` (synchronous=FULL), a fresh "
        f"database with the seed catalog and {len(workload.ACCOUNTS)} accounts with a pack, "
        "as one process"
        + (
            f" and, on a database of its own, as `serve --workers {args.workers}` (processes "
            "sharing one port and one database); the targets are judged on the workers"
            if args.workers > 1
            else ""
        )
        + "; floor: `bench/null_server.py` (one process, same protos, requests parsed, "
        "responses of the same shape and size, no logic)",
        f"- callers: {args.client_processes} client processes, one channel each caller, "
        f"pre-built requests; per cell {plan.warmup:g} s warm-up then {plan.seconds:g} s "
        f"(at least {plan.min_calls} calls per caller); every commit has a new request_id "
        "and new usage_ids",
        "",
        "## Targets (issue 6)",
        "",
        *verdicts(rows, args.workers),
        "",
        "## Results",
        "",
        table(rows, args.workers),
        "",
        "items/s: items per second over all callers (GetBalance: calls per second); "
        "x floor: the real server's figure over the floor's in the same cell (items/s: "
        "higher is better; latency: lower is better). p99 over fewer than 100 calls is "
        "their maximum. server CPU, floor CPU: cores each server used while measured; "
        "callers CPU: cores the client processes used while the real server was measured "
        f"(all of them share the {os.cpu_count()} CPUs).",
        "",
        f"Peak RSS: real server {rss[0]:.0f} MB, floor {rss[1]:.0f} MB"
        + (f", largest worker {rss[2]:.0f} MB." if args.workers > 1 else "."),
        "",
        "![items/s against batch size](throughput.png)",
        "",
        *ceiling_section(rows, args.workers),
        "",
        "## Response sizes (bytes, one call each)",
        "",
        "| call | batch | floor | real |",
        "|---|---|---|---|",
        *(
            f"| {s.method} | {'-' if s.method == 'GetBalance' else f'{s.batch:,}'} "
            f"| {s.floor_bytes:,} | {s.real_bytes:,} |"
            for s in sizes
        ),
    ]
    if late:
        lines += [
            "",
            "Commit requests built while measured (pre-built ones ran out): " + ", ".join(late),
        ]
    return "\n".join(lines) + "\n"


def numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced matrix, for a smoke test")
    parser.add_argument("--seconds", type=float, help="measured seconds per cell")
    parser.add_argument(
        "--batches", help="batch sizes, comma-separated (default: 1,100,1000,10000)"
    )
    parser.add_argument("--concurrency", help="callers, comma-separated (default: 1,8)")
    parser.add_argument(
        "--client-processes",
        type=int,
        default=os.cpu_count() or 1,
        help="client processes the callers are spread over (default: one per CPU)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="also measure `serve --workers N` (default: one per CPU; 1: only one process)",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="results folder")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.seconds:
        plan = dataclasses.replace(plan, seconds=args.seconds)
    if args.batches:
        plan = dataclasses.replace(plan, batches=numbers(args.batches))
    if args.concurrency:
        plan = dataclasses.replace(plan, concurrency=numbers(args.concurrency))
    started = time.monotonic()
    tag = secrets.token_hex(4)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="rating-bench-") as folder:
        work = Path(folder)
        db = work / "bench.db"
        prepare_database(db)
        servers: list[Server] = []
        callers: loadgen.Callers | None = None
        try:
            real = Server(
                "rating-server",
                ["-m", "rating_server", "--db", str(db), "serve", "--listen", "127.0.0.1:0"],
                work / "server.log",
            )
            servers.append(real)
            floor = Server(
                "null-server",
                [str(BENCH / "null_server.py"), "--listen", "127.0.0.1:0"],
                work / "null.log",
            )
            servers.append(floor)
            pool: Server | None = None
            if args.workers > 1:
                pool_db = work / "workers.db"
                prepare_database(pool_db)
                pool = Server(
                    "rating-server --workers",
                    [
                        *("-m", "rating_server", "--db", str(pool_db), "serve"),
                        *("--listen", "127.0.0.1:0", "--workers", str(args.workers)),
                    ],
                    work / "workers.log",
                )
                servers.append(pool)
            ceiling = Server(
                "ceiling-server",
                [
                    *(str(BENCH / "ceiling_server.py"), "--listen", "127.0.0.1:0"),
                    *("--db", str(work / "ceiling.db"), "--processes", str(args.workers)),
                ],
                work / "ceiling.log",
            )
            servers.append(ceiling)
            reals = [real] if pool is None else [real, pool]
            for server in reals:
                create_accounts(server.address)
            sizes = compare_responses(floor.address, real.address, plan.batches, tag)
            if pool is not None:
                compare_responses(floor.address, pool.address, plan.batches, tag)
            compare_responses(floor.address, ceiling.address, plan.batches, tag, balance=False)
            callers = loadgen.Callers(args.client_processes, tag)
            for server in (floor, *reals, ceiling):
                callers.connect(server.address, max(plan.concurrency))
            print(
                f"floor {floor.address}, server {real.address}"
                + (f", workers {pool.address}" if pool else "")
                + f"; {len(cells(plan))} cells"
            )
            for path, batch, concurrency in cells(plan):
                measured = (floor, *reals)
                if (path, batch) in CEILING_CELLS:
                    measured += (ceiling,)
                figures = {}
                for server in measured:
                    cell = loadgen.Cell(server.address, path, batch)
                    figures[server] = measure(callers, server, cell, concurrency, plan)
                row = Row(
                    path,
                    batch,
                    concurrency,
                    floor=figures[floor],
                    real=figures[real],
                    workers=figures.get(pool) if pool else None,
                    ceiling=figures.get(ceiling),
                )
                rows.append(row)
                print(
                    f"{row.method:>13} batch {batch:>6,} callers {concurrency}: "
                    f"{number(row.real.items_per_second):>9} items/s "
                    f"({ratio(row.throughput_ratio)} floor), p50 {millis(row.real.p50_ms)} ms "
                    f"({ratio(row.p50_ratio)}), p99 {millis(row.real.p99_ms)} ms "
                    f"({ratio(row.p99_ratio)})"
                    + (
                        f"; workers {number(row.workers.items_per_second)} items/s "
                        f"p99 {millis(row.workers.p99_ms)} ms"
                        if row.workers
                        else ""
                    ),
                    flush=True,
                )
            rss = (
                real.peak_rss_mb(),
                floor.peak_rss_mb(),
                pool.peak_rss_mb() if pool else float("nan"),
            )
        finally:
            if callers is not None:
                callers.close()
            for server in servers:
                server.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    plot(rows, args.out / "throughput.png")
    elapsed = time.monotonic() - started
    text = report(rows, sizes, plan, args, rss, elapsed)
    (args.out / "results.md").write_text(text)
    print()
    print(text)
    print(f"wrote {args.out / 'results.md'} and {args.out / 'throughput.png'}")
    print(f"total time {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
