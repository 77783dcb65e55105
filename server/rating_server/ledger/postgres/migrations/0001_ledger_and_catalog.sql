-- The ledger and the catalog, on PostgreSQL.
--
-- Partitioned by billing account: every ledger table leads with billing_account_id and
-- every ledger statement filters by it, so that the tables can be distributed by it
-- (Citus: create_distributed_table(..., 'billing_account_id')). Distributed so:
-- packs, pack_balances, charge_accounts, charge_lines, funding_entries, voids,
-- free_days, payg_months. Looked up by their own key (distributed by it):
-- requests (request_id), charges (charge_id), pack_requests (request_id). Reference
-- tables (small, copied to every node): accounts and the catalog's tables.
--
-- Amounts are integers of micro-points (bigint); instants are nanoseconds since the
-- epoch (bigint); days and months are the account's local 'YYYY-MM-DD' and 'YYYY-MM'.

CREATE TABLE accounts (
    account_id text PRIMARY KEY,
    billing_account_id text NOT NULL,  -- the main account: itself, or the parent
    plan text NOT NULL,
    time_zone text NOT NULL,
    parent_account_id text REFERENCES accounts (account_id),
    pay_as_you_go boolean NOT NULL,
    create_time_ns bigint NOT NULL,
    CHECK (billing_account_id = coalesce(parent_account_id, account_id))
);
CREATE INDEX accounts_by_parent ON accounts (parent_account_id);

CREATE SEQUENCE pack_numbers;
CREATE TABLE packs (
    billing_account_id text NOT NULL,
    pack_id text NOT NULL,
    number bigint NOT NULL,  -- pack-<number>; the last tie-break of the draw order
    micros bigint NOT NULL CHECK (micros > 0),
    valid_from_ns bigint NOT NULL,
    expire_time_ns bigint,
    priority integer NOT NULL,
    create_time_ns bigint NOT NULL,
    request_id text,
    PRIMARY KEY (billing_account_id, pack_id)
);
CREATE TABLE pack_balances (
    billing_account_id text NOT NULL,
    pack_id text NOT NULL,
    remaining_micros bigint NOT NULL CHECK (remaining_micros >= 0),
    PRIMARY KEY (billing_account_id, pack_id),
    FOREIGN KEY (billing_account_id, pack_id) REFERENCES packs (billing_account_id, pack_id)
);
-- A grant's request_id, unique over all accounts: a retry finds its pack.
CREATE TABLE pack_requests (
    request_id text PRIMARY KEY,
    billing_account_id text NOT NULL,
    pack_id text NOT NULL
);

-- A commit's request_id, unique over all accounts, with the receipt a retry gets back.
CREATE TABLE requests (
    request_id text PRIMARY KEY,
    request_hash text NOT NULL,
    charge_id text NOT NULL,
    receipt bytea NOT NULL
);
-- A charge, and the billing accounts its lines belong to (a void works per account).
CREATE TABLE charges (
    charge_id text PRIMARY KEY,
    request_id text NOT NULL,
    catalog_version integer NOT NULL,
    commit_time_ns bigint NOT NULL,
    billing_account_ids text[] NOT NULL
);
CREATE TABLE charge_accounts (
    billing_account_id text NOT NULL,
    charge_id text NOT NULL,
    PRIMARY KEY (billing_account_id, charge_id)
);

-- One row per charged line. The primary key (billing_account_id, usage_id) is the dedup
-- key, written in the same transaction as the charge. seq orders an account's lines by
-- commit: commits of one billing account take its row lock first, so they take their
-- numbers in the order they commit.
CREATE SEQUENCE line_numbers;
CREATE TABLE charge_lines (
    billing_account_id text NOT NULL,
    usage_id text NOT NULL,
    seq bigint NOT NULL,
    charge_id text NOT NULL,
    line_number integer NOT NULL,
    account_id text NOT NULL,
    sku text NOT NULL,
    category text NOT NULL,
    quantity bigint NOT NULL,
    micros bigint NOT NULL,
    billed_by text NOT NULL,
    occurred_at_ns bigint NOT NULL,
    month text NOT NULL,
    commit_time_ns bigint NOT NULL,
    attributes jsonb,
    PRIMARY KEY (billing_account_id, usage_id)
);
CREATE INDEX lines_by_seq ON charge_lines (billing_account_id, seq);
CREATE INDEX lines_by_account ON charge_lines (billing_account_id, account_id, seq);
CREATE INDEX lines_by_month ON charge_lines (billing_account_id, month);
CREATE INDEX lines_by_charge ON charge_lines (billing_account_id, charge_id, line_number);

