//! The service's SQLite schemas as numbered migrations (`migrations/<store>/NNNN_*.sql`),
//! applied in order by `rusqlite_migration`, which keeps the number reached in the
//! database's `PRAGMA user_version`. A schema change is a new file, never an edit of one
//! that has shipped (`schema_tests` fails on a store the older files made otherwise).
//!
//! Stores made before migrations existed (version 0 with tables in them) are adopted:
//! the columns they gained by hand-written `ALTER`s are added where missing, and the
//! baseline (all `IF NOT EXISTS`) then finds the rest in place.

use std::sync::LazyLock;

use rusqlite::{Connection, params};
use rusqlite_migration::{M, Migrations};

/// `service.sqlite`: users, sessions, PINs, bank links, notices, stored answers.
static SERVICE: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![
        M::up(include_str!("../migrations/service/0001_baseline.sql")),
        M::up(include_str!("../migrations/service/0002_change_log.sql")),
    ])
});

/// `directory.sqlite`: each currency's merchant registry and its files.
static DIRECTORY: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![
        M::up(include_str!("../migrations/directory/0001_baseline.sql")),
        M::up(include_str!("../migrations/directory/0002_change_log.sql")),
    ])
});

/// Which store a database is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Service,
    Directory,
}

impl Store {
    fn migrations(self) -> &'static Migrations<'static> {
        match self {
            Store::Service => &SERVICE,
            Store::Directory => &DIRECTORY,
        }
    }

    /// The schema version the latest migration gives.
    pub fn latest(self) -> u32 {
        match self {
            Store::Service => 2,
            Store::Directory => 2,
        }
    }
}

/// Why a store could not be brought to this build's schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "the store's schema is version {found}, newer than this build knows ({known}): run a newer maeul"
    )]
    Newer { found: u32, known: u32 },
    #[error("migrating the store: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("adopting a store made before migrations: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The schema version a database is at (`PRAGMA user_version`).
pub fn version(db: &Connection) -> rusqlite::Result<u32> {
    db.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings `db` to the latest schema of `store`: adopts a store made before migrations,
/// then applies every migration it has not had, each in its own transaction. Refuses a
/// store that a newer build has migrated further (never downgrades).
pub fn migrate(db: &mut Connection, store: Store) -> Result<(), SchemaError> {
    let found = version(db)?;
    if found > store.latest() {
        return Err(SchemaError::Newer {
            found,
            known: store.latest(),
        });
    }
    if found == 0 {
        adopt_unversioned(db, store)?;
    }
    store.migrations().to_latest(db)?;
    Ok(())
}

/// Adds the columns that stores made before migrations gained by hand-written `ALTER`s,
/// so the baseline finds every table whole.
fn adopt_unversioned(db: &Connection, store: Store) -> rusqlite::Result<()> {
    let added: &[(&str, &str, &str)] = match store {
        Store::Service => &[
            ("users", "setup", "TEXT"),
            ("users", "login_key", "TEXT"),
            ("bank_links", "verified_ms", "INTEGER"),
            ("bank_links", "consent", "INTEGER"),
        ],
        Store::Directory => &[],
    };
    for (table, column, ty) in added {
        let table_exists: bool = db
            .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
            .exists(params![table])?;
        if !table_exists {
            continue;
        }
        let has: bool = db
            .prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")?
            .exists(params![table, column])?;
        if !has {
            db.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    #[test]
    fn every_migration_list_is_valid_and_latest_is_its_length() {
        for store in [Store::Service, Store::Directory] {
            store.migrations().validate().expect("valid migrations");
            let mut db = Connection::open_in_memory().expect("db");
            migrate(&mut db, store).expect("migrate");
            assert_eq!(version(&db).expect("version"), store.latest());
            // Running again changes nothing.
            migrate(&mut db, store).expect("migrate again");
            assert_eq!(version(&db).expect("version"), store.latest());
        }
    }

    /// A service store as the inline DDL of the first releases made it (no `setup`, no
    /// `login_key`, `bank_links` without its verification columns, no verification or
    /// answer tables), with a user in it.
    const UNVERSIONED_SERVICE: &str = "
        CREATE TABLE users (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            login TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL,
            password TEXT NOT NULL,
            pin TEXT,
            pin_failures INTEGER NOT NULL DEFAULT 0,
            pin_locked_until INTEGER NOT NULL DEFAULT 0,
            account INTEGER,
            currency TEXT NOT NULL,
            currencies TEXT NOT NULL DEFAULT '',
            created INTEGER NOT NULL
        );
        CREATE TABLE sessions (token_hash BLOB PRIMARY KEY, user_id INTEGER NOT NULL,
            expires_at INTEGER NOT NULL);
        CREATE TABLE people (user_id INTEGER PRIMARY KEY, name TEXT NOT NULL,
            address TEXT NOT NULL);
        CREATE TABLE bank_links (account INTEGER PRIMARY KEY, bank_account TEXT NOT NULL);
        CREATE TABLE notices (id INTEGER PRIMARY KEY AUTOINCREMENT, currency TEXT NOT NULL,
            title_ko TEXT NOT NULL, title_en TEXT NOT NULL, body_ko TEXT NOT NULL,
            body_en TEXT NOT NULL, at INTEGER NOT NULL);
        INSERT INTO users (login, role, password, account, currency, created)
            VALUES ('Minji', 'citizen', 'x', 1000000001, 'busan', 1);
        INSERT INTO bank_links VALUES (1000000001, '110-000001');";

    #[test]
    fn a_store_made_before_migrations_is_adopted_with_its_rows() {
        let mut db = Connection::open_in_memory().expect("db");
        db.execute_batch(UNVERSIONED_SERVICE).expect("old store");
        migrate(&mut db, Store::Service).expect("adopted");
        assert_eq!(version(&db).expect("version"), Store::Service.latest());
        let (login, setup): (String, Option<String>) = db
            .query_row("SELECT login, setup FROM users", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("the user is kept");
        assert_eq!((login.as_str(), setup), ("Minji", None));
        let link: (String, Option<i64>) = db
            .query_row(
                "SELECT bank_account, verified_ms FROM bank_links",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("the link is kept");
        assert_eq!(link, ("110-000001".to_owned(), None));
        for table in ["bank_verifications", "bank_consents", "request_answers"] {
            let n: i64 = db
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .expect(table);
            assert_eq!(n, 0, "{table} made");
        }
    }

    #[test]
    fn a_store_from_a_newer_build_is_refused_not_downgraded() {
        let mut db = Connection::open_in_memory().expect("db");
        migrate(&mut db, Store::Service).expect("migrate");
        db.pragma_update(None, "user_version", Store::Service.latest() + 1)
            .expect("set");
        let e = migrate(&mut db, Store::Service).expect_err("refused");
        assert!(matches!(e, SchemaError::Newer { .. }), "{e}");
    }
}
