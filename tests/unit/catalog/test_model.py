"""The SKU categories: the catalog's plain tuple and the client's list are the API's
Category enum, by name."""

from __future__ import annotations

from rating import _operations
from rating.v1 import usage_pb2
from rating_server.catalog.model import CATEGORIES
from rating_server.servicers.convert import CATEGORY

ENUM_NAMES = tuple(
    value.name.removeprefix("CATEGORY_").lower()
    for value in usage_pb2.DESCRIPTOR.enum_types_by_name["Category"].values
    if value.number != 0
)


def test_the_catalogs_categories_are_the_enums_names_in_its_order() -> None:
    assert CATEGORIES == ENUM_NAMES
    assert list(CATEGORY) == list(CATEGORIES)


def test_the_clients_categories_are_the_enums_names() -> None:
    assert _operations.CATEGORIES == ENUM_NAMES
