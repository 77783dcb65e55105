"""``make bench``: the rating service against the wire floor and the ceiling, on both
engines, in one run, on loopback.

It starts the null server (``bench/null_server.py``: the floor, gRPC with no logic), the
ceiling (``bench/ceiling_server.py``: the least per-item work a server in Python must
do) and the real server (``python -m rating_server``, durable, on a fresh database with
the seed catalog, accounts and packs), and measures Quote, CommitCharges and GetBalance
on each, for each batch size and number of concurrent callers: items/s, p50 and p99
latency, and each figure's ratio to the floor's same cell. Servers and callers share
the machine.

- SQLite: the server as one process and as ``serve --workers N`` (docs/operations.md's advice
  for N cores, on which the targets are judged); the ceiling as N processes on one port.
- PostgreSQL (a throwaway cluster from the machine's binaries, in a temp folder,
  stopped at the end): the server as 1 node and as 2 nodes (two ``serve`` processes on
  their own ports, one database; caller ``i`` calls node ``i % nodes``), and the
  PostgreSQL ceiling the same way. A machine without PostgreSQL's programs skips this
  half, saying so in one line.
- Columns: Quote of 1,000 and 10,000 items and CommitCharges of 1,000 sent as
  ``UsageColumns`` (the same items as the row-wise cells'), on the null server (then the
  columnar floor: it answers ``RatedColumns``) and on the real server (Quote on SQLite,
  CommitCharges on every engine), measured a little shorter than the row-wise cells.

A cell a server fails (UNIMPLEMENTED, INVALID_ARGUMENT, ...) is reported as an error, in
the table and in the targets, and the run goes on; it then exits with status 1, after
writing the results.

Writes ``bench/results/results.md`` (the table, the machine, the targets 1 to 10 as
PASS/FAIL) and ``bench/results/throughput.png``; prints the table.

    python bench/run.py            # the full matrix (about 7 minutes on 2 cores)
    python bench/run.py --quick    # batch 1 and 1000, 1 caller, 1 s per cell: a smoke test
    python bench/run.py --forms columns --batches 1000 --no-postgres   # the columnar cells
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import itertools
import os
import platform
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
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
#: Lago's published throughput on one PostgreSQL (events/s), the peer the PostgreSQL
#: figures are read beside.
LAGO_EVENTS_PER_SECOND = 10_000
#: Batches the PostgreSQL half measures CommitCharges at (those of the plan among them).
POSTGRES_BATCHES = (1, 100, 1000)
#: (method, batch) of the ceiling's cells on SQLite and on PostgreSQL.
SQLITE_CEILING_CELLS = {
    (workload.QUOTE, 1),
    (workload.QUOTE, 1000),
    (workload.COMMIT, 1),
    (workload.COMMIT, 1000),
}
POSTGRES_CEILING_CELLS = {(workload.COMMIT, 1), (workload.COMMIT, 1000)}
#: The batches measured with the items as columns, by method (those of the plan among them).
COLUMN_BATCHES = {workload.QUOTE: (1000, 10_000), workload.COMMIT: (1000,)}
#: The request forms: repeated UsageItem, UsageColumns.
FORMS = ("rows", "columns")


@dataclass(frozen=True, slots=True)
class Plan:
    batches: tuple[int, ...]
    concurrency: tuple[int, ...]
    seconds: float
    warmup: float
    min_calls: int
    #: Measured seconds of a columnar cell (big batches only: shorter keeps the run's time).
    columns_seconds: float
    forms: tuple[str, ...] = FORMS


FULL = Plan(
    batches=(1, 100, 1000, 10_000),
    concurrency=(1, 8),
    seconds=3.0,
    warmup=0.5,
    min_calls=2,
    columns_seconds=2.0,
)
QUICK = Plan(
    batches=(1, 1000),
    concurrency=(1,),
    seconds=1.0,
    warmup=0.3,
    min_calls=2,
    columns_seconds=1.0,
)


# The servers


def _cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU time these processes have used."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(child) for child in children.read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


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
        return [self.process.pid, *_children(self.process.pid)]

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.pids())

    def peak_rss_mb(self) -> float:
        """The largest peak RSS of the process and its children."""
        peaks = [0.0]
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                continue
            for line in status.splitlines():
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


@dataclass(frozen=True, slots=True)
class Config:
    """A configuration measured: one server as one or more nodes, on an engine."""

    key: str
    label: str
    engine: str  # "", "SQLite" or "PostgreSQL"
    nodes: tuple[Server, ...]
    ceiling: bool = False
    #: The database server's CPU time so far (PostgreSQL's processes), when it has one.
    database_cpu: Callable[[], float] | None = None
    #: Whether the bench's accounts are created through it (once per database).
    accounts: bool = False

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(node.address for node in self.nodes)

    def cpu_seconds(self) -> float:
        return sum(node.cpu_seconds() for node in self.nodes)

    def peak_rss_mb(self) -> float:
        return max(node.peak_rss_mb() for node in self.nodes)


def run_server_command(db: str | Path, *args: str) -> None:
    """``rating-server --db DB ARGS`` (an operator's command), quietly."""
    subprocess.run(
        [sys.executable, "-m", "rating_server", "--db", str(db), *args],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def prepare_database(db: str | Path) -> None:
    """A fresh database with the seed catalog (the operator's commands); a PostgreSQL
    one is migrated first."""
    if str(db).startswith("postgresql://"):
        run_server_command(db, "db", "migrate")
    run_server_command(db, "catalog", "import", str(SEED))


def serve(db: str | Path, log: Path, workers: int = 1, name: str = "rating-server") -> Server:
    """The real server on ``db``, on a free port."""
    args = ["-m", "rating_server", "--db", str(db), "serve", "--listen", "127.0.0.1:0"]
    if workers > 1:
        args += ["--workers", str(workers)]
    return Server(name, args, log)


def ceiling(db: str | Path, log: Path, processes: int = 1, name: str = "ceiling-server") -> Server:
    return Server(
        name,
        [
            *(str(BENCH / "ceiling_server.py"), "--listen", "127.0.0.1:0"),
            *("--db", str(db), "--processes", str(processes)),
        ],
        log,
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


class Postgres:
    """A throwaway PostgreSQL cluster in a temp folder (the postgres user's, under root),
    with the databases the bench asks for."""

    def __init__(self) -> None:
        from rating_server.ledger.postgres.cluster import Cluster

        # Not under a folder of root's alone: under root, the cluster runs as postgres.
        self.folder = Path(tempfile.mkdtemp(prefix="rating-bench-pg-"))
        self.folder.chmod(0o777)
        self.cluster = Cluster(self.folder / "cluster")
        self.cluster.create()
        self.cluster.start()

    def database(self, name: str) -> str:
        """The URL of a new database ``name``."""
        self.cluster.create_database(name)
        return self.cluster.url.rsplit("/", 1)[0] + "/" + name

    def version(self) -> str:
        import psycopg

        with psycopg.connect(self.cluster.url.rsplit("/", 1)[0] + "/postgres") as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def cpu_seconds(self) -> float:
        """CPU time of the postmaster and its children (backends, WAL writer, ...)."""
        pid_file = self.cluster.data / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return 0.0
        return _cpu_seconds([pid, *_children(pid)])

    def stop(self) -> None:
        try:
            if self.cluster.running():
                self.cluster.stop("immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def postgres_missing() -> str | None:
    """Why the PostgreSQL half cannot run here, or None when it can."""
    from rating_server.ledger.postgres.cluster import BINARIES_SETTING, find_binaries

    if find_binaries() is None:
        return (
            "no PostgreSQL server programs (initdb, pg_ctl) on this machine "
            f"(PATH, /usr/lib/postgresql/*/bin or ${BINARIES_SETTING})"
        )
    return None


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
    #: Cores the database server (PostgreSQL's processes) used, when it has one.
    database_cores: float | None = None


def throughput_ratio(real: Figures, base: Figures) -> float:
    """A server's items/s over another's (higher is better)."""
    return real.items_per_second / base.items_per_second


def p99_ratio(real: Figures, base: Figures) -> float:
    """A server's p99 latency over another's (lower is better)."""
    return real.p99_ms / base.p99_ms


@dataclass(slots=True)
class Row:
    """One cell: a method at a batch size and concurrency, its items as rows or as
    columns, on every configuration measured in it (by ``Config.key``): its figures, or
    why it failed. In a columnar cell the floor is the columnar floor."""

    path: str
    batch: int
    concurrency: int
    columns: bool = False
    figures: dict[str, Figures] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return METHODS[self.path] + (" (columns)" if self.columns else "")

    @property
    def floor(self) -> Figures:
        return self.figures["floor"]

    def has(self, key: str) -> bool:
        """Whether ``key`` was measured in this cell (or failed it)."""
        return key in self.figures or key in self.errors


def find_row(
    rows: Sequence[Row], path: str, batch: int, columns: bool, concurrency: int
) -> Row | None:
    for row in rows:
        if (row.path, row.batch, row.columns, row.concurrency) == (
            path,
            batch,
            columns,
            concurrency,
        ):
            return row
    return None


def measure(
    callers: loadgen.Callers,
    config: Config,
    path: str,
    batch: int,
    concurrency: int,
    plan: Plan,
    columns: bool = False,
) -> Figures:
    cpu_at_start: list[float] = []
    database_at_start: list[float] = []

    def on_start() -> None:
        cpu_at_start.append(config.cpu_seconds())
        if config.database_cpu is not None:
            database_at_start.append(config.database_cpu())

    result = callers.measure(
        loadgen.Cell(config.targets, path, batch, columns),
        concurrency,
        warmup=plan.warmup,
        seconds=plan.columns_seconds if columns else plan.seconds,
        min_calls=plan.min_calls,
        on_start=on_start,
    )
    server_cpu = config.cpu_seconds() - cpu_at_start[0]
    database_cores = None
    if config.database_cpu is not None:
        database_cores = (config.database_cpu() - database_at_start[0]) / result.seconds
    return Figures(
        calls=len(result.latencies),
        items_per_second=result.items_per_second,
        p50_ms=result.percentile_ms(0.50),
        p99_ms=result.percentile_ms(0.99),
        server_cores=server_cpu / result.seconds,
        client_cores=result.client_cpu_seconds / result.seconds,
        built_late=result.built_late,
        database_cores=database_cores,
    )


def column_batches(plan: Plan, path: str) -> tuple[int, ...]:
    """The batches ``path`` is measured at as columns in ``plan``."""
    if "columns" not in plan.forms:
        return ()
    return tuple(batch for batch in COLUMN_BATCHES.get(path, ()) if batch in plan.batches)


def cells(plan: Plan) -> list[tuple[str, int, int, bool]]:
    """(method path, batch, concurrency, columns), in the order they run: per
    concurrency, the row-wise cells, then the columnar ones."""
    order = []
    for concurrency in plan.concurrency:
        if "rows" in plan.forms:
            for path in (workload.QUOTE, workload.COMMIT):
                order += [(path, batch, concurrency, False) for batch in plan.batches]
            order.append((workload.BALANCE, 1, concurrency, False))
        for path in (workload.QUOTE, workload.COMMIT):
            order += [(path, batch, concurrency, True) for batch in column_batches(plan, path)]
    return order


def measured_in(config: Config, path: str, batch: int, columns: bool = False) -> bool:
    """Whether ``config`` is measured in the cells of (``path``, ``batch``), its items as
    columns or not. As columns: the floor (the columnar floor) and the real server (Quote
    on SQLite, CommitCharges on every engine), not the ceilings."""
    if columns:
        if config.ceiling:
            return False
        return config.engine != "PostgreSQL" or path == workload.COMMIT
    if config.engine == "PostgreSQL":
        if config.ceiling:
            return (path, batch) in POSTGRES_CEILING_CELLS
        return path == workload.BALANCE or (path == workload.COMMIT and batch in POSTGRES_BATCHES)
    if config.ceiling:
        return (path, batch) in SQLITE_CEILING_CELLS
    return True


@dataclass(frozen=True, slots=True)
class Size:
    server: str
    method: str
    batch: int
    floor_bytes: int
    real_bytes: int
    #: Why the server did not answer (columns only: ``status_text``), else "".
    error: str = ""


def status_text(error: grpc.RpcError) -> str:
    """A failed call's status: ``CODE: details``."""
    if isinstance(error, grpc.Call):
        return f"{error.code().name}: {error.details()}"
    return str(error)


def compare_responses(
    floor: str,
    real: str,
    batches: Sequence[int],
    tag: str,
    caller: int,
    name: str,
    quote: bool = True,
    balance: bool = True,
    columns: Sequence[str] = (),
) -> list[Size]:
    """One call of each kind to both servers: the floor must answer what the real server
    does (quotes byte for byte; commits and balances within a few bytes: ids and times).
    ``caller``: the number in the commits' ids, new for each server of a database;
    ``quote``, ``balance``: whether to compare those (the ceiling has no GetBalance);
    ``columns``: the methods to compare as columns too, at ``COLUMN_BATCHES``, as in rows
    (quotes byte for byte). A server that fails a columnar call is noted (``Size.error``),
    not a stop: its cells will fail and say so."""
    commits = workload.CommitRequests(tag, caller)
    commits.check(3)
    commits.check_columns(3)
    sizes = []
    with grpc.insecure_channel(floor) as floor_channel, grpc.insecure_channel(real) as channel:

        def both(path: str, data: bytes) -> tuple[bytes, bytes]:
            answers = []
            for target in (floor_channel, channel):
                call = target.unary_unary(path, request_serializer=None, response_deserializer=None)
                answers.append(call(data, timeout=loadgen.CALL_TIMEOUT))
            return answers[0], answers[1]

        for batch in batches:
            if quote:
                floor_answer, real_answer = both(workload.QUOTE, workload.quote_request(batch))
                if floor_answer != real_answer:
                    raise AssertionError(f"the floor's Quote of {batch} differs from {name}'s")
                sizes.append(Size(name, "Quote", batch, len(floor_answer), len(real_answer)))
            floor_answer, real_answer = both(workload.COMMIT, commits.next(batch))
            sizes.append(Size(name, "CommitCharges", batch, len(floor_answer), len(real_answer)))
        for path in columns:
            for batch in COLUMN_BATCHES[path]:
                if batch not in batches:
                    continue
                if path == workload.QUOTE:
                    data = workload.quote_columns_request(batch)
                else:
                    data = commits.next_columns(batch)
                method = f"{METHODS[path]} (columns)"
                floor_answer = floor_channel.unary_unary(
                    path, request_serializer=None, response_deserializer=None
                )(data, timeout=loadgen.CALL_TIMEOUT)
                try:
                    real_answer = channel.unary_unary(
                        path, request_serializer=None, response_deserializer=None
                    )(data, timeout=loadgen.CALL_TIMEOUT)
                except grpc.RpcError as error:
                    sizes.append(
                        Size(name, method, batch, len(floor_answer), 0, status_text(error))
                    )
                    continue
                if path == workload.QUOTE and floor_answer != real_answer:
                    raise AssertionError(f"the floor's {method} of {batch} differs from {name}'s")
                sizes.append(Size(name, method, batch, len(floor_answer), len(real_answer)))
        if balance:
            floor_answer, real_answer = both(workload.BALANCE, workload.balance_request(0))
            sizes.append(Size(name, "GetBalance", 1, len(floor_answer), len(real_answer)))
    for size in sizes:
        if size.error:
            continue
        if abs(size.floor_bytes - size.real_bytes) > max(16, size.real_bytes // 50):
            raise AssertionError(f"the floor's response differs in size from {name}'s: {size}")
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


def callers_text(concurrency: int) -> str:
    return f"{concurrency} caller{'s' if concurrency > 1 else ''}"


def table(rows: Sequence[Row], configs: Sequence[Config]) -> str:
    """One line per cell and configuration measured in it, the floor first; a
    configuration that failed the cell says "error" (``failures`` says why)."""
    lines = [
        "| call | batch | callers | server | calls | items/s | x floor | p50 ms | x floor "
        "| p99 ms | x floor | server CPU | db CPU | callers CPU |",
        "|" + "---|" * 14,
    ]
    for row in rows:
        floor = row.figures.get("floor")
        for config in configs:
            cell = [
                row.method,
                "-" if row.path == workload.BALANCE else f"{row.batch:,}",
                str(row.concurrency),
                config.label,
            ]
            figures = row.figures.get(config.key)
            if config.key in row.errors:
                cell += ["error", *["-"] * 9]
            elif figures is not None:
                cell += [
                    f"{figures.calls:,}",
                    number(figures.items_per_second),
                    "-" if floor is None else ratio(throughput_ratio(figures, floor)),
                    millis(figures.p50_ms),
                    "-" if floor is None else ratio(figures.p50_ms / floor.p50_ms),
                    millis(figures.p99_ms),
                    "-" if floor is None else ratio(p99_ratio(figures, floor)),
                    f"{figures.server_cores:.2f}",
                    "-" if figures.database_cores is None else f"{figures.database_cores:.2f}",
                    f"{figures.client_cores:.2f}",
                ]
            else:
                continue
            lines.append("| " + " | ".join(cell) + " |")
    return "\n".join(lines)


def failures(rows: Sequence[Row], labels: dict[str, str]) -> list[str]:
    """Each cell a configuration failed, and why."""
    return [
        f"- {row.method} {row.batch:,} x{row.concurrency}, {labels[key]}: {message}"
        for row in rows
        for key, message in row.errors.items()
    ]


@dataclass(frozen=True, slots=True)
class Target:
    """One verdict: ``server``'s figure over ``base``'s in the cells of (path, batch),
    at every concurrency measured, against ``bound``; ``server`` measured in the cells
    of the items as columns with ``columns``, ``base`` with ``base_columns`` (by default
    the same cells)."""

    text: str
    path: str
    batch: int
    server: str  # Config.key
    base: str  # Config.key
    latency: bool  # p99 (at most bound) rather than items/s (at least bound)
    bound: float
    #: Another configuration whose ratio to ``base`` is shown for reference (to itself
    #: in the base's cells, when the target compares a server with itself).
    also: str | None = None
    #: Read the absolute items/s beside Lago's published figure.
    lago: bool = False
    columns: bool = False
    base_columns: bool | None = None

    @property
    def base_form(self) -> bool:
        return self.columns if self.base_columns is None else self.base_columns


def targets(workers: int) -> list[Target]:
    """The row-wise targets 1 to 4 (6 is ``ceiling_verdict``; 5 is bench-scale's), judged
    on docs/operations.md's configuration for the machine: on SQLite ``serve --workers N``, on
    PostgreSQL each node count."""
    deployed = "sqlite-workers" if workers > 1 else "sqlite"
    other = "sqlite" if workers > 1 else None
    on = f"`serve --workers {workers}`" if workers > 1 else "one process"
    found = [
        Target(
            f"1. SQLite CommitCharges@1000 (durable, {on}): items/s at least 0.5x the "
            "SQLite ceiling's",
            workload.COMMIT,
            1000,
            deployed,
            "sqlite-ceiling",
            False,
            0.5,
            also=other,
        ),
    ]
    found += [
        Target(
            f"2. PostgreSQL CommitCharges@1000 (synchronous_commit on, {nodes}): items/s "
            f"at least 0.5x the PostgreSQL ceiling's ({nodes})",
            workload.COMMIT,
            1000,
            f"pg-{count}",
            f"pg-ceiling-{count}",
            False,
            0.5,
            lago=True,
        )
        for count, nodes in ((1, "1 node"), (2, "2 nodes"))
    ]
    found.append(
        Target(
            f"3. SQLite CommitCharges of one item ({on}): p99 at most 1.5x the SQLite ceiling's",
            workload.COMMIT,
            1,
            deployed,
            "sqlite-ceiling",
            True,
            1.5,
            also=other,
        )
    )
    found += [
        Target(
            f"3. PostgreSQL CommitCharges of one item ({nodes}): p99 at most 1.5x the "
            f"PostgreSQL ceiling's ({nodes})",
            workload.COMMIT,
            1,
            f"pg-{count}",
            f"pg-ceiling-{count}",
            True,
            1.5,
        )
        for count, nodes in ((1, "1 node"), (2, "2 nodes"))
    ]
    found += [
        Target(
            f"4. Quote@1000 ({on}): items/s at least 0.9x the ceiling's",
            workload.QUOTE,
            1000,
            deployed,
            "sqlite-ceiling",
            False,
            0.9,
            also=other,
        ),
        Target(
            f"4. Quote of one item ({on}): p99 at most 1.5x the floor's",
            workload.QUOTE,
            1,
            deployed,
            "floor",
            True,
            1.5,
            also=other,
        ),
    ]
    return found


def column_targets(workers: int) -> tuple[list[Target], list[Target]]:
    """The targets of columns: 7, then 9 and 10 (8, the columnar floor, has no target yet:
    ``columnar_floor_report``), on the configurations ``targets`` judges."""
    deployed = "sqlite-workers" if workers > 1 else "sqlite"
    other = "sqlite" if workers > 1 else None
    on = f"`serve --workers {workers}`" if workers > 1 else "one process"
    seven = Target(
        f"7. Quote of 10,000 items as columns ({on}): items/s at least 1.0x the row-wise "
        "floor's (the same items as repeated UsageItem)",
        workload.QUOTE,
        10_000,
        deployed,
        "floor",
        False,
        1.0,
        also=other,
        columns=True,
        base_columns=False,
    )
    nine = Target(
        f"9. Quote of 1,000 items as columns ({on}): items/s at least 0.6x the row-wise floor's",
        workload.QUOTE,
        1000,
        deployed,
        "floor",
        False,
        0.6,
        also=other,
        columns=True,
        base_columns=False,
    )
    ten = [
        Target(
            f"10. SQLite CommitCharges of 1,000 items as columns (durable, {on}): items/s "
            "at least 1.5x its row-wise CommitCharges@1000's",
            workload.COMMIT,
            1000,
            deployed,
            deployed,
            False,
            1.5,
            also=other,
            columns=True,
            base_columns=False,
        )
    ]
    ten += [
        Target(
            f"10. PostgreSQL CommitCharges of 1,000 items as columns (synchronous_commit on, "
            f"{nodes}): items/s at least 1.5x its row-wise CommitCharges@1000's",
            workload.COMMIT,
            1000,
            f"pg-{count}",
            f"pg-{count}",
            False,
            1.5,
            columns=True,
            base_columns=False,
        )
        for count, nodes in ((1, "1 node"), (2, "2 nodes"))
    ]
    return [seven], [nine, *ten]


def _value(target: Target, server: Figures, base: Figures) -> float:
    return p99_ratio(server, base) if target.latency else throughput_ratio(server, base)


def _absolute(target: Target, figures: Figures) -> str:
    return (
        f"{millis(figures.p99_ms)} ms" if target.latency else f"{number(figures.items_per_second)}"
    )


def verdict(target: Target, rows: Sequence[Row], labels: dict[str, str]) -> str:
    """PASS when the target holds at every concurrency measured; per concurrency the
    ratio, then the absolute figures (server vs base). ERROR when a cell it needs failed
    (the first failure's message follows)."""
    parts = []
    errors = []
    held = True
    also = []
    for row in rows:
        if (row.path, row.batch, row.columns) != (target.path, target.batch, target.columns):
            continue
        base_row = find_row(rows, row.path, row.batch, target.base_form, row.concurrency)
        if base_row is None or not row.has(target.server) or not base_row.has(target.base):
            continue
        error = row.errors.get(target.server) or base_row.errors.get(target.base)
        if error:
            errors.append(error)
            parts.append(f"failed with {callers_text(row.concurrency)}")
            continue
        server, base = row.figures[target.server], base_row.figures[target.base]
        value = _value(target, server, base)
        held &= value <= target.bound if target.latency else value >= target.bound
        unit = "p99" if target.latency else "items/s"
        parts.append(
            f"{ratio(value)} with {callers_text(row.concurrency)} ({unit} "
            f"{_absolute(target, server)} vs {_absolute(target, base)})"
        )
        if target.also is not None:
            # A server against itself in other cells: the other configuration likewise.
            also_base = target.also if target.base == target.server else target.base
            if target.also in row.figures and also_base in base_row.figures:
                also.append(
                    ratio(_value(target, row.figures[target.also], base_row.figures[also_base]))
                )
    if not parts:
        return f"- NOT MEASURED {target.text}"
    status = "ERROR" if errors else "PASS" if held else "FAIL"
    line = f"- {status} {target.text}: " + ", ".join(parts)
    if also and target.also is not None:
        line += f" ({labels[target.also]}: {' / '.join(also)})"
    if target.lago:
        line += f"; Lago publishes about {LAGO_EVENTS_PER_SECOND:,} events/s on one PostgreSQL"
    if errors:
        line += f"; {brief(errors[0])}"
    return line


def brief(message: str, limit: int = 300) -> str:
    """A failure's message, cut short for a line of the report."""
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def columnar_floor_report(rows: Sequence[Row], configs: Sequence[Config]) -> list[str]:
    """Item 8 (no target yet): per columnar cell, the columnar floor's items/s, its ratio
    to the row-wise floor's (the same items), and each server's ratio to it."""
    lines = []
    for row in rows:
        if not row.columns or not row.has("floor"):
            continue
        cell = f"{METHODS[row.path]}@{row.batch:,} as columns, {callers_text(row.concurrency)}"
        floor = row.figures.get("floor")
        if floor is None:
            lines.append(f"  - {cell}: the columnar floor failed: {brief(row.errors['floor'])}")
            continue
        text = f"  - {cell}: the columnar floor {number(floor.items_per_second)} items/s"
        rowwise = find_row(rows, row.path, row.batch, False, row.concurrency)
        if rowwise is not None and "floor" in rowwise.figures:
            text += f" ({ratio(throughput_ratio(floor, rowwise.floor))} the row-wise floor's)"
        servers = []
        for config in configs:
            if config.key == "floor" or not row.has(config.key):
                continue
            figures = row.figures.get(config.key)
            servers.append(
                f"{config.label} "
                + ("failed" if figures is None else ratio(throughput_ratio(figures, floor)))
            )
        if servers:
            text += "; the service as columns, x the columnar floor: " + ", ".join(servers)
        lines.append(text)
    if not lines:
        return ["- NOT MEASURED 8. the columnar floor"]
    return [
        "- REPORTED 8. The columnar floor (the null server parsing the columns and answering "
        "the same lines as RatedColumns), no target yet:",
        *lines,
    ]


def ceiling_verdict(rows: Sequence[Row], configs: Sequence[Config]) -> list[str]:
    """Target 6: every ceiling cell's ratio to the floor, per concurrency. The responses
    were checked against the floor's before measuring (``compare_responses``: the run
    stops if they differ)."""
    lines = []
    for config in configs:
        if not config.ceiling:
            continue
        cells: dict[tuple[str, int], list[str]] = {}
        for row in rows:
            figures = row.figures.get(config.key)
            if figures is not None:
                cells.setdefault((row.method, row.batch), []).append(
                    f"{ratio(throughput_ratio(figures, row.floor))} items/s and "
                    f"{ratio(p99_ratio(figures, row.floor))} p99 with "
                    f"{callers_text(row.concurrency)}"
                )
        lines += [
            f"  - {config.label}, {method}@{batch:,}: {', '.join(found)}"
            for (method, batch), found in cells.items()
        ]
    if not lines:
        return ["- NOT MEASURED 6. the ceiling's ratio to the floor"]
    return [
        "- PASS 6. The ceiling answers the floor's bytes (checked this run, every engine and "
        "node); its ratio to the floor:",
        *lines,
    ]


def ceiling_section(rows: Sequence[Row], configs: Sequence[Config], workers: int) -> list[str]:
    """Each ceiling against the floor and against the configuration judged beside it."""
    beside = {
        "sqlite-ceiling": "sqlite-workers" if workers > 1 else "sqlite",
        "pg-ceiling-1": "pg-1",
        "pg-ceiling-2": "pg-2",
    }
    labels = {config.key: config.label for config in configs}
    lines = [
        "## The ceiling: the least a server in Python can do",
        "",
        "`bench/ceiling_server.py` does only the per-item work no rating server in Python "
        "can skip: it reads each item's fields, finds its price in a dict, rounds, writes "
        "the line's bytes, and for a commit stores each line into one table (SQLite: keyed "
        "by usage_id, synchronous=FULL; PostgreSQL: keyed by (account_id, usage_id), "
        "synchronous_commit on, binary COPY, a single line in one statement) with the "
        "request_id row, in one durable transaction per request. No rule is checked and no "
        "account funded; it answers what the floor answers. On SQLite it runs as "
        f"{workers} process{'es' if workers > 1 else ''} on one port, as the real server's "
        "workers do; on PostgreSQL as 1 and as 2 nodes, as the real server does. What it "
        "reaches bounds what any server in Python can reach on this machine.",
        "",
        "| ceiling | call | batch | callers | floor items/s | ceiling items/s | x floor "
        "| server | items/s | x ceiling | floor p99 ms | ceiling p99 ms | x floor "
        "| server p99 ms | x ceiling |",
        "|" + "---|" * 15,
    ]
    for config in configs:
        if not config.ceiling:
            continue
        for row in rows:
            top = row.figures.get(config.key)
            if top is None:
                continue
            floor = row.floor
            server = row.figures.get(beside[config.key])
            lines.append(
                "| "
                + " | ".join(
                    [
                        config.label,
                        row.method,
                        f"{row.batch:,}",
                        str(row.concurrency),
                        number(floor.items_per_second),
                        number(top.items_per_second),
                        ratio(throughput_ratio(top, floor)),
                        labels[beside[config.key]],
                        number(server.items_per_second) if server else "-",
                        ratio(throughput_ratio(server, top)) if server else "-",
                        millis(floor.p99_ms),
                        millis(top.p99_ms),
                        ratio(p99_ratio(top, floor)),
                        millis(server.p99_ms) if server else "-",
                        ratio(p99_ratio(server, top)) if server else "-",
                    ]
                )
                + " |"
            )
    return lines


#: How each configuration is drawn: (colour, line style).
STYLES = {
    "floor": ("black", ":"),
    "sqlite": ("tab:blue", "-"),
    "sqlite-workers": ("tab:cyan", "-."),
    "sqlite-ceiling": ("tab:green", "--"),
    "pg-1": ("tab:red", "-"),
    "pg-2": ("tab:orange", "-."),
    "pg-ceiling-1": ("tab:purple", "--"),
    "pg-ceiling-2": ("tab:pink", "--"),
}


def plot(rows: Sequence[Row], configs: Sequence[Config], path: Path) -> None:
    """Items/s against batch size: a row of panels per engine (SQLite: Quote and
    CommitCharges; PostgreSQL: CommitCharges), a column per concurrency; the items sent
    as columns are the thick lines with square (Quote) and diamond (CommitCharges)
    markers, the floor's being the columnar floor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    concurrencies = sorted({row.concurrency for row in rows})
    engines = ["SQLite"]
    if any(config.engine == "PostgreSQL" for config in configs):
        engines.append("PostgreSQL")
    figure, axes = plt.subplots(
        len(engines),
        len(concurrencies),
        figsize=(6.5 * len(concurrencies) + 3.2, 4.8 * len(engines)),
        sharey=True,
        squeeze=False,
    )
    methods = {
        "SQLite": ((workload.QUOTE, "Quote", 0.55), (workload.COMMIT, "CommitCharges", 1.0)),
        "PostgreSQL": ((workload.COMMIT, "CommitCharges", 1.0),),
    }
    for line, engine in enumerate(engines):
        shown = [config for config in configs if config.engine in ("", engine)]
        for axis, concurrency in zip(axes[line], concurrencies, strict=True):
            for (method, name, alpha), columns, config in itertools.product(
                methods[engine], (False, True), shown
            ):
                points = sorted(
                    (row.batch, row.figures[config.key].items_per_second)
                    for row in rows
                    if row.path == method
                    and row.columns == columns
                    and row.concurrency == concurrency
                    and config.key in row.figures
                )
                if not points:
                    continue
                colour, style = STYLES.get(config.key, ("gray", "-"))
                xs, ys = zip(*points, strict=True)
                markers = ("D", "s") if columns else ("o", "^")
                axis.plot(
                    xs,
                    ys,
                    style,
                    marker=markers[0] if method == workload.COMMIT else markers[1],
                    linewidth=2.4 if columns else 1.5,
                    color=colour,
                    alpha=alpha,
                    label=f"{name}{' as columns' if columns else ''}, {config.label}",
                )
            if engine == "PostgreSQL":
                axis.axhline(
                    LAGO_EVENTS_PER_SECOND, color="gray", linewidth=0.8, label="Lago (published)"
                )
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.set_xlabel("batch size (items per call)")
            axis.set_title(f"{engine}, {callers_text(concurrency)}")
            axis.grid(True, which="both", alpha=0.3)
        axes[line][0].set_ylabel("items/s")
        # Beside the panels: with the columnar lines, inside one it would hide the lines.
        axes[line][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="x-small")
    figure.suptitle(
        "Rating service against the gRPC floor and the ceiling (loopback, shared cores)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


@dataclass(slots=True)
class Run:
    """What a run measured and what it saw on the way."""

    rows: list[Row] = field(default_factory=list)
    configs: list[Config] = field(default_factory=list)
    sizes: list[Size] = field(default_factory=list)
    rss: dict[str, float] = field(default_factory=dict)
    postgres: str = ""  # the PostgreSQL half: its version, or why it was skipped


def report(run: Run, plan: Plan, args: argparse.Namespace, elapsed: float) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    labels = {config.key: config.label for config in run.configs}
    before, after = column_targets(args.workers)
    failed = failures(run.rows, labels)
    has_postgres = any(config.engine == "PostgreSQL" for config in run.configs)
    late = [
        f"{row.method} {row.batch:,} x{row.concurrency} {labels[key]} ({figures.built_late})"
        for row in run.rows
        for key, figures in row.figures.items()
        if figures.built_late
    ]
    command = "python bench/run.py" + " ".join(["", *(args.argv or [])])
    lines = [
        "# Rating service benchmark",
        "",
        f"Run {now}{' (quick)' if args.quick else ''}, `{command}`, in {elapsed:.0f} s.",
        "",
        *(f"- {fact}" for fact in machine_facts()),
        f"- PostgreSQL: {run.postgres}",
        f"- real server: `python -m rating_server`, a fresh database with the seed catalog and "
        f"{len(workload.ACCOUNTS)} accounts with a pack. SQLite (synchronous=FULL): as one "
        "process"
        + (
            f" and, on a database of its own, as `serve --workers {args.workers}` (processes "
            "sharing one port and one database); the targets are judged on the workers"
            if args.workers > 1
            else ""
        )
        + (
            ". PostgreSQL (synchronous_commit on, a throwaway cluster on this machine): as 1 "
            "node and as 2 nodes (two `serve` processes on their own ports, one database, "
            "caller i calling node i % 2); the targets are judged on each"
            if has_postgres
            else ""
        )
        + ". Floor: `bench/null_server.py` (one process, same protos, requests parsed, "
        "responses of the same shape and size, no logic); a request of columns "
        "(UsageColumns) it answers with columns (RatedColumns): the columnar floor",
        f"- callers: {args.client_processes} client processes, one channel each caller, "
        f"pre-built requests; per cell {plan.warmup:g} s warm-up then {plan.seconds:g} s "
        f"(at least {plan.min_calls} calls per caller; cells of columns "
        f"{plan.columns_seconds:g} s); every commit has a new request_id and new usage_ids; "
        "a cell of columns sends the items of the same cell of rows",
        "",
        "## Targets",
        "",
        *(verdict(target, run.rows, labels) for target in targets(args.workers)),
        *ceiling_verdict(run.rows, run.configs),
        *(verdict(target, run.rows, labels) for target in before),
        *columnar_floor_report(run.rows, run.configs),
        *(verdict(target, run.rows, labels) for target in after),
        "",
        "## Results",
        "",
        table(run.rows, run.configs),
        "",
        *(["Cells that failed:", "", *failed, ""] if failed else []),
        "items/s: items per second over all callers (GetBalance: calls per second); "
        "x floor: the figure over the floor's in the same cell (items/s: higher is better; "
        "latency: lower is better); in a cell of columns, the columnar floor's. p99 over "
        "fewer than 100 calls is their maximum. server "
        "CPU: cores the server's processes (all its nodes) used while measured; db CPU: "
        "cores PostgreSQL's processes used; callers CPU: cores the client processes used "
        f"(all of them share the {os.cpu_count()} CPUs).",
        "",
        "Peak RSS: "
        + ", ".join(f"{labels[key]} {mb:.0f} MB" for key, mb in run.rss.items())
        + " (the largest process of each).",
        "",
        "![items/s against batch size](throughput.png)",
        "",
        *ceiling_section(run.rows, run.configs, args.workers),
        "",
        "## Response sizes (bytes, one call each)",
        "",
        "| server | call | batch | floor | server |",
        "|---|---|---|---|---|",
        *(
            f"| {s.server} | {s.method} | {'-' if s.method == 'GetBalance' else f'{s.batch:,}'} "
            f"| {s.floor_bytes:,} | {served(s)} |"
            for s in run.sizes
        ),
    ]
    if late:
        lines += [
            "",
            "Commit requests built while measured (pre-built ones ran out): " + ", ".join(late),
        ]
    return "\n".join(lines) + "\n"


def served(size: Size) -> str:
    """The server's answer's size, or why it did not answer."""
    return f"error: {brief(size.error, 120)}" if size.error else f"{size.real_bytes:,}"


def numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


class Bench:
    """The servers of a run, started and stopped together (also on an error)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.servers: list[Server] = []
        self.postgres: Postgres | None = None

    def start(self, server: Callable[[], Server]) -> Server:
        started = server()
        self.servers.append(started)
        return started

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        if self.postgres is not None:
            self.postgres.stop()


@contextmanager
def bench(work: Path) -> Iterator[Bench]:
    servers = Bench(work)
    try:
        yield servers
    finally:
        servers.close()


def start_sqlite(run: Run, servers: Bench, workers: int) -> None:
    work = servers.work
    db = work / "bench.db"
    prepare_database(db)
    run.configs.append(
        Config(
            "sqlite",
            "SQLite, one process",
            "SQLite",
            (servers.start(lambda: serve(db, work / "server.log")),),
            accounts=True,
        )
    )
    if workers > 1:
        pool_db = work / "workers.db"
        prepare_database(pool_db)
        pool = servers.start(
            lambda: serve(pool_db, work / "workers.log", workers, "rating-server --workers")
        )
        run.configs.append(
            Config("sqlite-workers", f"SQLite, {workers} workers", "SQLite", (pool,), accounts=True)
        )
    top = servers.start(lambda: ceiling(work / "ceiling.db", work / "ceiling.log", workers))
    run.configs.append(Config("sqlite-ceiling", "SQLite ceiling", "SQLite", (top,), ceiling=True))


def start_postgres(run: Run, servers: Bench) -> None:
    """The PostgreSQL half's cluster, databases and servers (2 nodes of each)."""
    work = servers.work
    postgres = servers.postgres = Postgres()
    run.postgres = f"PostgreSQL {postgres.version()} (synchronous_commit on, fsync on)"
    url = postgres.database("bench")
    prepare_database(url)
    nodes = tuple(
        servers.start(lambda n=n: serve(url, work / f"pg-node-{n}.log", name=f"rating-server {n}"))
        for n in (1, 2)
    )
    ceiling_url = postgres.database("ceiling")
    tops = tuple(
        servers.start(
            lambda n=n: ceiling(ceiling_url, work / f"pg-ceiling-{n}.log", name=f"ceiling {n}")
        )
        for n in (1, 2)
    )
    used = postgres.cpu_seconds
    run.configs += [
        Config(
            "pg-1",
            "PostgreSQL, 1 node",
            "PostgreSQL",
            nodes[:1],
            database_cpu=used,
            accounts=True,
        ),
        Config("pg-2", "PostgreSQL, 2 nodes", "PostgreSQL", nodes, database_cpu=used),
        Config(
            "pg-ceiling-1",
            "PostgreSQL ceiling, 1 node",
            "PostgreSQL",
            tops[:1],
            ceiling=True,
            database_cpu=used,
        ),
        Config(
            "pg-ceiling-2",
            "PostgreSQL ceiling, 2 nodes",
            "PostgreSQL",
            tops,
            ceiling=True,
            database_cpu=used,
        ),
    ]


def check_responses(run: Run, floor: Server, plan: Plan, tag: str) -> None:
    """Every server node against the floor, each node's commits with ids of its own."""
    checked: set[Server] = set()
    caller = 99
    for config in run.configs:
        if config.key == "floor":
            continue
        for node in config.nodes:
            if node in checked:
                continue
            checked.add(node)
            batches = plan.batches
            if config.engine == "PostgreSQL":
                batches = tuple(b for b in batches if b in POSTGRES_BATCHES) or plan.batches
            columns = [
                path
                for path in (workload.QUOTE, workload.COMMIT)
                if any(
                    measured_in(config, path, b, columns=True) for b in column_batches(plan, path)
                )
            ]
            run.sizes += compare_responses(
                floor.address,
                node.address,
                batches,
                tag,
                caller,
                f"{config.label}" + (f" ({node.name})" if len(config.nodes) > 1 else ""),
                quote=config.engine != "PostgreSQL",
                balance=not config.ceiling,
                columns=columns,
            )
            caller -= 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a reduced matrix, for a smoke test")
    parser.add_argument(
        "--seconds", type=float, help="measured seconds per cell (those of columns too)"
    )
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
    parser.add_argument(
        "--forms",
        help="request forms measured, comma-separated: rows (repeated UsageItem), "
        "columns (UsageColumns) (default: rows,columns)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL half")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="results folder")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    plan = QUICK if args.quick else FULL
    if args.seconds:
        plan = dataclasses.replace(plan, seconds=args.seconds, columns_seconds=args.seconds)
    if args.batches:
        plan = dataclasses.replace(plan, batches=numbers(args.batches))
    if args.concurrency:
        plan = dataclasses.replace(plan, concurrency=numbers(args.concurrency))
    if args.forms:
        forms = tuple(form.strip() for form in args.forms.split(",") if form.strip())
        if not forms or set(forms) - set(FORMS):
            parser.error(f"--forms: one or more of {', '.join(FORMS)}")
        plan = dataclasses.replace(plan, forms=forms)
    started = time.monotonic()
    tag = secrets.token_hex(4)
    run = Run()
    missing = "--no-postgres" if args.no_postgres else postgres_missing()
    if missing:
        run.postgres = f"skipped: {missing}"
        print(f"PostgreSQL half skipped: {missing}", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="rating-bench-") as folder,
        bench(Path(folder)) as servers,
    ):
        work = servers.work
        callers: loadgen.Callers | None = None
        try:
            floor = servers.start(
                lambda: Server(
                    "null-server",
                    [str(BENCH / "null_server.py"), "--listen", "127.0.0.1:0"],
                    work / "null.log",
                )
            )
            run.configs.append(Config("floor", "floor", "", (floor,)))
            start_sqlite(run, servers, args.workers)
            if not missing:
                start_postgres(run, servers)
            for config in run.configs:
                if config.accounts:
                    create_accounts(config.nodes[0].address)
            check_responses(run, floor, plan, tag)
            callers = loadgen.Callers(args.client_processes, tag)
            for config in run.configs:
                callers.connect(config.targets, max(plan.concurrency))
            print(
                ", ".join(f"{config.label} {' '.join(config.targets)}" for config in run.configs)
                + f"; {len(cells(plan))} cells",
                flush=True,
            )
            for path, batch, concurrency, columns in cells(plan):
                row = Row(path, batch, concurrency, columns)
                for config in run.configs:
                    if measured_in(config, path, batch, columns):
                        try:
                            row.figures[config.key] = measure(
                                callers, config, path, batch, concurrency, plan, columns
                            )
                        except loadgen.CallerError as error:
                            row.errors[config.key] = str(error)
                run.rows.append(row)
                print(
                    f"{row.method:>23} batch {batch:>6,} callers {concurrency}: "
                    + "; ".join(
                        f"{config.label} {number(f.items_per_second)}/s p99 {millis(f.p99_ms)} ms"
                        if (f := row.figures.get(config.key)) is not None
                        else f"{config.label} error ({brief(row.errors[config.key], 160)})"
                        for config in run.configs
                        if row.has(config.key)
                    ),
                    flush=True,
                )
            run.rss = {config.key: config.peak_rss_mb() for config in run.configs}
        finally:
            if callers is not None:
                callers.close()
    args.out.mkdir(parents=True, exist_ok=True)
    plot(run.rows, run.configs, args.out / "throughput.png")
    elapsed = time.monotonic() - started
    text = report(run, plan, args, elapsed)
    (args.out / "results.md").write_text(text)
    print()
    print(text)
    print(f"wrote {args.out / 'results.md'} and {args.out / 'throughput.png'}")
    print(f"total time {elapsed:.1f} s")
    failed = sum(len(row.errors) for row in run.rows)
    if failed:
        print(f"{failed} cell(s) failed: see 'Cells that failed' in the results", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
