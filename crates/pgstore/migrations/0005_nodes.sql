-- The nodes serving a deployment: where each takes the writes other nodes forward to
-- it (its internal address), and when it last said it was alive, by the database's
-- clock. The writer leases name nodes by `name`.
CREATE TABLE maeul_nodes (
    name    text        PRIMARY KEY,
    url     text        NOT NULL,
    seen_at timestamptz NOT NULL
);
