"""The callers: client processes that send pre-built request bytes and time each call.

The client must not be what is measured, so it does as little as it can: requests are
bytes built before the clock starts, responses stay bytes (``unary_unary`` with no
serializer), and callers are spread over processes (one gRPC channel, and so one TCP
connection, per caller; threads within a process) so that no single GIL holds them up.

``Callers`` (in the bench's process) drives the processes through pipes, one phase at a
time, all processes together: warm up, pre-build the measured requests, measure. A call
that fails (a server answering UNIMPLEMENTED, say) fails its cell with ``CallerError``,
naming the call and its status; every process is then ready for the next cell.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import grpc
import workload

from rating.options import MAX_MESSAGE_BYTES

#: Seconds a process waits for a channel to connect.
CONNECT_TIMEOUT = 10.0
#: Items per second each caller has pre-built commits for at least, whatever its
#: warm-up's pace: a warm-up slowed by the shared machine would leave too few.
PREBUILT_ITEMS_PER_SECOND = 2500
#: Deadline of one call, in seconds (a 10,000-item commit on a busy machine fits).
CALL_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class Cell:
    """What to call: a method with ``batch`` items per request, on ``targets`` (the
    addresses of a server's nodes: caller ``i`` calls ``targets[i % len(targets)]``);
    ``columns``: the items as columns (UsageColumns) rather than repeated UsageItem."""

    targets: tuple[str, ...]
    path: str
    batch: int  # items per request; 1 for GetBalance
    columns: bool = False

    def target(self, caller: int) -> str:
        return self.targets[caller % len(self.targets)]

    def __str__(self) -> str:
        method = self.path.rsplit("/", 1)[-1]
        return f"{method} of {self.batch:,}{' as columns' if self.columns else ''}"


class CallFailedError(Exception):
    """A call of a cell failed; the message names the cell, the node and the status."""

    @classmethod
    def of(cls, cell: Cell, target: str, error: BaseException) -> CallFailedError:
        if isinstance(error, grpc.RpcError) and isinstance(error, grpc.Call):
            status = f"{error.code().name}: {error.details()}"
        else:
            status = f"{type(error).__name__}: {error}"
        return cls(f"{cell} to {target}: {status}")


@dataclass(slots=True)
class CallerResult:
    latencies: list[float] = field(default_factory=list)
    items: int = 0
    end: float = 0.0
    #: Requests built while measuring because the pre-built ones ran out (should be 0).
    built_late: int = 0


@dataclass(frozen=True, slots=True)
class Measurement:
    """One cell, measured: every caller's calls between ``start`` and ``end``."""

    latencies: list[float]
    items: int
    start: float
    end: float
    client_cpu_seconds: float
    built_late: int

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds

    def percentile_ms(self, fraction: float) -> float:
        """Nearest-rank percentile of the call latencies, in milliseconds."""
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(fraction * len(ordered)))
        return ordered[rank - 1] * 1000


# The processes


