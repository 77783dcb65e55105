"""Accounts and the append-only ledger: charges, funding, voids, balances, statements."""
