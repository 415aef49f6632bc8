-- The change log of people's data, for an operator change: once the successor has a
-- first copy (a base set), every change to a user, a person, a session or a bank link
-- is noted here by its row's key, so that the set made at the cutover carries only
-- what changed since, read in time that does not grow with a million users. Nothing
-- is noted until `change_log_on` holds its row (the first base set puts it): a node
-- that never hands over keeps no log.

CREATE TABLE IF NOT EXISTS change_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS change_log_on (
    one INTEGER PRIMARY KEY CHECK (one = 1)
);

CREATE TRIGGER IF NOT EXISTS log_user_insert AFTER INSERT ON users
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (key) VALUES ('user:' || NEW.id); END;
CREATE TRIGGER IF NOT EXISTS log_user_update AFTER UPDATE ON users
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (key) VALUES ('user:' || NEW.id); END;
CREATE TRIGGER IF NOT EXISTS log_user_delete AFTER DELETE ON users
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (key) VALUES ('user:' || OLD.id); END;

CREATE TRIGGER IF NOT EXISTS log_person_insert AFTER INSERT ON people
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (key) VALUES ('user:' || NEW.user_id); END;
CREATE TRIGGER IF NOT EXISTS log_person_update AFTER UPDATE ON people
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (key) VALUES ('user:' || NEW.user_id); END;
CREATE TRIGGER IF NOT EXISTS log_person_delete AFTER DELETE ON people
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (key) VALUES ('user:' || OLD.user_id); END;

CREATE TRIGGER IF NOT EXISTS log_session_insert AFTER INSERT ON sessions
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (key) VALUES ('session:' || lower(hex(NEW.token_hash))); END;
CREATE TRIGGER IF NOT EXISTS log_session_update AFTER UPDATE ON sessions
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (key) VALUES ('session:' || lower(hex(NEW.token_hash))); END;
CREATE TRIGGER IF NOT EXISTS log_session_delete AFTER DELETE ON sessions
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (key) VALUES ('session:' || lower(hex(OLD.token_hash))); END;

CREATE TRIGGER IF NOT EXISTS log_link_insert AFTER INSERT ON bank_links
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (key) VALUES ('bank_link:' || NEW.account); END;
CREATE TRIGGER IF NOT EXISTS log_link_update AFTER UPDATE ON bank_links
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (key) VALUES ('bank_link:' || NEW.account); END;
CREATE TRIGGER IF NOT EXISTS log_link_delete AFTER DELETE ON bank_links
    WHEN EXISTS (SELECT 1 FROM change_log_on)
BEGIN INSERT INTO change_log (key) VALUES ('bank_link:' || OLD.account); END;
