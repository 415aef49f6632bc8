/// A PostgreSQL call that failed, with the database's own words and, when it gave one,
/// its SQLSTATE code (so callers can tell a unique violation from a lost connection).
#[derive(Debug, thiserror::Error)]
#[error("{op}: {message}")]
pub struct PgError {
    pub op: &'static str,
    pub message: String,
    pub code: Option<String>,
}

impl PgError {
    pub(crate) fn new(op: &'static str, e: &tokio_postgres::Error) -> PgError {
        let (message, code) = match e.as_db_error() {
            Some(db) => (
                format!("{} ({})", db.message(), db.code().code()),
                Some(db.code().code().to_owned()),
            ),
            None => (e.to_string(), None),
        };
        PgError { op, message, code }
    }

    pub(crate) fn other(op: &'static str, message: impl Into<String>) -> PgError {
        PgError {
            op,
            message: message.into(),
            code: None,
        }
    }

    /// Another row already has this key (SQLSTATE 23505).
    pub fn is_unique_violation(&self) -> bool {
        self.code.as_deref() == Some("23505")
    }
}