class _Process:
    """State of one client process: its channels, request sources and pre-built pools."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.channels: dict[tuple[str, int], grpc.Channel] = {}
        self.commits: dict[int, workload.CommitRequests] = {}
        self.quotes: dict[tuple[int, bool], bytes] = {}
        self.pools: dict[int, list[bytes]] = {}

    def channel(self, target: str, caller: int) -> grpc.Channel:
        channel = self.channels.get((target, caller))
        if channel is None:
            channel = grpc.insecure_channel(
                target,
                options=[
                    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                    # Its own subchannel pool: channels to one target otherwise share one
                    # connection, and the callers would not be independent.
                    ("grpc.use_local_subchannel_pool", 1),
                ],
            )
            grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT)
            self.channels[(target, caller)] = channel
        return channel

    def _commit_source(self, caller: int) -> workload.CommitRequests:
        source = self.commits.get(caller)
        if source is None:
            source = self.commits[caller] = workload.CommitRequests(self.tag, caller)
        return source

    def _commit(self, cell: Cell, caller: int) -> bytes:
        source = self._commit_source(caller)
        return source.next_columns(cell.batch) if cell.columns else source.next(cell.batch)

    def request(self, cell: Cell, caller: int, result: CallerResult) -> Callable[[], bytes]:
        """A function returning the next request's bytes: commits take the pre-built ones
        (new ids every time) and, should those run out, build more (counted)."""
        if cell.path == workload.COMMIT:
            pool = self.pools.get(caller, [])

            def next_commit() -> bytes:
                if pool:
                    return pool.pop()
                result.built_late += 1
                return self._commit(cell, caller)

            return next_commit
        if cell.path == workload.QUOTE:
            data = self.quotes.get((cell.batch, cell.columns))
            if data is None:
                build = workload.quote_columns_request if cell.columns else workload.quote_request
                data = self.quotes[cell.batch, cell.columns] = build(cell.batch)
        else:
            data = workload.balance_request(caller)
        return lambda: data

    def prepare(self, cell: Cell, counts: dict[int, int]) -> None:
        """Pre-build the commit requests each caller will send while measured (and drop
        what an earlier cell left)."""
        for caller, count in counts.items():
            built: list[bytes] = []
            if cell.path == workload.COMMIT:
                built = [self._commit(cell, caller) for _ in range(count)]
            self.pools[caller] = built[::-1]

    def run(
        self, cell: Cell, callers: list[int], start: float, until: float, min_calls: int
    ) -> dict[int, CallerResult]:
        """Every caller on its own thread and channel, from ``start`` until ``until``
        (monotonic clock) and at least ``min_calls`` calls each."""
        results = {caller: CallerResult() for caller in callers}
        errors: list[BaseException] = []

        def call_loop(caller: int) -> None:
            result = results[caller]
            target = cell.target(caller)
            send = self.channel(target, caller).unary_unary(
                cell.path, request_serializer=None, response_deserializer=None
            )
            next_request = self.request(cell, caller, result)
            latencies = result.latencies
            clock = time.monotonic
            try:
                time.sleep(max(0.0, start - clock()))
                calls = 0
                while calls < min_calls or clock() < until:
                    data = next_request()
                    began = clock()
                    send(data, timeout=CALL_TIMEOUT)
                    latencies.append(clock() - began)
                    calls += 1
                result.items = calls * cell.batch
                result.end = clock()
            except BaseException as error:  # reported to the bench: the cell failed
                errors.append(CallFailedError.of(cell, target, error))

        threads = [threading.Thread(target=call_loop, args=(caller,)) for caller in callers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return results


def _serve(conn: Connection, tag: str) -> None:
    """A client process: obeys the bench's commands until told to stop."""
    process = _Process(tag)
    while True:
        command, *args = conn.recv()
        try:
            if command == "stop":
                for channel in process.channels.values():
                    channel.close()
                conn.send(("ok", None))
                return
            if command == "connect":
                targets, callers = args
                for caller in callers:
                    process.channel(targets[caller % len(targets)], caller)
                conn.send(("ok", None))
            elif command == "prepare":
                cell, counts = args
                process.prepare(cell, counts)
                conn.send(("ok", None))
            elif command == "run":
                cell, callers, start, until, min_calls = args
                cpu = time.process_time()
                results = process.run(cell, callers, start, until, min_calls)
                conn.send(("ok", (results, time.process_time() - cpu)))
            else:
                conn.send(("error", f"unknown command {command!r}"))
        except CallFailedError as error:
            conn.send(("error", str(error)))
        except Exception as error:
            conn.send(("error", f"{type(error).__name__}: {error}"))


class CallerError(RuntimeError):
    """A client process failed a call or a command; the message says which and why."""


@dataclass(frozen=True, slots=True)
class _Run:
    callers: dict[int, CallerResult]
    measurement: Measurement


