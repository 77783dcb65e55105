"""A charge as the rows every engine writes, and a charged line as every engine reads it.

What a charge's lines and funding parts are, field by field, is one thing on every
engine; only the SQL that stores them differs. ``charge_rows`` lays a charge out as
tuples in the order of ``LINE_COLUMNS`` and ``FUNDING_COLUMNS``, which each engine's
INSERT names; ``charge_entry`` reads a line back from a row in ``ENTRY_COLUMNS``' order.
No SQL here: the engines (``sqlite/``, ``postgres/``) hold it.

A line funded from one source (nearly every line: the day's free points, one pack, or
the month's bill) carries that part in its own row (``source``, ``pack_id``, ``day``;
its points are the line's, its month the line's), and writes no funding entry: a
funding entry is written only for a line split over several sources, and for each part
of a void's reversal. Every reader of funding reads both: ``inline_funding`` turns a
line's columns back into its part.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rating_server.ledger.model import PAYG, ChargeEntry, FundingPart, Receipt, Reservation
from rating_server.ledger.store import LineKey, NewCharge, StatementLine

#: A charged line's columns, in the order of ``charge_rows``' line tuples. ``source``,
#: ``pack_id`` and ``day``: the line's one funding part, or None (``inline_funding``).
#: Attributes are last (an engine may cast that parameter).
LINE_COLUMNS = (
    "charge_id",
    "line_number",
    "usage_id",
    "account_id",
    "billing_account_id",
    "sku",
    "category",
    "quantity",
    "micros",
    "billed_by",
    "occurred_at_ns",
    "month",
    "commit_time_ns",
    "source",
    "pack_id",
    "day",
    "attributes",
)
#: A funding part's columns, in the order of ``charge_rows``' funding tuples.
FUNDING_COLUMNS = (
    "charge_id",
    "line_number",
    "billing_account_id",
    "source",
    "micros",
    "pack_id",
    "day",
    "month",
)
#: What ``charge_entry`` reads, in order, after the line's cursor: a line's columns;
#: whether its charge was voided is the row's last value.
ENTRY_COLUMNS = LINE_COLUMNS
#: Where a line's attributes are in a row of ``ENTRY_COLUMNS``.
ATTRIBUTES = ENTRY_COLUMNS.index("attributes")


def charge_rows(charge: NewCharge) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The charge's lines (not the duplicates) and the funding entries of those split
    over several sources, as rows. Attributes are JSON text (None when a line has
    none); an empty pack id, day or month is None."""
    receipt = charge.receipt
    charge_id = receipt.charge_id
    commit_time_ns = receipt.commit_time_ns
    line_rows: list[tuple[Any, ...]] = []
    funding_rows: list[tuple[Any, ...]] = []
    # Items of a batch mostly carry the same few labels: each set is encoded once, and
    # each mapping (a columnar batch's items share theirs) is read once.
    encoded: dict[tuple[tuple[str, str], ...], str] = {}
    read: dict[int, str] = {}
    for number, (line, usage, month) in enumerate(
        zip(receipt.lines, charge.usages, charge.months, strict=True)
    ):
        if line.duplicate:
            continue
        parts = line.funding
        source = pack_id = day = None
        if len(parts) == 1 and _inlines(parts[0], line.micros, month):
            part = parts[0]
            source, pack_id, day = part.source, part.pack_id or None, part.day or None
        else:
            funding_rows.extend(
                (
                    charge_id,
                    number,
                    line.billing_account_id,
                    part.source,
                    part.micros,
                    part.pack_id or None,
                    part.day or None,
                    part.month or None,
                )
                for part in parts
            )
        line_rows.append(
            (
                charge_id,
                number,
                line.usage_id,
                line.account_id,
                line.billing_account_id,
                line.sku,
                line.category,
                line.quantity,
                line.micros,
                line.billed_by,
                usage.occurred_at_ns,
                month,
                commit_time_ns,
                source,
                pack_id,
                day,
                _attributes_json(usage.attributes, encoded, read) if usage.attributes else None,
            )
        )
    return line_rows, funding_rows


def fed_accounts(receipt: Receipt) -> list[str]:
    """The billing accounts a charge feeds an event to: those with a line charged (not a
    duplicate), sorted."""
    return sorted({line.billing_account_id for line in receipt.lines if not line.duplicate})


def with_funding(
    entries: list[ChargeEntry], split: Mapping[tuple[str, int], tuple[FundingPart, ...]]
) -> list[ChargeEntry]:
    """Lines read with their inline funding, given the parts of those split over
    sources (``LedgerTx.line_funding``)."""
    return [
        dataclasses.replace(entry, funding=parts)
        if (parts := split.get((entry.charge_id, entry.line_number)))
        else entry
        for entry in entries
    ]


def _inlines(part: FundingPart, micros: int, month: str) -> bool:
    """Whether the line's columns say all of ``part``: its points are the line's, and a
    month it names is the line's."""
    return part.micros == micros and part.month in ("", month)


def inline_funding(
    source: str | None, micros: int, pack_id: str | None, day: str | None, month: str
) -> tuple[FundingPart, ...]:
    """A line's funding part from its columns: none when ``source`` is None (the line
    is free of charge, or its parts are funding entries)."""
    if source is None:
        return ()
    return (FundingPart(source, micros, pack_id or "", day or "", month if source == PAYG else ""),)


