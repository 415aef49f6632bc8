//! How a call to a bank can fail, sorted by what maeul must do next.

/// A bank call that produced no usable answer.
///
/// The one question that matters for money is [`BankError::is_ambiguous`]: after an
/// ambiguous error on `pull`/`pay` the order may or may not have executed, so maeul keeps
/// it pending and settles it by retrying the identical order or asking `status` — never
/// by assuming either outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BankError {
    /// No answer within the deadline. Outcome unknown.
    #[error("no answer from the bank in time (outcome unknown)")]
    Timeout,
    /// The connection failed, or the bank answered 5xx, or (for `pull`/`pay`) its answer
    /// could not be read. Outcome unknown.
    #[error("bank transport failure (outcome unknown): {0}")]
    Transport(String),
    /// The reference was used before for a different order; this order was not executed.
    #[error("reference already used for a different order")]
    ReferenceConflict,
    /// The bank refused to read the request (4xx) or a read-only call's answer made no
    /// sense. Never used for a `pull`/`pay` whose money might have moved: that is
    /// [`BankError::Transport`].
    #[error("bank protocol error: {0}")]
    Protocol(String),
}

impl BankError {
    /// True when money may or may not have moved.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, BankError::Timeout | BankError::Transport(_))
    }
}
