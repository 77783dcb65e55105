"""What the SQLite engines of the ledger (``ledger/sqlite/``) and of the catalog share:
opening a connection, telling the storage's faults from the program's
(``connections``), and the writers' turn across processes (``writer_turn``)."""
