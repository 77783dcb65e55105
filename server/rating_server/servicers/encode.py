"""Rating responses written straight to their wire bytes.

A response of 1,000 lines built as messages costs a Python call per field of every
line; here a line is bytes joined from fragments instead. The fields that follow
from a line's price (sku, category, unit, price unit and label, unit price, biller,
effective date) are serialized once per price by protobuf itself and reused; per item
only its own strings and numbers are written. The output is what protobuf writes for
the same message, byte for byte (fields in number order, defaults left out): the
tests compare the two.

The servicers return these bytes; the server's handlers pass bytes through unchanged.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

from rating.v1 import rating_service_pb2, usage_pb2
from rating_server.catalog.model import PriceVersion, Sku
from rating_server.engine import RatedLine
from rating_server.ledger.model import (
    PRICE_FIELDS,
    ChargedLine,
    FundingPart,
    FundingSummary,
    price_fields,
)
from rating_server.money import (
    MICROS_PER_POINT,
    MICROS_PER_YUAN,
    POINT_PLACES,
    POINTS_PER_YUAN,
    YUAN_PLACES,
    format_points,
    format_scaled,
)
from rating_server.servicers.convert import BILLED_BY, CATEGORY, FUNDING_SOURCE, timestamp

# Varints of the lengths and quantities that fit in two bytes, looked up, not computed.
_SMALL = 1 << 14
_VARINT = tuple(
    bytes((n,)) if n < 0x80 else bytes((n & 0x7F | 0x80, n >> 7)) for n in range(_SMALL)
)
_INT64 = (1 << 64) - 1


def varint(value: int) -> bytes:
    """An integer as a protobuf varint, of any length: a length or a uint64, or an int64
    (a negative one as its 64-bit two's complement, in ten bytes, as protobuf writes it).
    The table is its fast path (below 16,384), which ``_line`` writes out inline; every
    other length and number written here goes through this."""
    if value < _SMALL:
        if value >= 0:
            return _VARINT[value]
        value &= _INT64
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(tag: bytes, text: str) -> bytes:
    data = text.encode()
    return tag + varint(len(data)) + data


def _amount(micros: int, places: int) -> bytes:
    """``format_scaled`` as UTF-8 bytes, with the common case (not negative) inline."""
    if micros < 0:
        return format_scaled(micros, places).encode()
    whole, fraction = divmod(micros, 10**places)
    if not fraction:
        return b"%d" % whole
    return (b"%d.%0*d" % (whole, places, fraction)).rstrip(b"0")


# ``amounts``' formats, from money's places: "%d.%06d" for points, "%d.%09d" for yuan,
# "0.%09d" for an amount under a yuan; the points of such an amount are its yuan digits
# from the (YUAN_PLACES - POINT_PLACES)th on, after the point.
_POINTS_FORMAT = b"%%d.%%0%dd" % POINT_PLACES
_YUAN_FORMAT = b"%%d.%%0%dd" % YUAN_PLACES
_UNDER_A_YUAN = b"0.%%0%dd" % YUAN_PLACES
_POINT_DIGITS = 2 + YUAN_PLACES - POINT_PLACES
# Whole points below one yuan's, written.
_WHOLE_POINTS = tuple(b"%d" % n for n in range(POINTS_PER_YUAN))


# RatedLine field tags, by field number (usage.proto).
_USAGE_ID = b"\x0a"
_ACCOUNT_ID = b"\x12"
_QUANTITY = b"\x30"
_RATED_QUANTITY = b"\x3a"
_POINTS = b"\x62"
_YUAN = b"\x6a"
_FUNDING = b"\x82\x01"
_DUPLICATE = b"\x88\x01\x01"
_ORIGINAL_CHARGE_ID = b"\x92\x01"
_BILLING_ACCOUNT_ID = b"\x9a\x01"
# Funding field tags.
_FUNDING_POINTS = b"\x12"
# Field 1 (QuoteResponse's lines) and field 2 (CommitChargesResponse's), each a
# repeated message, so length-delimited.
FIELD_1 = b"\x0a"
FIELD_2 = b"\x12"


_Fragments = tuple[bytes, bytes, bytes]

# Fragments by their fields' values, across responses (a single-item call would
# otherwise serialize its price's three every time); bounded, since requested names
# come from callers.
_KNOWN: dict[tuple[object, ...], _Fragments] = {}
_MAX_KNOWN = 100_000


def _fragments(*fields: object) -> _Fragments:
    known = _KNOWN.get(fields)
    if known is None:
        if len(_KNOWN) >= _MAX_KNOWN:
            _KNOWN.clear()
        known = _KNOWN[fields] = _serialize_fragments(*fields)  # type: ignore[arg-type]  # PRICE_FIELDS order
    return known


def _serialize_fragments(
    sku: str,
    requested_sku: str,
    category: str,
    unit: str,
    price_unit: int,
    label: str,
    unit_price: str,
    billed_by: str,
    effective_from_ns: int,
) -> _Fragments:
    """A line's fields that follow from its price and requested name, serialized by
    protobuf: those from the sku to the category (fields 3 to 5), those between
    rated_quantity and points (8 to 11), and those after yuan (14 and 15)."""
    head = usage_pb2.RatedLine(
        sku=sku, requested_sku=requested_sku, category=CATEGORY[category]
    ).SerializeToString()
    middle = usage_pb2.RatedLine(
        unit=unit, price_unit=price_unit, price_unit_label=label, unit_price=unit_price
    ).SerializeToString()
    tail = usage_pb2.RatedLine(
        billed_by=BILLED_BY[billed_by],
        price_effective_from=timestamp(effective_from_ns),
    ).SerializeToString()
    return head, middle, tail


def amounts(micros: int) -> tuple[bytes, bytes]:
    """A line's points and yuan (``money.format_points``, ``format_yuan``) as UTF-8
    bytes, with the usual cases written out: two calls to ``_amount`` cost 13% of
    writing a line. Nearly every line costs less than a yuan (1,000 points): its yuan
    are 0.xxx and its points' decimals their tail."""
    if not micros:
        return b"0", b"0"
    if micros < 0:  # never, for a line; kept exact all the same
        return _amount(micros, POINT_PLACES), _amount(micros, YUAN_PLACES)
    if micros < MICROS_PER_YUAN:
        yuan = (_UNDER_A_YUAN % micros).rstrip(b"0")
        digits = _WHOLE_POINTS[micros // MICROS_PER_POINT]
        points = b"%b.%b" % (digits, yuan[_POINT_DIGITS:]) if len(yuan) > _POINT_DIGITS else digits
        return points, yuan
    whole, fraction = divmod(micros, MICROS_PER_POINT)
    points = (_POINTS_FORMAT % (whole, fraction)).rstrip(b"0") if fraction else b"%d" % whole
    whole, fraction = divmod(micros, MICROS_PER_YUAN)
    yuan = (_YUAN_FORMAT % (whole, fraction)).rstrip(b"0") if fraction else b"%d" % whole
    return points, yuan


def _line(
    usage_id: str,
    account: bytes,
    fragments: _Fragments,
    quantity: int,
    rated_quantity: int,
    micros: int,
) -> list[bytes]:
    """The parts of one line's bytes up to its price's date (fields 1 to 15)."""
    points, yuan = amounts(micros)
    return _line_of(usage_id, account, fragments, quantity, rated_quantity, points, yuan)


def _line_of(
    usage_id: str,
    account: bytes,
    fragments: _Fragments,
    quantity: int,
    rated_quantity: int,
    points: bytes,
    yuan: bytes,
) -> list[bytes]:
    """``_line``, its points and yuan written."""
    head, middle, tail = fragments
    uid = usage_id.encode()
    rated = b"%d" % rated_quantity
    # varint's fast path written out: four calls would cost 8% of writing a line.
    n, r, p, y = len(uid), len(rated), len(points), len(yuan)
    return [
        _USAGE_ID,
        _VARINT[n] if n < _SMALL else varint(n),
        uid,
        account,
        head,
        _QUANTITY + varint(quantity) if quantity else b"",
        _RATED_QUANTITY,
        _VARINT[r] if r < _SMALL else varint(r),
        rated,
        middle,
        _POINTS,
        _VARINT[p] if p < _SMALL else varint(p),
        points,
        _YUAN,
        _VARINT[y] if y < _SMALL else varint(y),
        yuan,
        tail,
    ]


def rated_fragments(sku: Sku, price: PriceVersion, requested: str) -> _Fragments:
    """The three runs of a rated line's bytes that follow from its SKU, price and
    requested name (``_serialize_fragments``), as ``LineWriter.rated_line`` writes them."""
    return _fragments(*price_fields(sku, price, requested))


class LineWriter:
    """Writes the lines of one response as a repeated field. Fragments repeat within a
    batch (a handful of prices, requested names and accounts), so each is serialized
    once per writer."""

    __slots__ = ("_accounts", "_billing", "_fragments", "_funding_tails")

    def __init__(self) -> None:
        self._fragments: dict[tuple[object, ...], _Fragments] = {}
        self._accounts: dict[str, bytes] = {}
        self._billing: dict[str, bytes] = {}
        self._funding_tails: dict[tuple[str, str, str], bytes] = {}

    def _account(self, account_id: str) -> bytes:
        data = self._accounts.get(account_id)
        if data is None:
            data = self._accounts[account_id] = _string(_ACCOUNT_ID, account_id)
        return data

    def rated(self, lines: Iterable[RatedLine], tag: bytes = FIELD_1) -> bytes:
        """Rated (not funded) lines as the elements of the repeated field ``tag``."""
        out: list[bytes] = []
        write = self.rated_line
        for line in lines:
            usage, sku, price, rated_quantity, micros = line
            usage_id, account_id, requested, quantity = usage[:4]
            out += write(
                usage_id, account_id, requested, quantity, sku, price, rated_quantity, micros, tag
            )
        return b"".join(out)

    def rated_line(
        self,
        usage_id: str,
        account_id: str,
        requested: str,
        quantity: int,
        sku: Sku,
        price: PriceVersion,
        rated_quantity: int,
        micros: int,
        tag: bytes = FIELD_1,
    ) -> tuple[bytes, bytes, bytes]:
        """One rated line as an element of the repeated field ``tag``: its tag, length
        and body."""
        # A line's SKU and price version live as long as this writer's batch.
        key = (id(sku), id(price), requested)
        parts = self._fragments.get(key)
        if parts is None:
            parts = self._fragments[key] = rated_fragments(sku, price, requested)
        account = self._accounts.get(account_id) or self._account(account_id)
        body = b"".join(_line(usage_id, account, parts, quantity, rated_quantity, micros))
        return tag, varint(len(body)), body

    def charged(self, lines: Iterable[ChargedLine], tag: bytes = FIELD_1) -> bytes:
        """Charged (or previewed) lines with their funding, as the elements of the
        repeated field ``tag``."""
        fragments = self._fragments
        accounts = self._accounts
        billing = self._billing
        tails = self._funding_tails
        out: list[bytes] = []
        for line in lines:
            key = _PRICE_FIELDS(line)
            parts = fragments.get(key)
            if parts is None:
                parts = fragments[key] = _fragments(*key)
            account_id = line.account_id
            micros = line.micros
            points, yuan = amounts(micros)
            body = _line_of(
                line.usage_id,
                accounts.get(account_id) or self._account(account_id),
                parts,
                line.quantity,
                line.rated_quantity,
                points,
                yuan,
            )
            for part in line.funding:
                # A line's one part is all of it: its points are the line's, written.
                amount = points if part.micros == micros else _amount(part.micros, POINT_PLACES)
                funding = _funding(part, amount, tails)
                body += (_FUNDING, varint(len(funding)), funding)
            if line.duplicate:
                body.append(_DUPLICATE)
                if line.original_charge_id:
                    body.append(_string(_ORIGINAL_CHARGE_ID, line.original_charge_id))
            billing_id = line.billing_account_id
            if billing_id:
                data = billing.get(billing_id)
                if data is None:
                    data = billing[billing_id] = _string(_BILLING_ACCOUNT_ID, billing_id)
                body.append(data)
            data = b"".join(body)
            out += (tag, varint(len(data)), data)
        return b"".join(out)


#: A charged line's fields that its price fragments follow from (in
#: ``_serialize_fragments``' order), read out in C.
_PRICE_FIELDS = operator.attrgetter(*PRICE_FIELDS)


def _funding(part: FundingPart, points: bytes, tails: dict[tuple[str, str, str], bytes]) -> bytes:
    """One Funding message's bytes, its points already written."""
    where = (part.pack_id, part.day, part.month)
    tail = tails.get(where)
    if tail is None:
        tail = tails[where] = usage_pb2.Funding(
            pack_id=part.pack_id, day=part.day, month=part.month
        ).SerializeToString()
    return b"%c%c%b%b%b%b" % (
        0x08,
        FUNDING_SOURCE[part.source],
        _FUNDING_POINTS,
        varint(len(points)),
        points,
        tail,
    )


def _totals(total_micros: int, catalog_version: int, first_tag: int) -> bytes:
    """total_points, total_yuan and catalog_version, fields ``first_tag`` on."""
    points, yuan = _amount(total_micros, POINT_PLACES), _amount(total_micros, YUAN_PLACES)
    out = b"%c%b%b%c%b%b" % (
        first_tag << 3 | 2,
        varint(len(points)),
        points,
        (first_tag + 1) << 3 | 2,
        varint(len(yuan)),
        yuan,
    )
    if catalog_version != 0:  # an int64: a negative one is written as its 64-bit complement
        out += b"%c%b" % ((first_tag + 2) << 3, varint(catalog_version & _INT64))
    return out


def quote_response(
    lines: bytes,
    total_micros: int,
    catalog_version: int,
    summary: FundingSummary | None = None,
) -> bytes:
    """A QuoteResponse's bytes: its lines (field 1, from ``LineWriter``), the totals
    (2 to 4), then the funding (5)."""
    totals = _totals(total_micros, catalog_version, 2)
    if summary is None:
        return lines + totals
    funding = rating_service_pb2.QuoteResponse(
        funding=rating_service_pb2.QuoteFunding(
            account_id=summary.account_id,
            free_points=format_points(summary.free_micros),
            pack_points=format_points(summary.pack_micros),
            pay_as_you_go_points=format_points(summary.payg_micros),
            covered=summary.covered,
            pay_as_you_go_enabled=summary.pay_as_you_go_enabled,
            shortfall_points=format_points(summary.shortfall_micros),
            held_points=format_points(summary.held_micros),
        )
    )
    return lines + totals + funding.SerializeToString()


def commit_response(
    charge_id: str,
    lines: bytes,
    total_micros: int,
    catalog_version: int,
    commit_time_ns: int,
) -> bytes:
    """A CommitChargesResponse's bytes: the charge id (field 1), the lines (field 2,
    from ``LineWriter``), the totals and catalog version (3 to 5), then the commit
    time (6)."""
    head = rating_service_pb2.CommitChargesResponse(charge_id=charge_id).SerializeToString()
    stamp = rating_service_pb2.CommitChargesResponse(commit_time=timestamp(commit_time_ns))
    return head + lines + _totals(total_micros, catalog_version, 3) + stamp.SerializeToString()
