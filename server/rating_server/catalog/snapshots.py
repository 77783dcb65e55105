"""The catalog in memory: a store's records read into one immutable snapshot."""

from __future__ import annotations

from decimal import Decimal

from rating_server.catalog.model import CatalogSnapshot, Plan, PriceVersion, Sku
from rating_server.catalog.store import (
    ALIASES,
    PATTERNS,
    PLANS,
    PRICES,
    SKUS,
    UNITS,
    CatalogStore,
    CatalogTx,
    instant_ns,
)
from rating_server.money import Rate, exact_micros, parse_decimal


def load_snapshot(store: CatalogStore) -> CatalogSnapshot:
    """Read the whole catalog, in one read transaction, into an immutable snapshot.
    CatalogError when the catalog stored contradicts itself."""
    with store.read() as tx:
        return snapshot_of(tx)


def snapshot_of(tx: CatalogTx) -> CatalogSnapshot:
    """The catalog as ``tx`` sees it."""
    version = tx.current_version()
    units = {row["name"]: row for row in tx.records(UNITS)}
    plans = {
        row["name"]: Plan(
            name=row["name"],
            daily_free_micros=exact_micros(parse_decimal(row["daily_free_points"])),
            free_storage_bytes=row["free_storage_bytes"],
        )
        for row in tx.records(PLANS)
    }
    aliases = _grouped(tx, ALIASES, "alias")
    patterns = _grouped(tx, PATTERNS, "pattern")
    prices: dict[str, list[tuple[int, str]]] = {}
    for row in sorted(tx.records(PRICES), key=lambda row: (row["sku_id"], row["effective_from"])):
        prices.setdefault(row["sku_id"], []).append(
            (instant_ns(row["effective_from"]), row["unit_price"])
        )
    skus = []
    for row in tx.records(SKUS):
        unit = units[row["unit"]]
        skus.append(
            Sku(
                id=row["id"],
                name=row["name"],
                category=row["category"],
                unit=row["unit"],
                price_unit=unit["price_unit"],
                price_unit_label=unit["label"],
                billed_by=row["billed_by"],
                increment=row["increment"],
                metering=row["metering"],
                aliases=tuple(sorted(aliases.get(row["id"], ()))),
                patterns=tuple(sorted(patterns.get(row["id"], ()))),
                prices=tuple(
                    _price_version(start, parse_decimal(text), unit["price_unit"])
                    for start, text in prices.get(row["id"], ())
                ),
            )
        )
    return CatalogSnapshot(version=version, skus=skus, plans=plans)


def _price_version(start_ns: int, price: Decimal, price_unit: int) -> PriceVersion:
    return PriceVersion(effective_from_ns=start_ns, unit_price=price, rate=Rate(price, price_unit))


def _grouped(tx: CatalogTx, table: str, column: str) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for row in tx.records(table):
        grouped.setdefault(row["sku_id"], []).append(row[column])
    return grouped
