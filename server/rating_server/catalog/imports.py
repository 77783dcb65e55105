"""The import of a catalog file: what an import may change, written once above the
catalog's store (``store.py``).

Each import that changes something is a new catalog version. Price versions are
effective-dated and immutable: an import adds new ones and never changes or deletes
an old one, so usage is always rated at the price that was in force when it happened.
SKU metadata (name, aliases, ...) follows the latest import. An import never deletes a
SKU.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rating_server.catalog.file import CatalogDef, load_file
from rating_server.catalog.model import CatalogError
from rating_server.catalog.snapshots import snapshot_of
from rating_server.catalog.store import (
    ALIASES,
    PATTERNS,
    PLANS,
    PRICES,
    SKUS,
    UNITS,
    CatalogStore,
    CatalogTx,
    Record,
    format_instant,
)
from rating_server.money import canonical, parse_decimal


@dataclass(frozen=True, slots=True)
class ImportResult:
    version: int
    changed: bool


def import_file(store: CatalogStore, path: str | Path, now: datetime | None = None) -> ImportResult:
    """Import the catalog file at ``path``; all of it, or nothing on any error."""
    data = Path(path).read_bytes()
    definition = load_file(path)
    return import_catalog(
        store, definition, source=str(path), sha256=hashlib.sha256(data).hexdigest(), now=now
    )


def import_catalog(
    store: CatalogStore,
    definition: CatalogDef,
    source: str,
    sha256: str,
    now: datetime | None = None,
) -> ImportResult:
    """Merge a parsed catalog into the store as a new version, in one transaction,
    in its turn among the database's writers (however long the server's commits keep
    it waiting).

    Raises CatalogError, writing nothing, when the result would contradict itself or
    an existing price version would change.
    """
    with store.importing() as tx:
        return _import_catalog(tx, definition, source, sha256, now)


def _import_catalog(
    tx: CatalogTx, definition: CatalogDef, source: str, sha256: str, now: datetime | None
) -> ImportResult:
    changed = False
    changed |= _upsert(
        tx,
        UNITS,
        "name",
        [{"name": u.name, "price_unit": u.price_unit, "label": u.label} for u in definition.units],
    )
    changed |= _upsert(
        tx,
        PLANS,
        "name",
        [
            {
                "name": p.name,
                "daily_free_points": canonical(p.daily_free_points),
                "free_storage_bytes": p.free_storage_bytes,
            }
            for p in definition.plans
        ],
    )
    changed |= _upsert(
        tx,
        SKUS,
        "id",
        [
            {
                "id": s.id,
                "name": s.name,
                "category": s.category,
                "unit": s.unit,
                "billed_by": s.billed_by,
                "increment": s.increment,
                "metering": s.metering,
            }
            for s in definition.skus
        ],
    )
    changed |= _replace_names(tx, ALIASES, "alias", {s.id: s.aliases for s in definition.skus})
    changed |= _replace_names(tx, PATTERNS, "pattern", {s.id: s.patterns for s in definition.skus})
    now = now or datetime.now(UTC)
    new_prices = _new_prices(tx, definition, now)
    if not changed and not new_prices:
        return ImportResult(version=tx.current_version(), changed=False)
    version = tx.add_version(format_instant(now), source, sha256)
    tx.insert(PRICES, [{**row, "catalog_version": version} for row in new_prices])
    snapshot_of(tx)  # refuse (and roll back) a catalog that contradicts itself
    return ImportResult(version=version, changed=True)


# Fields an import may never change, because earlier usage was rated or funded with
# them: a unit's size, a plan's entitlements, how a SKU is measured and who bills it.
# (To change one, declare a new unit, plan or SKU.)
FROZEN = {
    UNITS: ("price_unit",),
    PLANS: ("daily_free_points", "free_storage_bytes"),
    SKUS: ("unit", "increment", "metering", "billed_by"),
}


def _upsert(tx: CatalogTx, table: str, pk: str, rows: list[Record]) -> bool:
    existing = {row[pk]: row for row in tx.records(table)}
    for row in rows:
        before = existing.get(row[pk])
        for name in FROZEN.get(table, ()):
            if before is not None and before[name] != row[name]:
                raise CatalogError(
                    f"{table}.{row[pk]}.{name}: is {before[name]!r}, not {row[name]!r}; it "
                    "cannot change, since earlier usage depends on it (add a new one instead)"
                )
    fresh = [row for row in rows if existing.get(row[pk]) != row]
    if fresh:
        tx.upsert(table, pk, fresh)
    return bool(fresh)


def _replace_names(
    tx: CatalogTx, table: str, column: str, names_by_sku: dict[str, tuple[str, ...]]
) -> bool:
    """Give each SKU exactly its listed names; a name may move between listed SKUs."""
    existing: dict[str, set[str]] = {}
    for row in tx.records(table):
        existing.setdefault(row["sku_id"], set()).add(row[column])
    changed = {
        sku_id: names
        for sku_id, names in names_by_sku.items()
        if existing.get(sku_id, set()) != set(names)
    }
    if changed:
        tx.delete_names(table, list(changed))
    owners = {row[column]: row["sku_id"] for row in tx.records(table)}
    for sku_id, names in changed.items():
        for name in names:
            if name in owners:
                raise CatalogError(
                    f"sku {sku_id!r}: {column} {name!r} already belongs to {owners[name]!r}"
                )
            owners[name] = sku_id
        tx.insert(table, [{column: name, "sku_id": sku_id} for name in names])
    return bool(changed)


def _new_prices(tx: CatalogTx, definition: CatalogDef, now: datetime) -> list[Record]:
    """The price versions to add. Versions never change, and a SKU that has a price
    gets new ones only from after ``now``: a price change never re-prices usage that
    already happened."""
    existing = {
        (row["sku_id"], row["effective_from"]): row["unit_price"] for row in tx.records(PRICES)
    }
    priced = {sku_id for sku_id, _ in existing}
    new = []
    for sku in definition.skus:
        for price in sku.prices:
            key = (sku.id, format_instant(price.effective_from))
            points = canonical(price.points)
            if key not in existing:
                if sku.id in priced and price.effective_from <= now:
                    raise CatalogError(
                        f"sku {sku.id!r}: a new price from {key[1]} would re-price usage "
                        f"that already happened; give it an effective_from after the "
                        f"import ({format_instant(now)})"
                    )
                new.append({"sku_id": key[0], "effective_from": key[1], "unit_price": points})
            elif parse_decimal(existing[key]) != price.points:
                raise CatalogError(
                    f"sku {sku.id!r}: the price in force from {key[1]} is "
                    f"{existing[key]}, not {points}; price versions never change, "
                    "add one with a later effective_from instead"
                )
    return new
