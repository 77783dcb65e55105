"""An error status cut to fit gRPC's trailer budget (``servicers/statuses.py``): by
encoded bytes, never inside a character."""

from __future__ import annotations

import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2
from support import (
    wire_size,
)

from rating_server.servicers import statuses


def violation(n: int, description: str) -> error_details_pb2.BadRequest.FieldViolation:
    return error_details_pb2.BadRequest.FieldViolation(
        field=f"items[{n}].sku", description=description, reason="SKU_UNKNOWN"
    )


def unpacked(status: status_pb2.Status) -> tuple[error_details_pb2.ErrorInfo, list[str]]:
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    status.details[0].Unpack(info)
    status.details[1].Unpack(bad)
    return info, [v.description for v in bad.field_violations]


@pytest.mark.parametrize("letter", ["价", "😀", "\u00e9", "x", "%"])
def test_an_error_status_is_cut_by_encoded_bytes_never_inside_a_character(letter: str) -> None:
    long = letter * 5000
    status = statuses.error_status(
        code_pb2.INVALID_ARGUMENT,
        f"items[0].sku: {long}",
        "INVALID_USAGE",
        metadata={"violations": "50", "sku": long},
        details=[
            error_details_pb2.BadRequest(field_violations=[violation(n, long) for n in range(50)])
        ],
    )
    assert wire_size(status.message, status.SerializeToString()) <= statuses.TRAILER_BUDGET
    assert statuses.trailer_size(status) == wire_size(status.message, status.SerializeToString())
    info, descriptions = unpacked(status)
    assert 1 <= len(descriptions) < 50
    assert info.metadata["violations"] == "50"
    assert info.metadata["violations_shown"] == str(len(descriptions))
    for text in [status.message, info.metadata["sku"], *descriptions]:
        assert text.endswith("...")
        assert set(text.removesuffix("...")) <= set(f"items[0].sku: {letter}")  # whole letters
    assert len(status.message.encode()) <= statuses.MAX_MESSAGE
    assert all(len(d.encode()) <= statuses.MAX_ECHO for d in descriptions)
    assert len(info.metadata["sku"].encode()) <= statuses.MAX_ECHO


def test_an_error_status_that_fits_is_sent_whole() -> None:
    status = statuses.error_status(
        code_pb2.INVALID_ARGUMENT,
        "items[0].sku: no SKU named '价'",
        "INVALID_USAGE",
        metadata={"violations": "3"},
        details=[
            error_details_pb2.BadRequest(field_violations=[violation(n, "价") for n in range(3)])
        ],
    )
    info, descriptions = unpacked(status)
    assert status.message == "items[0].sku: no SKU named '价'"
    assert descriptions == ["价"] * 3
    assert dict(info.metadata) == {"violations": "3"}


@pytest.mark.parametrize("text", ["价" * 200, "😀" * 200, "a😀" * 200, "é" * 300])
@pytest.mark.parametrize("limit", [7, 64, 255, 256])
def test_cut_keeps_whole_utf8_characters_within_the_limit(text: str, limit: int) -> None:
    shortened = statuses.cut(text, limit)
    assert len(shortened.encode()) <= limit
    assert shortened.endswith("...")
    kept = shortened.removesuffix("...")
    assert text.startswith(kept)
    assert len(kept.encode()) > limit - 3 - 4  # no more cut than one character's bytes
    assert statuses.cut("short", limit) == "short"
