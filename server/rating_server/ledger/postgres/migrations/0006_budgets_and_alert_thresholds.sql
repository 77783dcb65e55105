-- A main account's monthly pay-as-you-go budget (ledger/funding.py: quotes and
-- reservations treat it as the end of funding; commits pass it), NULL for none: a
-- column of the account's row, read with it, so a commit asks nothing more.
ALTER TABLE accounts ADD COLUMN monthly_budget_micros bigint
    CHECK (monthly_budget_micros > 0);

-- A main account's alert thresholds (ledger/alerts.py), NULL (percents 0) where not
-- set; replaced whole by SetAlertThresholds, deleted when none is set.
CREATE TABLE alert_thresholds (
    account_id text PRIMARY KEY REFERENCES accounts (account_id),
    free_below_micros bigint,
    pack_below_micros bigint,
    pack_percent_below integer NOT NULL DEFAULT 0,
    payg_above_micros bigint,
    payg_budget_percent_above integer NOT NULL DEFAULT 0
);
