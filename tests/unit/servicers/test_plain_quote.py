"""The one-pass Quote of plain items (servicers/plain_quote.py) answers what the general
path answers, byte for byte, or leaves the batch to it."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import duration_pb2
from hypothesis import example, given, settings
from hypothesis import strategies as st
from support import mostly

from rating.v1 import usage_pb2
from rating_server.catalog.model import CatalogSnapshot
from rating_server.domain_errors import InvalidUsageError
from rating_server.engine import Limits, rate_batch
from rating_server.servicers import convert, encode, plain_quote

from ..plain_items import (
    CHANGED,
    LIMITS,
    NOON_S,
    NOW_NS,
    catalog_of_changes,
    good,
    priced_items,
    stamp,
)


def general(
    items: list[usage_pb2.UsageItem], catalog: CatalogSnapshot, limits: Limits
) -> bytes | None:
    """What RatingServicer.Quote answers without an account and without the one-pass
    path: the response's bytes, or None for an INVALID_ARGUMENT."""
    usages, violations = convert.usages(items)
    try:
        batch = rate_batch(catalog, usages, limits=limits)
    except InvalidUsageError:
        return None
    if violations:
        return None
    lines = encode.LineWriter().rated(batch.lines)
    return encode.quote_response(lines, batch.total_micros, batch.catalog_version)


def quote(
    items: list[usage_pb2.UsageItem], catalog: CatalogSnapshot, limits: Limits
) -> tuple[bytes, int] | None:
    """The one-pass answer of a quoter new to the catalog, at NOW_NS."""
    return plain_quote.PlainQuoter(limits).quote(items, catalog, now_ns=NOW_NS)


@st.composite
def items(draw: st.DrawFn, plain: bool) -> usage_pb2.UsageItem:
    pick = (lambda good, *bad: st.just(good)) if plain else mostly
    item = usage_pb2.UsageItem(
        usage_id=draw(pick("u-1", "", "a b", "x" * 129, "é", "\u200b")),
        account_id=draw(pick("acct-1", "", "a\nb", "y" * 129)),
        sku=draw(
            st.sampled_from(
                ["model.doubao-lite-32k.input", "Doubao-lite-32k.input", "agent.call"]
                + ([] if plain else ["knowledge.storage", "model.ark.a b.output", "no.such", ""])
            )
        ),
        quantity=draw(
            st.integers(0, 10**6) if plain else mostly(1834, 0, -1, 10**15 + 1, 2**63 - 1)
        ),
        attributes=draw(
            st.dictionaries(
                pick("agent_id", "", "bad key", "k" * 65), pick("api", "v" * 513), max_size=2
            )
        ),
    )
    occurred = draw(
        pick(
            stamp(NOON_S, 123),
            None,
            stamp(0, 0),
            stamp(NOON_S, -1),
            stamp(NOON_S, 10**9),
            stamp(NOON_S + 7200, 0),
            stamp(946_684_799, 0),
            stamp(253_402_300_800, 0),
        )
    )
    if occurred is not None:
        item.occurred_at.CopyFrom(occurred)
    duration = draw(pick(None, duration_pb2.Duration(seconds=60), duration_pb2.Duration()))
    if duration is not None:
        item.duration.CopyFrom(duration)
    return item


@pytest.mark.slow
@settings(max_examples=400)
@given(st.lists(items(plain=False), min_size=1, max_size=4), st.sampled_from(LIMITS))
@example([good(occurred_at=stamp(NOON_S, -1))], LIMITS[0])
@example([good(occurred_at=stamp(NOON_S, 10**9))], LIMITS[0])
@example([good(duration=duration_pb2.Duration())], LIMITS[0])
@example([good(), good(usage_id="a b")], LIMITS[0])
# Two lines in range whose sum is not (agent.call is 2 points a call).
@example([good(quantity=3 * 10**8), good(usage_id="u-2", quantity=3 * 10**8)], LIMITS[0])
def test_a_one_pass_quote_is_the_general_paths_answer_or_none(
    seed: CatalogSnapshot, batch: list[usage_pb2.UsageItem], limits: Limits
) -> None:
    expected = general(batch, seed, limits)
    answered = quote(batch, seed, limits)
    if answered is not None:
        assert expected is not None
        assert answered == (expected, len(batch))


