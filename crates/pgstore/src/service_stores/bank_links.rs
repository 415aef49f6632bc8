//! Bank-account verifications, consents and links (`maeul_bank_verifications`,
//! `maeul_bank_consents`, `maeul_bank_links`), as `service.sqlite` keeps them.

use service::bank_link::{Stage, Verification};
use service::store::{
    BankLinkStore, Consent, InsertedVerification, LinkRecord, NewVerification, StoreError,
    VerifiedLink,
};
use tokio_postgres::Row;

use super::{PgService, bound, get, get_u32, get_u64, int8, run};

const COLUMNS: &str = "id, user_id, account, currency, fingerprint, bank_account, code_hash, \
                       code, created_ms, expires_ms, state, failures, detail, last_try_key";

fn from_row(r: &Row) -> Result<Verification, StoreError> {
    let state: &str = get(r, 10, "verification stage")?;
    Ok(Verification {
        id: get(r, 0, "verification id")?,
        user_id: get(r, 1, "user id")?,
        account: get_u64(r, 2, "account")?,
        currency: get(r, 3, "currency")?,
        fingerprint: get(r, 4, "fingerprint")?,
        bank_account: get(r, 5, "bank account")?,
        code_hash: get(r, 6, "code hash")?,
        code: get(r, 7, "code")?,
        created_ms: get_u64(r, 8, "verification start")?,
        expires_ms: get_u64(r, 9, "verification expiry")?,
        // A stage this build does not know (a newer build's) has failed, as in SQLite.
        stage: Stage::parse(state).unwrap_or(Stage::DepositFailed),
        failures: get_u32(r, 11, "wrong codes")?,
        detail: get(r, 12, "detail")?,
        last_try_key: get(r, 13, "try key")?,
    })
}

fn consent_from(r: &Row) -> Result<Consent, StoreError> {
    Ok(Consent {
        text_version: get(r, 0, "consent")?,
        bank_account_masked: get(r, 1, "consent")?,
        at_ms: get_u64(r, 2, "consent time")?,
    })
}

fn link_of(r: &Row) -> Result<LinkRecord, StoreError> {
    Ok(LinkRecord {
        account: get_u64(r, 0, "account")?,
        bank_account: get(r, 1, "bank account")?,
        verified_ms: get_u64(r, 2, "link time")?,
    })
}

impl BankLinkStore for PgService {
    fn verification(&self, id: &str) -> Result<Option<Verification>, StoreError> {
        let conn = self.db.conn()?;
        let row = run(
            "read a verification",
            conn.query_opt(
                &format!("SELECT {COLUMNS} FROM maeul_bank_verifications WHERE id = $1"),
                &[&id],
            ),
        )?;
        row.as_ref().map(from_row).transpose()
    }

