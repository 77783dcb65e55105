"""The catalog as immutable in-memory values: one snapshot per catalog version.

Rating reads only these objects, never the database, so a batch is rated against
one consistent snapshot however the catalog changes meanwhile.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING

from rating_server.ids import id_problem
from rating_server.money import Rate, canonical
from rating_server.units import FOREVER_NS

if TYPE_CHECKING:
    import numpy as np

CATEGORIES = ("model", "agent", "speech", "rtc", "knowledge", "plugin")
BILLERS = ("coze", "ark")
METERINGS = ("count", "storage")
BASE_UNITS = ("token", "character", "call", "millisecond", "byte_millisecond")


def price_allowed(billed_by: str, points: Decimal) -> bool:
    """Whether a SKU billed by ``billed_by`` may have a price of ``points``: a SKU
    Volcano Ark bills is rated 0 points here (the ledger's check counts its lines
    unfunded), any other at its price."""
    return billed_by != "ark" or points == 0


class CatalogError(ValueError):
    """The catalog contradicts itself (a name used twice, an unknown unit, ...)."""


@dataclass(frozen=True, slots=True)
class PriceVersion:
    """A price in points per price unit, in force from ``effective_from_ns`` on."""

    effective_from_ns: int
    unit_price: Decimal
    rate: Rate = field(compare=False, repr=False)
    #: unit_price as a canonical decimal string, made once.
    unit_price_text: str = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "unit_price_text", canonical(self.unit_price))


@dataclass(frozen=True, slots=True)
class Sku:
    id: str
    name: str
    category: str
    unit: str
    price_unit: int
    price_unit_label: str
    billed_by: str
    increment: int
    metering: str
    aliases: tuple[str, ...]
    patterns: tuple[str, ...]
    prices: tuple[PriceVersion, ...]
    _starts: tuple[int, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", tuple(p.effective_from_ns for p in self.prices))

    def price_at(self, at_ns: int) -> PriceVersion | None:
        """The price in force at ``at_ns`` (ns since the epoch), or None before the first."""
        starts = self._starts
        if starts and at_ns >= starts[-1]:  # nearly all usage: the newest price, no search
            return self.prices[-1]
        index = bisect_right(starts, at_ns)
        return self.prices[index - 1] if index else None

    def price_span(self, at_ns: int) -> tuple[PriceVersion, int, int] | None:
        """The price in force at ``at_ns`` (``price_at``) and the instants it is in force
        at, [from, until): until the next price's start (or forever). None before the
        first price."""
        price = self.price_at(at_ns)
        if price is None:
            return None
        starts = self._starts
        later = bisect_right(starts, price.effective_from_ns)
        until = starts[later] if later < len(starts) else FOREVER_NS
        return price, price.effective_from_ns, until

    def versions_at(self, at_ns: np.ndarray) -> np.ndarray:
        """``price_at`` for a column of instants (int64 nanoseconds): the index in
        ``prices`` of the price in force at each, -1 before the first."""
        import numpy as np  # only the columns need it

        starts = np.array(self._starts, dtype=np.int64)
        result: np.ndarray = np.searchsorted(starts, at_ns, side="right") - 1
        return result


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    daily_free_micros: int
    free_storage_bytes: int


def _key(name: str) -> str:
    return name.casefold()


def _split_pattern(pattern: str) -> tuple[str, str]:
    if pattern.count("*") != 1:
        raise CatalogError(f"pattern {pattern!r} must hold exactly one '*'")
    prefix, suffix = pattern.split("*")
    return _key(prefix), _key(suffix)


def _overlap(prefix: str, suffix: str, other_prefix: str, other_suffix: str) -> bool:
    """Whether some name matches both patterns: with one prefix starting the other and
    one suffix ending the other, a long enough name has both (else none has)."""
    return (prefix.startswith(other_prefix) or other_prefix.startswith(prefix)) and (
        suffix.endswith(other_suffix) or other_suffix.endswith(suffix)
    )


class CatalogSnapshot:
    """One catalog version: SKUs by id and by every name, and the plans."""

    def __init__(
        self,
        version: int,
        skus: Iterable[Sku],
        plans: Mapping[str, Plan],
        default_plan: str = "basic",
    ) -> None:
        self.version = version
        self.skus: dict[str, Sku] = {}
        self.plans = dict(plans)
        if default_plan not in self.plans:
            raise CatalogError(f"the catalog has no plan {default_plan!r}")
        self.default_plan = self.plans[default_plan]
        self._names: dict[str, Sku] = {}
        patterns: list[tuple[str, str, Sku]] = []
        for sku in sorted(skus, key=lambda s: s.id):
            if not all(price_allowed(sku.billed_by, p.unit_price) for p in sku.prices):
                raise CatalogError(f"{sku.id!r} is billed by Ark, so its prices must be 0")
            self.skus[sku.id] = sku
            for name in (sku.id, *sku.aliases):
                other = self._names.setdefault(_key(name), sku)
                if other is not sku:
                    raise CatalogError(
                        f"the name {name!r} is used by both {other.id!r} and {sku.id!r}"
                    )
            for pattern in sku.patterns:
                prefix, suffix = _split_pattern(pattern)
                for other_prefix, other_suffix, other in patterns:
                    if other is not sku and _overlap(prefix, suffix, other_prefix, other_suffix):
                        raise CatalogError(
                            f"the pattern {pattern!r} of {sku.id!r} and a pattern of "
                            f"{other.id!r} can match the same name"
                        )
                patterns.append((prefix, suffix, sku))
        self._patterns = tuple(patterns)
        self.ids = tuple(self.skus)
        #: SKUs by every id and alias, case-folded: the lookup ``resolve`` tries first
        #: (before it folds the name's case and tries the patterns).
        self.exact_names: Mapping[str, Sku] = MappingProxyType(self._names)

    def resolve(self, name: str) -> Sku | None:
        """The SKU a name stands for: its id, an alias or a pattern match, any case.

        What a pattern's ``*`` matches must be an id: printable, no spaces, at most 128
        characters.
        """
        sku = self._names.get(name)
        if sku is not None:
            return sku
        key = _key(name)
        sku = self._names.get(key)
        if sku is not None:
            return sku
        for prefix, suffix, candidate in self._patterns:
            if (
                len(key) > len(prefix) + len(suffix)
                and key.startswith(prefix)
                and key.endswith(suffix)
                and id_problem(key[len(prefix) : len(key) - len(suffix)]) is None
            ):
                return candidate
        return None
