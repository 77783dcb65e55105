"""The bench's callers (bench/loadgen.py): a cell whose calls fail says why, and the
run can go on."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import loadgen
import workload


@pytest.fixture
def unimplemented() -> Iterator[tuple[str, ...]]:
    """A gRPC server with no services: every call is UNIMPLEMENTED."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield (f"127.0.0.1:{port}",)
    finally:
        server.stop(0)


def test_a_failed_cell_names_its_status_and_leaves_every_process_ready(
    unimplemented: tuple[str, ...],
) -> None:
    callers = loadgen.Callers(2, "c0ffee00")
    try:
        callers.connect(unimplemented, 2)
        for path in (workload.QUOTE, workload.COMMIT):
            cell = loadgen.Cell(unimplemented, path, 1000, columns=True)

            with pytest.raises(
                loadgen.CallerError, match=r"of 1,000 as columns to .*: UNIMPLEMENTED"
            ):
                callers.measure(cell, 2, warmup=0.01, seconds=0.01, min_calls=1)

            # Each process answered the failed cell: this is the answer to this command.
            callers.connect(unimplemented, 2)
    finally:
        callers.close()
