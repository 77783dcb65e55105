"""rating.v1.CatalogService."""

from __future__ import annotations

import time
from bisect import bisect_right

import grpc

from rating.v1 import catalog_service_pb2, catalog_service_pb2_grpc
from rating_server.catalog.cache import CatalogCache
from rating_server.domain_errors import InvalidRequestError, NotFoundError, Violation
from rating_server.limits import SKU_PAGES
from rating_server.pages import make_token, read_token
from rating_server.servicers import convert
from rating_server.servicers.statuses import domain_errors


class CatalogServicer(catalog_service_pb2_grpc.CatalogServiceServicer):
    def __init__(self, catalog: CatalogCache) -> None:
        self._catalog = catalog

    @domain_errors
    def ListSkus(
        self, request: catalog_service_pb2.ListSkusRequest, context: grpc.ServicerContext
    ) -> catalog_service_pb2.ListSkusResponse:
        violations = []
        if request.page_size < 0:
            violations.append(
                Violation("page_size", "PAGE_SIZE_NEGATIVE", "page_size cannot be negative")
            )
        category = None
        if request.category:
            category = convert.CATEGORY_NAME.get(request.category)
            if category is None:
                violations.append(
                    Violation("category", "CATEGORY_UNKNOWN", f"no category {request.category}")
                )
        after = ""
        if request.page_token:
            try:
                after = read_token(request.page_token, [request.category], _an_id)
            except InvalidRequestError as error:
                violations += error.violations
        if violations:
            raise InvalidRequestError(violations)
        size = SKU_PAGES.size(request.page_size)
        snapshot = self._catalog.snapshot
        now = time.time_ns()
        skus: list[catalog_service_pb2.Sku] = []
        next_token = ""
        ids = snapshot.ids
        for position in range(bisect_right(ids, after) if after else 0, len(ids)):
            sku = snapshot.skus[ids[position]]
            if category is not None and sku.category != category:
                continue
            if len(skus) == size:
                next_token = make_token(skus[-1].id, [request.category])
                break
            skus.append(convert.sku_message(sku, now))
        return catalog_service_pb2.ListSkusResponse(
            skus=skus, next_page_token=next_token, catalog_version=snapshot.version
        )

    @domain_errors
    def GetSku(
        self, request: catalog_service_pb2.GetSkuRequest, context: grpc.ServicerContext
    ) -> catalog_service_pb2.GetSkuResponse:
        if not request.sku:
            raise InvalidRequestError([Violation("sku", "SKU_MISSING", "sku is required")])
        snapshot = self._catalog.snapshot
        sku = snapshot.resolve(request.sku)
        if sku is None:
            raise NotFoundError("sku", request.sku, "SKU_NOT_FOUND")
        return catalog_service_pb2.GetSkuResponse(
            sku=convert.sku_message(sku, time.time_ns()), catalog_version=snapshot.version
        )


def _an_id(value: object) -> bool:
    return isinstance(value, str) and bool(value)
