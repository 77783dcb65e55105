"""The catalog's SQLite tables (``catalog.store`` names their records' fields)."""

from __future__ import annotations

from sqlite_utils import Database

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


def ensure_schema(db: Database) -> None:
    with db.atomic():
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
