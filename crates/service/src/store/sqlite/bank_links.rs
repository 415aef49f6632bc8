//! Bank-account verifications, consents and links in `service.sqlite`
//! (`bank_verifications`, `bank_consents`, `bank_links`).

use rusqlite::{OptionalExtension, params};

use super::{SqliteService, is_constraint, store_error};
use crate::bank_link::{Stage, Verification};
use crate::store::{
    BankLinkStore, Consent, InsertedVerification, LinkRecord, NewVerification, StoreError,
    VerifiedLink,
};

const COLUMNS: &str = "id, user_id, account, currency, fingerprint, bank_account, code_hash, \
                       code, created_ms, expires_ms, state, failures, detail, last_try_key";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Verification> {
    let state: String = r.get(10)?;
    Ok(Verification {
        id: r.get(0)?,
        user_id: r.get(1)?,
        account: r.get::<_, i64>(2)? as u64,
        currency: r.get(3)?,
        fingerprint: r.get(4)?,
        bank_account: r.get(5)?,
        code_hash: r.get(6)?,
        code: r.get(7)?,
        created_ms: r.get::<_, i64>(8)?.max(0) as u64,
        expires_ms: r.get::<_, i64>(9)?.max(0) as u64,
        stage: Stage::parse(&state).unwrap_or(Stage::DepositFailed),
        failures: r.get::<_, i64>(11)?.clamp(0, i64::from(u32::MAX)) as u32,
        detail: r.get(12)?,
        last_try_key: r.get(13)?,
    })
}

impl BankLinkStore for SqliteService {
    fn verification(&self, id: &str) -> Result<Option<Verification>, StoreError> {
        self.db
            .lock()
            .query_row(
                &format!("SELECT {COLUMNS} FROM bank_verifications WHERE id = ?1"),
                params![id],
                from_row,
            )
            .optional()
            .map_err(store_error)
    }

