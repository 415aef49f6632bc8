//! Notices operators publish (`maeul_notices`).

use service::auth::Notice;
use service::store::{NoticeStore, StoreError};
use tokio_postgres::Row;

use super::{PgService, get, get_u64, int8, run};

fn notice_of(r: &Row) -> Result<Notice, StoreError> {
    Ok(Notice {
        id: get(r, 0, "notice id")?,
        currency: get(r, 1, "notice")?,
        title_ko: get(r, 2, "notice")?,
        title_en: get(r, 3, "notice")?,
        body_ko: get(r, 4, "notice")?,
        body_en: get(r, 5, "notice")?,
        at: get_u64(r, 6, "notice time")?,
    })
}

impl NoticeStore for PgService {
    fn publish_notice(&self, n: &Notice, at_s: u64) -> Result<i64, StoreError> {
        let conn = self.db.conn()?;
        let row = run(
            "publish a notice",
            conn.query_one(
                "INSERT INTO maeul_notices (currency, title_ko, title_en, body_ko, body_en, at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &n.currency,
                    &n.title_ko,
                    &n.title_en,
                    &n.body_ko,
                    &n.body_en,
                    &int8(at_s, "notice time")?,
                ],
            ),
        )?;
        get(&row, 0, "notice id")
    }

    fn notices(&self, currency: &str, limit: usize) -> Result<Vec<Notice>, StoreError> {
        let conn = self.db.conn()?;
        let rows = run(
            "read notices",
            conn.query(
                "SELECT id, currency, title_ko, title_en, body_ko, body_en, at
                   FROM maeul_notices WHERE currency = $1 ORDER BY id DESC LIMIT $2",
                &[&currency, &i64::try_from(limit).unwrap_or(i64::MAX)],
            ),
        )?;
        // An unreadable row is left out, as SQLite's store does.
        Ok(rows.iter().filter_map(|r| notice_of(r).ok()).collect())
    }
}
