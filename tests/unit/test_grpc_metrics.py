"""The standard gRPC server metrics' labels (``grpc_metrics.py``) without a server."""

from __future__ import annotations

import grpc

from rating_server.grpc_metrics import GO_CODE_NAMES


def test_grpc_code_is_the_go_name_of_every_status_code() -> None:
    assert GO_CODE_NAMES[grpc.StatusCode.OK] == "OK"
    assert GO_CODE_NAMES[grpc.StatusCode.CANCELLED] == "Canceled"
    assert GO_CODE_NAMES[grpc.StatusCode.INVALID_ARGUMENT] == "InvalidArgument"
    assert GO_CODE_NAMES[grpc.StatusCode.DEADLINE_EXCEEDED] == "DeadlineExceeded"
    assert GO_CODE_NAMES[grpc.StatusCode.UNAUTHENTICATED] == "Unauthenticated"
    assert len(set(GO_CODE_NAMES.values())) == len(grpc.StatusCode) == 17
