"""The limits a caller must respect come from one place (rating_server.limits): the
server's gRPC options are set from them and GetLimits serves the same values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from support import running, seeded_database

from rating import RatingClient
from rating.options import MAX_MESSAGE_BYTES, SERVER_MIN_PING_INTERVAL_MS
from rating.v1 import rating_service_pb2
from rating_server import server as server_module
from rating_server.config import Settings
from rating_server.engine import DEFAULT_LIMITS, MAX_BATCH_ITEMS
from rating_server.ids import MAX_ID_LENGTH
from rating_server.limits import CHARGE_PAGES, SKU_PAGES, ServiceLimits

QUOTE = "/rating.v1.RatingService/Quote"


def test_get_limits_serves_every_limit_a_caller_must_respect(tmp_path: Path) -> None:
    settings = Settings(listen="127.0.0.1:0", db_path=str(seeded_database(tmp_path / "r.db")))
    with running(settings) as server, RatingClient(server.address) as client:
        limits = client.get_limits()

    assert limits.max_batch_items == MAX_BATCH_ITEMS == 10_000
    assert limits.max_quantity == DEFAULT_LIMITS.max_quantity
    assert limits.max_line_points == limits.max_batch_points == Decimal(10**9)
    assert (
        limits.max_attributes,
        limits.max_attribute_key_length,
        limits.max_attribute_value_length,
    ) == (32, 64, 512)
    assert limits.max_id_length == MAX_ID_LENGTH == 128
    assert limits.earliest_occurred_at == datetime(2000, 1, 1, tzinfo=UTC)
    assert limits.max_future_skew == timedelta(seconds=300)
    assert limits.max_message_bytes == MAX_MESSAGE_BYTES == 32 * 1024 * 1024
    assert limits.list_skus_page == (SKU_PAGES.default, SKU_PAGES.largest) == (50, 1000)
    assert limits.list_charges_page == (CHARGE_PAGES.default, CHARGE_PAGES.largest)
    assert limits.min_ping_interval == timedelta(milliseconds=SERVER_MIN_PING_INTERVAL_MS)
    assert (limits.pings_without_calls, limits.max_ping_strikes) == (True, 2)
    assert limits.max_reservation_ttl == timedelta(hours=24)


def test_the_server_is_started_with_the_options_get_limits_tells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given: list[Any] = []
    real_server = grpc.server

    def recording(*args: Any, **kwargs: Any) -> grpc.Server:
        given.append(dict(kwargs["options"]))
        return real_server(*args, **kwargs)

    monkeypatch.setattr(server_module.grpc, "server", recording)
    settings = Settings(
        listen="127.0.0.1:0",
        db_path=str(seeded_database(tmp_path / "r.db")),
        max_message_bytes=1 << 20,
        max_future_seconds=60,
    )
    with running(settings) as server, RatingClient(server.address) as client:
        limits = client.get_limits()

    [options] = given
    assert options["grpc.max_receive_message_length"] == limits.max_message_bytes == 1 << 20
    assert options["grpc.max_send_message_length"] == limits.max_message_bytes
    assert options["grpc.http2.min_ping_interval_without_data_ms"] == (
        limits.min_ping_interval // timedelta(milliseconds=1)
    )
    assert options["grpc.keepalive_permit_without_calls"] == int(limits.pings_without_calls)
    assert options["grpc.http2.max_ping_strikes"] == limits.max_ping_strikes
    assert limits.max_future_skew == timedelta(seconds=60)
    assert settings.service_limits == ServiceLimits(
        usage=settings.limits, max_message_bytes=1 << 20
    )


def test_a_request_past_the_served_message_limit_gets_resource_exhausted_from_grpc(
    tmp_path: Path,
) -> None:
    settings = Settings(
        listen="127.0.0.1:0",
        db_path=str(seeded_database(tmp_path / "r.db")),
        max_message_bytes=64 * 1024,
    )
    with running(settings) as server, grpc.insecure_channel(server.address) as channel:
        limit = rating_service_pb2.GetLimitsResponse.FromString(
            channel.unary_unary("/rating.v1.RatingService/GetLimits")(b"", timeout=10)
        ).max_message_bytes
        quote = channel.unary_unary(QUOTE)
        # QuoteRequest.account_id alone, one byte past the limit.
        request = rating_service_pb2.QuoteRequest(account_id="a" * (limit - 3))
        data = request.SerializeToString()  # a tag, a 3-byte length, the id
        assert len(data) == limit + 1
        with pytest.raises(grpc.RpcError) as caught:
            quote(data, timeout=10)
        # At the limit, it reaches the service (which refuses it for what it says).
        with pytest.raises(grpc.RpcError) as at_limit:
            quote(
                rating_service_pb2.QuoteRequest(account_id="a" * (limit - 4)).SerializeToString(),
                timeout=10,
            )

    assert limit == 64 * 1024
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    assert at_limit.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
