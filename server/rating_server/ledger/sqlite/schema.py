"""The ledger's SQLite tables.

The ledger tables (``charges``, ``charge_lines``, ``funding_entries``, ``voids``) and
``capacity_purchases`` are append-only: triggers refuse UPDATE and DELETE.
``free_days``, ``pack_balances`` and ``payg_months`` are balances kept beside them in
the same transactions; the invariant check recomputes them from the entries.
"""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    parent_account_id TEXT REFERENCES accounts(account_id),
    pay_as_you_go INTEGER NOT NULL,
    create_time_ns INTEGER NOT NULL,
    -- A main account's monthly pay-as-you-go budget (micro-points), NULL for none.
    monthly_budget_micros INTEGER CHECK (monthly_budget_micros > 0)
);
CREATE INDEX IF NOT EXISTS accounts_by_parent ON accounts(parent_account_id);

CREATE TABLE IF NOT EXISTS packs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    pack_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(account_id),
    micros INTEGER NOT NULL CHECK (micros > 0),
    valid_from_ns INTEGER NOT NULL,
    expire_time_ns INTEGER,
    priority INTEGER NOT NULL,
    create_time_ns INTEGER NOT NULL,
    request_id TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS packs_by_account ON packs(account_id);
CREATE TABLE IF NOT EXISTS pack_balances (
    pack_id TEXT PRIMARY KEY REFERENCES packs(pack_id),
    remaining_micros INTEGER NOT NULL CHECK (remaining_micros >= 0)
);

-- Knowledge-base capacity bought (ledger/capacity.py): never changed once granted.
-- term: 'month', 'year', or '' for explicit dates; the price paid in micro-points.
CREATE TABLE IF NOT EXISTS capacity_purchases (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    billing_account_id TEXT NOT NULL REFERENCES accounts(account_id),
    purchase_id TEXT NOT NULL UNIQUE,
    gib INTEGER NOT NULL CHECK (gib > 0),
    term TEXT NOT NULL CHECK (term IN ('', 'month', 'year')),
    valid_from_ns INTEGER NOT NULL,
    expire_time_ns INTEGER NOT NULL,
    price_micros INTEGER NOT NULL CHECK (price_micros >= 0),
    create_time_ns INTEGER NOT NULL,
    request_id TEXT UNIQUE,
    CHECK (expire_time_ns > valid_from_ns)
);
CREATE INDEX IF NOT EXISTS capacity_by_account
    ON capacity_purchases(billing_account_id, expire_time_ns);

