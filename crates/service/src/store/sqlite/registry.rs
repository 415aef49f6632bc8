//! Merchant registries in `directory.sqlite`: one JSON row per merchant, the alias
//! files as imported, the revenue-band tables and the status log.

use std::path::Path;

use directory::{Actor, Merchant};
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};

use super::{open, store_error};
use crate::schema::Store;
use crate::store::{RegistryStore, RegistryWrite, StoreError};

/// `directory.sqlite`.
#[derive(Debug)]
pub struct SqliteRegistry {
    pub(super) db: Mutex<Connection>,
}

impl SqliteRegistry {
    /// Opens (or creates) `directory.sqlite` in `dir`.
    pub fn open_in(dir: &Path) -> anyhow::Result<SqliteRegistry> {
        SqliteRegistry::open(&dir.join("directory.sqlite"))
    }

    /// Opens (or creates) the registry store at `path`.
    pub fn open(path: &Path) -> anyhow::Result<SqliteRegistry> {
        Ok(SqliteRegistry {
            db: Mutex::new(open(path, Store::Directory)?),
        })
    }
}

impl RegistryStore for SqliteRegistry {
    fn merchants(&self, currency: &str) -> Result<Vec<Merchant>, StoreError> {
        let db = self.db.lock();
        let mut stmt = db
            .prepare("SELECT record FROM merchants WHERE currency = ?1")
            .map_err(store_error)?;
        let rows = stmt
            .query_map(params![currency], |r| r.get::<_, String>(0))
            .map_err(store_error)?;
        let mut records = Vec::new();
        for row in rows {
            let json = row.map_err(store_error)?;
            records.push(serde_json::from_str::<Merchant>(&json).map_err(|e| {
                StoreError::Corrupt {
                    what: "merchant record",
                    detail: e.to_string(),
                }
            })?);
        }
        Ok(records)
    }

    fn merchant(&self, currency: &str, id: u64) -> Result<Option<Merchant>, StoreError> {
        let json: Option<String> = self
            .db
            .lock()
            .query_row(
                "SELECT record FROM merchants WHERE currency = ?1 AND id = ?2",
                params![currency, id as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(store_error)?;
        json.map(|j| {
            serde_json::from_str::<Merchant>(&j).map_err(|e| StoreError::Corrupt {
                what: "merchant record",
                detail: e.to_string(),
            })
        })
        .transpose()
    }

    fn alias_files(&self, currency: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let db = self.db.lock();
        let mut stmt = db
            .prepare("SELECT csv FROM alias_files WHERE currency = ?1 ORDER BY seq")
            .map_err(store_error)?;
        let rows = stmt
            .query_map(params![currency], |r| r.get::<_, Vec<u8>>(0))
            .map_err(store_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(store_error)
    }

    fn revenue_bands(&self, currency: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.db
            .lock()
            .query_row(
                "SELECT csv FROM revenue_bands WHERE currency = ?1",
                params![currency],
                |r| r.get(0),
            )
            .optional()
            .map_err(store_error)
    }

    fn write(&self, currency: &str, w: &RegistryWrite<'_>) -> Result<(), StoreError> {
        let mut db = self.db.lock();
        let tx = db.transaction().map_err(store_error)?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO merchants (currency, id, record) VALUES (?1, ?2, ?3)
                     ON CONFLICT(currency, id) DO UPDATE SET record = excluded.record",
                )
                .map_err(store_error)?;
            let mut log = tx
                .prepare_cached(
                    "INSERT INTO status_log (currency, id, status, reason, by, at_us)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(store_error)?;
            for m in w.records {
                let json =
                    serde_json::to_string(m).map_err(|e| StoreError::Failed(e.to_string()))?;
                put.execute(params![currency, m.id.0 as i64, json])
                    .map_err(store_error)?;
                if w.log_status {
                    let by = match m.last_change.by {
                        Actor::Operator => "operator",
                        Actor::RegistrySync => "registry_sync",
                    };
                    log.execute(params![
                        currency,
                        m.id.0 as i64,
                        m.status.as_str(),
                        m.last_change.reason,
                        by,
                        m.last_change.at_us as i64
                    ])
                    .map_err(store_error)?;
                }
            }
            if let Some(csv) = w.alias_file {
                tx.execute(
                    "INSERT INTO alias_files (currency, csv, at_us) VALUES (?1, ?2, ?3)",
                    params![currency, csv, w.at_us as i64],
                )
                .map_err(store_error)?;
            }
        }
        tx.commit().map_err(store_error)
    }

    fn remove_merchant(&self, currency: &str, id: u64) -> Result<(), StoreError> {
        self.db
            .lock()
            .execute(
                "DELETE FROM merchants WHERE currency = ?1 AND id = ?2",
                params![currency, id as i64],
            )
            .map(|_| ())
            .map_err(store_error)
    }

    fn set_revenue_bands(&self, currency: &str, csv: &[u8], at_us: u64) -> Result<(), StoreError> {
        self.db
            .lock()
            .execute(
                "INSERT INTO revenue_bands (currency, csv, at_us) VALUES (?1, ?2, ?3)
                 ON CONFLICT(currency) DO UPDATE SET csv = excluded.csv, at_us = excluded.at_us",
                params![currency, csv, at_us as i64],
            )
            .map(|_| ())
            .map_err(store_error)
    }
}