    fn verification_by_key(
        &self,
        user_id: i64,
        request_key: &[u8],
    ) -> Result<Option<Verification>, StoreError> {
        let conn = self.db.conn()?;
        let row = run(
            "read a verification by its request key",
            conn.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM maeul_bank_verifications
                      WHERE user_id = $1 AND request_key = $2"
                ),
                &[&user_id, &request_key],
            ),
        )?;
        row.as_ref().map(from_row).transpose()
    }

    fn verification_starts(&self, user_id: i64, since_ms: u64) -> Result<(u32, u64), StoreError> {
        let conn = self.db.conn()?;
        let row = run(
            "count verifications",
            conn.query_one(
                "SELECT count(*), coalesce(min(created_ms), 0) FROM maeul_bank_verifications
                  WHERE user_id = $1 AND created_ms > $2",
                &[&user_id, &bound(since_ms)],
            ),
        )?;
        let n: i64 = get(&row, 0, "verification count")?;
        Ok((
            u32::try_from(n).unwrap_or(u32::MAX),
            get_u64(&row, 1, "verification start")?,
        ))
    }

    fn insert_verification(
        &self,
        v: &NewVerification<'_>,
    ) -> Result<InsertedVerification, StoreError> {
        let mut conn = self.db.conn()?;
        let tx = run("begin a verification", conn.transaction())?;
        // A request key the user used before (committed, or by a twin that commits
        // while this waits) inserts nothing.
        let inserted = run(
            "add a verification",
            tx.query_opt(
                "INSERT INTO maeul_bank_verifications (id, user_id, account, currency,
                     request_key, fingerprint, bank_account, code, code_hash, created_ms,
                     expires_ms, state)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (user_id, request_key) DO NOTHING RETURNING id",
                &[
                    &v.id,
                    &v.user_id,
                    &int8(v.account, "account")?,
                    &v.currency,
                    &v.request_key,
                    &v.fingerprint,
                    &v.bank_account,
                    &v.code,
                    &v.code_hash,
                    &int8(v.created_ms, "verification start")?,
                    &int8(v.expires_ms, "verification expiry")?,
                    &v.stage.as_str(),
                ],
            ),
        )?;
        if inserted.is_none() {
            let found = run(
                "read the first verification of a request key",
                tx.query_one(
                    &format!(
                        "SELECT {COLUMNS} FROM maeul_bank_verifications
                          WHERE user_id = $1 AND request_key = $2"
                    ),
                    &[&v.user_id, &v.request_key],
                ),
            )?;
            return Ok(InsertedVerification::Repeat(Box::new(from_row(&found)?)));
        }
        if v.code.is_some() {
            run(
                "supersede open verifications",
                tx.execute(
                    "UPDATE maeul_bank_verifications SET state = 'superseded', code = NULL
                      WHERE user_id = $1 AND id <> $2 AND state IN ('sending', 'code_sent')",
                    &[&v.user_id, &v.id],
                ),
            )?;
        }
        run("commit a verification", tx.commit())?;
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
        let conn = self.db.conn()?;
        let n = run(
            "move a verification on",
            conn.execute(
                "UPDATE maeul_bank_verifications
                    SET state = $3::text, detail = coalesce($4, detail),
                        code = CASE WHEN $3::text = 'sending' THEN code ELSE NULL END
                  WHERE id = $1 AND state = $2",
                &[&id, &from.as_str(), &to.as_str(), &detail],
            ),
        )?;
        Ok(n == 1)
    }

    fn count_wrong_code(
        &self,
        id: &str,
        try_key: &[u8],
        tries_max: u32,
    ) -> Result<Option<u32>, StoreError> {
        let conn = self.db.conn()?;
        let row = run(
            "count a wrong code",
            conn.query_opt(
                "UPDATE maeul_bank_verifications
                    SET failures = failures + 1, last_try_key = $2,
                        state = CASE WHEN failures + 1 >= $3 THEN 'locked' ELSE state END
                  WHERE id = $1 AND state = 'code_sent' RETURNING failures",
                &[&id, &try_key, &i64::from(tries_max)],
            ),
        )?;
        row.map(|r| get_u32(&r, 0, "wrong codes")).transpose()
    }

    fn link_verified(&self, l: &VerifiedLink<'_>) -> Result<bool, StoreError> {
        let account = int8(l.account, "account")?;
        let at_ms = int8(l.at_ms, "link time")?;
        let mut conn = self.db.conn()?;
        let tx = run("begin a link", conn.transaction())?;
        let moved = run(
            "mark a verification linked",
            tx.execute(
                "UPDATE maeul_bank_verifications SET state = 'linked'
                  WHERE id = $1 AND state = 'code_sent'",
                &[&l.verification],
            ),
        )?;
        if moved != 1 {
            // Dropped unfinished: rolled back.
            return Ok(false);
        }
        let consent = run(
            "record a consent",
            tx.query_one(
                "INSERT INTO maeul_bank_consents (user_id, account, currency, verification,
                     bank_account_hash, bank_account_masked, purpose, text_version, at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                &[
                    &l.user_id,
                    &account,
                    &l.currency,
                    &l.verification,
                    &l.bank_account_hash,
                    &l.bank_account_masked,
                    &l.purpose,
                    &l.text_version,
                    &at_ms,
                ],
            ),
        )?;
        let consent: i64 = get(&consent, 0, "consent id")?;
        run(
            "link an account",
            tx.execute(
                "INSERT INTO maeul_bank_links (account, bank_account, verified_ms, consent)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account) DO UPDATE
                    SET bank_account = EXCLUDED.bank_account,
                        verified_ms = EXCLUDED.verified_ms, consent = EXCLUDED.consent",
                &[&account, &l.bank_account, &at_ms, &consent],
            ),
        )?;
        run("commit a link", tx.commit())?;
        Ok(true)
    }

    fn bank_links(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let conn = self.db.conn()?;
        let rows = run(
            "read bank links",
            conn.query(
                "SELECT account, bank_account FROM maeul_bank_links
                  WHERE verified_ms IS NOT NULL",
                &[],
            ),
        )?;
        // An unreadable row is left out, as SQLite's store does.
        Ok(rows
            .iter()
            .filter_map(|r| Some((get_u64(r, 0, "account").ok()?, r.try_get(1).ok()?)))
            .collect())
    }

    fn verified_links(&self) -> Result<Vec<LinkRecord>, StoreError> {
        let conn = self.db.conn()?;
        let rows = run(
            "read verified links",
            conn.query(
                "SELECT account, bank_account, verified_ms FROM maeul_bank_links
                  WHERE verified_ms IS NOT NULL ORDER BY account",
                &[],
            ),
        )?;
        rows.iter().map(link_of).collect()
    }

    fn restore_links(&self, links: &[LinkRecord]) -> Result<usize, StoreError> {
        let mut conn = self.db.conn()?;
        let tx = run("begin restoring links", conn.transaction())?;
        let insert = run(
            "prepare to restore links",
            tx.prepare(
                "INSERT INTO maeul_bank_links (account, bank_account, verified_ms)
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            ),
        )?;
        let mut added = 0;
        for l in links {
            added += run(
                "restore a link",
                tx.execute(
                    &insert,
                    &[
                        &int8(l.account, "account")?,
                        &l.bank_account,
                        &int8(l.verified_ms, "link time")?,
                    ],
                ),
            )?;
        }
        run("commit the links", tx.commit())?;
        Ok(added as usize)
    }

    fn verified_link(&self, account: u64) -> Result<Option<LinkRecord>, StoreError> {
        // No account above int8 is stored.
        let Ok(key) = i64::try_from(account) else {
            return Ok(None);
        };
        let conn = self.db.conn()?;
        let row = run(
            "read a verified link",
            conn.query_opt(
                "SELECT account, bank_account, verified_ms FROM maeul_bank_links
                  WHERE account = $1 AND verified_ms IS NOT NULL",
                &[&key],
            ),
        )?;
        row.as_ref().map(link_of).transpose()
    }

    fn replace_links(&self, links: &[LinkRecord], gone: &[u64]) -> Result<usize, StoreError> {
        let mut conn = self.db.conn()?;
        let tx = run("begin replacing links", conn.transaction())?;
        let put = run(
            "prepare to put links",
            tx.prepare(
                "INSERT INTO maeul_bank_links AS l (account, bank_account, verified_ms)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (account) DO UPDATE
                    SET bank_account = EXCLUDED.bank_account,
                        verified_ms = EXCLUDED.verified_ms
                  WHERE l.bank_account IS DISTINCT FROM EXCLUDED.bank_account
                     OR l.verified_ms IS DISTINCT FROM EXCLUDED.verified_ms",
            ),
        )?;
        let remove = run(
            "prepare to remove links",
            tx.prepare("DELETE FROM maeul_bank_links WHERE account = $1"),
        )?;
        let mut written = 0;
        for l in links {
            written += run(
                "put a link",
                tx.execute(
                    &put,
                    &[
                        &int8(l.account, "account")?,
                        &l.bank_account,
                        &int8(l.verified_ms, "link time")?,
                    ],
                ),
            )?;
        }
        for account in gone {
            // No account above int8 is stored: nothing to remove.
            if let Ok(account) = i64::try_from(*account) {
                written += run("remove a link", tx.execute(&remove, &[&account]))?;
            }
        }
        run("commit the links", tx.commit())?;
        Ok(written as usize)
    }

    fn bank_consents(&self, user_id: i64) -> Result<Vec<Consent>, StoreError> {
        let conn = self.db.conn()?;
        let rows = run(
            "read a user's consents",
            conn.query(
                "SELECT text_version, bank_account_masked, at_ms FROM maeul_bank_consents
                  WHERE user_id = $1 ORDER BY id DESC",
                &[&user_id],
            ),
        )?;
        // An unreadable row is left out, as SQLite's store does.
        Ok(rows.iter().filter_map(|r| consent_from(r).ok()).collect())
    }

    fn consent_of(&self, verification: &str) -> Result<Option<Consent>, StoreError> {
        let conn = self.db.conn()?;
        let row = run(
            "read a consent",
            conn.query_opt(
                "SELECT text_version, bank_account_masked, at_ms FROM maeul_bank_consents
                  WHERE verification = $1 ORDER BY id LIMIT 1",
                &[&verification],
            ),
        )?;
        row.as_ref().map(consent_from).transpose()
    }
}