def charge_entry(row: Sequence[Any], attributes: Mapping[str, str] | None) -> ChargeEntry:
    """A charged line from a row of ``ENTRY_COLUMNS`` then "voided" (the cursor left
    out), with its attributes as the engine decoded them. Its ``funding`` is its inline
    part; a line split over sources has its parts in funding entries (``line_funding``)."""
    return ChargeEntry(
        charge_id=row[0],
        line_number=row[1],
        usage_id=row[2],
        account_id=row[3],
        billing_account_id=row[4],
        sku=row[5],
        category=row[6],
        quantity=row[7],
        micros=row[8],
        billed_by=row[9],
        occurred_at_ns=row[10],
        commit_time_ns=row[12],
        funding=inline_funding(row[13], row[8], row[14], row[15], row[11]),
        voided=bool(row[17]),
        attributes=dict(attributes) if attributes else {},
    )


def _attributes_json(
    attributes: Mapping[str, str],
    encoded: dict[tuple[tuple[str, str], ...], str],
    read: dict[int, str],
) -> str:
    """The attributes as JSON, kept in ``encoded`` by their entries and in ``read`` by
    the mapping's identity (while the usages, which hold the mappings, live)."""
    text = read.get(id(attributes))
    if text is not None:
        return text
    # Each entry read by its key: a protobuf map's items() is Python's generic view,
    # twice as slow.
    key = tuple([(name, attributes[name]) for name in attributes])
    text = encoded.get(key)
    if text is None:
        text = encoded[key] = json.dumps(dict(key), ensure_ascii=False)
    read[id(attributes)] = text
    return text


#: A reservation's columns, in the order ``reservation_row`` writes and
#: ``reservation_of`` reads them.
RESERVATION_COLUMNS = (
    "reservation_id",
    "account_id",
    "billing_account_id",
    "sku",
    "requested_sku",
    "requested_quantity",
    "granted_quantity",
    "create_time_ns",
    "expire_time_ns",
    "state",
    "end_time_ns",
    "settle_charge_id",
)
#: A hold's columns after its reservation_id and number, in ``hold_rows``' order.
HOLD_COLUMNS = ("billing_account_id", "source", "micros", "pack_id", "day", "month")


def reservation_row(reservation: Reservation) -> tuple[Any, ...]:
    r = reservation
    return (
        r.reservation_id,
        r.account_id,
        r.billing_account_id,
        r.sku,
        r.requested_sku,
        r.requested_quantity,
        r.granted_quantity,
        r.create_time_ns,
        r.expire_time_ns,
        r.state,
        r.end_time_ns,
        r.settle_charge_id or None,
    )


def hold_rows(
    reservation: Reservation, parts: Sequence[FundingPart], first: int
) -> list[tuple[Any, ...]]:
    """The rows of a reservation's holds ``parts``, numbered from ``first``:
    reservation_id, number, then ``HOLD_COLUMNS``."""
    return [
        (
            reservation.reservation_id,
            first + offset,
            reservation.billing_account_id,
            part.source,
            part.micros,
            part.pack_id or None,
            part.day or None,
            part.month or None,
        )
        for offset, part in enumerate(parts)
    ]


def reservation_of(row: Sequence[Any], holds: Sequence[Sequence[Any]]) -> Reservation:
    """A reservation from a row of ``RESERVATION_COLUMNS`` and its holds' rows of
    ``HOLD_COLUMNS``, in order."""
    return Reservation(
        reservation_id=row[0],
        account_id=row[1],
        billing_account_id=row[2],
        sku=row[3],
        requested_sku=row[4],
        requested_quantity=row[5],
        granted_quantity=row[6],
        holds=tuple(hold_part(h[1:]) for h in holds),
        create_time_ns=row[7],
        expire_time_ns=row[8],
        state=row[9],
        end_time_ns=row[10],
        settle_charge_id=row[11] or "",
    )


def hold_part(row: Sequence[Any]) -> FundingPart:
    """A hold's part from its source, micros, pack_id, day and month."""
    return FundingPart(row[0], int(row[1]), row[2] or "", row[3] or "", row[4] or "")


def statement_lines(
    lines: Sequence[Sequence[Any]], split: Iterable[Sequence[Any]]
) -> list[StatementLine]:
    """A month's statement lines, as both engines read them: ``lines``, the rows of its
    live lines (charge_id, line_number, sku, category, account_id, quantity, micros,
    source), and ``split``, the funding entries of those funded from several sources
    (charge_id, line_number, source, micros). A line funded from one source carries it
    in its own row; a split line has an entry per part, summed here by source."""
    funding: dict[LineKey, dict[str, int]] = {
        (charge_id, number): {source: int(micros)}
        for charge_id, number, *_, micros, source in lines
        if source is not None
    }
    for charge_id, number, source, micros in split:
        sources = funding.setdefault((charge_id, number), {})
        sources[source] = sources.get(source, 0) + int(micros)
    return [
        StatementLine(sku, category, account_id, quantity, micros, funding.get((charge, n), {}))
        for charge, n, sku, category, account_id, quantity, micros, _source in lines
    ]
