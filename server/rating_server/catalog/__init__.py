"""The price catalog: its file format, its import, its store (SQLite's in ``sqlite/``)
and its in-memory snapshot and cache."""
