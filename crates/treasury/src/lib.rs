//! # treasury — money in and out of a currency
//!
//! The ledger decides; banks move real money. This crate joins the two without ever
//! creating or losing a won at the edge:
//!
//! - **Charges** are two-phase: the scheme's `Purchase` is held pending while the
//!   citizen's bank is asked, confirmed when the bank completes, failed when it refuses.
//!   A lost answer is settled by the bank's status, and "unknown" is taken as "never
//!   happened" only once the order's `not_after` has passed (the bank refuses it after).
//! - **Redemptions** and **refund payouts** are pending transfers out of a merchant's
//!   balance or the clearing account while the bank pays; posted when it confirms,
//!   voided when it refuses.
//! - Every order's bank reference is derived from its ledger transfer id
//!   ([`OrderKind::reference`]), so a retry — after a crash, a timeout or a duplicate
//!   answer — is the identical order, which the bank executes at most once, and the
//!   ledger's pending transfers are the list of orders in flight: nothing else needs
//!   to be stored to recover.
//! - **Daily settlement**, **reconciliation** against the bank statement, scheduled
//!   **expiry** and **auto-charge**, and **operator reports** built from the journal.
//! - **Bank-account verification** for the service: the holder-name enquiry and the
//!   1-won deposit with a code in its memo, the operator's cost outside the ledger
//!   (`verification.rs`).

mod accounts;
mod charges;
pub mod events;
mod jobs;
mod payouts;
pub mod reconcile;
pub mod report;
mod resolve;
pub mod schedule;
mod verification;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bank::{AccountNo, Bank, BankError, RejectCode};
use engine::{Engine, EngineError, Storage};
use ledger::{
    ClearingId, ClientId, Command, Envelope, IdempotencyKey, Outcome, Rejection, ReserveId,
    TransferId,
};

pub use accounts::LinkedAccounts;
pub use charges::ChargeResult;
pub use events::{Event, OrderEnd, OrderKind};
pub use jobs::{AutoChargeNotice, JobReport};
pub use payouts::{PayoutResult, SettlementBatch, SettlementItem};
pub use reconcile::{Difference, ReconciliationReport};
pub use report::{OperatorReport, Period};
pub use resolve::SweepReport;

pub use schedule::Schedule;
pub use verification::{
    VERIFICATION_DEPOSIT_WON, VerificationDeposit, parse_verification_reference,
    verification_reference,
};

/// A ledger pending transfer for a bank order lives this long at most: far longer than
/// any order may take, so that an order the bank completed is always confirmed (by the
/// sweep, after any outage shorter than this) before the ledger could expire it.
pub const ORDER_PENDING_US: u64 = ledger::DAY_US;

#[derive(Clone, Debug)]
pub struct TreasuryConfig {
    /// The client id the treasury's own commands are journaled under.
    pub client: ClientId,
    /// The issuer's bank account: where charges arrive and payouts leave from.
    pub issuer_account: AccountNo,
    pub reserve: ReserveId,
    pub clearing: ClearingId,
    /// The bank may execute an order only this long after it was created
    /// (`not_after`). After that, "unknown" at the bank means "never". Do not lower it
    /// while orders are in flight.
    pub order_validity: Duration,
    /// Allowance for the bank's clock being ahead of ours.
    pub clock_margin: Duration,
    /// Pause between status look-ups while an order is in doubt.
    pub poll_interval: Duration,
    /// At most this many bank orders at once from one job.
    pub parallel_orders: usize,
}

impl TreasuryConfig {
    pub fn new(issuer_account: AccountNo, reserve: ReserveId, clearing: ClearingId) -> Self {
        TreasuryConfig {
            client: ClientId(0x7472_6561_7375_7279), // "treasury"
            issuer_account,
            reserve,
            clearing,
            order_validity: Duration::from_secs(30),
            // Well above the bank client's timeout (2 s): "unknown" is only final once
            // the bank's clock, however far ahead, is past `not_after`.
            clock_margin: Duration::from_secs(5),
            poll_interval: Duration::from_millis(200),
            parallel_orders: 16,
        }
    }
}

/// One error type for the treasury's boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreasuryError {
    /// The ledger refused the command (a limit, a balance...): nothing happened.
    #[error("refused: {}", .0.code().as_str())]
    Refused(Rejection),
    /// The currency did not take the command (busy, recovering, read-only): nothing
    /// of it was applied.
    #[error("ledger: {0}")]
    NotTaken(#[from] engine::SubmitError),
    /// The command was queued but no durable answer came (retry with the same key).
    #[error("ledger: {0}")]
    NotAnswered(#[from] engine::CommitError),
    /// The ledger answered something this code does not expect: a bug.
    #[error("unexpected ledger answer: {0}")]
    Unexpected(String),
    #[error("no bank account is linked to {0}")]
    NoLinkedAccount(ledger::AccountId),
    #[error("bank: {0}")]
    Bank(BankError),
    #[error("journal: {0}")]
    Journal(String),
    /// A reference that maeul derived was rejected as malformed: a bug.
    #[error("invalid bank reference {0}")]
    Reference(String),
}

impl From<EngineError> for TreasuryError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Submit(e) => TreasuryError::NotTaken(e),
            EngineError::Commit(e) => TreasuryError::NotAnswered(e),
            other => TreasuryError::Unexpected(other.to_string()),
        }
    }
}

