"""rating.v1.RatingService."""

from __future__ import annotations

import grpc

from rating.v1 import rating_service_pb2, rating_service_pb2_grpc
from rating_server.catalog.cache import CatalogCache
from rating_server.engine import (
    DEFAULT_LIMITS,
    MAX_BATCH_ITEMS,
    InvalidUsageError,
    Limits,
    add_new_fields,
    in_item_order,
    rate_batch,
    too_many_items,
)
from rating_server.ledger import charges
from rating_server.ledger.database import LedgerDatabase
from rating_server.ledger.model import Receipt
from rating_server.metrics import Metrics
from rating_server.money import format_points, format_yuan
from rating_server.servicers import convert
from rating_server.servicers.errors import domain_errors


class RatingServicer(rating_service_pb2_grpc.RatingServiceServicer):
    def __init__(
        self,
        catalog: CatalogCache,
        ledger: LedgerDatabase,
        limits: Limits = DEFAULT_LIMITS,
        metrics: Metrics | None = None,
    ) -> None:
        self._catalog = catalog
        self._ledger = ledger
        self._limits = limits
        self._metrics = metrics or Metrics()

    @domain_errors
    def Quote(
        self, request: rating_service_pb2.QuoteRequest, context: grpc.ServicerContext
    ) -> rating_service_pb2.QuoteResponse:
        if len(request.items) > MAX_BATCH_ITEMS:  # refuse before decoding them all
            raise InvalidUsageError([too_many_items(len(request.items))])
        usages, violations = convert.usages(request.items)
        snapshot = self._catalog.snapshot
        if request.account_id:
            batch, lines, summary = charges.preview(
                self._ledger, snapshot, request.account_id, usages, violations, self._limits
            )
            self._metrics.items_rated.inc(len(lines))
            response = rating_service_pb2.QuoteResponse(
                total_points=format_points(batch.total_micros),
                total_yuan=format_yuan(batch.total_micros),
                catalog_version=batch.catalog_version,
                funding=rating_service_pb2.QuoteFunding(
                    account_id=summary.account_id,
                    free_points=format_points(summary.free_micros),
                    pack_points=format_points(summary.pack_micros),
                    pay_as_you_go_points=format_points(summary.payg_micros),
                    covered=summary.covered,
                    pay_as_you_go_enabled=summary.pay_as_you_go_enabled,
                    shortfall_points=format_points(summary.shortfall_micros),
                ),
            )
            for line in lines:
                convert.add_line(response.lines, line)
            return response
        try:
            batch = rate_batch(snapshot, usages, limits=self._limits)
        except InvalidUsageError as error:
            add_new_fields(violations, error.violations)
        if violations:
            raise InvalidUsageError(in_item_order(violations))
        self._metrics.items_rated.inc(len(batch.lines))
        response = rating_service_pb2.QuoteResponse(
            total_points=format_points(batch.total_micros),
            total_yuan=format_yuan(batch.total_micros),
            catalog_version=batch.catalog_version,
        )
        for rated in batch.lines:
            convert.add_rated_line(response.lines, rated)
        return response

    @domain_errors
    def CommitCharges(
        self, request: rating_service_pb2.CommitChargesRequest, context: grpc.ServicerContext
    ) -> rating_service_pb2.CommitChargesResponse:
        if len(request.items) > MAX_BATCH_ITEMS:
            raise InvalidUsageError([too_many_items(len(request.items))])
        usages, violations = convert.usages(request.items)
        receipt = charges.commit(
            self._ledger,
            self._catalog.snapshot,
            request.request_id,
            usages,
            violations,
            self._limits,
        )
        if not receipt.replayed:  # a replay was counted the first time
            self._count(receipt)
        response = rating_service_pb2.CommitChargesResponse(
            charge_id=receipt.charge_id,
            total_points=format_points(receipt.total_micros),
            total_yuan=format_yuan(receipt.total_micros),
            catalog_version=receipt.catalog_version,
            commit_time=convert.timestamp(receipt.commit_time_ns),
        )
        for line in receipt.lines:
            convert.add_line(response.lines, line)
        return response

    def _count(self, receipt: Receipt) -> None:
        self._metrics.items_rated.inc(len(receipt.lines))
        points: dict[str, int] = {}
        for line in receipt.lines:
            if not line.duplicate:
                points[line.category] = points.get(line.category, 0) + line.micros
        for category, micros in points.items():
            self._metrics.points_committed.labels(category).inc(micros / 1_000_000)

    @domain_errors
    def VoidCharge(
        self, request: rating_service_pb2.VoidChargeRequest, context: grpc.ServicerContext
    ) -> rating_service_pb2.VoidChargeResponse:
        result = charges.void(self._ledger, request.charge_id, request.reason)
        return rating_service_pb2.VoidChargeResponse(
            charge_id=result.charge_id,
            reversals=[convert.funding(part) for part in result.reversals],
            void_time=convert.timestamp(result.void_time_ns),
            already_voided=result.already_voided,
        )
