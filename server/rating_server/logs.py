"""The server process's logging: every line on stderr as ``time LEVEL logger: message``,
the access log's written straight by its own thread (``access_log``), one write a round."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from rating_server import access_log

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(stream: TextIO | None = None) -> None:
    """INFO and above to ``stream`` (default: stderr), the access log included."""
    out = stream or sys.stderr
    logging.basicConfig(level=logging.INFO, format=FORMAT, stream=out)
    # The connection pool warns of every failed connect while PostgreSQL is down; the
    # server says once that writes fail, and once that they succeed again.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    access_log.write_directly(out, FORMAT)
