"""The declarative catalog file (TOML): units, plans, SKUs, aliases and prices.

``server/catalog/seed.toml`` is the reference; this module parses such a file into
plain definitions and refuses anything malformed with the SKU and field named.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rating_server.catalog.model import (
    BASE_UNITS,
    BILLERS,
    CATEGORIES,
    METERINGS,
    CatalogError,
    price_allowed,
)
from rating_server.ids import id_problem
from rating_server.money import canonical, exact_micros, parse_decimal

SCHEMA = 1

# The keys each table may hold: any other is refused, so a misspelt one
# ("incremnet = 1000") is not silently left out.
_KEYS = {
    "document": ("schema", "units", "plans", "skus"),
    "unit": ("price_unit", "label"),
    "plan": ("daily_free_points", "free_storage_bytes"),
    "sku": (
        "id",
        "name",
        "category",
        "unit",
        "billed_by",
        "increment",
        "metering",
        "aliases",
        "patterns",
        "prices",
    ),
    "price": ("effective_from", "points"),
}


@dataclass(frozen=True, slots=True)
class UnitDef:
    name: str
    price_unit: int
    label: str


@dataclass(frozen=True, slots=True)
class PlanDef:
    name: str
    daily_free_points: Decimal
    free_storage_bytes: int


@dataclass(frozen=True, slots=True)
class PriceDef:
    effective_from: datetime
    points: Decimal


@dataclass(frozen=True, slots=True)
class SkuDef:
    id: str
    name: str
    category: str
    unit: str
    billed_by: str
    increment: int
    metering: str
    aliases: tuple[str, ...]
    patterns: tuple[str, ...]
    prices: tuple[PriceDef, ...]


@dataclass(frozen=True, slots=True)
class CatalogDef:
    units: tuple[UnitDef, ...]
    plans: tuple[PlanDef, ...]
    skus: tuple[SkuDef, ...]


def load_file(path: str | Path) -> CatalogDef:
    """Read and check a catalog file; raise CatalogError naming the line and field."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeError) as error:
        raise CatalogError(f"{path}: cannot read: {error}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"{path}: not valid TOML: {error}") from None
    try:
        return parse_document(document)
    except CatalogError as error:
        line = _line_of(text, str(error))
        where = f"{path}:{line}" if line else str(path)
        raise CatalogError(f"{where}: {error}") from None


_WHERE = re.compile(
    r"^(?:skus\[(?P<index>\d+)\](?: \([^)]*\))?|(?P<table>(?:units|plans)\.[\w-]+))"
    r"(?:\.(?P<key>\w+))?"
)


def _line_of(text: str, message: str) -> int | None:
    """The line a check's message is about: the key's line in its table, or the table's."""
    found = _WHERE.match(message)
    if not found:
        return None
    lines = text.splitlines()
    if found["index"] is not None:
        headers = [n for n, line in enumerate(lines) if line.strip() == "[[skus]]"]
        index = int(found["index"])
        if index >= len(headers):
            return None
        start = headers[index]
    else:
        header = f"[{found['table']}]"
        start = next((n for n, line in enumerate(lines) if line.strip() == header), -1)
        if start < 0:
            return None
    end = next(
        (n for n in range(start + 1, len(lines)) if lines[n].lstrip().startswith("[")), len(lines)
    )
    if found["key"]:
        for number in range(start + 1, end):
            if re.match(rf"\s*{found['key']}\s*=", lines[number]):
                return number + 1
    return start + 1


def parse_document(document: dict[str, Any]) -> CatalogDef:
    if document.get("schema") != SCHEMA:
        raise CatalogError(f"schema must be {SCHEMA}")
    _only_known(document, "document", "the catalog", top=True)
    units = tuple(_unit(name, body) for name, body in _table(document, "units", "units").items())
    plans = tuple(_plan(name, body) for name, body in _table(document, "plans", "plans").items())
    unit_names = {unit.name for unit in units}
    raw_skus = document.get("skus")
    if not isinstance(raw_skus, list) or not raw_skus:
        raise CatalogError("skus must be a non-empty array of tables")
    skus = tuple(_sku(index, body, unit_names) for index, body in enumerate(raw_skus))
    seen: set[str] = set()
    for sku in skus:
        if sku.id in seen:
            raise CatalogError(f"sku {sku.id!r} is defined twice")
        seen.add(sku.id)
    return CatalogDef(units=units, plans=plans, skus=skus)


def _table(body: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict) or not value:
        raise CatalogError(f"{where}: must be a non-empty table")
    return value


def _only_known(body: Any, kind: str, where: str, top: bool = False) -> None:
    """Refuse a key the table ``kind`` does not have (after checking it is a table)."""
    if not isinstance(body, dict):
        raise CatalogError(f"{where}: must be a table")
    unknown = sorted(set(body) - set(_KEYS[kind]))
    if unknown:
        at = f"{unknown[0]}" if top else f"{where}.{unknown[0]}"
        raise CatalogError(f"{at}: is not a key of {where} (known: {', '.join(_KEYS[kind])})")


def _get(body: Any, key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    if not isinstance(body, dict):
        raise CatalogError(f"{where}: must be a table")
    if key not in body:
        if default is ...:
            raise CatalogError(f"{where}.{key}: is required")
        return default
    value = body[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CatalogError(f"{where}.{key}: has the wrong type")
    return value


def _decimal(text: str, where: str) -> Decimal:
    try:
        value = parse_decimal(text)
    except ValueError as error:
        raise CatalogError(f"{where}: {error}") from None
    if value < 0:
        raise CatalogError(f"{where}: cannot be negative")
    return value


def _unit(name: str, body: Any) -> UnitDef:
    where = f"units.{name}"
    _only_known(body, "unit", where)
    if name not in BASE_UNITS:
        raise CatalogError(f"{where}: unknown base unit (known: {', '.join(BASE_UNITS)})")
    price_unit = _get(body, "price_unit", int, where)
    if price_unit <= 0:
        raise CatalogError(f"{where}.price_unit: must be positive")
    return UnitDef(name=name, price_unit=price_unit, label=_get(body, "label", str, where))


def _plan(name: str, body: Any) -> PlanDef:
    where = f"plans.{name}"
    _only_known(body, "plan", where)
    free_bytes = _get(body, "free_storage_bytes", int, where)
    if free_bytes < 0:
        raise CatalogError(f"{where}.free_storage_bytes: cannot be negative")
    free_where = f"{where}.daily_free_points"
    free_points = _decimal(_get(body, "daily_free_points", str, where), free_where)
    try:  # the ledger keeps a day's free points in whole micro-points
        exact_micros(free_points)
    except ValueError as error:
        raise CatalogError(f"{free_where}: {error}") from None
    return PlanDef(name=name, daily_free_points=free_points, free_storage_bytes=free_bytes)


def _choice(body: Any, key: str, choices: tuple[str, ...], where: str, default: Any = ...) -> str:
    value: str = _get(body, key, str, where, default)
    if value not in choices:
        raise CatalogError(f"{where}.{key}: {value!r} is not one of {', '.join(choices)}")
    return value


def _strings(body: Any, key: str, where: str) -> tuple[str, ...]:
    values = _get(body, key, list, where, [])
    if not all(isinstance(v, str) and v.strip() == v and v and v.isprintable() for v in values):
        raise CatalogError(
            f"{where}.{key}: must be non-empty printable strings without outer spaces"
        )
    return tuple(values)


def _patterns(body: Any, where: str) -> tuple[str, ...]:
    patterns = _strings(body, "patterns", where)
    for pattern in patterns:
        if pattern.count("*") != 1:
            raise CatalogError(f"{where}.patterns: {pattern!r} must hold exactly one '*'")
        if pattern == "*":  # every name would be this SKU: no SKU would ever be unknown
            raise CatalogError(f"{where}.patterns: '*' alone would match every name")
    return patterns


def _sku(index: int, body: Any, unit_names: set[str]) -> SkuDef:
    where = f"skus[{index}]"
    _only_known(body, "sku", where)
    sku_id = _get(body, "id", str, where)
    if id_problem(sku_id) or sku_id != sku_id.lower():
        raise CatalogError(
            f"{where}.id: must be lower case, 1 to 128 printable characters without spaces"
        )
    where = f"skus[{index}] ({sku_id})"
    name = _get(body, "name", str, where)
    if not name.strip():
        raise CatalogError(f"{where}.name: must not be empty")
    category = _choice(body, "category", CATEGORIES, where)
    billed_by = _choice(body, "billed_by", BILLERS, where)
    unit = _get(body, "unit", str, where)
    if unit not in unit_names:
        raise CatalogError(f"{where}.unit: {unit!r} is not declared under [units]")
    increment = _get(body, "increment", int, where, None)
    if increment is not None and increment < 1:
        raise CatalogError(
            f"{where}.increment: must be a positive number of base units (leave it out for none)"
        )
    metering = _choice(body, "metering", METERINGS, where, "count")
    if metering == "storage" and unit != "byte_millisecond":
        raise CatalogError(f"{where}.metering: storage SKUs must use unit byte_millisecond")
    if metering == "storage" and category != "knowledge":
        raise CatalogError(
            f"{where}.metering: storage is knowledge-base storage (category knowledge), "
            "funded by the plan's free storage"
        )
    prices = []
    for number, price in enumerate(_get(body, "prices", list, where)):
        price_where = f"{where}.prices[{number}]"
        _only_known(price, "price", price_where)
        effective_from = _get(price, "effective_from", datetime, price_where)
        if effective_from.tzinfo is None:
            raise CatalogError(f"{price_where}.effective_from: needs a UTC offset")
        points = _decimal(_get(price, "points", str, price_where), f"{price_where}.points")
        if not price_allowed(billed_by, points):
            raise CatalogError(
                f"{price_where}.points: {sku_id!r} is billed by Ark, so it is rated at 0 "
                f"points here, not {canonical(points)}"
            )
        prices.append(PriceDef(effective_from=effective_from.astimezone(UTC), points=points))
    if billed_by == "ark":
        if category != "model":
            raise CatalogError(
                f"{where}.billed_by: only models are billed by Ark, not a {category} SKU"
            )
        if not prices:
            raise CatalogError(
                f'{where}.prices: {sku_id!r} is billed by Ark and needs a price of "0": '
                "Ark usage is accepted, rated at 0 points here"
            )
    starts = [p.effective_from for p in prices]
    if len(set(starts)) != len(starts):
        raise CatalogError(f"{where}.prices: two prices share one effective_from")
    return SkuDef(
        id=sku_id,
        name=name,
        category=category,
        unit=unit,
        billed_by=billed_by,
        increment=increment or 0,
        metering=metering,
        aliases=_strings(body, "aliases", where),
        patterns=_patterns(body, where),
        prices=tuple(sorted(prices, key=lambda p: p.effective_from)),
    )
