//! The service's store traits on PostgreSQL, beside its SQLite stores
//! (`service::store::sqlite`): [`PgService`] (users, sessions, bank links, notices,
//! stored answers: what `service.sqlite` keeps) and [`PgRegistry`] (merchant
//! registries: `directory.sqlite`), in the `maeul_` tables of migrations 0002 and 0003.
//! Both pass `service::store::conformance`.
//!
//! The SQL mirrors the SQLite store's statement for statement, so that both answer
//! alike; where SQLite's one connection serialised writers, a lock says so here
//! (`users::put_users`, `change_log`). Every method blocks its thread, as a SQLite call
//! does. The stores do not migrate: the node runs [`crate::migrate`] first.

mod answers;
mod bank_links;
mod change_log;
mod notices;
mod registry;
mod sessions;
mod users;

use std::future::Future;
use std::sync::Arc;

use service::store::{ServiceStores, StoreError};
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

pub use registry::PgRegistry;

use crate::{Db, PgError};

/// Both stores over one database.
#[derive(Debug, Clone)]
pub struct PgServiceStores {
    service: Arc<PgService>,
    registry: Arc<PgRegistry>,
}

impl PgServiceStores {
    /// The stores in `db`, whose schema is at [`crate::LATEST`].
    pub fn new(db: Arc<Db>) -> PgServiceStores {
        PgServiceStores {
            service: Arc::new(PgService::new(Arc::clone(&db))),
            registry: Arc::new(PgRegistry::new(db)),
        }
    }

    /// What `service::Auth::with_stores` takes: every concern in the one store.
    pub fn service_stores(&self) -> ServiceStores {
        ServiceStores::all_in(Arc::clone(&self.service))
    }

    /// The people's store itself (also its change log, for an operator change).
    pub fn service(&self) -> Arc<PgService> {
        Arc::clone(&self.service)
    }

    /// What `service::merchants::Merchants::with_store` takes (also its change log).
    pub fn registry(&self) -> Arc<PgRegistry> {
        Arc::clone(&self.registry)
    }
}

/// People's data: users, sessions, bank links, notices, stored answers.
#[derive(Debug)]
pub struct PgService {
    db: Arc<Db>,
}

impl PgService {
    /// The store in `db`, whose schema is at [`crate::LATEST`].
    pub fn new(db: Arc<Db>) -> PgService {
        PgService { db }
    }
}

/// A failure as the store boundary says it: what may pass (a lost connection, a busy or
/// restarting server, a lock or statement timeout, a standby after a failover) is worth
/// a retry; anything else is the store's failure.
impl From<PgError> for StoreError {
    fn from(e: PgError) -> StoreError {
        if passing(e.code.as_deref()) {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Failed(e.to_string())
        }
    }
}

/// Whether a SQLSTATE (or its absence: the server never answered) describes a passing
/// condition.
fn passing(code: Option<&str>) -> bool {
    match code {
        None => true,
        Some(code) => {
            // 08: connection exception; 53: insufficient resources (too many
            // connections); 57P: the server shutting down or starting.
            ["08", "53", "57P"]
                .iter()
                .any(|class| code.starts_with(class))
                || matches!(
                    code,
                    // serialization failure, deadlock, lock not available, statement
                    // timeout, read-only transaction (a standby)
                    "40001" | "40P01" | "55P03" | "57014" | "25006"
                )
        }
    }
}

/// Waits for a request on a connection or in a transaction.
fn run<T>(
    op: &'static str,
    f: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, StoreError> {
    crate::db::wait(f).map_err(|e| PgError::new(op, &e).into())
}

/// Column `i` of a row, or the row is unreadable.
fn get<'a, T: FromSql<'a>>(row: &'a Row, i: usize, what: &'static str) -> Result<T, StoreError> {
    row.try_get(i).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// An unsigned value of the service as int8; above `i64::MAX` it cannot be kept.
fn int8(v: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| {
        StoreError::Failed(format!(
            "{what} {v} is larger than the store keeps (at most {})",
            i64::MAX
        ))
    })
}

/// A bound in a comparison with stored int8 values, which are all at most `i64::MAX`:
/// a larger bound compares as `i64::MAX` does, for `<=` and `>` (not `<` or `>=`).
fn bound(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// An int8 column that holds an unsigned value of the service.
fn unsigned(v: i64, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt {
        what,
        detail: format!("{v} is negative"),
    })
}

/// Column `i`, an int8 holding an unsigned value.
fn get_u64(row: &Row, i: usize, what: &'static str) -> Result<u64, StoreError> {
    unsigned(get(row, i, what)?, what)
}

/// Column `i`, an int8 holding a count.
fn get_u32(row: &Row, i: usize, what: &'static str) -> Result<u32, StoreError> {
    let v: i64 = get(row, i, what)?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt {
        what,
        detail: format!("{v} is not a count"),
    })
}
