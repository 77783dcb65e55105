"""The ledger on SQLite: the tables (``schema``), the connections and their
transactions (``database``), every statement (``tx``) and the store (``store``)."""
