"""The catalog on SQLite: the tables (``schema``) and the store (``store``)."""
