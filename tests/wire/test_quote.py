"""Quote over the wire, against the real server."""

from __future__ import annotations

from support import item

from rating.v1 import rating_service_pb2


def test_quote_returns_one_line_per_item_in_request_order_with_totals(rating):
    request = rating_service_pb2.QuoteRequest(
        items=[
            item("model.doubao-lite-32k.input", 1234, usage_id="a"),
            item("model.doubao-lite-32k.output", 567, usage_id="b"),
            item("agent.call", 3, usage_id="c"),
        ]
    )
    response = rating.Quote(request, timeout=30)
    assert [line.usage_id for line in response.lines] == ["a", "b", "c"]
    assert [line.points for line in response.lines] == ["0.3702", "0.3402", "6"]
    assert response.total_points == "6.7104"
    assert response.total_yuan == "0.0067104"
    assert response.catalog_version == 1
