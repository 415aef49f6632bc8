-- Secret keys every node of a deployment must share (the service's PIN key, …), made
-- once by whichever node asks first (`keys::load_or_create`).
CREATE TABLE maeul_keys (
    name text  PRIMARY KEY,
    key  bytea NOT NULL
);
