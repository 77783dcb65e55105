"""The results of column calls (``quote_columns``, ``commit_columns``): the lines as the
server sent them, in columns, and as ``Line`` objects when asked.

``RatedColumns`` (columns.proto) gives per line a price index, the rated quantity and
the amount in integer micro-points (1 point = 10^6 micro-points), and per batch the
distinct prices, funding targets and billing accounts once. A line's usage_id, account
and quantity are those of the request's item: the request's columns are kept with the
result. ``result.line(i)``, ``result[i]``, iteration and ``result.lines`` build ``Line``
values only when asked: line i is exactly the ``Line`` the row form (``quote`` /
``commit``) gives for the same item, its ``raw`` RatedLine included.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from rating.types import Funding, Line, QuoteFunding, _enum, _points, _when
from rating.v1 import columns_pb2, rating_service_pb2, usage_pb2


def _scaled(value: int, places: int) -> str:
    """``value`` x 10^-places as the server writes amounts: no exponent, no trailing
    zeros ("0.3702", "480", "0")."""
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), 10**places)
    if not fraction:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{places}d}".rstrip("0")


@dataclass(frozen=True, slots=True)
class Price:
    """What every line rated at one price has in common (a ``LinePrice``)."""

    sku: str
    requested_sku: str
    category: str
    unit: str
    price_unit: int
    price_unit_label: str
    unit_price: Decimal
    billed_by: str
    price_effective_from: datetime
    raw: columns_pb2.LinePrice = field(repr=False)

    @classmethod
    def of(cls, raw: columns_pb2.LinePrice) -> Price:
        return cls(
            sku=raw.sku,
            requested_sku=raw.requested_sku,
            category=_enum(raw.category, usage_pb2.Category, "CATEGORY_"),
            unit=raw.unit,
            price_unit=raw.price_unit,
            price_unit_label=raw.price_unit_label,
            unit_price=_points(raw.unit_price),
            billed_by=_enum(raw.billed_by, usage_pb2.BilledBy, "BILLED_BY_"),
            price_effective_from=_when(raw.price_effective_from),
            raw=raw,
        )


@dataclass(frozen=True, slots=True)
class FundingTarget:
    """A place lines are funded from: "free_points" of a ``day``, a "resource_pack"
    (``pack_id``) or the "pay_as_you_go" bill of a ``month``."""

    source: str
    pack_id: str
    day: str
    month: str
    raw: columns_pb2.FundingTarget = field(repr=False)

    @classmethod
    def of(cls, raw: columns_pb2.FundingTarget) -> FundingTarget:
        return cls(
            source=_enum(raw.source, usage_pb2.FundingSource, "FUNDING_SOURCE_"),
            pack_id=raw.pack_id,
            day=raw.day,
            month=raw.month,
            raw=raw,
        )


class RatedLines:
    """Lines as columns. The per-line columns are the message's packed fields, read
    without a copy: ``price_indices`` (into ``prices``), ``micros`` (amounts in
    micro-points), ``billing_account_indices`` (into ``billing_accounts``; empty for a
    quote without an account); the funding parts, flattened (``funding_lines``,
    ``funding_target_indices`` into ``funding_targets``, ``funding_micros``);
    ``duplicate_lines`` with ``original_charge_ids``. ``rated_quantities`` are exact
    ints, the wide ones (past int64) included. ``columns`` is the ``RatedColumns``
    message and ``usage`` the request's ``UsageColumns``."""

    __slots__ = ("_lines", "_wide", "columns", "funding_targets", "prices", "usage")

    def __init__(self, columns: columns_pb2.RatedColumns, usage: columns_pb2.UsageColumns) -> None:
        count = len(usage.usage_ids)
        for name in ("price_indices", "rated_quantities", "micros", "billing_account_indices"):
            length = len(getattr(columns, name))
            if length != count and not (name == "billing_account_indices" and length == 0):
                raise ValueError(f"the answer's columns.{name} has {length} values, not {count}")
        pairs = (
            ("wide_lines", "wide_rated_quantities"),
            ("funding_lines", "funding_target_indices"),
            ("funding_lines", "funding_micros"),
            ("duplicate_lines", "original_charge_ids"),
        )
        for first, second in pairs:
            if len(getattr(columns, first)) != len(getattr(columns, second)):
                raise ValueError(f"the answer's columns.{first} and {second} differ in length")
        self.columns = columns
        self.usage = usage
        self.prices = tuple(Price.of(price) for price in columns.prices)
        self.funding_targets = tuple(FundingTarget.of(t) for t in columns.funding_targets)
        self._wide = dict(zip(columns.wide_lines, columns.wide_rated_quantities, strict=True))
        self._lines: tuple[Line, ...] | None = None

    # As columns.

    @property
    def price_indices(self) -> Sequence[int]:
        return self.columns.price_indices

    @property
    def micros(self) -> Sequence[int]:
        return self.columns.micros

    @property
    def rated_quantities(self) -> Sequence[int]:
        if not self._wide:
            return self.columns.rated_quantities
        exact = list(self.columns.rated_quantities)
        for index, text in self._wide.items():
            exact[index] = int(text)
        return exact

    @property
    def funding_lines(self) -> Sequence[int]:
        return self.columns.funding_lines

    @property
    def funding_target_indices(self) -> Sequence[int]:
        return self.columns.funding_target_indices

    @property
    def funding_micros(self) -> Sequence[int]:
        return self.columns.funding_micros

    @property
    def billing_accounts(self) -> Sequence[str]:
        return self.columns.billing_accounts

    @property
    def billing_account_indices(self) -> Sequence[int]:
        return self.columns.billing_account_indices

    @property
    def duplicate_lines(self) -> Sequence[int]:
        return self.columns.duplicate_lines

    @property
    def original_charge_ids(self) -> Sequence[str]:
        return self.columns.original_charge_ids

    # As lines, on demand.

    def __len__(self) -> int:
        return len(self.usage.usage_ids)

    def __getitem__(self, index: int) -> Line:
        return self.line(index)

    def __iter__(self) -> Iterator[Line]:
        return (self.line(index) for index in range(len(self)))

    @property
    def lines(self) -> tuple[Line, ...]:
        """Every line as a ``Line`` (built on first use, then kept)."""
        if self._lines is None:
            self._lines = tuple(self)
        return self._lines

    def line(self, index: int) -> Line:
        """Line ``index`` as a ``Line``: the one the row form gives for the item."""
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"line {index} of {count}")
        index %= count
        columns, usage = self.columns, self.usage
        price = columns.prices[columns.price_indices[index]]
        micros = columns.micros[index]
        duplicate = _find(columns.duplicate_lines, index)
        billing = ""
        if columns.billing_account_indices:
            billing = columns.billing_accounts[columns.billing_account_indices[index]]
        raw = usage_pb2.RatedLine(
            usage_id=usage.usage_ids[index],
            account_id=usage.accounts[usage.account_indices[index]],
            sku=price.sku,
            requested_sku=price.requested_sku,
            category=price.category,
            quantity=usage.quantities[index],
            rated_quantity=str(self.rated_quantity(index)),
            unit=price.unit,
            price_unit=price.price_unit,
            price_unit_label=price.price_unit_label,
            unit_price=price.unit_price,
            points=_scaled(micros, 6),
            yuan=_scaled(micros, 9),
            billed_by=price.billed_by,
            price_effective_from=price.price_effective_from,
            funding=self._funding(index),
            duplicate=duplicate is not None,
            original_charge_id="" if duplicate is None else columns.original_charge_ids[duplicate],
            billing_account_id=billing,
        )
        return Line.of(raw)

    def rated_quantity(self, index: int) -> int:
        wide = self._wide.get(index)
        return int(wide) if wide is not None else self.columns.rated_quantities[index]

    def line_funding(self, index: int) -> tuple[Funding, ...]:
        """Line ``index``'s funding parts, in draw-down order."""
        return tuple(Funding.of(part) for part in self._funding(index))

    def _funding(self, index: int) -> list[usage_pb2.Funding]:
        columns = self.columns
        lines = columns.funding_lines
        parts = []
        for part in range(bisect_left(lines, index), bisect_right(lines, index)):
            target = columns.funding_targets[columns.funding_target_indices[part]]
            parts.append(
                usage_pb2.Funding(
                    source=target.source,
                    points=_scaled(columns.funding_micros[part], 6),
                    pack_id=target.pack_id,
                    day=target.day,
                    month=target.month,
                )
            )
        return parts


