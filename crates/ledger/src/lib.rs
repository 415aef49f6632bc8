//! # ledger — maeul's double-entry state machine
//!
//! `apply(state, batch, timestamp) -> outcomes`, and nothing else: no I/O, no clock, no
//! randomness, no floats. The same batches at the same timestamps give the same
//! outcomes and the same [`StateHash`] on any machine, which is what lets the journal be
//! replayed to prove an upgrade safe, an audit right and a migration complete.
//!
//! The key decision: **direction lives in the type**. Each [`TransferKind`] fixes the
//! kind of account it debits and credits ([`TransferKind::legs`]); a [`TransferSpec`]
//! names its accounts with typed ids ([`WalletId`], [`MerchantId`], ...), so a payment
//! that credits its payer does not compile, the ledger checks the stored kind of every
//! account it resolves, and the one function that moves posted money checks the
//! direction again. After every batch the invariants are checked over the accounts it
//! touched; a violation rolls the batch back and halts the currency.

#![deny(clippy::float_arithmetic)]

/// Whether the drill's rule change `$fault` is in force in `$ledger`: always false
/// without the `fault-injection` feature, so the release binary carries no trace of it.
macro_rules! drill {
    ($ledger:expr, $fault:ident) => {{
        #[cfg(feature = "fault-injection")]
        let on = $ledger.drill(crate::state::Fault::$fault);
        #[cfg(not(feature = "fault-injection"))]
        let on = false;
        on
    }};
}

mod account;
mod account_index;
pub mod codec;
mod command;
mod config;
mod hash;
mod ids;
mod key_index;
mod money;
mod outcome;
mod prefetch;
mod retention;
mod rules;
pub mod scheme;
mod state;

pub use account::{Account, AccountKind, AccountState, Lot, Lots, Source, SourceSet};
pub use command::{Command, Envelope, LotSpec, Mode, Transfer, TransferKind, TransferSpec};
pub use config::LedgerConfig;
pub use hash::StateHash;
pub use ids::{
    AccountId, BudgetId, ClearingId, ClientId, FeeId, IdempotencyKey, MerchantId, ReserveId, Text,
    TextError, TransferId, WalletId,
};
pub use money::{DAY_US, SECOND_US, Timestamp, Won};
pub use outcome::{
    Applied, Outcome, PendingEnd, Rejection, RejectionCode, TransferStatus, Violation,
};
pub use rules::{Rules, RulesId};
#[cfg(feature = "fault-injection")]
pub use state::Fault;
pub use state::{
    BatchReport, CreditAs, Halt, HaltCause, LINKED_TRANSFERS_MAX, Ledger, PaymentRecord,
    PendingTransfer, Retained,
};
