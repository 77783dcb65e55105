"""CatalogService over the wire: pagination (AIP-158), the category filter, GetSku."""

from __future__ import annotations

import grpc
import pytest
from support import rich_error

from rating.v1 import catalog_service_pb2, usage_pb2


def list_all(catalog, page_size: int, category: int = 0) -> tuple[list[str], int]:
    ids: list[str] = []
    token = ""
    pages = 0
    while True:
        response = catalog.ListSkus(
            catalog_service_pb2.ListSkusRequest(
                page_size=page_size, page_token=token, category=category
            ),
            timeout=30,
        )
        pages += 1
        assert len(response.skus) <= page_size
        ids += [sku.id for sku in response.skus]
        token = response.next_page_token
        if not token:
            return ids, pages


def test_paging_through_every_sku_sees_each_once_in_id_order(catalog):
    ids, pages = list_all(catalog, page_size=7)
    assert len(ids) == 40
    assert ids == sorted(set(ids))
    assert pages == 6


def test_the_default_page_holds_fifty_and_a_huge_page_size_is_capped(catalog):
    everything = catalog.ListSkus(catalog_service_pb2.ListSkusRequest(), timeout=30)
    assert len(everything.skus) == 40 and everything.next_page_token == ""
    assert everything.catalog_version == 1
    capped = catalog.ListSkus(catalog_service_pb2.ListSkusRequest(page_size=10**6), timeout=30)
    assert len(capped.skus) == 40


def test_the_category_filter_lists_only_that_category(catalog):
    rtc, _ = list_all(catalog, page_size=3, category=usage_pb2.CATEGORY_RTC)
    assert rtc == sorted(
        ["rtc.audio.conversational_ai", "rtc.audio.miniprogram_voice", "rtc.audio.voice"]
        + [f"rtc.video.{size}" for size in ("1080p", "2k", "360p", "4k", "720p")]
    )
    models, _ = list_all(catalog, page_size=100, category=usage_pb2.CATEGORY_MODEL)
    assert len(models) == 26


@pytest.mark.parametrize(
    ("request_fields", "field", "reason"),
    [
        ({"page_size": -1}, "page_size", "PAGE_SIZE_NEGATIVE"),
        ({"page_token": "not-a-token"}, "page_token", "PAGE_TOKEN_INVALID"),
        ({"category": 99}, "category", "CATEGORY_UNKNOWN"),
    ],
)
def test_bad_list_requests_are_refused_naming_the_field(catalog, request_fields, field, reason):
    with pytest.raises(grpc.RpcError) as caught:
        catalog.ListSkus(catalog_service_pb2.ListSkusRequest(**request_fields), timeout=30)
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.reason) for v in error.violations] == [(field, reason)]


def test_a_page_token_is_refused_with_another_category(catalog):
    first = catalog.ListSkus(
        catalog_service_pb2.ListSkusRequest(page_size=2, category=usage_pb2.CATEGORY_MODEL),
        timeout=30,
    )
    with pytest.raises(grpc.RpcError) as caught:
        catalog.ListSkus(
            catalog_service_pb2.ListSkusRequest(
                page_size=2, page_token=first.next_page_token, category=usage_pb2.CATEGORY_RTC
            ),
            timeout=30,
        )
    assert rich_error(caught.value).violations[0].reason == "PAGE_TOKEN_INVALID"


def test_get_sku_by_alias_returns_the_canonical_sku_with_aliases_and_prices(catalog):
    response = catalog.GetSku(
        catalog_service_pb2.GetSkuRequest(sku="豆包·工具调用.output"), timeout=30
    )
    sku = response.sku
    assert sku.id == "model.doubao-pro-32k.output"
    assert "豆包·角色扮演·Pro.output" in sku.aliases
    assert (sku.unit, sku.price_unit, sku.price_unit_label) == ("token", 1000, "1000 tokens")
    assert sku.billed_by == usage_pb2.BILLED_BY_COZE
    assert [(p.effective_from.seconds, p.unit_price) for p in sku.price_versions] == [(0, "2")]
    assert sku.current_price.unit_price == "2"
    assert response.catalog_version == 1


def test_get_sku_resolves_patterns_and_shows_an_unpriced_sku_without_a_price(catalog):
    ark = catalog.GetSku(catalog_service_pb2.GetSkuRequest(sku="model.ark.ep-9.input"), timeout=30)
    assert (ark.sku.id, ark.sku.billed_by) == ("model.ark.input", usage_pb2.BILLED_BY_ARK)
    plugin = catalog.GetSku(catalog_service_pb2.GetSkuRequest(sku="plugin.weather"), timeout=30)
    assert plugin.sku.id == "plugin"
    assert list(plugin.sku.price_versions) == []
    assert not plugin.sku.HasField("current_price")


def test_get_sku_of_an_unknown_name_is_not_found_with_the_name(catalog):
    with pytest.raises(grpc.RpcError) as caught:
        catalog.GetSku(catalog_service_pb2.GetSkuRequest(sku="model.gpt-9.input"), timeout=30)
    error = rich_error(caught.value)
    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.info.reason == "SKU_NOT_FOUND"
    assert error.resource is not None and error.resource.resource_name == "model.gpt-9.input"
    with pytest.raises(grpc.RpcError) as empty:
        catalog.GetSku(catalog_service_pb2.GetSkuRequest(), timeout=30)
    assert rich_error(empty.value).violations[0].reason == "SKU_MISSING"
