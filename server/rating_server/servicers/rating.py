"""rating.v1.RatingService."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import grpc

from rating.v1 import rating_service_pb2, rating_service_pb2_grpc
from rating_server.catalog.cache import CatalogCache
from rating_server.catalog.model import CatalogSnapshot
from rating_server.columns import UsageColumns, rate_columns, shape_problems
from rating_server.domain_errors import (
    CatalogChangedError,
    InvalidRequestError,
    InvalidUsageError,
    Violation,
)
from rating_server.engine import (
    DEFAULT_LIMITS,
    MAX_BATCH_ITEMS,
    Limits,
    RatedBatch,
    Usage,
    add_new_fields,
    in_item_order,
    rate_batch,
    too_many_items,
)
from rating_server.ledger import commits, reservations, voids
from rating_server.ledger.model import Receipt
from rating_server.ledger.store import LedgerStore
from rating_server.limits import ServiceLimits
from rating_server.metrics import Metrics
from rating_server.money import format_points
from rating_server.servicers import columns_convert, convert, encode, plain_quote
from rating_server.servicers.convert import optional_duration_ns
from rating_server.servicers.reservation_convert import reservation
from rating_server.servicers.statuses import domain_errors

#: Ratings of a commit, at most, when the catalog it was rated with is found old.
CATALOG_ATTEMPTS = 3


class RatingServicer(rating_service_pb2_grpc.RatingServiceServicer):
    def __init__(
        self,
        catalog: CatalogCache,
        ledger: LedgerStore,
        limits: Limits = DEFAULT_LIMITS,
        metrics: Metrics | None = None,
        served: ServiceLimits | None = None,
    ) -> None:
        """``served``: the limits GetLimits tells (by default, ``limits`` and the
        defaults of the rest)."""
        self._catalog = catalog
        self._ledger = ledger
        self._limits = limits
        self._served = ServiceLimits(usage=limits) if served is None else served
        self._metrics = metrics or Metrics()

    @domain_errors
    def Quote(
        self, request: rating_service_pb2.QuoteRequest, context: grpc.ServicerContext
    ) -> bytes:
        """The QuoteResponse, serialized (``encode``)."""
        if request.HasField("columns"):
            return self._quote_columns(request)
        if len(request.items) > MAX_BATCH_ITEMS:  # refuse before decoding them all
            raise InvalidUsageError([too_many_items(len(request.items))])
        snapshot = self._catalog.snapshot
        if not request.account_id:
            plain = plain_quote.quote(request.items, snapshot, self._limits)
            if plain is not None:
                data, count = plain
                self._metrics.items_rated.inc(count)
                return data
        named: dict[int, str] = {}
        usages, violations = convert.usages(request.items, named=named)
        writer = encode.LineWriter()
        if request.account_id:
            batch, lines, summary = commits.preview(
                self._ledger,
                snapshot,
                request.account_id,
                usages,
                violations,
                self._limits,
                named=named,
            )
            self._metrics.items_rated.inc(len(lines))
            return encode.quote_response(
                writer.charged(lines), batch.total_micros, batch.catalog_version, summary
            )
        try:
            batch = rate_batch(snapshot, usages, limits=self._limits)
        except InvalidUsageError as error:
            add_new_fields(violations, error.violations)
        if violations:
            raise InvalidUsageError(in_item_order(violations))
        self._metrics.items_rated.inc(len(batch.lines))
        return encode.quote_response(
            writer.rated(batch.lines), batch.total_micros, batch.catalog_version
        )

    def GetLimits(
        self, request: rating_service_pb2.GetLimitsRequest, context: grpc.ServicerContext
    ) -> rating_service_pb2.GetLimitsResponse:
        return limits_response(self._served)

    @domain_errors
    def CommitCharges(
        self, request: rating_service_pb2.CommitChargesRequest, context: grpc.ServicerContext
    ) -> bytes:
        """The CommitChargesResponse, serialized (``encode``)."""
        if request.HasField("columns"):
            return self._commit_columns(request)
        if len(request.items) > MAX_BATCH_ITEMS:
            raise InvalidUsageError([too_many_items(len(request.items))])
        as_sent: dict[tuple[int, str], tuple[int, int]] = {}
        named: dict[int, str] = {}
        usages, violations = convert.usages(request.items, as_sent, named)
        receipt = self._commit(
            request.request_id,
            usages,
            violations,
            as_sent=as_sent,
            sent=convert.canonical_bytes(request),
            named=named,
        )
        writer = encode.LineWriter()
        return encode.commit_response(
            receipt.charge_id,
            writer.charged(receipt.lines, encode.FIELD_2),
            receipt.total_micros,
            receipt.catalog_version,
            receipt.commit_time_ns,
        )

    def _commit(
        self,
        request_id: str,
        usages: list[Usage],
        violations: list[Violation],
        *,
        as_sent: dict[tuple[int, str], tuple[int, int]] | None,
        sent: bytes,
        named: dict[int, str],
        rate: commits.Rater = commits.rows_rater,
    ) -> Receipt:
        """Commit the usages, rating them again when the catalog changed meanwhile."""
        for attempt in range(1, CATALOG_ATTEMPTS + 1):
            try:
                receipt = commits.commit(
                    self._ledger,
                    self._catalog.snapshot,
                    request_id,
                    usages,
                    violations,
                    self._limits,
                    as_sent=as_sent,
                    sent=sent,
                    named=named,
                    rate=rate,
                )
                break
            except CatalogChangedError:
                # Another node may already have committed with the newer catalog: this
                # one may not commit with an older one. Load it and rate again.
                if attempt == CATALOG_ATTEMPTS:
                    raise  # ABORTED: imports keep landing; the client retries
                self._catalog.refresh()
        if not receipt.replayed:  # a replay was counted the first time
            self._count(receipt)
        return receipt

    def _quote_columns(self, request: rating_service_pb2.QuoteRequest) -> bytes:
        columns = _columns_of(request)
        snapshot = self._catalog.snapshot
        with _named_as_columns():
            if request.account_id:
                usages = columns.usages()
                batch, lines, summary = commits.preview(
                    self._ledger,
                    snapshot,
                    request.account_id,
                    usages,
                    (),
                    self._limits,
                    named=columns.named(),
                    rate=_column_rater(columns),
                )
                self._metrics.items_rated.inc(len(lines))
                head = encode.quote_response(
                    b"", batch.total_micros, batch.catalog_version, summary
                )
                body = columns_convert.charged_columns(lines)
            else:
                rated = rate_columns(snapshot, columns, limits=self._limits)
                self._metrics.items_rated.inc(len(columns))
                head = encode.quote_response(b"", rated.total_micros, rated.catalog_version)
                body = columns_convert.rated_columns(rated)
        return head + rating_service_pb2.QuoteResponse(columns=body).SerializeToString()

    def _commit_columns(self, request: rating_service_pb2.CommitChargesRequest) -> bytes:
        columns = _columns_of(request)
        with _named_as_columns():
            receipt = self._commit(
                request.request_id,
                columns.usages(),
                [],
                as_sent=None,
                sent=convert.canonical_bytes(request),
                named=columns.named(),
                rate=_column_rater(columns),
            )
        head = encode.commit_response(
            receipt.charge_id,
            b"",
            receipt.total_micros,
            receipt.catalog_version,
            receipt.commit_time_ns,
        )
        body = columns_convert.charged_columns(receipt.lines)
        return head + rating_service_pb2.CommitChargesResponse(columns=body).SerializeToString()

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
        result = voids.void(self._ledger, request.charge_id, request.reason)
        return rating_service_pb2.VoidChargeResponse(
            charge_id=result.charge_id,
            reversals=[convert.funding(part) for part in result.reversals],
            void_time=convert.timestamp(result.void_time_ns),
            already_voided=result.already_voided,
        )

    @domain_errors
    def Reserve(
        self, request: rating_service_pb2.ReserveRequest, context: grpc.ServicerContext
    ) -> rating_service_pb2.ReserveResponse:
        held = reservations.reserve(
            self._ledger,
            self._catalog.snapshot,
            request.request_id,
            request.account_id,
            request.sku,
            request.quantity,
            optional_duration_ns(request.ttl, request.HasField("ttl"), "ttl"),
            self._limits,
        )
        return rating_service_pb2.ReserveResponse(reservation=reservation(held))

    @domain_errors
    def Extend(
        self, request: rating_service_pb2.ExtendRequest, context: grpc.ServicerContext
    ) -> rating_service_pb2.ExtendResponse:
        extended = reservations.extend(
            self._ledger,
            self._catalog.snapshot,
            request.request_id,
            request.reservation_id,
            request.quantity,
            optional_duration_ns(request.ttl, request.HasField("ttl"), "ttl"),
            self._limits,
        )
        return rating_service_pb2.ExtendResponse(reservation=reservation(extended))

    @domain_errors
    def Release(
        self, request: rating_service_pb2.ReleaseRequest, context: grpc.ServicerContext
    ) -> rating_service_pb2.ReleaseResponse:
        released, ended = reservations.release(self._ledger, request.reservation_id)
        return rating_service_pb2.ReleaseResponse(
            reservation=reservation(released), already_ended=ended
        )


def _columns_of(
    request: rating_service_pb2.QuoteRequest | rating_service_pb2.CommitChargesRequest,
) -> UsageColumns:
    """The request's columns, their shape checked; InvalidUsageError when it also has
    items, or when the columns do not fit together."""
    if request.items:
        raise InvalidUsageError(
            [
                Violation(
                    "columns",
                    "ITEMS_AND_COLUMNS",
                    "send the batch as items or as columns, not both",
                )
            ]
        )
    if len(request.columns.usage_ids) > MAX_BATCH_ITEMS:  # refuse before decoding the rest
        raise InvalidUsageError(
            columns_convert.column_fields([too_many_items(len(request.columns.usage_ids))])
        )
    columns = columns_convert.usage_columns(request.columns)
    problems = shape_problems(columns)
    if problems:
        raise InvalidUsageError(problems)
    return columns


def _column_rater(columns: UsageColumns) -> commits.Rater:
    """The ledger's pricing of a columnar batch: its columns, rated a column at a time
    (``rate_columns``), as the lines of the usages the ledger holds."""

    def rate(
        catalog: CatalogSnapshot,
        usages: Sequence[Usage],
        quota: Callable[[str, int], int],
        limits: Limits,
    ) -> RatedBatch:
        rated = rate_columns(catalog, columns, quota, limits, usages=usages)
        return rated.batch(usages)

    return rate


@contextmanager
def _named_as_columns() -> Iterator[None]:
    """Violations of a columnar batch's items, which the rules name as rows'
    (``items[17].quantity``), named under its columns (``columns.items[17].quantity``)."""
    try:
        yield
    except InvalidUsageError as error:
        raise InvalidUsageError(
            columns_convert.column_fields(in_item_order(error.violations))
        ) from None
    except InvalidRequestError as error:
        raise InvalidRequestError(columns_convert.column_fields(error.violations)) from None


def limits_response(limits: ServiceLimits) -> rating_service_pb2.GetLimitsResponse:
    usage = limits.usage
    response = rating_service_pb2.GetLimitsResponse(
        max_batch_items=limits.max_batch_items,
        max_quantity=usage.max_quantity,
        max_line_points=format_points(usage.max_line_micros),
        max_batch_points=format_points(usage.max_batch_micros),
        max_attributes=usage.max_attributes,
        max_attribute_key_length=usage.max_attribute_key,
        max_attribute_value_length=usage.max_attribute_value,
        max_id_length=limits.max_id_length,
        max_message_bytes=limits.max_message_bytes,
        list_skus_page=rating_service_pb2.PageLimits(
            default_page_size=limits.sku_pages.default, max_page_size=limits.sku_pages.largest
        ),
        list_charges_page=rating_service_pb2.PageLimits(
            default_page_size=limits.charge_pages.default,
            max_page_size=limits.charge_pages.largest,
        ),
        keepalive=rating_service_pb2.KeepalivePolicy(
            permit_without_calls=limits.permit_pings_without_calls,
            max_ping_strikes=limits.max_ping_strikes,
        ),
    )
    response.earliest_occurred_at.FromNanoseconds(usage.earliest_ns)
    response.max_future_skew.FromNanoseconds(usage.max_future_ns)
    response.keepalive.min_ping_interval.FromMilliseconds(limits.min_ping_interval_ms)
    response.max_reservation_ttl.FromNanoseconds(limits.max_reservation_ttl_ns)
    return response
