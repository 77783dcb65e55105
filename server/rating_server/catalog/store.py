"""The catalog's store boundary: what the import and the snapshot ask of a database.

The rules (``imports``: what an import may change; ``snapshots``: the catalog in
memory) are written once, against ``CatalogStore`` and ``CatalogTx``; each engine is
one package (``catalog/sqlite/``, ...) holding all of its SQL. What crosses the
boundary is records: plain dicts of one table's fields, by these names:

- ``units``: name, price_unit, label
- ``plans``: name, daily_free_points (a canonical decimal), free_storage_bytes
- ``skus``: id, name, category, unit, billed_by, increment, metering
- ``sku_aliases``: alias, sku_id; ``sku_patterns``: pattern, sku_id
- ``price_versions``: sku_id, effective_from (``format_instant``), unit_price (a
  canonical decimal), catalog_version

A store may also announce new versions as they are committed (``AnnouncingStore``:
PostgreSQL's LISTEN/NOTIFY); one that does not (SQLite) is polled.

A record read back equals the record written. A storage fault (the database down,
read-only, full, damaged, gone) leaves the store as ``domain_errors.StorageUnavailableError``,
with nothing written; a database whose catalog cannot be read at all, as
``model.CatalogError``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

UNITS = "units"
PLANS = "plans"
SKUS = "skus"
ALIASES = "sku_aliases"
PATTERNS = "sku_patterns"
PRICES = "price_versions"
TABLES = (UNITS, PLANS, SKUS, ALIASES, PATTERNS, PRICES)

Record = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


class CatalogTx(Protocol):
    """One transaction on the catalog's tables (one of ``TABLES``)."""

    def current_version(self) -> int:
        """The latest catalog version, or 0 when nothing was ever imported."""
        ...

    def records(self, table: str) -> list[Record]:
        """Every record of the table, in no order."""
        ...

    def upsert(self, table: str, key: str, records: Sequence[Record]) -> None:
        """Write these records (units, plans, skus), each over the one with its ``key``."""
        ...

    def insert(self, table: str, records: Sequence[Record]) -> None:
        """Add these records (names, price versions)."""
        ...

    def delete_names(self, table: str, sku_ids: Collection[str]) -> None:
        """Remove every alias (or pattern) of these SKUs."""
        ...

    def add_version(self, imported_at: str, source: str, sha256: str) -> int:
        """A new catalog version, after every earlier one; its number."""
        ...


class CatalogStore(Protocol):
    def current_version(self) -> int:
        """The latest catalog version, or 0 when nothing was ever imported."""
        ...

    def read(self) -> AbstractContextManager[CatalogTx]:
        """A read transaction: one consistent catalog."""
        ...

    def importing(self) -> AbstractContextManager[CatalogTx]:
        """One write transaction, in its turn among the database's writers (however long
        they keep it waiting), committed at the end or rolled back on an error."""
        ...

    def close(self) -> None: ...


class Watch(Protocol):
    def close(self) -> None:
        """Stop: ``heard`` is not called after this returns."""
        ...


@runtime_checkable
class AnnouncingStore(Protocol):
    """A store that says when a new catalog version was committed, by any process."""

    def watch(self, heard: Callable[[], object]) -> Watch:
        """Call ``heard()`` (from a thread of the watch's own, until it is closed) soon
        after each new catalog version commits, and each time the watch starts or
        starts again to listen (it may have missed some while it did not). It survives
        the database going away and coming back; announcements sent in between may be
        missed, so a caller polls too, less often."""
        ...
