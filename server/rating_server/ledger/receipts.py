"""The receipt's format and the request's fingerprint: what a retry of a commit is
checked against and answered with, the same on every engine."""

from __future__ import annotations

import hashlib
import json
import operator
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from rating_server.engine import Usage
from rating_server.ledger.model import PRICE_FIELDS, ChargedLine, FundingPart, Receipt

#: The wire values of fields an invalid request held that a Usage cannot (an invalid
#: Timestamp or Duration, converted to 0), as (seconds, nanos) by (item index, field).
AsSent = Mapping[tuple[int, str], tuple[int, int]]

_HASHED_FIELDS = {"occurred_at": 4, "duration": 5}


def request_hash(
    usages: Sequence[Usage],
    as_sent: AsSent | None = None,
    named: Mapping[int, str] | None = None,
) -> str:
    """The request's fingerprint, so a retry can be told from a reuse of its request_id.

    It is exact for every value sent: the items in order, each field's value as the
    domain holds it (strings, the quantity, instants and durations in nanoseconds, which
    every valid Timestamp and Duration maps to one to one; unset is null), and the wire's
    own (seconds, nanos) where a value is invalid and was converted (``as_sent``). It is
    not a hash of the request's bytes: protobuf writes map entries in no set order, so
    another client library's retry may serialize the attributes in another; they are
    hashed sorted by key (a key appears once: the last entry sent wins, as in the parsed
    request). Unknown fields are left out, as the server ignores them. A valid request
    hashes as it always has, so receipts stored before keep their retries. The
    reservations items name (``named``, by index), when any, are hashed after the items.
    """
    rows: list[list[Any]] = [
        [
            u.usage_id,
            u.account_id,
            u.sku,
            u.quantity,
            u.occurred_at_ns,
            u.duration_ns,
            sorted(u.attributes.items()),
        ]
        for u in usages
    ]
    for (index, field), (seconds, nanos) in (as_sent or {}).items():
        # An object, which no valid value (a number or null) can be.
        rows[index][_HASHED_FIELDS[field]] = {"seconds": seconds, "nanos": nanos}
    document: list[Any] = rows
    if named:
        document = [rows, sorted(named.items())]
    canonical = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


#: The prefix of a fingerprint taken of the request's canonical bytes (``sent_hash``);
#: one without it is ``request_hash``'s, of the usages.
SENT_PREFIX = "sent:"


def sent_hash(sent: bytes) -> str:
    """The fingerprint of a request as sent: of its canonical serialization (fields by
    number, map entries sorted by key, unknown fields left out, as the translating
    layer makes it), which two serializations of one request share whatever their map
    order, the last entry sent of a key being the one kept. One hash of the bytes, in
    C: ``request_hash`` walks every item in Python."""
    return SENT_PREFIX + hashlib.sha256(sent).hexdigest()


def same_request(
    stored: str,
    sent: bytes | None,
    usages: Sequence[Usage],
    as_sent: AsSent | None,
    named: Mapping[int, str] | None = None,
) -> bool:
    """Whether a stored fingerprint is that of this request: by its bytes when both
    have them, else (a fingerprint stored before, or no bytes given) by its usages."""
    if stored.startswith(SENT_PREFIX):
        return sent is not None and stored == sent_hash(sent)
    return stored == request_hash(usages, as_sent, named)


#: The fields of a line in the receipts of the first two formats, which name them.
_LINE_FIELDS = tuple(name for name in ChargedLine._fields if name != "funding")
#: The format ``encode_receipt`` writes: its document's first value. The formats before
#: it begin with the charge id, a string.
FORMAT = 3
#: A line's fields that follow from its price (a receipt holds each set once), and the
#: rest, in ChargedLine's order.
_OWN_FIELDS = tuple(name for name in ChargedLine._fields if name not in PRICE_FIELDS)
_price_of = operator.itemgetter(*map(ChargedLine._fields.index, PRICE_FIELDS))
_own_of = operator.itemgetter(*map(ChargedLine._fields.index, _OWN_FIELDS))
_FUNDING = _OWN_FIELDS.index("funding")


def encode_receipt(receipt: Receipt) -> bytes:
    """A receipt as compressed JSON, to return byte for byte on a retry: the format,
    the charge, each distinct set of a line's price fields once (``PRICE_FIELDS``),
    each line's set by its index, and each line's own fields (``_OWN_FIELDS``; its
    funding an array of parts, each in ``FundingPart``'s order). Lines and parts are
    named tuples, read out and written as arrays in C."""
    lines = receipt.lines
    prices: dict[tuple[Any, ...], int] = {}
    indexes = [prices.setdefault(key, len(prices)) for key in map(_price_of, lines)]
    document = [
        FORMAT,
        receipt.charge_id,
        receipt.catalog_version,
        receipt.commit_time_ns,
        list(prices),
        indexes,
        list(map(_own_of, lines)),
    ]
    text = json.dumps(document, separators=(",", ":"), check_circular=False)
    return zlib.compress(text.encode(), 1)


def decode_receipt(blob: bytes) -> Receipt:
    document = json.loads(zlib.decompress(blob))
    if document[0] == FORMAT:
        _format, charge_id, catalog_version, commit_time_ns, prices, indexes, owns = document
        lines = []
        for index, own in zip(indexes, owns, strict=True):
            own[_FUNDING] = tuple(FundingPart(*part) for part in own[_FUNDING])
            fields = dict(zip(_OWN_FIELDS, own, strict=True))
            fields.update(zip(PRICE_FIELDS, prices[index], strict=True))
            lines.append(ChargedLine(**fields))
        return Receipt(charge_id, catalog_version, commit_time_ns, tuple(lines))
    if len(document) == 4:  # the first format: the funding last in each line's array
        charge_id, catalog_version, commit_time_ns, rows = document
        fundings = [row[-1] for row in rows]
        rows = [row[:-1] for row in rows]
    else:  # the second: each line's fields, then every line's funding
        charge_id, catalog_version, commit_time_ns, rows, fundings = document
    return Receipt(
        charge_id,
        catalog_version,
        commit_time_ns,
        tuple(
            ChargedLine(
                **dict(zip(_LINE_FIELDS, row, strict=True)),
                funding=tuple(FundingPart(*part) for part in parts),
            )
            for row, parts in zip(rows, fundings, strict=True)
        ),
    )
