-- The change log of the merchant registry, for an operator change (as in the service
-- store's 0002): once the successor has a base set, every change to a merchant record
-- is noted by currency and id, so that the set at the cutover carries only those.

CREATE TABLE IF NOT EXISTS change_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    currency TEXT NOT NULL,
    key TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS change_log_on (
    one INTEGER PRIMARY KEY CHECK (one = 1)
);

CREATE TRIGGER IF NOT EXISTS log_merchant_insert AFTER INSERT ON merchants
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (currency, key) VALUES (NEW.currency, 'merchant:' || NEW.id); END;
CREATE TRIGGER IF NOT EXISTS log_merchant_update AFTER UPDATE ON merchants
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (currency, key) VALUES (NEW.currency, 'merchant:' || NEW.id); END;
CREATE TRIGGER IF NOT EXISTS log_merchant_delete AFTER DELETE ON merchants
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (currency, key) VALUES (OLD.currency, 'merchant:' || OLD.id); END;
