-- Reservations for live sessions (ledger/reservations.py): a row per reservation, its
-- state kept as held, settled or released; a held one past expire_time_ns holds
-- nothing, and no job has to change it. Its holds are rows of reservation_holds, added
-- by each Extend. reservation_requests answers the retries of Reserve and Extend. A
-- reservation is found by its own id (Extend, Release, a commit's item naming it) and
-- the live ones by their billing account.
CREATE TABLE reservations (
    reservation_id text PRIMARY KEY,
    account_id text NOT NULL,
    billing_account_id text NOT NULL REFERENCES accounts (account_id),
    sku text NOT NULL,
    requested_sku text NOT NULL,
    requested_quantity bigint NOT NULL,
    granted_quantity bigint NOT NULL,
    create_time_ns bigint NOT NULL,
    expire_time_ns bigint NOT NULL,
    state text NOT NULL CHECK (state IN ('held', 'settled', 'released')),
    end_time_ns bigint,
    settle_charge_id text
);
CREATE INDEX held_reservations ON reservations (billing_account_id, expire_time_ns)
    WHERE state = 'held';

CREATE TABLE reservation_holds (
    reservation_id text NOT NULL REFERENCES reservations (reservation_id),
    number integer NOT NULL,
    billing_account_id text NOT NULL,
    source text NOT NULL CHECK (source IN ('free', 'pack', 'payg')),
    micros bigint NOT NULL CHECK (micros > 0),
    pack_id text,
    day text,
    month text,
    PRIMARY KEY (reservation_id, number)
);

CREATE TABLE reservation_requests (
    request_id text PRIMARY KEY,
    reservation_id text NOT NULL REFERENCES reservations (reservation_id),
    fingerprint text NOT NULL,
    answer text NOT NULL
);