def _find(ascending: Sequence[int], value: int) -> int | None:
    """The position of ``value`` in an ascending column, or None."""
    position = bisect_left(ascending, value)
    return position if position < len(ascending) and ascending[position] == value else None


class ColumnQuote(RatedLines):
    """A quote of columns: ``Quote``'s fields (``lines`` built when first read) and the
    columns (``RatedLines``)."""

    __slots__ = ("catalog_version", "funding", "raw", "total_points", "total_yuan")

    def __init__(
        self, raw: rating_service_pb2.QuoteResponse, usage: columns_pb2.UsageColumns
    ) -> None:
        super().__init__(raw.columns, usage)
        self.raw = raw
        self.total_points = _points(raw.total_points)
        self.total_yuan = _points(raw.total_yuan)
        self.catalog_version = raw.catalog_version
        self.funding = QuoteFunding.of(raw.funding) if raw.HasField("funding") else None

    def __repr__(self) -> str:
        return (
            f"ColumnQuote({len(self)} lines, total_points={self.total_points!r}, "
            f"catalog_version={self.catalog_version}, funding={self.funding!r})"
        )


class ColumnReceipt(RatedLines):
    """A commit of columns: ``Receipt``'s fields (``lines`` and ``duplicates`` built
    when first read) and the columns (``RatedLines``)."""

    __slots__ = (
        "catalog_version",
        "charge_id",
        "commit_time",
        "raw",
        "request_id",
        "total_points",
        "total_yuan",
    )

    def __init__(
        self,
        request_id: str,
        raw: rating_service_pb2.CommitChargesResponse,
        usage: columns_pb2.UsageColumns,
    ) -> None:
        super().__init__(raw.columns, usage)
        self.request_id = request_id
        self.raw = raw
        self.charge_id = raw.charge_id
        self.total_points = _points(raw.total_points)
        self.total_yuan = _points(raw.total_yuan)
        self.catalog_version = raw.catalog_version
        self.commit_time = _when(raw.commit_time)

    @property
    def duplicates(self) -> tuple[Line, ...]:
        """Lines whose usage_id had been committed before, so not charged again."""
        return tuple(self.line(index) for index in self.duplicate_lines)

    def __repr__(self) -> str:
        return (
            f"ColumnReceipt({len(self)} lines, charge_id={self.charge_id!r}, "
            f"request_id={self.request_id!r}, total_points={self.total_points!r})"
        )
