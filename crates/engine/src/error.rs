//! The engine's errors: one type per boundary.

use std::time::Duration;

use journal::JournalError;

use crate::replay::Divergence;

/// Opening, creating or running a currency.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    #[error("no currency at {0}: its journal is empty (create it first)")]
    NotInitialized(String),
    #[error("a currency already exists at {0}")]
    AlreadyExists(String),
    #[error("invalid ledger configuration: {0}")]
    InvalidConfig(String),
    #[error(
        "refusing to serve: this version decides the journal differently at {0}. \
         Run `maeul verify` for the full report; do not serve with this version."
    )]
    Divergence(Divergence),
    #[error("the journal is inconsistent: {0}")]
    Inconsistent(String),
    #[error("the state rebuilt from the journal breaks an invariant: {0}")]
    Invariant(String),
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// A submission was not queued. Nothing of it was applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("busy: the queue is full; retry after {} ms", retry_after.as_millis())]
    Busy { retry_after: Duration },
    #[error("too many commands in one submission (at most {max})")]
    TooLarge { max: usize },
    #[error("a linked group has more than {max} transfers")]
    LinkedTooLong { max: usize },
    #[error("writes are unavailable: {cause}")]
    Unavailable { cause: String },
    #[error("the currency is stopped")]
    Stopped,
}

/// A submission was queued but no durable answer can be given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// The journal write failed. The batch may or may not be on disk: retry with the
    /// same idempotency keys once the currency is running again, and the retry returns
    /// the first outcome if it was.
    #[error("not durable (outcome unknown; retry with the same idempotency key): {cause}")]
    NotDurable { cause: String },
    /// Refused before it was applied (the currency was recovering).
    #[error("not applied: {cause}")]
    NotApplied { cause: String },
    #[error("the currency stopped before answering")]
    Stopped,
}
