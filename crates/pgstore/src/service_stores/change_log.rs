//! The change logs of both stores (migrations 0002 and 0003), for an operator change:
//! triggers note the key of every changed row once the log's `_on` table has its row.

use service::store::{ChangeLogStore, StoreError};

use super::{PgRegistry, PgService, get, run, unsigned};
use crate::Db;

/// Turns a log on and answers the position after which changes count. Nothing is
/// forgotten: the stores are shared by every currency, and another currency's base may
/// still need what was noted.
///
/// The `_on` table is locked ACCESS EXCLUSIVE first: every trigger reads it in its
/// writer's transaction, so the lock waits until each writer that saw the log off, or
/// already took a seq, has ended, and holds back the rest. The last seq read then has
/// no uncommitted seq below it, as with SQLite's one writer.
fn start(db: &Db, on: &'static str, log: &'static str) -> Result<u64, StoreError> {
    let mut conn = db.conn()?;
    let tx = run("begin the change log", conn.transaction())?;
    run(
        "turn the change log on",
        tx.batch_execute(&format!(
            "LOCK TABLE {on} IN ACCESS EXCLUSIVE MODE;
             INSERT INTO {on} (one) VALUES (1) ON CONFLICT DO NOTHING"
        )),
    )?;
    let row = run(
        "read the change log's end",
        tx.query_one(&format!("SELECT coalesce(max(seq), 0) FROM {log}"), &[]),
    )?;
    let at = unsigned(get(&row, 0, "change log position")?, "change log position")?;
    run("commit the change log's start", tx.commit())?;
    Ok(at)
}

/// The distinct keys of `rows` (one text column).
fn keys(rows: &[tokio_postgres::Row]) -> Result<Vec<String>, StoreError> {
    rows.iter().map(|r| get(r, 0, "change log key")).collect()
}

impl ChangeLogStore for PgService {
    fn start_change_log(&self) -> Result<u64, StoreError> {
        start(&self.db, "maeul_change_log_on", "maeul_change_log")
    }

    /// Keys of people's rows are not by currency: the caller reads each row and keeps
    /// those of its currency.
    fn changed_since(&self, _currency: &str, after: u64) -> Result<Vec<String>, StoreError> {
        // No seq is past int8's end.
        let Ok(after) = i64::try_from(after) else {
            return Ok(Vec::new());
        };
        let conn = self.db.conn()?;
        let rows = run(
            "read the change log",
            conn.query(
                "SELECT DISTINCT key FROM maeul_change_log WHERE seq > $1",
                &[&after],
            ),
        )?;
        keys(&rows)
    }
}

impl ChangeLogStore for PgRegistry {
    fn start_change_log(&self) -> Result<u64, StoreError> {
        start(
            &self.db,
            "maeul_registry_change_log_on",
            "maeul_registry_change_log",
        )
    }

    fn changed_since(&self, currency: &str, after: u64) -> Result<Vec<String>, StoreError> {
        let Ok(after) = i64::try_from(after) else {
            return Ok(Vec::new());
        };
        let conn = self.db.conn()?;
        let rows = run(
            "read the registry's change log",
            conn.query(
                "SELECT DISTINCT key FROM maeul_registry_change_log
                  WHERE seq > $1 AND currency = $2",
                &[&after, &currency],
            ),
        )?;
        keys(&rows)
    }
}
