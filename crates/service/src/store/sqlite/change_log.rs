//! The change log of both stores (migrations `0002_change_log`), for an operator
//! change: triggers note the key of every changed row once `change_log_on` has its row.

use rusqlite::{Connection, params};

use super::{SqliteRegistry, SqliteService, store_error};
use crate::store::{ChangeLogStore, StoreError};

/// Turns the log on and answers the position after which changes count. Nothing is
/// forgotten: the stores are shared by every currency of the node, and another
/// currency's base may still need what was noted.
fn start(db: &mut Connection) -> Result<u64, StoreError> {
    let tx = db.transaction().map_err(store_error)?;
    tx.execute("INSERT OR IGNORE INTO change_log_on (one) VALUES (1)", [])
        .map_err(store_error)?;
    let at: i64 = tx
        .query_row("SELECT COALESCE(MAX(seq), 0) FROM change_log", [], |r| {
            r.get(0)
        })
        .map_err(store_error)?;
    tx.commit().map_err(store_error)?;
    Ok(at.max(0) as u64)
}

impl ChangeLogStore for SqliteService {
    fn start_change_log(&self) -> Result<u64, StoreError> {
        start(&mut self.db.lock())
    }

    /// Keys of people's rows are not by currency: the caller reads each row and keeps
    /// those of its currency.
    fn changed_since(&self, _currency: &str, after: u64) -> Result<Vec<String>, StoreError> {
        let db = self.db.lock();
        let mut stmt = db
            .prepare("SELECT DISTINCT key FROM change_log WHERE seq > ?1")
            .map_err(store_error)?;
        let rows = stmt
            .query_map(params![after as i64], |r| r.get::<_, String>(0))
            .map_err(store_error)?;
        rows.collect::<Result<_, _>>().map_err(store_error)
    }
}

impl ChangeLogStore for SqliteRegistry {
    fn start_change_log(&self) -> Result<u64, StoreError> {
        start(&mut self.db.lock())
    }

    fn changed_since(&self, currency: &str, after: u64) -> Result<Vec<String>, StoreError> {
        let db = self.db.lock();
        let mut stmt = db
            .prepare("SELECT DISTINCT key FROM change_log WHERE seq > ?1 AND currency = ?2")
            .map_err(store_error)?;
        let rows = stmt
            .query_map(params![after as i64, currency], |r| r.get::<_, String>(0))
            .map_err(store_error)?;
        rows.collect::<Result<_, _>>().map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_noted_only_once_started_and_a_later_start_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteService::open_in(dir.path()).unwrap();
        let registry = SqliteRegistry::open_in(dir.path()).unwrap();
        crate::store::conformance::change_logs(&store, &registry);
    }
}