    fn verification_by_key(
        &self,
        user_id: i64,
        request_key: &[u8],
    ) -> Result<Option<Verification>, StoreError> {
        self.db
            .lock()
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM bank_verifications WHERE user_id = ?1 AND request_key = ?2"
                ),
                params![user_id, request_key],
                from_row,
            )
            .optional()
            .map_err(store_error)
    }

    fn verification_starts(&self, user_id: i64, since_ms: u64) -> Result<(u32, u64), StoreError> {
        self.db
            .lock()
            .query_row(
                "SELECT COUNT(*), COALESCE(MIN(created_ms), 0) FROM bank_verifications
                 WHERE user_id = ?1 AND created_ms > ?2",
                params![user_id, since_ms as i64],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
            .map(|(n, oldest)| (n.clamp(0, i64::from(u32::MAX)) as u32, oldest.max(0) as u64))
            .map_err(store_error)
    }

    fn insert_verification(
        &self,
        v: &NewVerification<'_>,
    ) -> Result<InsertedVerification, StoreError> {
        let mut db = self.db.lock();
        let tx = db.transaction().map_err(store_error)?;
        let inserted = tx.execute(
            "INSERT INTO bank_verifications (id, user_id, account, currency, request_key,
                 fingerprint, bank_account, code, code_hash, created_ms, expires_ms, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                v.id,
                v.user_id,
                v.account as i64,
                v.currency,
                v.request_key,
                v.fingerprint,
                v.bank_account,
                v.code,
                v.code_hash,
                v.created_ms as i64,
                v.expires_ms as i64,
                v.stage.as_str()
            ],
        );
        match inserted {
            Ok(_) => {}
            Err(e) if is_constraint(&e) => {
                drop(tx);
                let found = db
                    .query_row(
                        &format!(
                            "SELECT {COLUMNS} FROM bank_verifications
                             WHERE user_id = ?1 AND request_key = ?2"
                        ),
                        params![v.user_id, v.request_key],
                        from_row,
                    )
                    .map_err(store_error)?;
                return Ok(InsertedVerification::Repeat(Box::new(found)));
            }
            Err(e) => return Err(store_error(e)),
        }
        if v.code.is_some() {
            tx.execute(
                "UPDATE bank_verifications SET state = 'superseded', code = NULL
                 WHERE user_id = ?1 AND id != ?2 AND state IN ('sending', 'code_sent')",
                params![v.user_id, v.id],
            )
            .map_err(store_error)?;
        }
        tx.commit().map_err(store_error)?;
        Ok(InsertedVerification::Done)
    }

    fn advance_verification(
        &self,
        id: &str,
        from: Stage,
        to: Stage,
        detail: Option<&str>,
    ) -> Result<bool, StoreError> {
        // The plain code is kept only while the deposit (whose memo carries it) may
        // have to be sent again; after that the keyed hash is enough.
        self.db
            .lock()
            .execute(
                "UPDATE bank_verifications SET state = ?3, detail = COALESCE(?4, detail),
                     code = CASE WHEN ?3 = 'sending' THEN code ELSE NULL END
                 WHERE id = ?1 AND state = ?2",
                params![id, from.as_str(), to.as_str(), detail],
            )
            .map(|n| n == 1)
            .map_err(store_error)
    }

    fn count_wrong_code(
        &self,
        id: &str,
        try_key: &[u8],
        tries_max: u32,
    ) -> Result<Option<u32>, StoreError> {
        self.db
            .lock()
            .query_row(
                "UPDATE bank_verifications SET failures = failures + 1, last_try_key = ?2,
                     state = CASE WHEN failures + 1 >= ?3 THEN 'locked' ELSE state END
                 WHERE id = ?1 AND state = 'code_sent' RETURNING failures",
                params![id, try_key, i64::from(tries_max)],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|n| n.map(|n| n.clamp(0, i64::from(u32::MAX)) as u32))
            .map_err(store_error)
    }

    fn link_verified(&self, l: &VerifiedLink<'_>) -> Result<bool, StoreError> {
        let mut db = self.db.lock();
        let tx = db.transaction().map_err(store_error)?;
        let moved = tx
            .execute(
                "UPDATE bank_verifications SET state = 'linked' WHERE id = ?1 AND state = 'code_sent'",
                params![l.verification],
            )
            .map_err(store_error)?;
        if moved != 1 {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO bank_consents (user_id, account, currency, verification,
                 bank_account_hash, bank_account_masked, purpose, text_version, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                l.user_id,
                l.account as i64,
                l.currency,
                l.verification,
                l.bank_account_hash,
                l.bank_account_masked,
                l.purpose,
                l.text_version,
                l.at_ms as i64
            ],
        )
        .map_err(store_error)?;
        let consent = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO bank_links (account, bank_account, verified_ms, consent)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(account) DO UPDATE SET bank_account = excluded.bank_account,
                 verified_ms = excluded.verified_ms, consent = excluded.consent",
            params![l.account as i64, l.bank_account, l.at_ms as i64, consent],
        )
        .map_err(store_error)?;
        tx.commit().map_err(store_error)?;
        Ok(true)
    }

    fn bank_links(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let db = self.db.lock();
        let mut stmt = db
            .prepare("SELECT account, bank_account FROM bank_links WHERE verified_ms IS NOT NULL")
            .map_err(store_error)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })
            .map_err(store_error)?;
        Ok(rows.filter_map(Result::ok).collect())
    }

    fn verified_links(&self) -> Result<Vec<LinkRecord>, StoreError> {
        let db = self.db.lock();
        let mut stmt = db
            .prepare(
                "SELECT account, bank_account, verified_ms FROM bank_links
                 WHERE verified_ms IS NOT NULL ORDER BY account",
            )
            .map_err(store_error)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(LinkRecord {
                    account: r.get::<_, i64>(0)? as u64,
                    bank_account: r.get(1)?,
                    verified_ms: r.get::<_, i64>(2)? as u64,
                })
            })
            .map_err(store_error)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(store_error)
    }

    fn restore_links(&self, links: &[LinkRecord]) -> Result<usize, StoreError> {
        let mut db = self.db.lock();
        let tx = db.transaction().map_err(store_error)?;
        let mut added = 0;
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR IGNORE INTO bank_links (account, bank_account, verified_ms)
                     VALUES (?1, ?2, ?3)",
                )
                .map_err(store_error)?;
            for l in links {
                added += insert
                    .execute(params![
                        l.account as i64,
                        l.bank_account,
                        l.verified_ms as i64
                    ])
                    .map_err(store_error)?;
            }
        }
        tx.commit().map_err(store_error)?;
        Ok(added)
    }

    fn verified_link(&self, account: u64) -> Result<Option<LinkRecord>, StoreError> {
        self.db
            .lock()
            .query_row(
                "SELECT bank_account, verified_ms FROM bank_links
                 WHERE account = ?1 AND verified_ms IS NOT NULL",
                params![account as i64],
                |r| {
                    Ok(LinkRecord {
                        account,
                        bank_account: r.get(0)?,
                        verified_ms: r.get::<_, i64>(1)? as u64,
                    })
                },
            )
            .optional()
            .map_err(store_error)
    }

    fn replace_links(&self, links: &[LinkRecord], gone: &[u64]) -> Result<usize, StoreError> {
        let mut db = self.db.lock();
        let tx = db.transaction().map_err(store_error)?;
        let mut written = 0;
        {
            let mut put = tx
                .prepare(
                    "INSERT INTO bank_links (account, bank_account, verified_ms)
                     VALUES (?1, ?2, ?3)
                     ON CONFLICT(account) DO UPDATE SET bank_account = excluded.bank_account,
                         verified_ms = excluded.verified_ms
                     WHERE bank_account IS NOT excluded.bank_account
                         OR verified_ms IS NOT excluded.verified_ms",
                )
                .map_err(store_error)?;
            for l in links {
                written += put
                    .execute(params![
                        l.account as i64,
                        l.bank_account,
                        l.verified_ms as i64
                    ])
                    .map_err(store_error)?;
            }
            let mut remove = tx
                .prepare("DELETE FROM bank_links WHERE account = ?1")
                .map_err(store_error)?;
            for account in gone {
                written += remove
                    .execute(params![*account as i64])
                    .map_err(store_error)?;
            }
        }
        tx.commit().map_err(store_error)?;
        Ok(written)
    }

    fn bank_consents(&self, user_id: i64) -> Result<Vec<Consent>, StoreError> {
        let db = self.db.lock();
        let mut stmt = db
            .prepare(
                "SELECT text_version, bank_account_masked, at_ms FROM bank_consents
                 WHERE user_id = ?1 ORDER BY id DESC",
            )
            .map_err(store_error)?;
        let rows = stmt
            .query_map(params![user_id], |r| {
                Ok(Consent {
                    text_version: r.get(0)?,
                    bank_account_masked: r.get(1)?,
                    at_ms: r.get::<_, i64>(2)?.max(0) as u64,
                })
            })
            .map_err(store_error)?;
        Ok(rows.filter_map(Result::ok).collect())
    }

    fn consent_of(&self, verification: &str) -> Result<Option<Consent>, StoreError> {
        self.db
            .lock()
            .query_row(
                "SELECT text_version, bank_account_masked, at_ms FROM bank_consents
                 WHERE verification = ?1",
                params![verification],
                |r| {
                    Ok(Consent {
                        text_version: r.get(0)?,
                        bank_account_masked: r.get(1)?,
                        at_ms: r.get::<_, i64>(2)?.max(0) as u64,
                    })
                },
            )
            .optional()
            .map_err(store_error)
    }
}
