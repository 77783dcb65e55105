"""Between the columnar messages (rating.v1.UsageColumns, RatedColumns) and the
domain's columns (``rating_server.columns``).

Numbers cross as arrays: protobuf's packed repeated fields hand numpy their values in
C, and numpy's lists go back the same way; no per-item Python object is made but for
the lines of a commit, which the ledger keeps as rows.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Mapping, Sequence

import numpy as np

from rating.v1 import columns_pb2
from rating_server.catalog.model import PriceVersion, Sku
from rating_server.columns import RatedColumns, UsageColumns
from rating_server.domain_errors import Violation
from rating_server.ledger.model import PRICE_FIELDS, ChargedLine, price_fields
from rating_server.servicers.convert import BILLED_BY, CATEGORY, FUNDING_SOURCE, timestamp

_INT64_MAX = 2**63 - 1


def _indices(column: object) -> np.ndarray:
    # uint32 on the wire; int64 here, so that comparisons and indexing never mix signs.
    return np.asarray(column, dtype=np.int64)


def usage_columns(message: columns_pb2.UsageColumns) -> UsageColumns:
    """The domain's columns of a request's ``columns``."""
    has_attributes = len(message.attribute_set_indices) > 0
    return UsageColumns(
        usage_ids=list(message.usage_ids),
        accounts=list(message.accounts),
        account_indices=_indices(message.account_indices),
        skus=list(message.skus),
        sku_indices=_indices(message.sku_indices),
        quantities=np.asarray(message.quantities, dtype=np.int64),
        occurred_at_ns=np.asarray(message.occurred_at_unix_nanos, dtype=np.int64),
        duration_items=_indices(message.duration_items),
        durations_ns=np.asarray(message.durations_nanos, dtype=np.int64),
        attribute_sets=[entry.attributes for entry in message.attribute_sets],
        attribute_set_indices=_indices(message.attribute_set_indices) if has_attributes else None,
        reservation_ids=list(message.reservation_ids),
    )


def column_fields(violations: Sequence[Violation]) -> list[Violation]:
    """Violations the rules name as rows' (``items[17].quantity``, ``items``), named
    under the request's columns (``columns.items[17].quantity``, ``columns``); the
    others (``request_id``, ``account_id``, ``columns.sku_indices[3]``) as they are."""
    renamed = []
    for violation in violations:
        field = violation.field
        if field == "items" or field.startswith("items["):
            violation = dataclasses.replace(
                violation,
                field="columns" + field[5:] if field == "items" else "columns." + field,
            )
        renamed.append(violation)
    return renamed


def line_price(requested: str, sku: Sku, price: PriceVersion) -> columns_pb2.LinePrice:
    """What lines rated at ``price`` of ``sku``, asked for as ``requested``, share."""
    return _price_message(*price_fields(sku, price, requested))


def _price_message(
    sku: str,
    requested: str,
    category: str,
    unit: str,
    price_unit: int,
    label: str,
    unit_price: str,
    billed_by: str,
    effective_from_ns: int,
) -> columns_pb2.LinePrice:
    return columns_pb2.LinePrice(
        sku=sku,
        requested_sku=requested,
        category=CATEGORY[category],
        unit=unit,
        price_unit=price_unit,
        price_unit_label=label,
        unit_price=unit_price,
        billed_by=BILLED_BY[billed_by],
        price_effective_from=timestamp(effective_from_ns),
    )


def rated_columns(rated: RatedColumns) -> columns_pb2.RatedColumns:
    """The lines of a Quote without an account, as columns."""
    out = columns_pb2.RatedColumns(
        prices=[line_price(name, sku, price) for name, sku, price in rated.prices]
    )
    out.price_indices.extend(rated.price_indices.tolist())
    out.rated_quantities.extend(rated.rated.tolist())
    _wide(out, rated.wide)
    out.micros.extend(rated.micros.tolist())
    return out


def _wide(out: columns_pb2.RatedColumns, wide: Mapping[int, int]) -> None:
    for line, quantity in sorted(wide.items()):
        out.wide_lines.append(line)
        out.wide_rated_quantities.append(str(quantity))


_PRICE_KEY = operator.attrgetter("sku", "requested_sku", "price_effective_from_ns")
_RATED = operator.attrgetter("rated_quantity")
_MICROS = operator.attrgetter("micros")
_BILLING = operator.attrgetter("billing_account_id")
_FUNDING = operator.attrgetter("funding")
_DUPLICATE = operator.attrgetter("duplicate")
_PRICE_OF = operator.attrgetter(*PRICE_FIELDS)


def charged_columns(lines: Sequence[ChargedLine]) -> columns_pb2.RatedColumns:
    """The lines of a commit (or a Quote with an account), funded, as columns. Each
    column is read off the lines at once (``attrgetter``, in C); only the funding parts
    are walked line by line."""
    out = columns_pb2.RatedColumns()
    # The lines of one receipt were rated with one catalog: a SKU, the name asked for
    # and the start of the price name the rest of a line's price fields.
    keys = list(map(_PRICE_KEY, lines))
    prices: dict[tuple[str, str, int], int] = {}
    out.price_indices.extend([prices.setdefault(key, len(prices)) for key in keys])
    first = dict(zip(reversed(keys), reversed(lines), strict=True))  # each key's first line
    out.prices.extend(_line_price(first[key]) for key in prices)
    rated = list(map(_RATED, lines))
    wide: dict[int, int] = {}
    if rated and max(rated) > _INT64_MAX:
        wide = {index: quantity for index, quantity in enumerate(rated) if quantity > _INT64_MAX}
        for index in wide:
            rated[index] = -1
    out.rated_quantities.extend(rated)
    _wide(out, wide)
    out.micros.extend(map(_MICROS, lines))
    billing: dict[str, int] = {}
    out.billing_account_indices.extend(
        [billing.setdefault(account, len(billing)) for account in map(_BILLING, lines)]
    )
    out.billing_accounts.extend(billing)
    targets: dict[tuple[str, str, str, str], int] = {}
    funding_lines: list[int] = []
    funding_targets: list[int] = []
    funding_micros: list[int] = []
    for index, parts in enumerate(map(_FUNDING, lines)):
        for source, micros, pack_id, day, month in parts:
            funding_lines.append(index)
            funding_targets.append(targets.setdefault((source, pack_id, day, month), len(targets)))
            funding_micros.append(micros)
    out.funding_targets.extend(
        columns_pb2.FundingTarget(source=FUNDING_SOURCE[source], pack_id=pack, day=day, month=month)
        for source, pack, day, month in targets
    )
    out.funding_lines.extend(funding_lines)
    out.funding_target_indices.extend(funding_targets)
    out.funding_micros.extend(funding_micros)
    duplicates = [index for index, duplicate in enumerate(map(_DUPLICATE, lines)) if duplicate]
    out.duplicate_lines.extend(duplicates)
    out.original_charge_ids.extend(lines[index].original_charge_id for index in duplicates)
    return out


def _line_price(line: ChargedLine) -> columns_pb2.LinePrice:
    return _price_message(*_PRICE_OF(line))
