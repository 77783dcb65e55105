"""Noticing SIGTERM and SIGINT safely.

The handler only appends to a list. A handler that set a threading.Event deadlocked:
a second signal, arriving while the first handler held the Event's lock, ran a second
handler on the same thread, which waited for that lock forever (a SIGTERM sent twice
did it). The main thread looks at the list a few times a second.
"""

from __future__ import annotations

import signal
import time

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: Seconds between two looks at the signals received.
TICK = 0.2


class StopSignals:
    """Installs the handlers; ``wait`` tells whether a stop signal has come."""

    def __init__(self) -> None:
        self._received: list[int] = []
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._note)

    def _note(self, signum: int, _frame: object) -> None:
        self._received.append(signum)  # no lock: safe whenever the signal comes

    def wait(self, timeout: float) -> bool:
        """Whether a stop signal has come, waiting up to ``timeout`` seconds for one."""
        deadline = time.monotonic() + timeout
        while not self._received and time.monotonic() < deadline:
            time.sleep(min(TICK, max(0.0, deadline - time.monotonic())))
        return bool(self._received)
