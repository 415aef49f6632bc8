//! Merchant registries (`maeul_merchants`, `maeul_alias_files`, `maeul_revenue_bands`,
//! `maeul_status_log`), as `directory.sqlite` keeps them: one JSON record per merchant,
//! the alias files as imported, the revenue-band tables and the status log.

use std::sync::Arc;

use directory::{Actor, Merchant};
use service::store::{RegistryStore, RegistryWrite, StoreError};

use super::{get, int8, run};
use crate::Db;

/// Every currency's merchant registry.
#[derive(Debug)]
pub struct PgRegistry {
    pub(super) db: Arc<Db>,
}

impl PgRegistry {
    /// The store in `db`, whose schema is at [`crate::LATEST`].
    pub fn new(db: Arc<Db>) -> PgRegistry {
        PgRegistry { db }
    }
}

fn merchant_of(json: &str) -> Result<Merchant, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        what: "merchant record",
        detail: e.to_string(),
    })
}

/// A merchant id as stored; none above int8 is.
fn id_key(id: u64) -> Option<i64> {
    i64::try_from(id).ok()
}

impl RegistryStore for PgRegistry {
    fn merchants(&self, currency: &str) -> Result<Vec<Merchant>, StoreError> {
        let conn = self.db.conn()?;
        let rows = run(
            "read a registry",
            conn.query(
                "SELECT record::text FROM maeul_merchants WHERE currency = $1",
                &[&currency],
            ),
        )?;
        rows.iter()
            .map(|r| merchant_of(get(r, 0, "merchant record")?))
            .collect()
    }

    fn merchant(&self, currency: &str, id: u64) -> Result<Option<Merchant>, StoreError> {
        let Some(id) = id_key(id) else {
            return Ok(None);
        };
        let conn = self.db.conn()?;
        let row = run(
            "read a merchant",
            conn.query_opt(
                "SELECT record::text FROM maeul_merchants WHERE currency = $1 AND id = $2",
                &[&currency, &id],
            ),
        )?;
        row.map(|r| merchant_of(get(&r, 0, "merchant record")?))
            .transpose()
    }

    fn alias_files(&self, currency: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let conn = self.db.conn()?;
        let rows = run(
            "read alias files",
            conn.query(
                "SELECT csv FROM maeul_alias_files WHERE currency = $1 ORDER BY seq",
                &[&currency],
            ),
        )?;
        rows.iter().map(|r| get(r, 0, "alias file")).collect()
    }

    fn revenue_bands(&self, currency: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let conn = self.db.conn()?;
        let row = run(
            "read revenue bands",
            conn.query_opt(
                "SELECT csv FROM maeul_revenue_bands WHERE currency = $1",
                &[&currency],
            ),
        )?;
        row.map(|r| get(&r, 0, "revenue bands")).transpose()
    }

    fn write(&self, currency: &str, w: &RegistryWrite<'_>) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        let tx = run("begin a registry write", conn.transaction())?;
        let put = run(
            "prepare to put merchants",
            tx.prepare(
                "INSERT INTO maeul_merchants (currency, id, record) VALUES ($1, $2, $3::text::jsonb)
                 ON CONFLICT (currency, id) DO UPDATE SET record = EXCLUDED.record",
            ),
        )?;
        let log = run(
            "prepare to log status changes",
            tx.prepare(
                "INSERT INTO maeul_status_log (currency, id, status, reason, changed_by, at_us)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            ),
        )?;
        for m in w.records {
            let id = int8(m.id.0, "merchant id")?;
            let json = serde_json::to_string(m).map_err(|e| StoreError::Failed(e.to_string()))?;
            run("put a merchant", tx.execute(&put, &[&currency, &id, &json]))?;
            if w.log_status {
                let by = match m.last_change.by {
                    Actor::Operator => "operator",
                    Actor::RegistrySync => "registry_sync",
                };
                run(
                    "log a status change",
                    tx.execute(
                        &log,
                        &[
                            &currency,
                            &id,
                            &m.status.as_str(),
                            &m.last_change.reason,
                            &by,
                            &int8(m.last_change.at_us, "status change time")?,
                        ],
                    ),
                )?;
            }
        }
        if let Some(csv) = w.alias_file {
            run(
                "add an alias file",
                tx.execute(
                    "INSERT INTO maeul_alias_files (currency, csv, at_us) VALUES ($1, $2, $3)",
                    &[&currency, &csv, &int8(w.at_us, "alias file time")?],
                ),
            )?;
        }
        run("commit a registry write", tx.commit())
    }

    fn remove_merchant(&self, currency: &str, id: u64) -> Result<(), StoreError> {
        let Some(id) = id_key(id) else {
            return Ok(());
        };
        let conn = self.db.conn()?;
        run(
            "remove a merchant",
            conn.execute(
                "DELETE FROM maeul_merchants WHERE currency = $1 AND id = $2",
                &[&currency, &id],
            ),
        )?;
        Ok(())
    }

    fn set_revenue_bands(&self, currency: &str, csv: &[u8], at_us: u64) -> Result<(), StoreError> {
        let conn = self.db.conn()?;
        run(
            "set revenue bands",
            conn.execute(
                "INSERT INTO maeul_revenue_bands (currency, csv, at_us) VALUES ($1, $2, $3)
                 ON CONFLICT (currency) DO UPDATE
                    SET csv = EXCLUDED.csv, at_us = EXCLUDED.at_us",
                &[&currency, &csv, &int8(at_us, "revenue bands time")?],
            ),
        )?;
        Ok(())
    }
}
