"""Several server processes on one port (``RATING_WORKERS``, ``serve --workers N``).

One Python process runs its RPCs under one GIL, so it uses one core however many
calls arrive at once. With N workers, N processes listen on the same port (Linux's
SO_REUSEPORT spreads the connections over them) and share the database: SQLite
serialises their write transactions, and the ledger's unique keys keep every usage
charged once whichever process commits it. Each worker has its own catalog cache and
groups only its own concurrent commits.

This process, the supervisor, claims the port (``ports.py``: no other server, of this
program or another, can then listen on it), starts the workers,
restarts one that dies, and on SIGTERM or SIGINT stops them all, each draining its
calls. A worker stops by itself if the supervisor dies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import sys
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from rating_server import logs, ports
from rating_server.config import Settings
from rating_server.ports import PortClaim
from rating_server.server import StartupError
from rating_server.serving import log_started, start_server
from rating_server.stopping import StopSignals

log = logging.getLogger("rating_server")

#: Seconds a worker gets to say it is serving.
START_TIMEOUT = 60.0
#: Seconds between two restarts of a worker that keeps dying.
RESTART_PAUSE = 1.0


@dataclasses.dataclass
class _Worker:
    index: int
    process: BaseProcess
    conn: Connection


def _metrics_listen(listen: str | None, index: int) -> str | None:
    """Worker ``index``'s metrics address: the configured port plus the index (port 0:
    a free port each)."""
    if not listen:
        return None
    host, _, port = listen.rpartition(":")
    return f"{host}:{int(port) + index}" if port.isdigit() and int(port) else listen


def _run_worker(settings: Settings, claim: PortClaim, index: int, conn: Connection) -> None:
    """A worker process: serve until SIGTERM, SIGINT, or the supervisor's end. What it
    raises is logged, its traceback inside the line (multiprocessing would print it
    beside the log), and the worker exits with status 1."""
    logs.configure()
    try:
        _serve_worker(settings, claim, conn)
    except Exception:
        log.exception("worker %d failed", index)
        sys.exit(1)


def _serve_worker(settings: Settings, claim: PortClaim, conn: Connection) -> None:
    signals = StopSignals()
    orphaned = threading.Event()
    try:
        server = start_server(settings, claim)
    except StartupError as error:
        conn.send(("error", str(error)))
        return
    conn.send(("ready", server.metrics_port, server.catalog.snapshot.version))

    def watch_supervisor() -> None:
        with contextlib.suppress(EOFError, OSError):
            conn.recv()  # the supervisor never sends: this returns when it is gone
        orphaned.set()

    threading.Thread(target=watch_supervisor, name="supervisor-watch", daemon=True).start()
    while not (orphaned.is_set() or signals.wait(1.0)):
        pass
    server.stop()


class Supervisor:
    """Starts ``settings.workers`` workers on ``address`` and keeps them running."""

    def __init__(self, settings: Settings, claim: PortClaim) -> None:
        self._settings = settings
        self._claim = claim
        self._context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []

    def start(self) -> int:
        """Start every worker and wait until each serves; the catalog version they serve.
        RuntimeError if one cannot start."""
        for index in range(self._settings.workers):
            self.workers.append(self._start(index))
        return min(self._await_ready(worker) for worker in self.workers)

    def _start(self, index: int) -> _Worker:
        settings = dataclasses.replace(
            self._settings,
            listen=self._claim.address,
            metrics_listen=_metrics_listen(self._settings.metrics_listen, index),
            workers=1,
        )
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_run_worker,
            args=(settings, self._claim.shared(), index, theirs),
            name=f"rating-worker-{index}",
        )
        process.start()
        theirs.close()
        return _Worker(index, process, ours)

    def _await_ready(self, worker: _Worker) -> int:
        """Wait for the worker's word; its catalog version."""
        if not worker.conn.poll(START_TIMEOUT):
            raise RuntimeError(f"worker {worker.index} did not start in {START_TIMEOUT:.0f}s")
        try:
            message = worker.conn.recv()
        except EOFError:
            raise RuntimeError(
                f"worker {worker.index} exited at start (status {worker.process.exitcode})"
            ) from None
        if message[0] == "error":
            raise RuntimeError(message[1])
        metrics = f", metrics on port {message[1]}" if message[1] else ""
        log.info("worker %d (pid %d) serving%s", worker.index, worker.process.pid, metrics)
        return int(message[2])

    def check(self) -> None:
        """Restart any worker that has died."""
        for number, worker in enumerate(self.workers):
            if worker.process.is_alive():
                continue
            log.error(
                "worker %d (pid %d) exited with status %s; restarting it",
                worker.index,
                worker.process.pid,
                worker.process.exitcode,
            )
            worker.conn.close()
            time.sleep(RESTART_PAUSE)
            replacement = self._start(worker.index)
            self.workers[number] = replacement
            try:
                self._await_ready(replacement)
            except RuntimeError as error:
                log.error("worker %d did not come back: %s", worker.index, error)

    def stop(self) -> None:
        """SIGTERM to every worker (each drains its calls), then wait; SIGKILL whatever
        outlives the grace period by far."""
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.terminate()
        deadline = time.monotonic() + self._settings.grace_seconds + 10.0
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()


def serve_workers(settings: Settings) -> int:
    """Run ``settings.workers`` server processes on ``settings.listen`` until SIGTERM or
    SIGINT."""
    try:
        claim = ports.claim(settings.listen)
    except ports.ListenError as error:
        log.error("rating-server cannot start: %s", error)
        return 1
    signals = StopSignals()
    supervisor = Supervisor(settings, claim)
    try:
        version = supervisor.start()
    except RuntimeError as error:
        log.error("rating-server cannot start: %s", error)
        supervisor.stop()
        claim.close()
        return 1
    log_started(settings, claim.address, version, None)
    while not signals.wait(1.0):
        supervisor.check()
    log.info("rating-server stopping: draining calls for up to %ss", settings.grace_seconds)
    supervisor.stop()
    claim.close()
    log.info("rating-server stopped")
    return 0
