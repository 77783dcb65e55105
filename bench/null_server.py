"""The floor: rating.v1 services on the same protos, with no logic at all.

gRPC parses each request into its message, as for the real server; the answer is a
response built once per batch size (``workload``: the real server's shape and size,
line for line) and serialized by gRPC on every call. What the bench measures here is
what gRPC in Python costs, so the real server's figures are read against it.

A request that sends its items as columns (``columns``, UsageColumns) gets its lines as
columns (RatedColumns, ``workload.rated_columns``): the columnar floor.

    python bench/null_server.py --listen 127.0.0.1:0

prints ``null-server listening on HOST:PORT`` on stderr and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from concurrent import futures
from typing import TypeVar

import grpc
import workload

from rating.options import MAX_MESSAGE_BYTES
from rating.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    rating_service_pb2,
    rating_service_pb2_grpc,
)

#: The real server's pool: its concurrency limit (64) plus 4.
WORKERS = 68
PREBUILT = (1, 100, 1000, 10_000)
Response = TypeVar("Response")


def grpc_server(reuse_port: bool) -> grpc.Server:
    """A server as the bench's own servers run: the real server's pool and message
    limits; ``reuse_port`` to share the port with other processes."""
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="rpc"),
        options=[
            ("grpc.so_reuseport", int(reuse_port)),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )


class NullRating(rating_service_pb2_grpc.RatingServiceServicer):
    def __init__(self) -> None:
        self._quotes = {n: workload.quote_response(n) for n in PREBUILT}
        self._commits = {n: workload.commit_response(n) for n in PREBUILT}
        self._quote_columns = {n: workload.quote_columns_response(n) for n in PREBUILT}
        self._commit_columns = {n: workload.commit_columns_response(n) for n in PREBUILT}

    def Quote(
        self, request: rating_service_pb2.QuoteRequest, context: grpc.ServicerContext
    ) -> rating_service_pb2.QuoteResponse:
        if request.HasField("columns"):
            return _answer(
                self._quote_columns,
                len(request.columns.usage_ids),
                workload.quote_columns_response,
            )
        size = len(request.items)
        response = self._quotes.get(size)
        if response is None:  # a size the bench does not use: build it once
            response = self._quotes[size] = workload.quote_response(size)
        return response

    def CommitCharges(
        self, request: rating_service_pb2.CommitChargesRequest, context: grpc.ServicerContext
    ) -> rating_service_pb2.CommitChargesResponse:
        if request.HasField("columns"):
            return _answer(
                self._commit_columns,
                len(request.columns.usage_ids),
                workload.commit_columns_response,
            )
        size = len(request.items)
        response = self._commits.get(size)
        if response is None:
            response = self._commits[size] = workload.commit_response(size)
        return response


def _answer(prebuilt: dict[int, Response], size: int, build: Callable[[int], Response]) -> Response:
    """The response for ``size`` items, built once."""
    response = prebuilt.get(size)
    if response is None:  # a size the bench does not use
        response = prebuilt[size] = build(size)
    return response


class NullAccounts(account_service_pb2_grpc.AccountServiceServicer):
    def __init__(self) -> None:
        self._balance = workload.balance_response()

    def GetBalance(
        self, request: account_service_pb2.GetBalanceRequest, context: grpc.ServicerContext
    ) -> account_service_pb2.GetBalanceResponse:
        return self._balance


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port (default: a free port)")
    args = parser.parse_args()
    server = grpc_server(reuse_port=False)
    rating_service_pb2_grpc.add_RatingServiceServicer_to_server(NullRating(), server)
    account_service_pb2_grpc.add_AccountServiceServicer_to_server(NullAccounts(), server)
    port = server.add_insecure_port(args.listen)
    if port == 0:
        print(f"null-server cannot listen on {args.listen}", file=sys.stderr)
        return 1
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _number, _frame: stopping.set())
    server.start()
    host = args.listen.rpartition(":")[0]
    print(f"null-server listening on {host}:{port}", file=sys.stderr, flush=True)
    while not stopping.wait(1.0):
        pass
    server.stop(1.0).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
