"""limits.py's page sizes: one rule for every List call."""

from __future__ import annotations

from rating_server.limits import CHARGE_PAGES, SKU_PAGES, PageLimits


def test_a_page_is_the_default_when_none_is_asked_and_at_most_the_largest() -> None:
    pages = PageLimits(default=50, largest=1000)
    assert [pages.size(asked) for asked in (0, 1, 50, 1000, 1001, 10**9)] == [
        50,
        1,
        50,
        1000,
        1000,
        1000,
    ]


def test_only_a_negative_page_size_is_refused() -> None:
    assert [v.reason for v in PageLimits.size_problems(-1)] == ["PAGE_SIZE_NEGATIVE"]
    assert PageLimits.size_problems(0) == PageLimits.size_problems(10**9) == []


def test_skus_and_charges_page_by_their_own_limits() -> None:
    assert (SKU_PAGES.default, SKU_PAGES.largest) == (50, 1000)
    assert (CHARGE_PAGES.default, CHARGE_PAGES.largest) == (100, 1000)