@pytest.mark.slow
@settings(max_examples=100)
@given(st.lists(items(plain=True), min_size=1, max_size=20))
def test_a_batch_of_plain_items_is_quoted_in_one_pass(
    seed: CatalogSnapshot, batch: list[usage_pb2.UsageItem]
) -> None:
    limits = Limits()  # new: no key seen before
    answered = quote(batch, seed, limits)  # before the general path has seen any item
    expected = general(batch, seed, limits)

    assert expected is not None
    assert answered == (expected, len(batch))


def test_an_empty_batch_is_left_to_the_general_path(seed: CatalogSnapshot) -> None:
    assert quote([], seed, Limits()) is None


@pytest.mark.parametrize(
    "fields",
    [
        {"usage_id": "x" * 129},
        {"usage_id": "x" * 16_384},
        {"usage_id": "é" * 8_192},
        {"usage_id": "x" * 2**21},
        {"account_id": "y" * 16_384},
        {"usage_id": "a\nb" * 6_000},
    ],
    ids=["129", "16384", "16384-bytes", "2^21", "account-16384", "control"],
)
def test_ids_are_checked_before_anything_is_written(
    seed: CatalogSnapshot, fields: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []
    write = plain_quote._lines

    def watched(usage_ids: list[str], *rest: Any) -> bytes:
        written.extend(usage_ids)
        return write(usage_ids, *rest)

    monkeypatch.setattr(plain_quote, "_lines", watched)
    batch = [good(usage_id="u-0"), good(**fields)]
    assert quote(batch, seed, Limits()) is None
    assert written == []
    assert general(batch, seed, Limits()) is None  # which names the bad id
    assert quote([good()], seed, Limits()) is not None
    assert written == ["u-1"]


@pytest.mark.slow
@settings(max_examples=300)
@given(st.lists(priced_items(), min_size=1, max_size=6))
@example([good(sku="s.changed", occurred_at=stamp(NOON_S - 1, 999_999_999))])
@example([good(sku="s.stepped", occurred_at=stamp(NOON_S - 1, 999_999_999))])
def test_older_prices_increments_long_ids_and_large_amounts_are_the_general_paths(
    batch: list[usage_pb2.UsageItem],
) -> None:
    expected = general(batch, CHANGED, Limits())
    assert quote(batch, CHANGED, Limits()) == (None if expected is None else (expected, len(batch)))


def test_a_new_catalog_is_quoted_at_its_own_prices() -> None:
    batch = [good(sku="s.changed"), good(usage_id="u-2", sku="s.changed", quantity=90_001)]
    quoter = plain_quote.PlainQuoter(Limits())
    for catalog in (
        catalog_of_changes(1, "14"),
        catalog_of_changes(2, "21.5"),
        catalog_of_changes(1, "14"),
    ):
        expected = general(batch, catalog, Limits())
        assert expected is not None
        assert quoter.quote(batch, catalog, now_ns=NOW_NS) == (expected, 2)


def test_names_past_the_bound_are_quoted_all_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plain_quote, "MAX_ENTRIES", 2)
    catalog = catalog_of_changes(4)
    quoter = plain_quote.PlainQuoter(Limits())
    for round_ in range(2):
        batch = [good(usage_id=f"u-{n}", sku=f"s.p.name-{n}") for n in range(5)]
        batch.append(good(sku="s.changed", occurred_at=stamp(NOON_S - round_, 0)))
        expected = general(batch, catalog, Limits())
        assert quoter.quote(batch, catalog, now_ns=NOW_NS) == (expected, 6)
        entries = quoter._entries
        assert entries is not None
        assert len(entries.newest) <= 2 and len(entries.priced) <= 2
