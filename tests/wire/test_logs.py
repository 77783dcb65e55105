"""A call that fails for a fault of ours, on the real server in this process (where a
method can be made to raise): one log line with the call's request id and traceback."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from json_lines import RPC_TIMEOUT, echoed, lines_of

from rating.v1 import (
    catalog_service_pb2,
    catalog_service_pb2_grpc,
)
from rating_server import logs
from rating_server.config import Settings
from rating_server.server import RatingServer, create_server
from rating_server.servicers.catalog import CatalogServicer


@pytest.fixture
def failing_server(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RatingServer]:
    """A server whose GetSku fails with a fault of ours."""

    def get_sku(self: CatalogServicer, request: Any, context: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(CatalogServicer, "GetSku", get_sku)
    running = create_server(Settings(listen="127.0.0.1:0", db_path=str(seeded_db)))
    running.start()
    yield running
    running.stop(grace=0)


def test_a_fault_of_ours_is_logged_with_the_calls_request_id_and_traceback_in_one_line(
    failing_server: RatingServer,
) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("rating_server")
    logger.addHandler(handler)
    try:
        with grpc.insecure_channel(failing_server.address) as channel:
            stub = catalog_service_pb2_grpc.CatalogServiceStub(channel)
            with pytest.raises(grpc.RpcError) as failed:
                stub.GetSku(
                    catalog_service_pb2.GetSkuRequest(sku="x"),
                    metadata=(("x-request-id", "trace-bug"),),
                    timeout=RPC_TIMEOUT,
                )
    finally:
        logger.removeHandler(handler)

    error: Any = failed.value
    assert error.code() == grpc.StatusCode.INTERNAL
    assert echoed(error.trailing_metadata()) == ["trace-bug"]
    [line] = lines_of(out.getvalue())
    assert line["message"] == "unexpected error in /rating.v1.CatalogService/GetSku"
    assert (line["level"], line["request_id"]) == ("ERROR", "trace-bug")
    assert line["exception"].endswith("KeyError: 'a bug'")
