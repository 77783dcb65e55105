"""The catalog's SQLite tables, the import of a catalog file, and loading a snapshot.

Tables: ``catalog_versions`` (one row per import that changed something),
``units``, ``plans``, ``skus``, ``sku_aliases``, ``sku_patterns`` and
``price_versions``. Price versions are effective-dated and immutable: an import adds
new ones and never changes or deletes an old one, so usage is always rated at the
price that was in force when it happened. SKU metadata (name, aliases, ...) follows
the latest import. An import never deletes a SKU.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from rating_server.catalog.file import CatalogDef, load_file
from rating_server.catalog.model import CatalogError, CatalogSnapshot, Plan, PriceVersion, Sku
from rating_server.money import Rate, canonical, exact_micros, parse_decimal
from rating_server.sqlite.writer_turn import turn_taken

SCHEMA = """
CREATE TABLE IF NOT EXISTS catalog_versions (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    imported_at TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS units (
    name TEXT PRIMARY KEY,
    price_unit INTEGER NOT NULL CHECK (price_unit > 0),
    label TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS plans (
    name TEXT PRIMARY KEY,
    daily_free_points TEXT NOT NULL,
    free_storage_bytes INTEGER NOT NULL CHECK (free_storage_bytes >= 0)
);
CREATE TABLE IF NOT EXISTS skus (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    unit TEXT NOT NULL REFERENCES units(name),
    billed_by TEXT NOT NULL,
    increment INTEGER NOT NULL CHECK (increment >= 0),
    metering TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sku_aliases (
    alias TEXT PRIMARY KEY,
    sku_id TEXT NOT NULL REFERENCES skus(id)
);
CREATE TABLE IF NOT EXISTS sku_patterns (
    pattern TEXT PRIMARY KEY,
    sku_id TEXT NOT NULL REFERENCES skus(id)
);
CREATE TABLE IF NOT EXISTS price_versions (
    sku_id TEXT NOT NULL REFERENCES skus(id),
    effective_from TEXT NOT NULL,
    unit_price TEXT NOT NULL,
    catalog_version INTEGER NOT NULL REFERENCES catalog_versions(version),
    PRIMARY KEY (sku_id, effective_from)
);
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ImportResult:
    version: int
    changed: bool


def ensure_schema(db: Database) -> None:
    with db.atomic():
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)


def current_version(db: Database) -> int:
    """The latest catalog version, or 0 when nothing was ever imported."""
    row = db.execute("SELECT max(version) FROM catalog_versions").fetchone()
    return row[0] or 0


def format_instant(instant: datetime) -> str:
    """A UTC instant as fixed-width ISO 8601 text, which sorts in time order."""
    t = instant.astimezone(UTC)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T"
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond:06d}Z"
    )


def instant_ns(text: str) -> int:
    """Nanoseconds since the epoch of an instant written by format_instant."""
    return (datetime.fromisoformat(text) - _EPOCH) // timedelta(microseconds=1) * 1000


def import_file(db: Database, path: str | Path, now: datetime | None = None) -> ImportResult:
    """Import the catalog file at ``path``; all of it, or nothing on any error."""
    data = Path(path).read_bytes()
    definition = load_file(path)
    return import_catalog(
        db, definition, source=str(path), sha256=hashlib.sha256(data).hexdigest(), now=now
    )


def import_catalog(
    db: Database,
    definition: CatalogDef,
    source: str,
    sha256: str,
    now: datetime | None = None,
) -> ImportResult:
    """Merge a parsed catalog into the database as a new version, in one transaction,
    in its turn among the database's writers (however long the server's commits keep
    it waiting).

    Raises CatalogError, writing nothing, when the result would contradict itself or
    an existing price version would change.
    """
    with _writers_turn(db):
        return _import_catalog(db, definition, source, sha256, now)


@contextmanager
def _writers_turn(db: Database) -> Iterator[None]:
    """The writers' turn of the file ``db`` is open on (``writer_turn``); a database in
    memory has no other writer."""
    file = db.execute("PRAGMA database_list").fetchone()[2]
    if not file:
        yield
        return
    with turn_taken(file):
        yield


