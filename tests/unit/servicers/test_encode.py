"""Responses written as bytes (servicers/encode.py) are exactly what protobuf writes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rating.v1 import rating_service_pb2, usage_pb2
from rating_server.catalog.model import PriceVersion, Sku
from rating_server.engine import RatedLine, Usage
from rating_server.ledger.model import FREE, PACK, PAYG, ChargedLine, FundingPart, FundingSummary
from rating_server.money import Rate, format_points, format_yuan
from rating_server.servicers import encode
from rating_server.servicers.convert import BILLED_BY, CATEGORY, FUNDING_SOURCE, timestamp

texts = st.text(max_size=200)
ids = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=140)
micros = st.integers(min_value=0, max_value=10**15)
quantities = st.integers(min_value=0, max_value=10**15)
instants = st.integers(min_value=0, max_value=2**62)


@st.composite
def funding_parts(draw: st.DrawFn) -> FundingPart:
    source = draw(st.sampled_from([FREE, PACK, PAYG]))
    return FundingPart(
        source,
        draw(micros),
        pack_id=draw(ids) if source == PACK else "",
        day=draw(st.sampled_from(["", "2026-11-27"])),
        month=draw(st.sampled_from(["", "2026-11"])),
    )


@st.composite
def charged_lines(draw: st.DrawFn) -> ChargedLine:
    duplicate = draw(st.booleans())
    return ChargedLine(
        usage_id=draw(ids),
        account_id=draw(ids),
        billing_account_id=draw(st.one_of(st.just(""), ids)),
        requested_sku=draw(texts),
        sku=draw(ids),
        category=draw(st.sampled_from(sorted(CATEGORY))),
        quantity=draw(quantities),
        rated_quantity=draw(st.integers(min_value=0, max_value=10**30)),
        unit=draw(st.sampled_from(["token", "millisecond", "byte-millisecond"])),
        price_unit=draw(st.integers(min_value=1, max_value=10**12)),
        price_unit_label=draw(texts),
        unit_price=draw(st.sampled_from(["0", "0.8", "252", "0.000001"])),
        micros=draw(micros),
        billed_by=draw(st.sampled_from(sorted(BILLED_BY))),
        price_effective_from_ns=draw(instants),
        funding=tuple(draw(st.lists(funding_parts(), max_size=3))),
        duplicate=duplicate,
        original_charge_id=draw(ids) if duplicate else "",
    )


def message_of(line: ChargedLine) -> usage_pb2.RatedLine:
    """The line built field by field, as protobuf would have it."""
    return usage_pb2.RatedLine(
        usage_id=line.usage_id,
        account_id=line.account_id,
        sku=line.sku,
        requested_sku=line.requested_sku,
        category=CATEGORY[line.category],
        quantity=line.quantity,
        rated_quantity=str(line.rated_quantity),
        unit=line.unit,
        price_unit=line.price_unit,
        price_unit_label=line.price_unit_label,
        unit_price=line.unit_price,
        points=format_points(line.micros),
        yuan=format_yuan(line.micros),
        billed_by=BILLED_BY[line.billed_by],
        price_effective_from=timestamp(line.price_effective_from_ns),
        funding=[
            usage_pb2.Funding(
                source=FUNDING_SOURCE[part.source],
                points=format_points(part.micros),
                pack_id=part.pack_id,
                day=part.day,
                month=part.month,
            )
            for part in line.funding
        ],
        duplicate=line.duplicate,
        original_charge_id=line.original_charge_id,
        billing_account_id=line.billing_account_id,
    )


versions = st.integers(min_value=-(2**63), max_value=2**63 - 1)

SKU = Sku(
    id="model.x.input",
    name="X",
    category="model",
    unit="token",
    price_unit=1000,
    price_unit_label="1000 tokens",
    billed_by="coze",
    increment=1,
    metering="quantity",
    aliases=(),
    patterns=(),
    prices=(PriceVersion(1_700_000_000_123_456_789, Decimal("0.8"), Rate(Decimal("0.8"), 1000)),),
)


@pytest.mark.slow
@given(st.lists(charged_lines(), max_size=5), micros, versions, instants)
def test_a_commit_response_is_byte_for_byte_what_protobuf_writes(
    lines: list[ChargedLine], total: int, version: int, commit_time_ns: int
) -> None:
    writer = encode.LineWriter()
    written = encode.commit_response(
        "ch_0123", writer.charged(lines, encode.FIELD_2), total, version, commit_time_ns
    )
    expected = rating_service_pb2.CommitChargesResponse(
        charge_id="ch_0123",
        lines=[message_of(line) for line in lines],
        total_points=format_points(total),
        total_yuan=format_yuan(total),
        catalog_version=version,
        commit_time=timestamp(commit_time_ns),
    )
    assert written == expected.SerializeToString(deterministic=True)


@given(st.lists(charged_lines(), max_size=5), micros, versions, st.booleans())
def test_a_quote_for_an_account_is_byte_for_byte_what_protobuf_writes(
    lines: list[ChargedLine], total: int, version: int, payg: bool
) -> None:
    summary = FundingSummary("acme", 1, 2_500_000, 0, payg, held_micros=1_500_000)
    writer = encode.LineWriter()
    written = encode.quote_response(writer.charged(lines), total, version, summary)
    expected = rating_service_pb2.QuoteResponse(
        lines=[message_of(line) for line in lines],
        total_points=format_points(total),
        total_yuan=format_yuan(total),
        catalog_version=version,
        funding=rating_service_pb2.QuoteFunding(
            account_id="acme",
            free_points="0.000001",
            pack_points="2.5",
            pay_as_you_go_points="0",
            covered=summary.covered,
            pay_as_you_go_enabled=payg,
            shortfall_points=format_points(summary.shortfall_micros),
            held_points="1.5",
        ),
    )
    assert written == expected.SerializeToString(deterministic=True)


@given(
    st.lists(st.tuples(ids, ids, texts, quantities, micros), min_size=1, max_size=5),
    micros,
    versions,
)
def test_a_quote_without_an_account_is_byte_for_byte_what_protobuf_writes(
    items: list[tuple[str, str, str, int, int]], total: int, version: int
) -> None:
    sku, price = SKU, SKU.prices[0]
    lines = [
        RatedLine(Usage(uid, account, requested, quantity, 0), sku, price, quantity * 2, amount)
        for uid, account, requested, quantity, amount in items
    ]
    writer = encode.LineWriter()
    written = encode.quote_response(writer.rated(lines), total, version)
    expected = rating_service_pb2.QuoteResponse(
        total_points=format_points(total), total_yuan=format_yuan(total), catalog_version=version
    )
    expected.lines.extend(message_of(ChargedLine.of(line)) for line in lines)
    assert written == expected.SerializeToString(deterministic=True)


@given(st.integers(min_value=1, max_value=2**64 - 1))
def test_varints_match_protobufs(value: int) -> None:
    message = usage_pb2.RatedLine(price_unit=value) if value < 2**63 else None
    if message is not None:
        assert b"\x48" + encode.varint(value) == message.SerializeToString()
    decoded, shift = 0, 0
    for byte in encode.varint(value):
        decoded |= (byte & 0x7F) << shift
        shift += 7
    assert decoded == value


@given(st.integers(min_value=-(2**63), max_value=-1))
def test_negative_int64s_are_written_as_protobuf_writes_them(value: int) -> None:
    assert b"\x30" + encode.varint(value) == usage_pb2.RatedLine(quantity=value).SerializeToString()


# Lengths either side of each varint's size: one byte to 127, two to 16,383, three to
# 2^21 - 1, four beyond; in bytes, so also in characters of two and four bytes.
LENGTHS = [1, 127, 128, 16_383, 16_384, 2**21 - 1, 2**21]


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("character", ["x", "é", "😀"])
def test_every_written_field_of_any_length_is_what_protobuf_writes(
    length: int, character: str
) -> None:
    text = character * max(1, length // len(character.encode()))
    part = FundingPart(PACK, 10**15 + 1, pack_id=text, day="2026-11-27")
    line = ChargedLine(
        usage_id=text,
        account_id=text,
        billing_account_id=text,
        requested_sku=text,
        sku=text,
        category="model",
        quantity=2**63 - 1,
        rated_quantity=10**30,
        unit=text,
        price_unit=10**12,
        price_unit_label=text,
        unit_price="0.000001",
        micros=10**15 + 1,
        billed_by="coze",
        price_effective_from_ns=2**62,
        funding=(part, part),
        duplicate=True,
        original_charge_id=text,
    )
    lines = [line, line._replace(usage_id="u-1", quantity=0, funding=())]
    written = encode.commit_response(
        text, encode.LineWriter().charged(lines, encode.FIELD_2), 10**15, 3, 2**62
    )
    expected = rating_service_pb2.CommitChargesResponse(
        charge_id=text,
        lines=[message_of(each) for each in lines],
        total_points=format_points(10**15),
        total_yuan=format_yuan(10**15),
        catalog_version=3,
        commit_time=timestamp(2**62),
    )
    assert written == expected.SerializeToString(deterministic=True)
    assert rating_service_pb2.CommitChargesResponse.FromString(written) == expected
    rated = RatedLine(Usage(text, text, text, 2**62, 0), SKU, SKU.prices[0], 10**30, 10**15)
    quote = encode.quote_response(encode.LineWriter().rated([rated]), 10**15, 3)
    parsed = rating_service_pb2.QuoteResponse.FromString(quote).lines[0]
    assert (parsed.usage_id, parsed.account_id, parsed.requested_sku) == (text, text, text)
    assert parsed == message_of(ChargedLine.of(rated))
