"""The server as a subprocess, as an operator runs it: ``python -m rating_server ...``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from rating_server.config import is_postgres_url

# Generous: a loaded 2-core machine may be slow, but never this slow.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
START_LINE = re.compile(
    r"rating-server listening on (?P<address>\S+), database (?P<database>.+), "
    r"catalog version (?P<version>\d+)$"
)


class ServerProcess:
    """``python -m rating_server ... serve``, its stderr collected line by line."""

    def __init__(self, args: list[str], cwd: Path, env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rating_server", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(env),
            cwd=cwd,
        )
        self.address = ""
        self._lines: list[str] = []
        self._ended = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="stderr-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    @property
    def stderr(self) -> str:
        with self._changed:
            return "\n".join(self._lines)

    def wait_for_line(self, needle: str, timeout: float = START_TIMEOUT) -> str:
        """The first stderr line containing ``needle``; fails when none comes in time."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self._lines:
                    if needle in line:
                        return line
                remaining = deadline - time.monotonic()
                if self._ended or remaining <= 0:
                    raise AssertionError(
                        f"no stderr line with {needle!r} "
                        f"({'stderr closed' if self._ended else f'after {timeout}s'}, "
                        f"exit status {self.process.poll()}):\n" + "\n".join(self._lines)
                    )
                self._changed.wait(remaining)

    def wait_started(self) -> re.Match[str]:
        """The start line's parts; ``address`` is then where the server listens."""
        line = self.wait_for_line("rating-server listening on")
        started = START_LINE.search(json.loads(line)["message"])  # a log line is JSON
        assert started, line
        self.address = started["address"]
        return started

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        """The exit status, once the process has ended and its stderr is read."""
        status = self.process.wait(timeout)
        self._reader.join(timeout)
        return status

    def terminate(self) -> int:
        """SIGTERM, the graceful stop; the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait_exit()

    def kill(self) -> None:
        """SIGKILL: no drain, no clean close of the database."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(STOP_TIMEOUT)
        self._reader.join(STOP_TIMEOUT)
        if self.process.stderr is not None:
            self.process.stderr.close()


Launch = Callable[..., ServerProcess]
"""Starts ``python -m rating_server ARGS...`` (the ``launch`` fixture)."""


CLI_TIMEOUT = 60.0


def cli(
    *args: str, cwd: Path, env: Mapping[str, str] = os.environ
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m rating_server ARGS...`` to completion; its output, as text."""
    return subprocess.run(
        [sys.executable, "-m", "rating_server", *args],
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=cwd,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def ledger_check(database: str | Path) -> subprocess.CompletedProcess[str]:
    """``rating-server ledger check`` on ``database``: a SQLite file (run beside it) or
    a PostgreSQL URL."""
    cwd = Path.cwd() if is_postgres_url(database) else Path(database).parent
    return cli("--db", str(database), "ledger", "check", cwd=cwd)