def _import_catalog(
    db: Database, definition: CatalogDef, source: str, sha256: str, now: datetime | None
) -> ImportResult:
    ensure_schema(db)
    with db.atomic():
        changed = False
        changed |= _upsert(
            db,
            "units",
            "name",
            [
                {"name": u.name, "price_unit": u.price_unit, "label": u.label}
                for u in definition.units
            ],
        )
        changed |= _upsert(
            db,
            "plans",
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
            db,
            "skus",
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
        changed |= _replace_names(
            db, "sku_aliases", "alias", {s.id: s.aliases for s in definition.skus}
        )
        changed |= _replace_names(
            db, "sku_patterns", "pattern", {s.id: s.patterns for s in definition.skus}
        )
        now = now or datetime.now(UTC)
        new_prices = _new_prices(db, definition, now)
        if not changed and not new_prices:
            return ImportResult(version=current_version(db), changed=False)
        version = (
            db["catalog_versions"]
            .insert(
                {
                    "imported_at": format_instant(now),
                    "source": source,
                    "sha256": sha256,
                }
            )
            .last_pk
        )
        assert isinstance(version, int)
        db["price_versions"].insert_all([{**row, "catalog_version": version} for row in new_prices])
        load_snapshot(db)  # refuse (and roll back) a catalog that contradicts itself
        return ImportResult(version=version, changed=True)


# Fields an import may never change, because earlier usage was rated or funded with
# them: a unit's size, a plan's entitlements, how a SKU is measured and who bills it.
# (To change one, declare a new unit, plan or SKU.)
FROZEN = {
    "units": ("price_unit",),
    "plans": ("daily_free_points", "free_storage_bytes"),
    "skus": ("unit", "increment", "metering", "billed_by"),
}


def _upsert(db: Database, table: str, pk: str, rows: list[dict[str, Any]]) -> bool:
    existing = {row[pk]: row for row in db[table].rows}
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
        db[table].upsert_all(fresh, pk=pk)
    return bool(fresh)


def _replace_names(
    db: Database, table: str, column: str, names_by_sku: dict[str, tuple[str, ...]]
) -> bool:
    """Give each SKU exactly its listed names; a name may move between listed SKUs."""
    existing: dict[str, set[str]] = {}
    for row in db[table].rows:
        existing.setdefault(row["sku_id"], set()).add(row[column])
    changed = {
        sku_id: names
        for sku_id, names in names_by_sku.items()
        if existing.get(sku_id, set()) != set(names)
    }
    for sku_id in changed:
        db.execute(f"DELETE FROM {table} WHERE sku_id = ?", [sku_id])
    owners = {row[column]: row["sku_id"] for row in db[table].rows}
    for sku_id, names in changed.items():
        for name in names:
            if name in owners:
                raise CatalogError(
                    f"sku {sku_id!r}: {column} {name!r} already belongs to {owners[name]!r}"
                )
            owners[name] = sku_id
        db[table].insert_all([{column: name, "sku_id": sku_id} for name in names])
    return bool(changed)


def _new_prices(db: Database, definition: CatalogDef, now: datetime) -> list[dict[str, Any]]:
    """The price versions to add. Versions never change, and a SKU that has a price
    gets new ones only from after ``now``: a price change never re-prices usage that
    already happened."""
    existing = {
        (row["sku_id"], row["effective_from"]): row["unit_price"]
        for row in db["price_versions"].rows
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


def load_snapshot(db: Database) -> CatalogSnapshot:
    """Read the whole catalog, in one read transaction, into an immutable snapshot."""
    with db.atomic():
        version = current_version(db)
        units = {row["name"]: row for row in db["units"].rows}
        plans = {
            row["name"]: Plan(
                name=row["name"],
                daily_free_micros=exact_micros(parse_decimal(row["daily_free_points"])),
                free_storage_bytes=row["free_storage_bytes"],
            )
            for row in db["plans"].rows
        }
        aliases = _grouped(db, "sku_aliases", "alias")
        patterns = _grouped(db, "sku_patterns", "pattern")
        prices: dict[str, list[tuple[int, str]]] = {}
        for row in db.execute(
            "SELECT sku_id, effective_from, unit_price FROM price_versions "
            "ORDER BY sku_id, effective_from"
        ):
            prices.setdefault(row[0], []).append((instant_ns(row[1]), row[2]))
        skus = []
        for row in db["skus"].rows:
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


def _grouped(db: Database, table: str, column: str) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for row in db[table].rows:
        grouped.setdefault(row["sku_id"], []).append(row[column])
    return grouped