/// What the bank finally said about an order, as maeul acts on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    Completed,
    Refused {
        code: RejectCode,
        message: String,
    },
    /// Still unknown (the bank cannot be reached, or the order may still execute).
    InDoubt,
}

/// Idempotency keys for the treasury's own commands: the purpose in the top bits, the
/// transfer (or day and account) it is about below, so a retry after a crash repeats
/// the same key and gets the first answer.
#[derive(Clone, Copy, Debug)]
#[repr(u8)]
pub(crate) enum Purpose {
    Confirm = 1,
    Fail = 2,
    RedemptionConfirm = 3,
    // 4 and 6 were used by earlier versions (a separate settlement, a separate payout
    // opening); numbers are never reused.
    RedemptionVoid = 5,
    PayoutPost = 7,
    PayoutVoid = 8,
    DailyRedemption = 9,
    Expire = 10,
    AutoCharge = 11,
    AutoChargeRecord = 12,
    TopUp = 13,
    TopUpPay = 14,
    TopUpFirstPay = 15,
}

pub(crate) fn key(purpose: Purpose, a: u64, b: u64) -> IdempotencyKey {
    IdempotencyKey((u128::from(purpose as u8) << 120) | (u128::from(a) << 64) | u128::from(b))
}

/// A key for a step of a composite operation a caller started with `(client, k)`:
/// journaled under the treasury's own client, so it can never collide with a key the
/// caller uses, and with the purpose in the top byte, so never with the treasury's
/// other keys.
pub(crate) fn derived(client: ClientId, k: IdempotencyKey, purpose: Purpose) -> IdempotencyKey {
    // SplitMix64 of both halves: a fixed, well-spread mix (not a security boundary).
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let hi = mix(client.0 ^ mix(k.0 as u64));
    let lo = mix((k.0 >> 64) as u64 ^ mix(client.0.rotate_left(17)));
    let v = (u128::from(hi) << 64 | u128::from(lo)) & (u128::MAX >> 8);
    IdempotencyKey(v | (u128::from(purpose as u8) << 120))
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The money operations of one currency.
#[derive(Debug)]
pub struct Treasury<B> {
    pub(crate) engine: Arc<Engine>,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) bank: B,
    pub(crate) accounts: LinkedAccounts,
    pub(crate) config: TreasuryConfig,
    pub(crate) currency: String,
    /// How far the bank's answer feed has been read.
    pub(crate) answers_cursor: AtomicU64,
    /// Distinguishes attempts made in the same millisecond.
    pub(crate) attempts: AtomicU64,
}

impl<B: Bank> Treasury<B> {
    pub fn new(
        engine: Arc<Engine>,
        storage: Arc<dyn Storage>,
        bank: B,
        accounts: LinkedAccounts,
        config: TreasuryConfig,
    ) -> Self {
        let currency = engine.currency().as_str().to_owned();
        Treasury {
            engine,
            storage,
            bank,
            accounts,
            config,
            currency,
            answers_cursor: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
        }
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn accounts(&self) -> &LinkedAccounts {
        &self.accounts
    }

    pub fn config(&self) -> &TreasuryConfig {
        &self.config
    }

    /// Submits commands and waits (without blocking a thread) for their durable answers.
    pub(crate) async fn submit(
        &self,
        commands: Vec<Envelope>,
    ) -> Result<Vec<Outcome>, TreasuryError> {
        let ticket = self.engine.submit(commands)?;
        Ok(ticket.outcome().await?)
    }

    /// One command under the treasury's own client.
    pub(crate) async fn own(
        &self,
        key: IdempotencyKey,
        command: Command,
    ) -> Result<Outcome, TreasuryError> {
        let mut outs = self
            .submit(vec![Envelope {
                client: self.config.client,
                key,
                command,
            }])
            .await?;
        outs.pop()
            .ok_or_else(|| TreasuryError::Unexpected("no answer".into()))
    }

    pub(crate) fn reference(
        &self,
        order: OrderKind,
        id: TransferId,
    ) -> Result<bank::Reference, TreasuryError> {
        let r = order.reference(&self.currency, id);
        bank::Reference::new(r.clone()).map_err(|_| TreasuryError::Reference(r))
    }

    /// `not_after` of an order created at `created_us` (journal time).
    pub(crate) fn not_after_ms(&self, created_us: u64) -> u64 {
        created_us / 1_000 + self.config.order_validity.as_millis() as u64
    }

    /// Whether an order created at `created_us` can no longer execute at the bank.
    pub(crate) fn past_not_after(&self, created_us: u64) -> bool {
        now_ms() > self.not_after_ms(created_us) + self.config.clock_margin.as_millis() as u64
    }
}
