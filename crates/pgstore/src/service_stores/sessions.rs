//! Sessions by the hash of their token (`maeul_sessions`), as `service.sqlite` keeps
//! them.

use service::store::{CarriedSession, SessionStore, StoreError, StoredSession, UserRecord};
use tokio_postgres::Row;

use super::users::{currencies_of, role_of};
use super::{PgService, bound, get, get_u64, int8, run, unsigned};

/// A token hash as stored, or the row is unreadable.
fn token_hash_of(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| StoreError::Corrupt {
        what: "session",
        detail: format!("a token hash of {} bytes", bytes.len()),
    })
}

/// A live session with its user, from the columns `live_sessions` reads.
fn stored(r: &Row) -> Result<StoredSession, StoreError> {
    let account: Option<i64> = get(r, 4, "account")?;
    Ok(StoredSession {
        token_hash: token_hash_of(get(r, 0, "session")?)?,
        expires_at_s: get_u64(r, 1, "session expiry")?,
        user: UserRecord {
            id: get(r, 2, "user id")?,
            role: role_of(get(r, 3, "role")?)?,
            account: account.map(|a| unsigned(a, "account")).transpose()?,
            currency: get(r, 5, "currency")?,
            currencies: currencies_of(get(r, 6, "currencies")?),
        },
    })
}

impl SessionStore for PgService {
    fn insert_session(
        &self,
        token_hash: &[u8; 32],
        user_id: i64,
        expires_at_s: u64,
    ) -> Result<(), StoreError> {
        let conn = self.db.conn()?;
        run(
            "add a session",
            conn.execute(
                "INSERT INTO maeul_sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
                &[
                    &token_hash.as_slice(),
                    &user_id,
                    &int8(expires_at_s, "session expiry")?,
                ],
            ),
        )?;
        Ok(())
    }

    fn remove_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        let conn = self.db.conn()?;
        run(
            "remove a session",
            conn.execute(
                "DELETE FROM maeul_sessions WHERE token_hash = $1",
                &[&token_hash.as_slice()],
            ),
        )?;
        Ok(())
    }

    fn remove_user_sessions(&self, user_id: i64) -> Result<(), StoreError> {
        let conn = self.db.conn()?;
        run(
            "remove a user's sessions",
            conn.execute("DELETE FROM maeul_sessions WHERE user_id = $1", &[&user_id]),
        )?;
        Ok(())
    }

    fn remove_expired_sessions(&self, now_s: u64) -> Result<(), StoreError> {
        let conn = self.db.conn()?;
        run(
            "remove expired sessions",
            conn.execute(
                "DELETE FROM maeul_sessions WHERE expires_at <= $1",
                &[&bound(now_s)],
            ),
        )?;
        Ok(())
    }

    fn live_sessions(&self, now_s: u64) -> Result<Vec<StoredSession>, StoreError> {
        self.remove_expired_sessions(now_s)?;
        let conn = self.db.conn()?;
        let rows = run(
            "read live sessions",
            conn.query(
                "SELECT s.token_hash, s.expires_at, u.id, u.role, u.account, u.currency,
                        u.currencies
                   FROM maeul_sessions s JOIN maeul_users u ON u.id = s.user_id",
                &[],
            ),
        )?;
        // A session that does not read (an unknown role) is left out, as in SQLite.
        Ok(rows.iter().filter_map(|r| stored(r).ok()).collect())
    }

    fn sessions_of(&self, currency: &str, now_s: u64) -> Result<Vec<CarriedSession>, StoreError> {
        let conn = self.db.conn()?;
        let rows = run(
            "read a currency's sessions",
            conn.query(
                "SELECT u.login, s.token_hash, s.expires_at
                   FROM maeul_sessions s JOIN maeul_users u ON u.id = s.user_id
                  WHERE u.currency = $1 AND u.role IN ('citizen', 'merchant')
                    AND s.expires_at > $2
                  ORDER BY u.id, s.token_hash",
                &[&currency, &bound(now_s)],
            ),
        )?;
        rows.iter()
            .map(|r| {
                Ok(CarriedSession {
                    login: get(r, 0, "login")?,
                    token_hash: token_hash_of(get(r, 1, "session")?)?,
                    expires_at_s: get_u64(r, 2, "session expiry")?,
                })
            })
            .collect()
    }

    fn restore_sessions(&self, sessions: &[CarriedSession]) -> Result<usize, StoreError> {
        let mut conn = self.db.conn()?;
        let tx = run("begin restoring sessions", conn.transaction())?;
        let insert = run(
            "prepare to restore sessions",
            tx.prepare(
                "INSERT INTO maeul_sessions (token_hash, user_id, expires_at)
                 SELECT $1, id, $3 FROM maeul_users WHERE login = $2
                 ON CONFLICT DO NOTHING",
            ),
        )?;
        let mut added = 0;
        for s in sessions {
            added += run(
                "restore a session",
                tx.execute(
                    &insert,
                    &[
                        &s.token_hash.as_slice(),
                        &s.login,
                        &int8(s.expires_at_s, "session expiry")?,
                    ],
                ),
            )?;
        }
        run("commit the sessions", tx.commit())?;
        Ok(added as usize)
    }

    fn carried_session(
        &self,
        currency: &str,
        token_hash: &[u8; 32],
        now_s: u64,
    ) -> Result<Option<CarriedSession>, StoreError> {
        let conn = self.db.conn()?;
        let row = run(
            "read a carried session",
            conn.query_opt(
                "SELECT u.login, s.expires_at
                   FROM maeul_sessions s JOIN maeul_users u ON u.id = s.user_id
                  WHERE s.token_hash = $1 AND u.currency = $2
                    AND u.role IN ('citizen', 'merchant') AND s.expires_at > $3",
                &[&token_hash.as_slice(), &currency, &bound(now_s)],
            ),
        )?;
        row.map(|r| {
            Ok(CarriedSession {
                login: get(&r, 0, "login")?,
                token_hash: *token_hash,
                expires_at_s: get_u64(&r, 1, "session expiry")?,
            })
        })
        .transpose()
    }

    fn remove_sessions(&self, token_hashes: &[[u8; 32]]) -> Result<usize, StoreError> {
        let mut conn = self.db.conn()?;
        let tx = run("begin removing sessions", conn.transaction())?;
        let delete = run(
            "prepare to remove sessions",
            tx.prepare("DELETE FROM maeul_sessions WHERE token_hash = $1"),
        )?;
        let mut removed = 0;
        for h in token_hashes {
            removed += run("remove a session", tx.execute(&delete, &[&h.as_slice()]))?;
        }
        run("commit the removal", tx.commit())?;
        Ok(removed as usize)
    }
}
