"""The catalog store's versions (``catalog/store.py``): each import takes the next
version, whatever import was refused before it."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import CATALOG, import_text

from rating_server.catalog.model import CatalogError


def test_catalog_versions_count_up_by_one_whatever_import_was_refused_before(
    database: str, tmp_path: Path
) -> None:
    # A new SKU named as another's id: refused once the whole catalog is read back,
    # after the import took its new version.
    thief = (
        CATALOG.format(start="2026-11-27T04:00:00Z", points="3")
        .replace('id = "agent.call"', 'id = "agent.call2"')
        .replace('aliases = ["智能体调用费"]', 'aliases = ["Agent.Call"]')
    )
    for _ in range(2):
        with pytest.raises(CatalogError, match="used by both"):
            import_text(database, tmp_path, thief)
    text = CATALOG.format(start="2026-11-27T04:00:00Z", points="3")
    assert import_text(database, tmp_path, text) == 2
