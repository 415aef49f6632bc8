-- directory.sqlite: each currency's merchant registry (records as JSON, keyed by their
-- ids that never change), the previous operators' QR alias files, revenue-band tables
-- and the log of every status change. The schema as it stood when migrations began;
-- `IF NOT EXISTS` adopts a store made before them.

CREATE TABLE IF NOT EXISTS merchants (
    currency TEXT NOT NULL,
    id INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (currency, id)
);

CREATE TABLE IF NOT EXISTS alias_files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    currency TEXT NOT NULL,
    csv BLOB NOT NULL,
    at_us INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS revenue_bands (
    currency TEXT PRIMARY KEY,
    csv BLOB NOT NULL,
    at_us INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS status_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    currency TEXT NOT NULL,
    id INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    by TEXT NOT NULL,
    at_us INTEGER NOT NULL
);
