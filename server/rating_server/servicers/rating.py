"""rating.v1.RatingService."""

from __future__ import annotations

import grpc

from rating.v1 import rating_service_pb2, rating_service_pb2_grpc
from rating_server.catalog.cache import CatalogCache
from rating_server.engine import (
    MAX_BATCH_ITEMS,
    InvalidUsageError,
    in_item_order,
    rate_batch,
    too_many_items,
)
from rating_server.money import format_points, format_yuan
from rating_server.servicers import convert
from rating_server.servicers.errors import abort_invalid


class RatingServicer(rating_service_pb2_grpc.RatingServiceServicer):
    def __init__(self, catalog: CatalogCache) -> None:
        self._catalog = catalog

    def Quote(
        self, request: rating_service_pb2.QuoteRequest, context: grpc.ServicerContext
    ) -> rating_service_pb2.QuoteResponse:
        if len(request.items) > MAX_BATCH_ITEMS:  # refuse before decoding them all
            abort_invalid(context, [too_many_items(len(request.items))], "INVALID_USAGE")
        usages, violations = convert.usages(request.items)
        try:
            batch = rate_batch(self._catalog.snapshot, usages)
        except InvalidUsageError as error:
            named = {v.field for v in violations}
            violations += [v for v in error.violations if v.field not in named]
        if violations:
            abort_invalid(context, in_item_order(violations), "INVALID_USAGE")
        return rating_service_pb2.QuoteResponse(
            lines=[convert.rated_line(line) for line in batch.lines],
            total_points=format_points(batch.total_micros),
            total_yuan=format_yuan(batch.total_micros),
            catalog_version=batch.catalog_version,
        )
