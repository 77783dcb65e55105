"""Notifications from PostgreSQL (``LISTEN``), heard on a connection of their own: how a
node learns at once what another node did (a catalog imported, a charge committed)."""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql

from rating_server.ledger.postgres.database import CONNECT_TIMEOUT

#: Seconds before the first new try at listening after the connection is lost, doubled
#: at each failed try up to ``LISTEN_RETRY_MOST``.
LISTEN_RETRY_FIRST = 0.1
LISTEN_RETRY_MOST = 5.0
#: Seconds of silence after which the listening connection is asked whether it stands
#: (a connection the network dropped says nothing by itself).
LISTEN_CHECK_SECONDS = 10.0

log = logging.getLogger(__name__)


class Announcements:
    """``LISTEN channel`` on a connection of its own, in a thread of its own:
    ``heard()`` at each notification, and each time it listens (again). A lost
    connection (the server restarting, failing over, a network fault) is replaced,
    after 0.1 s, then twice as long each failed try, up to 5 s; no error leaves the
    thread. ``close`` wakes it at once (a socket pair it waits on beside the
    connection)."""

    def __init__(self, url: str, heard: Callable[[], object], channel: str, name: str) -> None:
        self._url = url
        self._heard = heard
        self._channel = channel
        self._name = name
        self._stopping = threading.Event()
        #: Set while a connection listens (for tests and health's curious).
        self.listening = threading.Event()
        self._wake_lock = threading.Lock()
        self._waker, self._woken = socket.socketpair()
        self._woken.setblocking(False)
        self._thread = threading.Thread(target=self._run, name=f"listen-{channel}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()
        with self._wake_lock:
            if self._waker.fileno() != -1:
                self._waker.send(b"!")
        # A connection being opened to an unreachable host gives up by itself.
        self._thread.join(CONNECT_TIMEOUT + 1)

    def _run(self) -> None:
        delay = LISTEN_RETRY_FIRST
        lost = False
        try:
            while not self._stopping.is_set():
                try:
                    with psycopg.connect(
                        self._url,
                        autocommit=True,
                        connect_timeout=CONNECT_TIMEOUT,
                        application_name=self._name,
                    ) as conn:
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                        self.listening.set()
                        if lost:
                            log.warning("listening on %s again", self._channel)
                        lost, delay = False, LISTEN_RETRY_FIRST
                        self._heard()  # what was announced while nobody listened
                        self._listen(conn)
                except Exception as error:  # never out of the thread: polling goes on
                    if self._stopping.is_set():
                        break
                    if not lost:
                        log.warning(
                            "not listening on %s (%s): polling only, and trying again",
                            self._channel,
                            str(error).strip().splitlines()[0] if str(error).strip() else error,
                            exc_info=not isinstance(error, psycopg.Error),
                        )
                    lost = True
                finally:
                    self.listening.clear()
                self._sleep(delay)
                delay = min(delay * 2, LISTEN_RETRY_MOST)
        finally:
            with self._wake_lock:
                self._waker.close()
                self._woken.close()

    def _listen(self, conn: psycopg.Connection) -> None:
        """Until stopped (returns) or the connection fails (raises)."""
        while not self._stopping.is_set():
            ready, _, _ = select.select([conn.fileno(), self._woken], [], [], LISTEN_CHECK_SECONDS)
            if self._stopping.is_set():
                return
            if not ready:
                conn.execute("SELECT 1")  # raises when the connection is gone
            if any(True for _ in conn.notifies(timeout=0)):  # reads what came; raises at EOF
                self._heard()
            if conn.broken or conn.closed:
                raise psycopg.OperationalError("the listening connection was lost")

    def _sleep(self, seconds: float) -> None:
        """``seconds``, or less when closed."""
        if not self._stopping.is_set():
            select.select([self._woken], [], [], seconds)
