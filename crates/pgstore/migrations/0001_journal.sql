-- The journal of every currency, one row per record. A record is what a file journal
-- holds: seq, timestamp and an opaque payload, chained by blake3 (`hash` is the chain
-- hash of this record, recomputed and compared by every reader). `epoch` names the
-- writer lease under which it was written.
CREATE TABLE maeul_journal (
    currency     text   NOT NULL,
    seq          int8   NOT NULL CHECK (seq >= 1),
    epoch        int8   NOT NULL,
    timestamp_us int8   NOT NULL,
    hash         bytea  NOT NULL CHECK (length(hash) = 32),
    payload      bytea  NOT NULL,
    PRIMARY KEY (currency, seq)
);

-- Snapshots of a currency's state (the engine's own cache): `chain_hash` is the chain
-- hash of record `seq`, which a loader checks against the journal.
CREATE TABLE maeul_snapshots (
    currency   text  NOT NULL,
    seq        int8  NOT NULL,
    chain_hash bytea NOT NULL CHECK (length(chain_hash) = 32),
    payload    bytea NOT NULL,
    saved_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (currency, seq)
);

-- Who writes each currency. Taking the lease adds one to `epoch`; every journal row is
-- inserted by a statement that holds this row FOR SHARE and matches its epoch, so once
-- a lease is taken no statement under an older epoch can insert (see ARCHITECTURE.md,
-- "Several nodes"). Times are the database's clock, never a node's.
CREATE TABLE maeul_writers (
    currency   text        PRIMARY KEY,
    epoch      int8        NOT NULL,
    holder     text        NOT NULL,
    taken_at   timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
