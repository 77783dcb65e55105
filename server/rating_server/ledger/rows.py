"""A charge as the rows every engine writes, and a charged line as every engine reads it.

What a charge's lines and funding parts are, field by field, is one thing on every
engine; only the SQL that stores them differs. ``charge_rows`` lays a charge out as
tuples in the order of ``LINE_COLUMNS`` and ``FUNDING_COLUMNS``, which each engine's
INSERT names; ``charge_entry`` reads a line back from a row in ``ENTRY_COLUMNS``' order.
No SQL here: the engines (``sqlite/``, ``postgres/``) hold it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from rating_server.ledger.model import ChargeEntry
from rating_server.ledger.store import NewCharge

#: A charged line's columns, in the order of ``charge_rows``' line tuples.
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
#: What ``charge_entry`` reads, in order, after the line's cursor: a line's columns but
#: its month; whether its charge was voided is the row's last value.
ENTRY_COLUMNS = tuple(column for column in LINE_COLUMNS if column != "month")


def charge_rows(charge: NewCharge) -> tuple[list[tuple], list[tuple]]:
    """The charge's lines (not the duplicates) and their funding parts, as rows.
    Attributes are JSON text (None when a line has none); an empty pack id, day or
    month is None."""
    receipt = charge.receipt
    charge_id = receipt.charge_id
    commit_time_ns = receipt.commit_time_ns
    line_rows = []
    funding_rows = []
    # Items of a batch mostly carry the same few labels: each set is encoded once.
    encoded: dict[tuple[tuple[str, str], ...], str] = {}
    for number, (line, usage, month) in enumerate(
        zip(receipt.lines, charge.usages, charge.months, strict=True)
    ):
        if line.duplicate:
            continue
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
                _attributes_json(usage.attributes, encoded) if usage.attributes else None,
            )
        )
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
            for part in line.funding
        )
    return line_rows, funding_rows


def charge_entry(row: Sequence, attributes: Mapping[str, str] | None) -> ChargeEntry:
    """A charged line from a row of ``ENTRY_COLUMNS`` then "voided" (the cursor left
    out), with its attributes as the engine decoded them. Its ``funding`` is empty."""
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
        commit_time_ns=row[11],
        funding=(),
        voided=bool(row[13]),
        attributes=dict(attributes) if attributes else {},
    )


def _attributes_json(
    attributes: Mapping[str, str], encoded: dict[tuple[tuple[str, str], ...], str]
) -> str:
    key = tuple(attributes.items())
    text = encoded.get(key)
    if text is None:
        text = encoded[key] = json.dumps(dict(key), ensure_ascii=False)
    return text
