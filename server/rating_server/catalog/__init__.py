"""The price catalog: its file format, its SQLite tables and its in-memory cache."""
