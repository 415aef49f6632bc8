-- Each currency's merchant registry, as `directory.sqlite` keeps it
-- (service/migrations/directory/0001 and 0002): records keyed by their ids that never
-- change, the previous operators' QR alias files, revenue-band tables, the log of every
-- status change, and the registry's own change log.

-- A record is the service's JSON of a `directory::Merchant`, read back by serde (jsonb:
-- the value round-trips, not the text).
CREATE TABLE maeul_merchants (
    currency text  NOT NULL,
    id       int8  NOT NULL CHECK (id >= 0),
    record   jsonb NOT NULL,
    PRIMARY KEY (currency, id)
);

-- Replayed in `seq` order at start.
CREATE TABLE maeul_alias_files (
    seq      int8  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    currency text  NOT NULL,
    csv      bytea NOT NULL,
    at_us    int8  NOT NULL CHECK (at_us >= 0)
);
CREATE INDEX maeul_alias_files_by_currency ON maeul_alias_files (currency, seq);

CREATE TABLE maeul_revenue_bands (
    currency text  PRIMARY KEY,
    csv      bytea NOT NULL,
    at_us    int8  NOT NULL CHECK (at_us >= 0)
);

CREATE TABLE maeul_status_log (
    seq        int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    currency   text NOT NULL,
    id         int8 NOT NULL CHECK (id >= 0),
    status     text NOT NULL,
    reason     text NOT NULL,
    -- `operator` or `registry_sync` (SQLite's column `by`).
    changed_by text NOT NULL,
    at_us      int8 NOT NULL CHECK (at_us >= 0)
);

-- The registry's change log (`merchant:<id>` by currency), locked at its start as the
-- people's log is (0002_service.sql).
CREATE TABLE maeul_registry_change_log (
    seq      int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    currency text NOT NULL,
    key      text NOT NULL
);

CREATE TABLE maeul_registry_change_log_on (
    one int4 PRIMARY KEY CHECK (one = 1)
);

CREATE FUNCTION maeul_log_merchant_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM maeul_registry_change_log_on) THEN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO maeul_registry_change_log (currency, key)
                VALUES (OLD.currency, 'merchant:' || OLD.id);
        ELSE
            INSERT INTO maeul_registry_change_log (currency, key)
                VALUES (NEW.currency, 'merchant:' || NEW.id);
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER maeul_log_merchant AFTER INSERT OR UPDATE OR DELETE ON maeul_merchants
    FOR EACH ROW EXECUTE FUNCTION maeul_log_merchant_change();
