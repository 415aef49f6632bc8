-- service.sqlite: people's data beside the journals (users, sessions, PINs, bank-account
-- links and their verification, notices, the stored first answers of requests).
-- The schema as it stood when migrations began. `IF NOT EXISTS` throughout: a store
-- made before migrations is adopted by this step (its missing columns are added first,
-- see `schema.rs`).

CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login TEXT NOT NULL UNIQUE,
    -- The login folded (NFKC, case): what sign-up and sign-in compare.
    login_key TEXT,
    role TEXT NOT NULL,
    password TEXT NOT NULL,
    pin TEXT,
    pin_failures INTEGER NOT NULL DEFAULT 0,
    pin_locked_until INTEGER NOT NULL DEFAULT 0,
    account INTEGER,
    currency TEXT NOT NULL,
    currencies TEXT NOT NULL DEFAULT '',
    created INTEGER NOT NULL,
    -- What a new user's set-up still owes (ledger account, registry record), as JSON.
    setup TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS users_login_key ON users (login_key);

CREATE TABLE IF NOT EXISTS sessions (
    token_hash BLOB PRIMARY KEY,
    user_id INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS people (
    user_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    address TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS bank_links (
    account INTEGER PRIMARY KEY,
    bank_account TEXT NOT NULL,
    verified_ms INTEGER,
    consent INTEGER
);

CREATE TABLE IF NOT EXISTS bank_verifications (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    account INTEGER NOT NULL,
    currency TEXT NOT NULL,
    request_key BLOB NOT NULL,
    fingerprint BLOB NOT NULL,
    bank_account TEXT NOT NULL,
    code_hash BLOB,
    code TEXT,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    detail TEXT,
    last_try_key BLOB,
    UNIQUE (user_id, request_key)
);
CREATE INDEX IF NOT EXISTS bank_verifications_by_user
    ON bank_verifications (user_id, created_ms);

CREATE TABLE IF NOT EXISTS bank_consents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    account INTEGER NOT NULL,
    currency TEXT NOT NULL,
    verification TEXT NOT NULL,
    bank_account_hash TEXT NOT NULL,
    bank_account_masked TEXT NOT NULL,
    purpose TEXT NOT NULL,
    text_version TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    currency TEXT NOT NULL,
    title_ko TEXT NOT NULL,
    title_en TEXT NOT NULL,
    body_ko TEXT NOT NULL,
    body_en TEXT NOT NULL,
    at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS request_answers (
    user_id INTEGER NOT NULL,
    key BLOB NOT NULL,
    fingerprint BLOB NOT NULL,
    status INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);
