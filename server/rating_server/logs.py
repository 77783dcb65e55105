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
    access_log.write_directly(out, FORMAT)