CREATE TABLE IF NOT EXISTS charges (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    charge_id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL UNIQUE,
    request_hash TEXT NOT NULL,
    catalog_version INTEGER NOT NULL,
    commit_time_ns INTEGER NOT NULL,
    receipt BLOB NOT NULL,
    first_line_seq INTEGER,
    last_line_seq INTEGER
);
-- One row per charged line. UNIQUE (billing_account_id, usage_id) is the dedup key,
-- written in the same transaction as the charge. source, pack_id, day: the line's one
-- funding part when it has one (ledger/rows.py); a line split over several sources
-- has funding_entries instead. A charge's lines have the seqs from its charges row's
-- first_line_seq to last_line_seq (a charge's lines are written by one statement).
-- The charge_id is not a foreign key: each line would look it up in charges' index,
-- and a line is only ever written with its charge, in its transaction.
CREATE TABLE IF NOT EXISTS charge_lines (
    seq INTEGER PRIMARY KEY,
    charge_id TEXT NOT NULL,
    line_number INTEGER NOT NULL,
    usage_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    billing_account_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    category TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    micros INTEGER NOT NULL,
    billed_by TEXT NOT NULL,
    occurred_at_ns INTEGER NOT NULL,
    month TEXT NOT NULL,
    commit_time_ns INTEGER NOT NULL,
    attributes TEXT,
    source TEXT,
    pack_id TEXT,
    day TEXT,
    UNIQUE (billing_account_id, usage_id)
);
-- No read of the service finds lines by charge (a void finds them by seq), so ledgers
-- made with lines_by_charge lose it: it cost every line a B-tree insert. A main
-- account's lines are found by lines_by_billing_account; only a sub-account's need
-- lines_by_sub_account, which replaces the index of every line by its account.
DROP INDEX IF EXISTS lines_by_charge;
DROP INDEX IF EXISTS lines_by_account;
CREATE INDEX IF NOT EXISTS lines_by_month ON charge_lines(billing_account_id, month);
CREATE INDEX IF NOT EXISTS lines_by_sub_account ON charge_lines(account_id, seq)
    WHERE account_id <> billing_account_id;
CREATE INDEX IF NOT EXISTS lines_by_billing_account ON charge_lines(billing_account_id, seq);

CREATE TABLE IF NOT EXISTS funding_entries (
    seq INTEGER PRIMARY KEY,
    charge_id TEXT NOT NULL,
    line_number INTEGER NOT NULL,
    billing_account_id TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('free', 'pack', 'payg')),
    micros INTEGER NOT NULL,
    pack_id TEXT,
    day TEXT,
    month TEXT,
    reversal INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS funding_by_charge ON funding_entries(charge_id, line_number);

CREATE TABLE IF NOT EXISTS voids (
    charge_id TEXT PRIMARY KEY REFERENCES charges(charge_id),
    void_time_ns INTEGER NOT NULL,
    reason TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS free_days (
    billing_account_id TEXT NOT NULL,
    day TEXT NOT NULL,
    used_micros INTEGER NOT NULL CHECK (used_micros >= 0),
    PRIMARY KEY (billing_account_id, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS payg_months (
    billing_account_id TEXT NOT NULL,
    month TEXT NOT NULL,
    micros INTEGER NOT NULL,
    PRIMARY KEY (billing_account_id, month)
) WITHOUT ROWID;

-- Reservations (ledger/reservations.py): a row per reservation, its state kept as
-- held, settled or released; a held one past expire_time_ns holds nothing, and no job
-- has to change it. Its holds are rows of reservation_holds, added by each Extend.
-- reservation_requests answers the retries of Reserve and Extend.
CREATE TABLE IF NOT EXISTS reservations (
    reservation_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    billing_account_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    requested_sku TEXT NOT NULL,
    requested_quantity INTEGER NOT NULL,
    granted_quantity INTEGER NOT NULL,
    create_time_ns INTEGER NOT NULL,
    expire_time_ns INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('held', 'settled', 'released')),
    end_time_ns INTEGER,
    settle_charge_id TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS held_reservations
    ON reservations(billing_account_id, expire_time_ns) WHERE state = 'held';
CREATE TABLE IF NOT EXISTS reservation_holds (
    reservation_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    billing_account_id TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('free', 'pack', 'payg')),
    micros INTEGER NOT NULL CHECK (micros > 0),
    pack_id TEXT,
    day TEXT,
    month TEXT,
    PRIMARY KEY (reservation_id, number)
) WITHOUT ROWID;
-- The charges feed (ledger/feed.py): an event per charge, void and settlement, for each
-- billing account it concerns, written in the transaction that made it. One writer at
-- a time takes the next position, so positions follow commit order: a reader after a
-- position never misses a later commit's events.
CREATE TABLE IF NOT EXISTS feed_events (
    position INTEGER PRIMARY KEY,
    billing_account_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('charge', 'void', 'settle')),
    charge_id TEXT NOT NULL,
    reservation_id TEXT,
    time_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS feed_by_account ON feed_events(billing_account_id, position);
CREATE INDEX IF NOT EXISTS feed_by_charge ON feed_events(charge_id) WHERE kind = 'charge';
-- A main account's alert thresholds (ledger/alerts.py), NULL (percents 0) where
-- not set; replaced whole by SetAlertThresholds, deleted when none is set.
CREATE TABLE IF NOT EXISTS alert_thresholds (
    account_id TEXT PRIMARY KEY REFERENCES accounts(account_id),
    free_below_micros INTEGER,
    pack_below_micros INTEGER,
    pack_percent_below INTEGER NOT NULL DEFAULT 0,
    payg_above_micros INTEGER,
    payg_budget_percent_above INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reservation_requests (
    request_id TEXT PRIMARY KEY,
    reservation_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    answer TEXT NOT NULL
) WITHOUT ROWID;
"""

#: Columns later versions added to tables a ledger made before may lack, as
#: (table, column, its definition): ``ALTER TABLE ... ADD COLUMN`` adds them, NULL in
#: the rows already there (old lines' funding is all in funding_entries).
ADDED_COLUMNS = (
    ("charges", "first_line_seq", "INTEGER"),
    ("charges", "last_line_seq", "INTEGER"),
    ("charge_lines", "source", "TEXT"),
    ("charge_lines", "pack_id", "TEXT"),
    ("charge_lines", "day", "TEXT"),
    ("accounts", "monthly_budget_micros", "INTEGER CHECK (monthly_budget_micros > 0)"),
)

_APPEND_ONLY = ("charges", "charge_lines", "funding_entries", "voids", "capacity_purchases")


def append_only_triggers() -> str:
    return "".join(
        f"""
CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table}
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {table} rows never change'); END;
"""
        for table in _APPEND_ONLY
        for verb in ("UPDATE", "DELETE")
    )


# The row ``probe`` writes: not part of the ledger, made by the first probe. Replacing
# it with itself writes its page (so a read-only or full disk refuses it) and leaves
# the database's content as it was.
PROBE = (
    "CREATE TABLE IF NOT EXISTS write_probe (id INTEGER PRIMARY KEY CHECK (id = 1))",
    "INSERT OR REPLACE INTO write_probe (id) VALUES (1)",
)