class Callers:
    """``processes`` client processes; caller ``k`` lives in process ``k % processes``."""

    def __init__(self, processes: int, tag: str) -> None:
        context = multiprocessing.get_context("spawn")  # no gRPC state crosses a fork
        self._pipes: list[Connection] = []
        self._processes = []
        for number in range(processes):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_serve, args=(theirs, tag), name=f"caller-{number}", daemon=True
            )
            process.start()
            self._pipes.append(ours)
            self._processes.append(process)

    def _plan(self, concurrency: int) -> dict[int, list[int]]:
        """Which callers each process runs."""
        plan: dict[int, list[int]] = {}
        for caller in range(concurrency):
            plan.setdefault(caller % len(self._pipes), []).append(caller)
        return plan

    def _all(self, commands: dict[int, tuple[Any, ...]]) -> dict[int, Any]:
        """Send each process its command and read every answer (also after one fails: an
        answer left unread would be taken for the next command's)."""
        for number, command in commands.items():
            self._pipes[number].send(command)
        answers = {}
        failed = []
        for number in commands:
            status, value = self._pipes[number].recv()
            if status != "ok":
                failed.append(f"caller process {number}: {value}")
            answers[number] = value
        if failed:
            raise CallerError(failed[0])
        return answers

    def connect(self, targets: tuple[str, ...], concurrency: int) -> None:
        """Open each caller's channel to its node of ``targets`` (``Cell.target``)."""
        self._all(
            {n: ("connect", targets, callers) for n, callers in self._plan(concurrency).items()}
        )

    def measure(
        self,
        cell: Cell,
        concurrency: int,
        *,
        warmup: float,
        seconds: float,
        min_calls: int,
        on_start: Callable[[], None] = lambda: None,
    ) -> Measurement:
        """Warm up for ``warmup`` s, pre-build what the measured part needs by the warm-up
        rate, then measure for ``seconds`` (and ``min_calls`` per caller at least).
        ``on_start`` runs just before the measured part (to read the server's CPU)."""
        plan = self._plan(concurrency)
        self._all({n: ("prepare", cell, dict.fromkeys(callers, 0)) for n, callers in plan.items()})
        warm = self._run(plan, cell, warmup, 1)
        # Calls per second by the median call: a warm-up's first calls (a connection's,
        # a table's first write) are slow, and a mean would pre-build too few.
        rates = {
            caller: 1 / max(statistics.median(result.latencies), 1e-6)
            for caller, result in warm.callers.items()
        }
        self._all(
            {
                n: (
                    "prepare",
                    cell,
                    {
                        c: max(
                            math.ceil(rates[c] * seconds * 2),
                            math.ceil(PREBUILT_ITEMS_PER_SECOND * seconds / cell.batch),
                        )
                        + min_calls
                        for c in callers
                    },
                )
                for n, callers in plan.items()
            }
        )
        on_start()
        return self._run(plan, cell, seconds, min_calls).measurement

    def _run(self, plan: dict[int, list[int]], cell: Cell, seconds: float, min_calls: int) -> _Run:
        start = time.monotonic() + 0.05
        answers = self._all(
            {
                n: ("run", cell, callers, start, start + seconds, min_calls)
                for n, callers in plan.items()
            }
        )
        callers: dict[int, CallerResult] = {}
        cpu = 0.0
        for results, cpu_seconds in answers.values():
            callers.update(results)
            cpu += cpu_seconds
        measurement = Measurement(
            latencies=[latency for r in callers.values() for latency in r.latencies],
            items=sum(r.items for r in callers.values()),
            start=start,
            end=max(r.end for r in callers.values()),
            client_cpu_seconds=cpu,
            built_late=sum(r.built_late for r in callers.values()),
        )
        return _Run(callers, measurement)

    def close(self) -> None:
        with contextlib.suppress(CallerError, OSError, EOFError):
            self._all({n: ("stop",) for n in range(len(self._pipes))})
        for process in self._processes:
            process.join(5)
            if process.is_alive():
                process.kill()