CREATE SEQUENCE entry_numbers;
CREATE TABLE funding_entries (
    billing_account_id text NOT NULL,
    seq bigint NOT NULL DEFAULT nextval('entry_numbers'),
    charge_id text NOT NULL,
    line_number integer NOT NULL,
    source text NOT NULL CHECK (source IN ('free', 'pack', 'payg')),
    micros bigint NOT NULL,
    pack_id text,
    day text,
    month text,
    reversal boolean NOT NULL DEFAULT false,
    PRIMARY KEY (billing_account_id, seq)
);
CREATE INDEX funding_by_charge ON funding_entries (billing_account_id, charge_id, line_number);

CREATE TABLE voids (
    billing_account_id text NOT NULL,
    charge_id text NOT NULL,
    void_time_ns bigint NOT NULL,
    reason text NOT NULL,
    PRIMARY KEY (billing_account_id, charge_id)
);

CREATE TABLE free_days (
    billing_account_id text NOT NULL,
    day text NOT NULL,
    used_micros bigint NOT NULL CHECK (used_micros >= 0),
    PRIMARY KEY (billing_account_id, day)
);
CREATE TABLE payg_months (
    billing_account_id text NOT NULL,
    month text NOT NULL,
    micros bigint NOT NULL,
    PRIMARY KEY (billing_account_id, month)
);

-- Append-only, in the database itself: the entry tables refuse UPDATE and DELETE.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % rows never change', TG_TABLE_NAME
        USING ERRCODE = 'raise_exception';
END $$;
CREATE TRIGGER requests_append_only BEFORE UPDATE OR DELETE ON requests
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER charges_append_only BEFORE UPDATE OR DELETE ON charges
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER charge_accounts_append_only BEFORE UPDATE OR DELETE ON charge_accounts
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER charge_lines_append_only BEFORE UPDATE OR DELETE ON charge_lines
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER funding_entries_append_only BEFORE UPDATE OR DELETE ON funding_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER voids_append_only BEFORE UPDATE OR DELETE ON voids
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
-- TRUNCATE skips row triggers: refuse it too.
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON charge_lines
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER funding_no_truncate BEFORE TRUNCATE ON funding_entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- The catalog: what catalog/store.py keeps on SQLite, with the same meaning.
CREATE TABLE catalog_versions (
    version integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    imported_at text NOT NULL,
    source text NOT NULL,
    sha256 text NOT NULL
);
CREATE TABLE units (
    name text PRIMARY KEY,
    price_unit bigint NOT NULL CHECK (price_unit > 0),
    label text NOT NULL
);
CREATE TABLE plans (
    name text PRIMARY KEY,
    daily_free_points text NOT NULL,
    free_storage_bytes bigint NOT NULL CHECK (free_storage_bytes >= 0)
);
CREATE TABLE skus (
    id text PRIMARY KEY,
    name text NOT NULL,
    category text NOT NULL,
    unit text NOT NULL REFERENCES units (name),
    billed_by text NOT NULL,
    increment bigint NOT NULL CHECK (increment >= 0),
    metering text NOT NULL
);
CREATE TABLE sku_aliases (
    alias text PRIMARY KEY,
    sku_id text NOT NULL REFERENCES skus (id)
);
CREATE TABLE sku_patterns (
    pattern text PRIMARY KEY,
    sku_id text NOT NULL REFERENCES skus (id)
);
CREATE TABLE price_versions (
    sku_id text NOT NULL REFERENCES skus (id),
    effective_from text NOT NULL,
    unit_price text NOT NULL,
    catalog_version integer NOT NULL REFERENCES catalog_versions (version),
    PRIMARY KEY (sku_id, effective_from)
);
-- A new catalog version tells every node at once (LISTEN catalog_version).
CREATE FUNCTION announce_catalog_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('catalog_version', NEW.version::text);
    RETURN NEW;
END $$;
CREATE TRIGGER catalog_versions_announced AFTER INSERT ON catalog_versions
    FOR EACH ROW EXECUTE FUNCTION announce_catalog_version();
