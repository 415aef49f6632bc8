//! The engine's errors: one type per boundary.

use std::time::Duration;

use journal::JournalError;

use ledger::RulesId;

use crate::replay::Divergence;

/// A build refuses a journal: the records it decides differently.
#[derive(Debug)]
pub struct DivergenceReport {
    /// The rules of the build that refuses.
    pub rules: RulesId,
    /// The first record that differs was written under these very rules (a broken
    /// build or machine, not another build).
    pub own_records: bool,
    /// First first, at most `replay::DIFFERENCES_LISTED_MAX`.
    pub differences: Vec<Divergence>,
    pub more: bool,
}

impl DivergenceReport {
    pub fn first(&self) -> Option<&Divergence> {
        self.differences.first()
    }
}

impl std::fmt::Display for DivergenceReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(first) = self.first() else {
            return f.write_str("refusing to serve: the journal differs");
        };
        write!(
            f,
            "refusing to serve: this build (rules {}) decides the journal differently at {first}",
            self.rules.short()
        )?;
        if self.own_records {
            f.write_str(
                ". The record was written under these very rules: the build or the machine is \
                 not deterministic; do not serve with it",
            )?;
        }
        let others: Vec<String> = self
            .differences
            .iter()
            .skip(1)
            .take(20)
            .map(|d| d.seq.to_string())
            .collect();
        if !others.is_empty() {
            write!(
                f,
                ". Also records {}{}",
                others.join(", "),
                if self.more || self.differences.len() > 21 {
                    " and more"
                } else {
                    ""
                }
            )?;
        }
        f.write_str(". Run `maeul verify` for the full report; do not serve with this build.")
    }
}

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
    #[error("{0}")]
    Divergence(Box<DivergenceReport>),
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
    /// The currency serves read-only: this build decides records another build wrote
    /// differently, and an operator must decide how to correct them.
    #[error("the currency is halted and read-only: {cause}")]
    ReadOnly { cause: String },
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
