"""rating.v1.CatalogService."""

from __future__ import annotations

import base64
import json
import time
from bisect import bisect_right

import grpc

from rating.v1 import catalog_service_pb2, catalog_service_pb2_grpc
from rating_server.catalog.cache import CatalogCache
from rating_server.engine import Violation
from rating_server.servicers import convert
from rating_server.servicers.errors import abort_invalid, abort_not_found

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


class CatalogServicer(catalog_service_pb2_grpc.CatalogServiceServicer):
    def __init__(self, catalog: CatalogCache) -> None:
        self._catalog = catalog

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
            after = _read_token(request.page_token, request.category)
            if after is None:
                violations.append(
                    Violation(
                        "page_token",
                        "PAGE_TOKEN_INVALID",
                        "page_token is not one this call returned for the same category",
                    )
                )
        if violations:
            abort_invalid(context, violations, "INVALID_REQUEST")
        size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        snapshot = self._catalog.snapshot
        now = time.time_ns()
        skus = []
        next_token = ""
        ids = snapshot.ids
        for position in range(bisect_right(ids, after) if after else 0, len(ids)):
            sku = snapshot.skus[ids[position]]
            if category is not None and sku.category != category:
                continue
            if len(skus) == size:
                next_token = _make_token(skus[-1].id, request.category)
                break
            skus.append(convert.sku_message(sku, now))
        return catalog_service_pb2.ListSkusResponse(
            skus=skus, next_page_token=next_token, catalog_version=snapshot.version
        )

    def GetSku(
        self, request: catalog_service_pb2.GetSkuRequest, context: grpc.ServicerContext
    ) -> catalog_service_pb2.GetSkuResponse:
        if not request.sku:
            abort_invalid(
                context, [Violation("sku", "SKU_MISSING", "sku is required")], "INVALID_REQUEST"
            )
        snapshot = self._catalog.snapshot
        sku = snapshot.resolve(request.sku)
        if sku is None:
            abort_not_found(context, "sku", request.sku, "SKU_NOT_FOUND")
        return catalog_service_pb2.GetSkuResponse(
            sku=convert.sku_message(sku, time.time_ns()), catalog_version=snapshot.version
        )


def _make_token(after: str, category: int) -> str:
    raw = json.dumps({"after": after, "category": category}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _read_token(token: str, category: int) -> str | None:
    """The id a page token continues after, or None if it is not a valid token."""
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeError, RecursionError):
        return None
    if not isinstance(body, dict) or body.get("category") != category:
        return None
    after = body.get("after")
    return after if isinstance(after, str) and after else None
