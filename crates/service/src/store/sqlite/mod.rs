//! The SQLite stores: `service.sqlite` ([`SqliteService`]: users, sessions, bank links,
//! notices, stored answers) and `directory.sqlite` ([`SqliteRegistry`]: merchant
//! registries), in the data directory beside the journals. Their schemas are the
//! numbered migrations of `crate::schema`, applied when a store is opened; the SQL here
//! is what `auth`, `bank_link` and `merchants` ran before the store traits existed, so
//! existing data directories open unchanged. This module is the only place in the
//! crate that speaks SQL (besides the migration runner).
//!
//! One connection per store, behind a mutex: callers are short and synchronous, and
//! `synchronous=FULL` with WAL makes every commit durable before it is answered.

mod bank_links;
mod change_log;
mod pin_cache;
mod registry;
mod users;

use std::path::Path;

use parking_lot::Mutex;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

pub use registry::SqliteRegistry;

use super::{AnswerStore, NoticeStore, StoreError};
use crate::auth::Notice;
use crate::idempotency::StoredAnswer;
use crate::schema::{self, Store};

/// A driver error as the store boundary says it: busy or locked is worth a retry.
fn store_error(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Failed(e.to_string()),
    }
}

/// Whether `e` is a broken constraint (a unique key taken).
fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

/// Opens (or creates) the database at `path`, durable on every commit, at the latest
/// schema of `store`.
fn open(path: &Path, store: Store) -> anyhow::Result<Connection> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut db = Connection::open(path)?;
    db.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")?;
    schema::migrate(&mut db, store)?;
    Ok(db)
}

/// `service.sqlite`: every concern of `auth` and `bank_link`, in one database (so the
/// traits' transactions are SQLite transactions).
#[derive(Debug)]
pub struct SqliteService {
    db: Mutex<Connection>,
    /// Recent payers' PIN state; filled and forgotten only with `db` locked.
    pins: pin_cache::PinCache,
}

impl SqliteService {
    /// Opens (or creates) `service.sqlite` in `dir`.
    pub fn open_in(dir: &Path) -> anyhow::Result<SqliteService> {
        SqliteService::open(&dir.join("service.sqlite"))
    }

    /// Opens (or creates) the service store at `path`.
    pub fn open(path: &Path) -> anyhow::Result<SqliteService> {
        Ok(SqliteService {
            db: Mutex::new(open(path, Store::Service)?),
            pins: pin_cache::PinCache::default(),
        })
    }
}

impl NoticeStore for SqliteService {
    fn publish_notice(&self, n: &Notice, at_s: u64) -> Result<i64, StoreError> {
        let db = self.db.lock();
        db.execute(
            "INSERT INTO notices (currency, title_ko, title_en, body_ko, body_en, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                n.currency,
                n.title_ko,
                n.title_en,
                n.body_ko,
                n.body_en,
                at_s as i64
            ],
        )
        .map_err(store_error)?;
        Ok(db.last_insert_rowid())
    }

    fn notices(&self, currency: &str, limit: usize) -> Result<Vec<Notice>, StoreError> {
        let db = self.db.lock();
        let mut stmt = db
            .prepare(
                "SELECT id, currency, title_ko, title_en, body_ko, body_en, at FROM notices
                 WHERE currency = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(store_error)?;
        let rows = stmt
            .query_map(params![currency, limit as i64], |r| {
                Ok(Notice {
                    id: r.get(0)?,
                    currency: r.get(1)?,
                    title_ko: r.get(2)?,
                    title_en: r.get(3)?,
                    body_ko: r.get(4)?,
                    body_en: r.get(5)?,
                    at: r.get::<_, i64>(6)?.max(0) as u64,
                })
            })
            .map_err(store_error)?;
        // An unreadable row is left out, as it always was.
        Ok(rows.filter_map(Result::ok).collect())
    }
}

impl AnswerStore for SqliteService {
    fn stored_answer(
        &self,
        user_id: i64,
        key: &[u8],
        not_before_s: u64,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        self.db
            .lock()
            .prepare_cached(
                "SELECT fingerprint, status, content_type, body FROM request_answers
                 WHERE user_id = ?1 AND key = ?2 AND at >= ?3",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![user_id, key, not_before_s as i64], |r| {
                    let fp: Vec<u8> = r.get(0)?;
                    let mut fingerprint = [0u8; 16];
                    if fp.len() == 16 {
                        fingerprint.copy_from_slice(&fp);
                    }
                    Ok(StoredAnswer {
                        fingerprint,
                        status: r.get::<_, i64>(1)?.clamp(100, 599) as u16,
                        content_type: r.get(2)?,
                        body: r.get(3)?,
                    })
                })
                .optional()
            })
            .map_err(store_error)
    }

    fn store_answer(
        &self,
        user_id: i64,
        key: &[u8],
        answer: &StoredAnswer,
        at_s: u64,
    ) -> Result<(), StoreError> {
        self.db
            .lock()
            .execute(
                "INSERT OR REPLACE INTO request_answers
                 (user_id, key, fingerprint, status, content_type, body, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    user_id,
                    key,
                    &answer.fingerprint[..],
                    i64::from(answer.status),
                    answer.content_type,
                    answer.body,
                    at_s as i64
                ],
            )
            .map(|_| ())
            .map_err(store_error)
    }

    fn forget_answers_before(&self, before_s: u64) -> Result<(), StoreError> {
        self.db
            .lock()
            .execute(
                "DELETE FROM request_answers WHERE at < ?1",
                params![before_s as i64],
            )
            .map(|_| ())
            .map_err(store_error)
    }
}

/// Raw SQL on a store file, for tests that make a store as an older build left it.
#[cfg(test)]
pub(crate) fn execute_batch_for_tests(path: &Path, sql: &str) -> anyhow::Result<()> {
    Connection::open(path)?.execute_batch(sql)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::conformance;

    fn service_store() -> (tempfile::TempDir, Arc<SqliteService>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteService::open_in(dir.path()).expect("open");
        (dir, Arc::new(store))
    }

    #[test]
    fn the_sqlite_service_store_conforms() {
        let (_dir, store) = service_store();
        conformance::users(&*store);
        conformance::sessions(&*store, &*store);
        conformance::bank_links(&*store);
        conformance::notices(&*store);
        conformance::answers(&*store);
    }

    #[test]
    fn the_sqlite_service_store_carries_users_and_links_to_another() {
        let (_from_dir, from) = service_store();
        let (_to_dir, to) = service_store();
        conformance::users_carried(&*from, &*from, &*to, &*to);
        conformance::links_carried(&*from, &*to);
    }

    #[test]
    fn the_sqlite_registry_store_conforms() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteRegistry::open_in(dir.path()).expect("open");
        conformance::registry(&store);
    }

    /// What a store keeps survives closing and opening it again (the files are the
    /// data directory's).
    #[test]
    fn a_reopened_store_finds_what_was_written() {
        let (dir, store) = service_store();
        conformance::users_survive(&*store, || {
            Box::new(SqliteService::open_in(dir.path()).expect("reopen"))
        });
        let registry = SqliteRegistry::open_in(dir.path()).expect("open");
        conformance::registry_survives(&registry, || -> Box<dyn crate::store::RegistryStore> {
            Box::new(SqliteRegistry::open_in(dir.path()).expect("reopen"))
        });
    }
}
