//! The first answers of requests whose effect is not a ledger command
//! (`maeul_request_answers`), by (user, key).

use service::idempotency::StoredAnswer;
use service::store::{AnswerStore, StoreError};

use super::{PgService, get, int8, run};

impl AnswerStore for PgService {
    fn stored_answer(
        &self,
        user_id: i64,
        key: &[u8],
        not_before_s: u64,
    ) -> Result<Option<StoredAnswer>, StoreError> {
        // Nothing is stored after int8's end.
        let Ok(not_before) = i64::try_from(not_before_s) else {
            return Ok(None);
        };
        let conn = self.db.conn()?;
        let row = run(
            "read a stored answer",
            conn.query_opt(
                "SELECT fingerprint, status, content_type, body FROM maeul_request_answers
                  WHERE user_id = $1 AND key = $2 AND at >= $3",
                &[&user_id, &key, &not_before],
            ),
        )?;
        let Some(r) = row else {
            return Ok(None);
        };
        let fingerprint: &[u8] = get(&r, 0, "answer fingerprint")?;
        let status: i32 = get(&r, 1, "answer status")?;
        Ok(Some(StoredAnswer {
            fingerprint: fingerprint.try_into().map_err(|_| StoreError::Corrupt {
                what: "answer fingerprint",
                detail: format!("{} bytes", fingerprint.len()),
            })?,
            // Always an HTTP status, as SQLite's store reads it.
            status: u16::try_from(status.clamp(100, 599)).unwrap_or(500),
            content_type: get(&r, 2, "answer content type")?,
            body: get(&r, 3, "answer body")?,
        }))
    }

    fn store_answer(
        &self,
        user_id: i64,
        key: &[u8],
        answer: &StoredAnswer,
        at_s: u64,
    ) -> Result<(), StoreError> {
        let conn = self.db.conn()?;
        run(
            "store an answer",
            conn.execute(
                "INSERT INTO maeul_request_answers
                     (user_id, key, fingerprint, status, content_type, body, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (user_id, key) DO UPDATE
                    SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status,
                        content_type = EXCLUDED.content_type, body = EXCLUDED.body,
                        at = EXCLUDED.at",
                &[
                    &user_id,
                    &key,
                    &answer.fingerprint.as_slice(),
                    &i32::from(answer.status),
                    &answer.content_type,
                    &answer.body,
                    &int8(at_s, "answer time")?,
                ],
            ),
        )?;
        Ok(())
    }

    fn forget_answers_before(&self, before_s: u64) -> Result<(), StoreError> {
        // A bound past int8's end (NULL) is after every stored time.
        let before = i64::try_from(before_s).ok();
        let conn = self.db.conn()?;
        run(
            "forget old answers",
            conn.execute(
                "DELETE FROM maeul_request_answers WHERE $1::int8 IS NULL OR at < $1",
                &[&before],
            ),
        )?;
        Ok(())
    }
}
