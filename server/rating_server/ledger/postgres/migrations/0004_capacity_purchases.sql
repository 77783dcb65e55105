-- Knowledge-base capacity bought by the month or year (ledger/capacity.py): each
-- purchase adds gib GiB to its main account's free storage quota while it is valid,
-- [valid_from_ns, expire_time_ns). Distributed by billing account, as packs are;
-- capacity_requests, a grant's request_id unique over all accounts, by request_id.
-- term: 'month', 'year', or '' for explicit dates; the price paid in micro-points. A
-- purchase never changes once granted.
CREATE SEQUENCE capacity_numbers;
CREATE TABLE capacity_purchases (
    billing_account_id text NOT NULL,
    purchase_id text NOT NULL,
    number bigint NOT NULL,  -- cap-<number>; orders purchases as they were granted
    gib bigint NOT NULL CHECK (gib > 0),
    term text NOT NULL CHECK (term IN ('', 'month', 'year')),
    valid_from_ns bigint NOT NULL,
    expire_time_ns bigint NOT NULL,
    price_micros bigint NOT NULL CHECK (price_micros >= 0),
    create_time_ns bigint NOT NULL,
    request_id text,
    CHECK (expire_time_ns > valid_from_ns),
    PRIMARY KEY (billing_account_id, purchase_id)
);
CREATE TABLE capacity_requests (
    request_id text PRIMARY KEY,
    billing_account_id text NOT NULL,
    purchase_id text NOT NULL
);
CREATE TRIGGER capacity_purchases_append_only BEFORE UPDATE OR DELETE ON capacity_purchases
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER capacity_requests_append_only BEFORE UPDATE OR DELETE ON capacity_requests
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
