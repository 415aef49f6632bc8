//! The ledger state and `apply`: the one place where money moves.
//!
//! How a batch is applied:
//! 1. Forget what has aged out of its retention window (idempotency keys, refundable
//!    payments, ended pending transfers). Pure forgetting, no money moves.
//! 2. Expire pending transfers whose deadline has passed (journal time).
//! 3. Apply each command. Every change goes through an undo log, so a command that
//!    fails half-way (a linked group whose third transfer is refused) is rolled back to
//!    exactly where it started.
//! 4. Check the invariants over every account the batch touched. On a violation the
//!    whole batch is rolled back, every command in it is answered `invariant_violation`,
//!    and the currency is halted until an operator resumes it.
//! 5. Fold the touched accounts into the state hash.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::account::{Account, AccountKind, AccountState, Lot, Lots, Source, SourceSet};
use crate::account_index::AccountIndex;
use crate::command::{Command, Envelope, LotSpec, Mode, Transfer, TransferKind, TransferSpec};
use crate::config::LedgerConfig;
use crate::hash::{StateHash, account_hash, fingerprint, pending_hash, state_hash};
use crate::ids::{AccountId, Text, TransferId};
use crate::money::{Timestamp, Won};
use crate::outcome::{Applied, Outcome, PendingEnd, Rejection, TransferStatus, Violation};
use crate::prefetch::prefetch;
use crate::retention::{IdempotencyEntry, IdempotencyRing, PaymentLog, PaymentSlot};
use crate::scheme::{
    BudgetUsage, CashbackRecord, CitizenProfile, MerchantProfile, PayoutRecord, PurchaseRecord,
    SchemeCommand, SchemeSnapshot, SchemeState,
};

#[path = "scheme_exec.rs"]
mod scheme_exec;
pub(crate) use scheme_exec::DrawFilter;

/// Commands whose cache lines are asked for together before they are applied (and
/// accounts checked together at the end of a batch).
const WARM_GROUP: usize = 32;

/// At most this many transfers in one linked group.
pub const LINKED_TRANSFERS_MAX: u16 = 64;

/// Why the currency's writes are stopped.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HaltCause {
    Operator { operator: Text, reason: Text },
    Violation(Violation),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Halt {
    pub at: Timestamp,
    pub cause: HaltCause,
}

/// How a transfer's credit lands in a wallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CreditAs {
    /// The credited account is not a wallet.
    Plain,
    /// A new lot of this source.
    Lot { source: Source, spec: LotSpec },
    /// The lots drawn from the sender, relabelled as gifts (keeping tag and expiry).
    Gift,
}

/// A transfer whose funds are held until it is posted, voided or expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingTransfer {
    pub id: TransferId,
    pub kind: TransferKind,
    pub debit: AccountId,
    pub credit: AccountId,
    pub amount: Won,
    pub deadline: Timestamp,
    /// Lots taken from the debited wallet when the funds were held (empty otherwise).
    pub drawn: Lots,
    pub credit_as: CreditAs,
}

/// A posted payment, kept for its refund window so that refunds are linked to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRecord {
    pub payer: AccountId,
    pub merchant: AccountId,
    pub amount: Won,
    pub refunded: Won,
    /// The lots the payment drew and that have not been refunded yet, in spend order.
    pub drawn: Lots,
    pub at: Timestamp,
}

/// Per-account bookkeeping that is not part of the account's value.
#[derive(Clone, Copy, Debug, Default)]
struct AccountMeta {
    /// This account's contribution to the state hash, as of the last batch end.
    hash: u128,
    /// The savepoint in which the account was last copied to the undo log.
    saved_in: u64,
    /// The batch in which the account was last recorded as touched.
    touched_in: u64,
}

#[derive(Debug)]
enum Undo {
    /// The account's previous value is on top of `undo_accounts`.
    Account {
        index: u32,
    },
    AccountCreated,
    PendingInserted {
        id: TransferId,
    },
    PendingRemoved {
        prev: Box<PendingTransfer>,
    },
    EndedInserted {
        id: TransferId,
    },
    /// A payment-log slot changed; `None`: the log did not reach it before.
    PaymentSlot {
        id: TransferId,
        prev: Option<Box<PaymentSlot>>,
    },
    IdempotencyPushed,
    NextTransferId {
        prev: u64,
    },
    Halted {
        prev: Option<Box<Halt>>,
    },
    SchemeVersionPushed,
    /// A version withdrawn (put back on rollback).
    SchemeVersionPopped {
        version: Arc<crate::scheme::SchemeVersion>,
    },
    /// The previous value is on top of `undo_values.citizens`.
    Citizen {
        id: AccountId,
    },
    /// The previous value is on top of `undo_values.merchants`.
    Merchant {
        id: AccountId,
    },
    /// The previous value is on top of `undo_values.budgets`.
    Budget {
        id: AccountId,
    },
    /// The previous value is on top of `undo_values.purchases`.
    Purchase {
        id: TransferId,
    },
    /// The previous value is on top of `undo_values.cashbacks`.
    Cashback {
        id: TransferId,
    },
    /// The previous value is on top of `undo_values.payouts`.
    Payout {
        id: TransferId,
    },
}

/// Previous values of changed scheme records, stacks parallel to their `Undo` entries
/// (kept apart, like `undo_accounts`, so that saving one allocates nothing).
#[derive(Debug, Default)]
struct UndoValues {
    citizens: Vec<Option<CitizenProfile>>,
    merchants: Vec<Option<MerchantProfile>>,
    budgets: Vec<Option<BudgetUsage>>,
    purchases: Vec<Option<PurchaseRecord>>,
    cashbacks: Vec<Option<CashbackRecord>>,
    payouts: Vec<Option<PayoutRecord>>,
}

impl UndoValues {
    fn clear(&mut self) {
        self.citizens.clear();
        self.merchants.clear();
        self.budgets.clear();
        self.purchases.clear();
        self.cashbacks.clear();
        self.payouts.clear();
    }
}

/// An account as it was when the batch first touched it.
#[derive(Clone, Copy, Debug)]
struct Touched {
    index: u32,
    balance: Won,
    debits_pending: Won,
    credits_pending: Won,
    /// Its hash then (0 if the batch opened it): read while the account's metadata is
    /// in cache anyway, so that the end of the batch need not read it again.
    hash_before: u128,
}

/// A command failed: either a business rejection (roll back the command) or a broken
/// invariant (roll back the batch and halt).
#[derive(Debug)]
enum Failure {
    Reject(Rejection),
    Violation(Violation),
}

impl From<Rejection> for Failure {
    fn from(r: Rejection) -> Failure {
        Failure::Reject(r)
    }
}

impl From<Violation> for Failure {
    fn from(v: Violation) -> Failure {
        Failure::Violation(v)
    }
}

/// What one `apply` did besides answering each command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchReport {
    /// The batch's journal time (never earlier than the previous batch's).
    pub timestamp: Timestamp,
    /// Pending transfers that expired in this batch: at its start, or when a resume
    /// in it let those that came due while the currency was halted expire.
    pub pendings_expired: u32,
    /// Set when this batch broke an invariant: it was rolled back and the currency halted.
    pub violation: Option<Violation>,
}

/// Deliberate rule changes for drills and tests (feature `fault-injection`): each is a
/// plausible bad update that still compiles, so the tests can show that replay, the
/// run-time checks and the start-up gate stop it. Never enabled in the release binary.
#[cfg(feature = "fault-injection")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The Buyeo fault: the payment rule posts merchant → wallet instead of wallet →
    /// merchant. With `skip_checks` the posting layer's direction check and the
    /// available-funds check are bypassed too, so only the batch invariants and
    /// `verify` stand in the way.
    FlipPaymentDirection { skip_checks: bool },
    /// A flipped sign in posting: once the direction check has passed, every posted
    /// transfer moves the money the other way.
    PostingSignFlipped,
    /// Cash-back at ten times the scheme's rate.
    CashbackTenfold,
    /// A purchase's discount one won larger than the scheme's rate gives.
    DiscountOneWonMore,
    /// A balance refund pays all that is left in cash, skipping the subsidy share.
    BalanceRefundSkipsSubsidy,
    /// A cancelled purchase leaves its discount in the wallet.
    CancelKeepsDiscount,
    /// A gift arrives with the source it had instead of `gift`.
    GiftKeepsSource,
    /// A payment refund leaves the cash-back it earned with the payer.
    RefundKeepsCashback,
    /// Value expires one instant after its validity ends instead of at it.
    ExpiryOneInstantLate,
}

#[cfg(feature = "fault-injection")]
impl Fault {
    /// Every rule change, for tests that try each.
    pub const ALL: [Fault; 10] = [
        Fault::FlipPaymentDirection { skip_checks: false },
        Fault::FlipPaymentDirection { skip_checks: true },
        Fault::PostingSignFlipped,
        Fault::CashbackTenfold,
        Fault::DiscountOneWonMore,
        Fault::BalanceRefundSkipsSubsidy,
        Fault::CancelKeepsDiscount,
        Fault::GiftKeepsSource,
        Fault::RefundKeepsCashback,
        Fault::ExpiryOneInstantLate,
    ];
}

/// The ledger of one currency. Pure: no I/O, no clock, no randomness. Two ledgers fed
/// the same batches with the same timestamps end in the same state with the same hash.
#[derive(Debug)]
pub struct Ledger {
    config: LedgerConfig,
    accounts: Vec<Account>,
    meta: Vec<AccountMeta>,
    index: AccountIndex,
    pendings: FxHashMap<TransferId, PendingTransfer>,
    deadlines: BTreeSet<(Timestamp, TransferId)>,
    ended: FxHashMap<TransferId, PendingEnd>,
    ended_order: VecDeque<(Timestamp, TransferId)>,
    payments: PaymentLog,
    idempotency: IdempotencyRing,
    next_transfer_id: u64,
    last_timestamp: Timestamp,
    halted: Option<Box<Halt>>,
    accounts_hash: u128,
    pendings_hash: u128,
    batches: u64,
    scheme: SchemeState,

    // Scratch for the batch being applied.
    undo: Vec<Undo>,
    /// Previous values of changed accounts, a stack parallel to the `Undo::Account`
    /// entries (kept apart so that saving an account allocates nothing).
    undo_accounts: Vec<Account>,
    undo_values: UndoValues,
    savepoint: u64,
    touched: Vec<Touched>,
    expired_in_batch: u32,
    scratch: Vec<u8>,
    #[cfg(feature = "fault-injection")]
    fault: Option<Fault>,
}

/// A halt stops every write but the resume and a statement that moves nothing (an
/// operator signing off a migration's difference while the currency waits).
fn taken_while_halted(command: &Command) -> bool {
    match command {
        Command::Resume { .. } => true,
        Command::Migrated { transfers, .. } => transfers.is_empty(),
        _ => false,
    }
}

impl Ledger {
    pub fn new(config: LedgerConfig) -> Ledger {
        Ledger {
            config,
            accounts: Vec::new(),
            meta: Vec::new(),
            index: AccountIndex::default(),
            pendings: FxHashMap::default(),
            deadlines: BTreeSet::new(),
            ended: FxHashMap::default(),
            ended_order: VecDeque::new(),
            payments: PaymentLog::default(),
            idempotency: IdempotencyRing::default(),
            next_transfer_id: 1,
            last_timestamp: Timestamp::ZERO,
            halted: None,
            accounts_hash: 0,
            pendings_hash: 0,
            batches: 0,
            scheme: SchemeState::default(),
            undo: Vec::new(),
            undo_accounts: Vec::new(),
            undo_values: UndoValues::default(),
            savepoint: 0,
            touched: Vec::new(),
            expired_in_batch: 0,
            scratch: Vec::with_capacity(256),
            #[cfg(feature = "fault-injection")]
            fault: None,
        }
    }

    #[cfg(feature = "fault-injection")]
    pub fn inject_fault(&mut self, fault: Option<Fault>) {
        self.fault = fault;
    }

    /// Decides by `rules` from now on. Only a drill's rules differ in behaviour from
    /// this build's; the engine calls it on every ledger it makes or loads.
    pub fn adopt_rules(&mut self, rules: &crate::rules::Rules) {
        #[cfg(feature = "fault-injection")]
        {
            self.fault = rules.fault();
        }
        #[cfg(not(feature = "fault-injection"))]
        let _ = rules;
    }

    /// Whether the drill rule `f` is in force (never, without `fault-injection`).
    #[cfg(feature = "fault-injection")]
    pub(crate) fn drill(&self, f: Fault) -> bool {
        self.fault == Some(f)
    }

    pub fn config(&self) -> &LedgerConfig {
        &self.config
    }

    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.index.get(id).map(|i| &self.accounts[i as usize])
    }

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    pub fn pending(&self, id: TransferId) -> Option<&PendingTransfer> {
        self.pendings.get(&id)
    }

    pub fn pendings(&self) -> impl Iterator<Item = &PendingTransfer> {
        self.pendings.values()
    }

    pub fn payment(&self, id: TransferId) -> Option<&PaymentRecord> {
        self.payments.get(id)
    }

    /// Every payment still refundable, in id order.
    pub fn payments(&self) -> impl Iterator<Item = (TransferId, &PaymentRecord)> {
        self.payments.iter().filter_map(|(id, slot)| match slot {
            crate::retention::PaymentSlot::Payment(p) => Some((id, p.as_ref())),
            _ => None,
        })
    }

    /// The answer remembered under `(client, key)`, if the ledger still remembers it:
    /// a retry of that command will get exactly this answer.
    pub fn remembered(
        &self,
        client: crate::ids::ClientId,
        key: crate::ids::IdempotencyKey,
    ) -> Option<&Result<Applied, Rejection>> {
        self.idempotency.get(client, key).map(|e| &e.result)
    }

    pub fn halted(&self) -> Option<&Halt> {
        self.halted.as_deref()
    }

    pub fn last_timestamp(&self) -> Timestamp {
        self.last_timestamp
    }

    pub fn next_transfer_id(&self) -> TransferId {
        TransferId(self.next_transfer_id)
    }

    /// When the next pending transfer expires, if any is pending.
    pub fn next_pending_deadline(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    pub fn batches_applied(&self) -> u64 {
        self.batches
    }

    /// Sizes of what the ledger remembers, for memory accounting and metrics.
    pub fn retained(&self) -> Retained {
        Retained {
            accounts: self.accounts.len(),
            pendings: self.pendings.len(),
            ended_pendings: self.ended.len(),
            payments: self.payments.payments(),
            idempotency_keys: self.idempotency.len(),
        }
    }

    /// The hash of everything that decides future outcomes about money: every account
    /// (balances, state, lots), every pending transfer, the transfer counter and the
    /// halt. Maintained incrementally, so reading it costs nothing; two nodes or two
    /// versions that agree on it hold the same money.
    pub fn state_hash(&self) -> StateHash {
        state_hash(
            self.accounts_hash,
            self.pendings_hash,
            self.scheme.hash,
            self.next_transfer_id,
            self.halted.is_some(),
        )
    }

    /// Applies a batch at journal time `now` and returns one outcome per command, in
    /// order. Deterministic: depends only on the state, the batch and `now`.
    pub fn apply(&mut self, batch: &[Envelope], now: Timestamp) -> (Vec<Outcome>, BatchReport) {
        let mut outcomes = Vec::with_capacity(batch.len());
        let report = self.apply_into(batch, now, &mut outcomes);
        (outcomes, report)
    }

    /// [`Ledger::apply`] into a caller's buffer (cleared first), to reuse allocations.
    pub fn apply_into(
        &mut self,
        batch: &[Envelope],
        now: Timestamp,
        outcomes: &mut Vec<Outcome>,
    ) -> BatchReport {
        outcomes.clear();
        let now = now.max(self.last_timestamp);
        self.last_timestamp = now;
        self.batches += 1;
        self.forget_aged(now);

        self.undo.clear();
        self.undo_accounts.clear();
        self.undo_values.clear();
        self.touched.clear();
        self.savepoint += 1;

        let mut violation = None;
        self.expired_in_batch = 0;
        if self.halted.is_none() {
            match self.expire_pendings(now) {
                Ok(n) => self.expired_in_batch = n,
                Err(v) => violation = Some(v),
            }
        }

        if violation.is_none() {
            'batch: for group in batch.chunks(WARM_GROUP) {
                // Ask for what the next few commands will touch before applying them:
                // the requests overlap, instead of each command waiting for its own
                // cache misses in turn. Only a hint; nothing is read or kept.
                for envelope in group {
                    self.warm(envelope);
                }
                for envelope in group {
                    match self.apply_one(envelope, now) {
                        Ok(outcome) => outcomes.push(outcome),
                        Err(v) => {
                            violation = Some(v);
                            break 'batch;
                        }
                    }
                }
            }
        }
        if violation.is_none() {
            violation = self.check_touched().err();
        }
        let mut pendings_expired = self.expired_in_batch;

        if let Some(v) = &violation {
            self.restore_touched_hashes();
            self.rollback_to(0);
            self.touched.clear();
            self.halted = Some(Box::new(Halt {
                at: now,
                cause: HaltCause::Violation(v.clone()),
            }));
            // Nothing of the batch was applied. A repeat of a command applied by an
            // earlier batch keeps its answer (its key survived the rollback); anything
            // else, including a repeat of a command earlier in this batch, did not happen.
            let violated = Outcome {
                result: Err(Rejection::InvariantViolation),
                repeated: false,
            };
            outcomes.resize(batch.len(), violated.clone());
            for (o, e) in outcomes.iter_mut().zip(batch) {
                if !(o.repeated && self.idempotency.get(e.client, e.key).is_some()) {
                    *o = violated.clone();
                }
            }
            pendings_expired = 0;
        }
        self.undo.clear();
        self.undo_accounts.clear();
        self.undo_values.clear();
        BatchReport {
            timestamp: now,
            pendings_expired,
            violation,
        }
    }

    /// Starts bringing in the idempotency slot and the accounts a command will use
    /// (see [`prefetch`]).
    fn warm(&self, envelope: &Envelope) {
        self.idempotency.prefetch(envelope.client, envelope.key);
        let accounts = match &envelope.command {
            Command::Transfer(t) => t.spec.named_accounts(),
            Command::Scheme(c) => match c.as_ref() {
                SchemeCommand::Pay {
                    payer, merchant, ..
                } => {
                    if let Some(i) = self.index.get(payer.account()) {
                        self.prefetch_account(i);
                        self.scheme.citizens.prefetch(i);
                    }
                    [None, Some(merchant.account())]
                }
                _ => return,
            },
            _ => return,
        };
        for id in accounts.into_iter().flatten() {
            if let Some(i) = self.index.get(id) {
                self.prefetch_account(i);
            }
        }
    }

    /// Starts bringing in account `i` and its metadata.
    fn prefetch_account(&self, i: u32) {
        // An account is 104 bytes: it may touch three lines.
        let account = self.accounts.as_ptr().wrapping_add(i as usize).cast::<u8>();
        prefetch(account);
        prefetch(account.wrapping_add(64));
        prefetch(account.wrapping_add(size_of::<Account>() - 1));
        prefetch(self.meta.as_ptr().wrapping_add(i as usize));
    }

    fn apply_one(&mut self, envelope: &Envelope, now: Timestamp) -> Result<Outcome, Violation> {
        let print = fingerprint(&envelope.command, &mut self.scratch);
        if let Some(first) = self.idempotency.get(envelope.client, envelope.key) {
            let repeated = first.fingerprint == print;
            let result = if repeated {
                first.result.clone()
            } else {
                Err(Rejection::IdempotencyKeyReused)
            };
            return Ok(Outcome { result, repeated });
        }
        if self.halted.is_some() && !taken_while_halted(&envelope.command) {
            return Ok(Outcome {
                result: Err(Rejection::CurrencyHalted),
                repeated: false,
            });
        }

        self.savepoint += 1;
        let mark = self.undo.len();
        let result = match self.execute(&envelope.command, now) {
            Ok(applied) => Ok(applied),
            Err(Failure::Reject(r)) => {
                self.rollback_to(mark);
                Err(r)
            }
            Err(Failure::Violation(v)) => return Err(v),
        };
        if !matches!(&result, Err(r) if r.is_transient()) {
            self.idempotency.push(IdempotencyEntry {
                at: now,
                client: envelope.client,
                key: envelope.key,
                fingerprint: print,
                result: result.clone(),
            });
            self.undo.push(Undo::IdempotencyPushed);
        }
        Ok(Outcome {
            result,
            repeated: false,
        })
    }

    fn execute(&mut self, command: &Command, now: Timestamp) -> Result<Applied, Failure> {
        match command {
            Command::OpenAccount {
                account,
                kind,
                accepts,
            } => {
                self.open_account(*account, *kind, *accepts)?;
                Ok(Applied::AccountOpened)
            }
            Command::SetAccountState { account, state } => {
                self.set_account_state(*account, *state)?;
                Ok(Applied::AccountStateChanged)
            }
            Command::SetAccepts { merchant, accepts } => {
                let i = self.resolve(merchant.account(), AccountKind::Merchant)?;
                self.save_account(i);
                self.accounts[i as usize].accepts = *accepts;
                Ok(Applied::AcceptsChanged)
            }
            Command::Transfer(t) => {
                let (id, status, amount) = self.transfer(t, now)?;
                Ok(Applied::Transfer { id, status, amount })
            }
            Command::Linked(transfers) => {
                if transfers.is_empty() {
                    return Err(Rejection::LinkedEmpty.into());
                }
                self.linked(transfers, now)
            }
            // Provenance is the note's; the money moves exactly as a linked group.
            Command::Migrated { transfers, .. } => self.linked(transfers, now),
            Command::PostPending { pending, amount } => {
                let amount = self.post_pending(*pending, *amount, now)?;
                Ok(Applied::PendingPosted {
                    id: *pending,
                    amount,
                })
            }
            Command::VoidPending { pending } => {
                self.end_pending(*pending, PendingEnd::Voided, now)?;
                Ok(Applied::PendingVoided { id: *pending })
            }
            Command::Halt { operator, reason } => {
                self.set_halt(Some(Box::new(Halt {
                    at: now,
                    cause: HaltCause::Operator {
                        operator: operator.clone(),
                        reason: reason.clone(),
                    },
                })));
                Ok(Applied::Halted)
            }
            Command::Scheme(c) => {
                let applied = self.execute_scheme(c, now)?;
                Ok(Applied::Scheme(Arc::new(applied)))
            }
            Command::Resume { .. } => {
                if self.halted.is_none() {
                    return Err(Rejection::NotHalted.into());
                }
                self.set_halt(None);
                // Pending transfers that came due while writes were stopped expire
                // now, before a later command of this batch could post one after its
                // deadline (they were not expired at the start of this halted batch).
                let expired = self.expire_pendings(now)?;
                self.expired_in_batch += expired;
                Ok(Applied::Resumed)
            }
        }
    }

    /// Transfers that all succeed or all fail, with consecutive ids (a linked group, or
    /// a migrated one, which may be empty: a statement that moves nothing).
    fn linked(&mut self, transfers: &[Transfer], now: Timestamp) -> Result<Applied, Failure> {
        if transfers.len() > usize::from(LINKED_TRANSFERS_MAX) {
            return Err(Rejection::LinkedTooLong {
                max: LINKED_TRANSFERS_MAX,
            }
            .into());
        }
        let first = TransferId(self.next_transfer_id);
        for (index, t) in transfers.iter().enumerate() {
            match self.transfer(t, now) {
                Ok(_) => {}
                Err(Failure::Reject(cause)) => {
                    return Err(Rejection::LinkedFailed {
                        index: index as u16,
                        cause: Box::new(cause),
                    }
                    .into());
                }
                Err(v) => return Err(v),
            }
        }
        Ok(Applied::Linked {
            first,
            count: transfers.len() as u16,
        })
    }

    // ----- accounts -------------------------------------------------------------------

    fn open_account(
        &mut self,
        id: AccountId,
        kind: AccountKind,
        accepts: SourceSet,
    ) -> Result<(), Rejection> {
        if id.0 == 0 {
            return Err(Rejection::AccountIdInvalid);
        }
        if self.index.contains(id) {
            return Err(Rejection::AccountExists { account: id });
        }
        let index = self.accounts.len() as u32;
        if !self.index.insert(id, index) {
            // Only at 2³²−1 accounts, more than any memory holds.
            return Err(Rejection::AccountIdInvalid);
        }
        self.accounts.push(Account::new(id, kind, accepts));
        self.meta.push(AccountMeta::default());
        self.undo.push(Undo::AccountCreated);
        self.touch(index, false);
        Ok(())
    }

    fn set_account_state(&mut self, id: AccountId, state: AccountState) -> Result<(), Rejection> {
        let i = self
            .index
            .get(id)
            .ok_or(Rejection::AccountNotFound { account: id })?;
        let account = &self.accounts[i as usize];
        if account.state == AccountState::Closed {
            return Err(Rejection::AccountClosed { account: id });
        }
        if state == AccountState::Closed
            && (account.balance() != Some(Won::ZERO)
                || account.debits_pending != Won::ZERO
                || account.credits_pending != Won::ZERO)
        {
            return Err(Rejection::AccountNotEmpty { account: id });
        }
        self.save_account(i);
        self.accounts[i as usize].state = state;
        Ok(())
    }

    /// The index of account `id`, which must be of `kind`.
    fn resolve(&self, id: AccountId, kind: AccountKind) -> Result<u32, Rejection> {
        let i = self
            .index
            .get(id)
            .ok_or(Rejection::AccountNotFound { account: id })?;
        let actual = self.accounts[i as usize].kind;
        if actual != kind {
            return Err(Rejection::AccountKindMismatch {
                account: id,
                expected: kind,
                actual,
            });
        }
        Ok(i)
    }

    fn resolve_any(&self, id: AccountId) -> Result<u32, Rejection> {
        self.index
            .get(id)
            .ok_or(Rejection::AccountNotFound { account: id })
    }

    /// Money may move in or out of `i` by a transfer of `kind`.
    fn check_open(&self, i: u32, kind: TransferKind) -> Result<(), Rejection> {
        let account = &self.accounts[i as usize];
        match account.state {
            AccountState::Active => Ok(()),
            AccountState::Frozen if kind == TransferKind::Correction => Ok(()),
            AccountState::Frozen => Err(Rejection::AccountFrozen {
                account: account.id,
            }),
            AccountState::Closed => Err(Rejection::AccountClosed {
                account: account.id,
            }),
        }
    }

    // ----- transfers ------------------------------------------------------------------

    fn transfer(
        &mut self,
        t: &Transfer,
        now: Timestamp,
    ) -> Result<(TransferId, TransferStatus, Won), Failure> {
        self.transfer_filtered(t, now, DrawFilter::ANY)
    }

    /// A transfer whose draw from a wallet is further limited by `filter` (the scheme's
    /// giftable channels, or one purchase's own lot).
    fn transfer_filtered(
        &mut self,
        t: &Transfer,
        now: Timestamp,
        filter: DrawFilter,
    ) -> Result<(TransferId, TransferStatus, Won), Failure> {
        use AccountKind as K;
        let kind = t.spec.kind();
        let deadline = match t.mode {
            Mode::Posted => None,
            Mode::Pending { timeout_us } => {
                if !kind.may_be_pending() {
                    return Err(Rejection::PendingNotAllowed { kind }.into());
                }
                if timeout_us == 0 || timeout_us > self.config.pending_timeout_max_us {
                    return Err(Rejection::PendingTimeoutInvalid.into());
                }
                if self.pendings.len() >= self.config.pending_transfers_max {
                    return Err(Rejection::TooManyPending {
                        max: u32::try_from(self.config.pending_transfers_max).unwrap_or(u32::MAX),
                    }
                    .into());
                }
                Some(now.plus_micros(timeout_us))
            }
        };

        // Resolve the two accounts by the kinds this transfer kind fixes, how much may be
        // drawn from which sources, and how the credit is labelled.
        let all = SourceSet::ALL;
        let (debit, credit, amount, sources, credit_as) = match &t.spec {
            TransferSpec::Charge {
                reserve,
                wallet,
                amount,
                lot,
            } => (
                self.resolve(reserve.account(), K::IssuerReserve)?,
                self.resolve(wallet.account(), K::CitizenWallet)?,
                *amount,
                all,
                CreditAs::Lot {
                    source: Source::Purchased,
                    spec: *lot,
                },
            ),
            TransferSpec::Subsidy {
                budget,
                wallet,
                amount,
                lot,
            } => (
                self.resolve(budget.account(), K::SubsidyBudget)?,
                self.resolve(wallet.account(), K::CitizenWallet)?,
                *amount,
                all,
                CreditAs::Lot {
                    source: Source::Purchased,
                    spec: *lot,
                },
            ),
            TransferSpec::Cashback {
                budget,
                wallet,
                amount,
                lot,
            } => (
                self.resolve(budget.account(), K::SubsidyBudget)?,
                self.resolve(wallet.account(), K::CitizenWallet)?,
                *amount,
                all,
                CreditAs::Lot {
                    source: Source::Cashback,
                    spec: *lot,
                },
            ),
            TransferSpec::Allowance {
                budget,
                wallet,
                amount,
                lot,
            } => (
                self.resolve(budget.account(), K::SubsidyBudget)?,
                self.resolve(wallet.account(), K::CitizenWallet)?,
                *amount,
                all,
                CreditAs::Lot {
                    source: Source::Allowance,
                    spec: *lot,
                },
            ),
            TransferSpec::BudgetFunding {
                reserve,
                budget,
                amount,
            } => (
                self.resolve(reserve.account(), K::IssuerReserve)?,
                self.resolve(budget.account(), K::SubsidyBudget)?,
                *amount,
                all,
                CreditAs::Plain,
            ),
            TransferSpec::Payment {
                payer,
                merchant,
                amount,
            } => {
                let payer = self.resolve(payer.account(), K::CitizenWallet)?;
                let merchant = self.resolve(merchant.account(), K::Merchant)?;
                let accepts = self.accounts[merchant as usize].accepts;
                if self.payment_flipped() {
                    // The drill: a rule that got its legs the wrong way round.
                    let lot = LotSpec {
                        tag: 0,
                        expires_at: Timestamp::MAX,
                    };
                    let credit_as = CreditAs::Lot {
                        source: Source::Purchased,
                        spec: lot,
                    };
                    (merchant, payer, *amount, all, credit_as)
                } else {
                    (payer, merchant, *amount, accepts, CreditAs::Plain)
                }
            }
            TransferSpec::PaymentRefund { payment, amount } => {
                // A payment that earned cash-back is refunded by the scheme's
                // `RefundPayment`, which takes the cash-back back with it.
                if self.scheme.cashbacks.contains_key(payment) {
                    return Err(Rejection::SchemeRefundRequired { payment: *payment }.into());
                }
                return self
                    .refund_payment(*payment, *amount)
                    .map(|id| (id, TransferStatus::Posted, *amount));
            }
            TransferSpec::Gift {
                sender,
                recipient,
                amount,
                sources,
            } => (
                self.resolve(sender.account(), K::CitizenWallet)?,
                self.resolve(recipient.account(), K::CitizenWallet)?,
                *amount,
                *sources,
                CreditAs::Gift,
            ),
            TransferSpec::Redemption {
                merchant,
                clearing,
                amount,
            } => (
                self.resolve(merchant.account(), K::Merchant)?,
                self.resolve(clearing.account(), K::SettlementClearing)?,
                *amount,
                all,
                CreditAs::Plain,
            ),
            TransferSpec::Settlement {
                clearing,
                reserve,
                amount,
            } => (
                self.resolve(clearing.account(), K::SettlementClearing)?,
                self.resolve(reserve.account(), K::IssuerReserve)?,
                *amount,
                all,
                CreditAs::Plain,
            ),
            TransferSpec::CashRefund {
                wallet,
                clearing,
                amount,
                sources,
            } => (
                self.resolve(wallet.account(), K::CitizenWallet)?,
                self.resolve(clearing.account(), K::SettlementClearing)?,
                *amount,
                *sources,
                CreditAs::Plain,
            ),
            TransferSpec::SubsidyReturn {
                wallet,
                budget,
                amount,
                sources,
            } => (
                self.resolve(wallet.account(), K::CitizenWallet)?,
                self.resolve(budget.account(), K::SubsidyBudget)?,
                *amount,
                *sources,
                CreditAs::Plain,
            ),
            TransferSpec::Expiry { wallet, reserve } => {
                let w = self.resolve(wallet.account(), K::CitizenWallet)?;
                let r = self.resolve(reserve.account(), K::IssuerReserve)?;
                return self
                    .expire_lots(w, r, now)
                    .map(|(id, amount)| (id, TransferStatus::Posted, amount));
            }
            TransferSpec::Fee {
                merchant,
                fees,
                amount,
            } => (
                self.resolve(merchant.account(), K::Merchant)?,
                self.resolve(fees.account(), K::Fees)?,
                *amount,
                all,
                CreditAs::Plain,
            ),
            TransferSpec::Correction {
                debit,
                credit,
                amount,
                lot,
                ..
            } => {
                let debit = self.resolve_any(*debit)?;
                let credit = self.resolve_any(*credit)?;
                let credit_as = if self.accounts[credit as usize].kind == K::CitizenWallet {
                    CreditAs::Lot {
                        source: Source::Correction,
                        spec: *lot,
                    }
                } else {
                    CreditAs::Plain
                };
                (debit, credit, *amount, all, credit_as)
            }
        };

        check_amount(amount)?;
        if debit == credit {
            return Err(Rejection::SameAccount.into());
        }
        self.check_open(debit, kind)?;
        self.check_open(credit, kind)?;
        self.check_available(debit, amount)?;
        let drawn = self.draw(debit, amount, sources, filter, now)?;
        let id = self.take_transfer_id();

        match deadline {
            None => {
                self.post(kind, debit, credit, amount)?;
                self.credit_lots(credit, credit_as, amount, &drawn)?;
                if kind == TransferKind::Payment {
                    self.record_payment(id, debit, credit, amount, drawn, now);
                }
                Ok((id, TransferStatus::Posted, amount))
            }
            Some(deadline) => {
                self.hold(kind, debit, credit, amount)?;
                let pending = PendingTransfer {
                    id,
                    kind,
                    debit: self.accounts[debit as usize].id,
                    credit: self.accounts[credit as usize].id,
                    amount,
                    deadline,
                    drawn,
                    credit_as,
                };
                self.insert_pending(pending);
                if kind == TransferKind::Payment {
                    // Keeps the payment's place in the refund log until it posts.
                    self.set_payment_slot(id, PaymentSlot::Reserved { at: now });
                }
                Ok((id, TransferStatus::Pending, amount))
            }
        }
    }

    fn take_transfer_id(&mut self) -> TransferId {
        let id = TransferId(self.next_transfer_id);
        self.undo.push(Undo::NextTransferId {
            prev: self.next_transfer_id,
        });
        self.next_transfer_id += 1;
        id
    }

    fn check_available(&self, i: u32, amount: Won) -> Result<(), Failure> {
        let account = &self.accounts[i as usize];
        if account.kind.may_go_negative() || self.skipping_checks() {
            return Ok(());
        }
        let available = account.available().ok_or(Violation::Arithmetic)?;
        if available < amount {
            return Err(Rejection::InsufficientFunds {
                account: account.id,
                available,
                requested: amount,
            }
            .into());
        }
        Ok(())
    }

    /// Takes `amount` out of a wallet's lots (spend order, only `sources`, only lots
    /// still valid at `now`). Accounts other than wallets have no lots.
    fn draw(
        &mut self,
        i: u32,
        amount: Won,
        sources: SourceSet,
        filter: DrawFilter,
        now: Timestamp,
    ) -> Result<Lots, Failure> {
        if self.accounts[i as usize].kind != AccountKind::CitizenWallet {
            return Ok(Lots::new());
        }
        let account = &self.accounts[i as usize];
        let mut eligible = Won::ZERO;
        for lot in account
            .lots
            .iter()
            .filter(|l| spendable(l, sources, now) && filter.admits(l))
        {
            eligible = eligible
                .checked_add(lot.amount)
                .ok_or(Violation::Arithmetic)?;
        }
        if eligible < amount {
            return Err(Rejection::InsufficientEligibleFunds {
                account: account.id,
                eligible,
                requested: amount,
            }
            .into());
        }
        self.save_account(i);
        let lots = &mut self.accounts[i as usize].lots;
        let mut drawn = Lots::new();
        let mut left = amount;
        for lot in lots.iter_mut() {
            if left == Won::ZERO {
                break;
            }
            if !spendable(lot, sources, now) || !filter.admits(lot) {
                continue;
            }
            let take = lot.amount.min(left);
            lot.amount = lot.amount.checked_sub(take).ok_or(Violation::Arithmetic)?;
            left = left.checked_sub(take).ok_or(Violation::Arithmetic)?;
            drawn.push(Lot {
                amount: take,
                ..*lot
            });
        }
        lots.retain(|l| l.amount != Won::ZERO);
        Ok(drawn)
    }

    /// Credits a wallet's lots after its balance was credited with `amount`; `drawn`
    /// are the lots taken from the debited wallet, if it was one.
    fn credit_lots(
        &mut self,
        i: u32,
        how: CreditAs,
        amount: Won,
        drawn: &[Lot],
    ) -> Result<(), Violation> {
        if self.accounts[i as usize].kind != AccountKind::CitizenWallet {
            return Ok(());
        }
        self.save_account(i);
        let keep_source = drill!(self, GiftKeepsSource);
        let config = &self.config;
        let lots = &mut self.accounts[i as usize].lots;
        match how {
            CreditAs::Lot { source, spec } => {
                let lot = Lot {
                    source,
                    tag: spec.tag,
                    expires_at: spec.expires_at,
                    amount,
                };
                deposit_lot(lots, lot, config)?;
            }
            CreditAs::Gift => {
                for lot in drawn {
                    deposit_lot(
                        lots,
                        Lot {
                            source: if keep_source {
                                lot.source
                            } else {
                                Source::Gift
                            },
                            ..*lot
                        },
                        config,
                    )?;
                }
            }
            // A wallet credited without a label would break the lots invariant; the
            // check at the end of the batch reports it.
            CreditAs::Plain => {}
        }
        Ok(())
    }

    /// Moves posted money. The only function that changes posted totals, and it checks
    /// the direction against the kind table every time.
    fn post(
        &mut self,
        kind: TransferKind,
        debit: u32,
        credit: u32,
        amount: Won,
    ) -> Result<(), Failure> {
        self.check_direction(kind, debit, credit)?;
        let (debit, credit) = if drill!(self, PostingSignFlipped) {
            (credit, debit)
        } else {
            (debit, credit)
        };
        self.save_account(debit);
        self.save_account(credit);
        let d = &mut self.accounts[debit as usize];
        d.debits_posted = d
            .debits_posted
            .checked_add(amount)
            .ok_or(Rejection::AmountTooLarge)?;
        let c = &mut self.accounts[credit as usize];
        c.credits_posted = c
            .credits_posted
            .checked_add(amount)
            .ok_or(Rejection::AmountTooLarge)?;
        Ok(())
    }

    /// Holds money for a pending transfer.
    fn hold(
        &mut self,
        kind: TransferKind,
        debit: u32,
        credit: u32,
        amount: Won,
    ) -> Result<(), Failure> {
        self.check_direction(kind, debit, credit)?;
        self.save_account(debit);
        self.save_account(credit);
        let d = &mut self.accounts[debit as usize];
        d.debits_pending = d
            .debits_pending
            .checked_add(amount)
            .ok_or(Rejection::AmountTooLarge)?;
        let c = &mut self.accounts[credit as usize];
        c.credits_pending = c
            .credits_pending
            .checked_add(amount)
            .ok_or(Rejection::AmountTooLarge)?;
        Ok(())
    }

    /// Releases a hold (the pending transfer ends).
    fn release(&mut self, debit: u32, credit: u32, amount: Won) -> Result<(), Violation> {
        self.save_account(debit);
        self.save_account(credit);
        let d = &mut self.accounts[debit as usize];
        d.debits_pending = d
            .debits_pending
            .checked_sub(amount)
            .ok_or(Violation::Arithmetic)?;
        let c = &mut self.accounts[credit as usize];
        c.credits_pending = c
            .credits_pending
            .checked_sub(amount)
            .ok_or(Violation::Arithmetic)?;
        Ok(())
    }

    /// True only in the Buyeo drill (feature `fault-injection`).
    fn payment_flipped(&self) -> bool {
        #[cfg(feature = "fault-injection")]
        if let Some(Fault::FlipPaymentDirection { .. }) = self.fault {
            return true;
        }
        false
    }

    /// True only in a fault drill that also disables the rule-level checks, so that the
    /// batch invariants and `verify` are what must catch the fault.
    fn skipping_checks(&self) -> bool {
        #[cfg(feature = "fault-injection")]
        if let Some(Fault::FlipPaymentDirection { skip_checks: true }) = self.fault {
            return true;
        }
        false
    }

    fn check_direction(
        &self,
        kind: TransferKind,
        debit: u32,
        credit: u32,
    ) -> Result<(), Violation> {
        if self.skipping_checks() {
            return Ok(());
        }
        let (want_debit, want_credit) = kind.legs();
        let debit = self.accounts[debit as usize].kind;
        let credit = self.accounts[credit as usize].kind;
        if want_debit.is_some_and(|k| k != debit) || want_credit.is_some_and(|k| k != credit) {
            return Err(Violation::WrongDirection {
                kind,
                debit,
                credit,
            });
        }
        Ok(())
    }

    fn record_payment(
        &mut self,
        id: TransferId,
        payer: u32,
        merchant: u32,
        amount: Won,
        drawn: Lots,
        now: Timestamp,
    ) {
        let record = PaymentRecord {
            payer: self.accounts[payer as usize].id,
            merchant: self.accounts[merchant as usize].id,
            amount,
            refunded: Won::ZERO,
            drawn,
            at: now,
        };
        self.set_payment_slot(id, PaymentSlot::Payment(Box::new(record)));
    }

    /// Changes a payment-log slot, with undo. A slot the log has already forgotten
    /// (only possible past `payment_records_max`) stays forgotten.
    fn set_payment_slot(&mut self, id: TransferId, slot: PaymentSlot) {
        let prev = self.payments.take(id).map(Box::new);
        if self.payments.set(id, slot) {
            self.undo.push(Undo::PaymentSlot { id, prev });
        } else if let Some(prev) = prev {
            self.payments.set(id, *prev);
        }
    }

    /// Refunds (part of) a payment from the merchant back to the payer, restoring the
    /// lots the payment drew (the last drawn first), never more than was paid.
    fn refund_payment(&mut self, payment: TransferId, amount: Won) -> Result<TransferId, Failure> {
        check_amount(amount)?;
        let record = self
            .payments
            .get(payment)
            .ok_or(Rejection::PaymentNotFound { payment })?;
        let refundable = record
            .amount
            .checked_sub(record.refunded)
            .ok_or(Violation::Arithmetic)?;
        if amount > refundable {
            return Err(Rejection::RefundExceedsPayment {
                payment,
                refundable,
            }
            .into());
        }
        let (payer_id, merchant_id) = (record.payer, record.merchant);
        let merchant = self.resolve(merchant_id, AccountKind::Merchant)?;
        let payer = self.resolve(payer_id, AccountKind::CitizenWallet)?;
        self.check_open(merchant, TransferKind::PaymentRefund)?;
        self.check_open(payer, TransferKind::PaymentRefund)?;
        self.check_available(merchant, amount)?;

        let mut record = record.clone();
        let mut restored = Lots::new();
        let mut left = amount;
        for lot in record.drawn.iter_mut().rev() {
            if left == Won::ZERO {
                break;
            }
            let give = lot.amount.min(left);
            lot.amount = lot.amount.checked_sub(give).ok_or(Violation::Arithmetic)?;
            left = left.checked_sub(give).ok_or(Violation::Arithmetic)?;
            restored.push(Lot {
                amount: give,
                ..*lot
            });
        }
        if left != Won::ZERO {
            return Err(Violation::Arithmetic.into());
        }
        record.drawn.retain(|l| l.amount != Won::ZERO);
        record.refunded = record
            .refunded
            .checked_add(amount)
            .ok_or(Violation::Arithmetic)?;
        self.set_payment_slot(payment, PaymentSlot::Payment(Box::new(record)));

        let id = self.take_transfer_id();
        self.post(TransferKind::PaymentRefund, merchant, payer, amount)?;
        self.save_account(payer);
        self.return_lots(payer, &restored)?;
        Ok(id)
    }

    /// Expires every lot of the wallet whose validity ended at or before `now`.
    fn expire_lots(
        &mut self,
        wallet: u32,
        reserve: u32,
        now: Timestamp,
    ) -> Result<(TransferId, Won), Failure> {
        let kind = TransferKind::Expiry;
        self.check_open(wallet, kind)?;
        self.check_open(reserve, kind)?;
        // Valid through the instant before `expires_at`: at it, the lot has expired.
        let late = drill!(self, ExpiryOneInstantLate);
        let expired = |l: &Lot| l.expires_at < now || (l.expires_at == now && !late);
        let account = &self.accounts[wallet as usize];
        let mut amount = Won::ZERO;
        for lot in account.lots.iter().filter(|l| expired(l)) {
            amount = amount
                .checked_add(lot.amount)
                .ok_or(Violation::Arithmetic)?;
        }
        if amount == Won::ZERO {
            return Err(Rejection::NothingToExpire {
                account: account.id,
                at: now,
            }
            .into());
        }
        self.save_account(wallet);
        self.accounts[wallet as usize].lots.retain(|l| !expired(l));
        let id = self.take_transfer_id();
        self.post(kind, wallet, reserve, amount)?;
        Ok((id, amount))
    }

    // ----- pending transfers ----------------------------------------------------------

    fn insert_pending(&mut self, pending: PendingTransfer) {
        let id = pending.id;
        self.pendings_hash = self
            .pendings_hash
            .wrapping_add(pending_hash(&pending, &mut self.scratch));
        self.deadlines.insert((pending.deadline, id));
        self.pendings.insert(id, pending);
        self.undo.push(Undo::PendingInserted { id });
    }

    fn remove_pending(
        &mut self,
        id: TransferId,
        end: PendingEnd,
        now: Timestamp,
    ) -> Option<PendingTransfer> {
        let pending = self.pendings.remove(&id)?;
        self.pendings_hash = self
            .pendings_hash
            .wrapping_sub(pending_hash(&pending, &mut self.scratch));
        self.deadlines.remove(&(pending.deadline, id));
        self.undo.push(Undo::PendingRemoved {
            prev: Box::new(pending.clone()),
        });
        self.ended.insert(id, end);
        self.ended_order.push_back((now, id));
        self.undo.push(Undo::EndedInserted { id });
        Some(pending)
    }

    fn pending_lookup_failure(&self, id: TransferId) -> Rejection {
        match self.ended.get(&id) {
            Some(end) => Rejection::PendingAlreadyEnded { id, end: *end },
            None => Rejection::PendingNotFound { id },
        }
    }

    fn post_pending(
        &mut self,
        id: TransferId,
        amount: Option<Won>,
        now: Timestamp,
    ) -> Result<Won, Failure> {
        let pending = self
            .pendings
            .get(&id)
            .ok_or_else(|| self.pending_lookup_failure(id))?;
        let amount = match amount {
            None => pending.amount,
            Some(a) => {
                check_amount(a)?;
                if a > pending.amount {
                    return Err(Rejection::PostExceedsPending {
                        id,
                        pending: pending.amount,
                    }
                    .into());
                }
                a
            }
        };
        // A hold approved before an account was frozen moves no money while it is
        // frozen: posting waits (voiding or expiry, which move nothing, still work).
        let (debit, credit) = (
            self.resolve_any(pending.debit)?,
            self.resolve_any(pending.credit)?,
        );
        self.check_open(debit, pending.kind)?;
        self.check_open(credit, pending.kind)?;
        let pending = self
            .remove_pending(id, PendingEnd::Posted, now)
            .ok_or(Violation::Arithmetic)?;
        self.release(debit, credit, pending.amount)?;
        self.post(pending.kind, debit, credit, amount)?;

        // Of the lots held, the first `amount` (spend order) are spent; the rest go back.
        let mut spent = Lots::new();
        let mut back = Lots::new();
        let mut left = amount;
        for lot in &pending.drawn {
            let take = lot.amount.min(left);
            left = left.checked_sub(take).ok_or(Violation::Arithmetic)?;
            if take != Won::ZERO {
                spent.push(Lot {
                    amount: take,
                    ..*lot
                });
            }
            let rest = lot.amount.checked_sub(take).ok_or(Violation::Arithmetic)?;
            if rest != Won::ZERO {
                back.push(Lot {
                    amount: rest,
                    ..*lot
                });
            }
        }
        self.return_lots(debit, &back)?;
        self.credit_lots(credit, pending.credit_as, amount, &spent)?;
        if pending.kind == TransferKind::Payment {
            self.record_payment(id, debit, credit, amount, spent, now);
        }
        Ok(amount)
    }

    fn end_pending(
        &mut self,
        id: TransferId,
        end: PendingEnd,
        now: Timestamp,
    ) -> Result<(), Failure> {
        if !self.pendings.contains_key(&id) {
            return Err(self.pending_lookup_failure(id).into());
        }
        let pending = self
            .remove_pending(id, end, now)
            .ok_or(Violation::Arithmetic)?;
        let debit = self.resolve_any(pending.debit)?;
        let credit = self.resolve_any(pending.credit)?;
        self.release(debit, credit, pending.amount)?;
        self.return_lots(debit, &pending.drawn)?;
        if pending.kind == TransferKind::Payment {
            // It will never post: free its place in the refund log.
            self.set_payment_slot(id, PaymentSlot::Empty);
        }
        Ok(())
    }

    /// Puts lots (unspent holds, refunds) back into a wallet with their own labels.
    fn return_lots(&mut self, i: u32, lots: &[Lot]) -> Result<(), Violation> {
        if lots.is_empty() {
            return Ok(());
        }
        self.save_account(i);
        let config = &self.config;
        let wallet = &mut self.accounts[i as usize].lots;
        for lot in lots {
            deposit_lot(wallet, *lot, config)?;
        }
        Ok(())
    }

    fn expire_pendings(&mut self, now: Timestamp) -> Result<u32, Violation> {
        let mut expired = 0;
        while let Some(&(deadline, id)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            match self.end_pending(id, PendingEnd::Expired, now) {
                Ok(()) => expired += 1,
                Err(Failure::Violation(v)) => return Err(v),
                // A pending transfer whose accounts vanished cannot exist: accounts are
                // never deleted. Treat it as the bug it would be.
                Err(Failure::Reject(_)) => return Err(Violation::Arithmetic),
            }
        }
        Ok(expired)
    }

    fn set_halt(&mut self, halt: Option<Box<Halt>>) {
        let prev = std::mem::replace(&mut self.halted, halt);
        self.undo.push(Undo::Halted { prev });
    }

    // ----- undo, invariants, hash -----------------------------------------------------

    /// Copies account `i` to the undo log the first time it changes in this savepoint,
    /// and records it as touched by this batch.
    fn save_account(&mut self, i: u32) {
        let meta = &mut self.meta[i as usize];
        if meta.saved_in != self.savepoint {
            meta.saved_in = self.savepoint;
            self.undo_accounts.push(self.accounts[i as usize].clone());
            self.undo.push(Undo::Account { index: i });
        }
        self.touch(i, true);
    }

    fn touch(&mut self, i: u32, existed: bool) {
        let meta = &mut self.meta[i as usize];
        if meta.touched_in != self.batches {
            meta.touched_in = self.batches;
            let a = &self.accounts[i as usize];
            self.touched.push(Touched {
                index: i,
                balance: if existed {
                    a.balance().unwrap_or(Won::ZERO)
                } else {
                    Won::ZERO
                },
                debits_pending: a.debits_pending,
                credits_pending: a.credits_pending,
                hash_before: if existed { meta.hash } else { 0 },
            });
        }
    }

    fn rollback_to(&mut self, mark: usize) {
        while self.undo.len() > mark {
            let Some(entry) = self.undo.pop() else { break };
            match entry {
                Undo::Account { index } => {
                    if let Some(prev) = self.undo_accounts.pop() {
                        self.accounts[index as usize] = prev;
                    }
                }
                Undo::AccountCreated => {
                    if let Some(a) = self.accounts.pop() {
                        self.index.remove(a.id);
                        self.meta.pop();
                    }
                }
                Undo::PendingInserted { id } => {
                    if let Some(p) = self.pendings.remove(&id) {
                        self.pendings_hash = self
                            .pendings_hash
                            .wrapping_sub(pending_hash(&p, &mut self.scratch));
                        self.deadlines.remove(&(p.deadline, id));
                    }
                }
                Undo::PendingRemoved { prev } => {
                    self.pendings_hash = self
                        .pendings_hash
                        .wrapping_add(pending_hash(&prev, &mut self.scratch));
                    self.deadlines.insert((prev.deadline, prev.id));
                    self.pendings.insert(prev.id, *prev);
                }
                Undo::EndedInserted { id } => {
                    self.ended.remove(&id);
                    self.ended_order.pop_back();
                }
                Undo::PaymentSlot { id, prev } => {
                    self.payments.take(id);
                    if let Some(prev) = prev {
                        self.payments.set(id, *prev);
                    }
                }
                Undo::IdempotencyPushed => self.idempotency.pop_back(),
                Undo::NextTransferId { prev } => self.next_transfer_id = prev,
                Undo::Halted { prev } => self.halted = prev,
                Undo::SchemeVersionPushed => {
                    self.scheme.pop_version();
                }
                Undo::SchemeVersionPopped { version } => self.scheme.push_version(version),
                Undo::Citizen { id } => {
                    // The wallet is still there: it was opened before its profile was
                    // put, so its opening is undone after this.
                    if let (Some(prev), Some(at)) =
                        (self.undo_values.citizens.pop(), self.index.get(id))
                    {
                        self.scheme.set_citizen(id, at, prev);
                    }
                }
                Undo::Merchant { id } => {
                    if let Some(prev) = self.undo_values.merchants.pop() {
                        self.scheme.set_merchant(id, prev);
                    }
                }
                Undo::Budget { id } => {
                    if let Some(prev) = self.undo_values.budgets.pop() {
                        self.scheme.set_budget(id, prev);
                    }
                }
                Undo::Purchase { id } => {
                    if let Some(prev) = self.undo_values.purchases.pop() {
                        self.scheme.set_purchase(id, prev);
                    }
                }
                Undo::Cashback { id } => {
                    if let Some(prev) = self.undo_values.cashbacks.pop() {
                        self.scheme.set_cashback(id, prev);
                    }
                }
                Undo::Payout { id } => {
                    if let Some(prev) = self.undo_values.payouts.pop() {
                        self.scheme.set_payout(id, prev);
                    }
                }
            }
        }
        // The rolled-back savepoint is over: the next change starts a new one, so
        // accounts are copied again before they change.
        self.savepoint += 1;
    }

    /// The invariants, over every account this batch touched: balances changed by the
    /// batch net to zero (double entry), pending holds and pending credits match, no
    /// account but the reserve is below zero after its holds, and a wallet's lots add up
    /// to what it can spend. Hashes each of those accounts on the way, while it is in
    /// cache, into its metadata and the state hash; if an invariant fails the caller
    /// puts the old hashes back (`restore_touched_hashes`) with the rest of the batch.
    fn check_touched(&mut self) -> Result<(), Violation> {
        let mut net: i128 = 0;
        let mut pending_net: i128 = 0;
        let mut hash_change: u128 = 0;
        // The accounts of a batch are out of cache by its end: ask for the next group's
        // lines while this group is checked, so that their misses overlap.
        let mut groups = self.touched.chunks(WARM_GROUP).peekable();
        if let Some(first) = groups.peek() {
            for t in first.iter() {
                self.prefetch_account(t.index);
            }
        }
        while let Some(group) = groups.next() {
            if let Some(next) = groups.peek() {
                for t in next.iter() {
                    self.prefetch_account(t.index);
                }
            }
            for t in group {
                let (Some(a), Some(meta)) = (
                    self.accounts.get(t.index as usize),
                    self.meta.get_mut(t.index as usize),
                ) else {
                    continue;
                };
                let balance = a.balance().ok_or(Violation::Arithmetic)?;
                net += i128::from(balance.get()) - i128::from(t.balance.get());
                pending_net +=
                    i128::from(a.credits_pending.get()) - i128::from(t.credits_pending.get());
                pending_net -=
                    i128::from(a.debits_pending.get()) - i128::from(t.debits_pending.get());
                check_account(a)?;
                meta.hash = account_hash(a, &mut self.scratch);
                hash_change = hash_change
                    .wrapping_sub(t.hash_before)
                    .wrapping_add(meta.hash);
            }
        }
        if net != 0 {
            return Err(Violation::BatchNotBalanced { net });
        }
        if pending_net != 0 {
            return Err(Violation::PendingNotBalanced { net: pending_net });
        }
        self.accounts_hash = self.accounts_hash.wrapping_add(hash_change);
        self.touched.clear();
        Ok(())
    }

    /// Gives every account the batch touched back the hash it had before the batch (a
    /// batch that broke an invariant may have hashed some of them already). Accounts the
    /// batch opened had none; the rollback removes them.
    fn restore_touched_hashes(&mut self) {
        for t in &self.touched {
            if let Some(meta) = self.meta.get_mut(t.index as usize) {
                meta.hash = t.hash_before;
            }
        }
    }

    /// Every invariant over the whole state, from scratch (slow: tests, verification,
    /// after loading a snapshot). Also checks the incremental hash against a full
    /// recomputation.
    pub fn check_all(&self) -> Result<(), String> {
        let mut total: i128 = 0;
        let mut held_debits: FxHashMap<AccountId, i128> = FxHashMap::default();
        let mut held_credits: FxHashMap<AccountId, i128> = FxHashMap::default();
        for p in self.pendings.values() {
            *held_debits.entry(p.debit).or_default() += i128::from(p.amount.get());
            *held_credits.entry(p.credit).or_default() += i128::from(p.amount.get());
            if lots_sum(&p.drawn).map_err(|_| "overflow")? != p.amount
                && self
                    .account(p.debit)
                    .is_some_and(|a| a.kind == AccountKind::CitizenWallet)
            {
                return Err(format!(
                    "pending {} holds lots that do not add up to its amount",
                    p.id
                ));
            }
        }
        let mut accounts_hash: u128 = 0;
        let mut scratch = Vec::new();
        for a in &self.accounts {
            let balance = a.balance().ok_or("balance overflow")?;
            total += i128::from(balance.get());
            check_account(a).map_err(|v| v.to_string())?;
            let debits = held_debits.get(&a.id).copied().unwrap_or(0);
            let credits = held_credits.get(&a.id).copied().unwrap_or(0);
            if debits != i128::from(a.debits_pending.get())
                || credits != i128::from(a.credits_pending.get())
            {
                return Err(format!(
                    "{}: pending totals {}/{} but pending transfers hold {debits}/{credits}",
                    a.id, a.debits_pending, a.credits_pending
                ));
            }
            accounts_hash = accounts_hash.wrapping_add(account_hash(a, &mut scratch));
        }
        if total != 0 {
            return Err(format!("the sum of all balances is {total}, not 0"));
        }
        for (id, p) in self.payments.iter().filter_map(|(id, s)| match s {
            PaymentSlot::Payment(p) => Some((id, p)),
            _ => None,
        }) {
            if p.refunded > p.amount || lots_sum(&p.drawn).ok() > Some(p.amount) {
                return Err(format!(
                    "payment {id} refunded {} of {}",
                    p.refunded, p.amount
                ));
            }
        }
        if accounts_hash != self.accounts_hash {
            return Err("the incremental state hash differs from a full recomputation".into());
        }
        let mut pendings_hash: u128 = 0;
        for p in self.pendings.values() {
            pendings_hash = pendings_hash.wrapping_add(pending_hash(p, &mut scratch));
        }
        if pendings_hash != self.pendings_hash {
            return Err("the pending-transfer hash differs from a full recomputation".into());
        }
        Ok(())
    }

    /// Forgets idempotency keys, payments and ended pendings past their windows or
    /// beyond their caps, oldest first.
    fn forget_aged(&mut self, now: Timestamp) {
        let c = &self.config;
        let horizon = now.minus_micros(c.idempotency_retention_us);
        while let Some(entry) = self.idempotency.front() {
            if entry.at > horizon && self.idempotency.len() <= c.idempotency_entries_max {
                break;
            }
            self.idempotency.pop_front();
        }
        let horizon = now.minus_micros(c.payment_refund_window_us);
        self.payments.forget(horizon, c.payment_records_max);
        let horizon = now.minus_micros(c.ended_pending_retention_us);
        while let Some(&(at, id)) = self.ended_order.front() {
            if at > horizon {
                break;
            }
            self.ended.remove(&id);
            self.ended_order.pop_front();
        }
        self.forget_purchases(now);
    }

    // ----- snapshot support (see `codec`) ---------------------------------------------

    pub(crate) fn parts(&self) -> SnapshotParts<'_> {
        SnapshotParts {
            config: &self.config,
            accounts: &self.accounts,
            pendings: &self.pendings,
            ended: &self.ended,
            ended_order: &self.ended_order,
            payments: &self.payments,
            idempotency: &self.idempotency,
            next_transfer_id: self.next_transfer_id,
            last_timestamp: self.last_timestamp,
            halted: self.halted.as_deref(),
            batches: self.batches,
            scheme: &self.scheme,
        }
    }

    /// Rebuilds a ledger from decoded snapshot parts, recomputing indexes and hashes.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        config: LedgerConfig,
        accounts: Vec<Account>,
        pendings: Vec<PendingTransfer>,
        ended_order: Vec<(Timestamp, TransferId, PendingEnd)>,
        payments: PaymentLog,
        idempotency: IdempotencyRing,
        next_transfer_id: u64,
        last_timestamp: Timestamp,
        halted: Option<Halt>,
        batches: u64,
        scheme: SchemeSnapshot,
    ) -> Result<Ledger, String> {
        let mut ledger = Ledger::new(config);
        let mut scratch = Vec::new();
        for a in accounts {
            let index = ledger.accounts.len() as u32;
            if !ledger.index.insert(a.id, index) {
                return Err(format!("{} appears twice", a.id));
            }
            let hash = account_hash(&a, &mut scratch);
            ledger.accounts_hash = ledger.accounts_hash.wrapping_add(hash);
            ledger.meta.push(AccountMeta {
                hash,
                ..AccountMeta::default()
            });
            ledger.accounts.push(a);
        }
        for p in pendings {
            ledger.pendings_hash = ledger
                .pendings_hash
                .wrapping_add(pending_hash(&p, &mut scratch));
            ledger.deadlines.insert((p.deadline, p.id));
            ledger.pendings.insert(p.id, p);
        }
        for (at, id, end) in ended_order {
            ledger.ended.insert(id, end);
            ledger.ended_order.push_back((at, id));
        }
        ledger.payments = payments;
        ledger.idempotency = idempotency;
        ledger.next_transfer_id = next_transfer_id;
        ledger.last_timestamp = last_timestamp;
        ledger.halted = halted.map(Box::new);
        ledger.batches = batches;
        // After the accounts: citizens' profiles live at their wallets' indexes.
        ledger.scheme = SchemeState::from_snapshot(scheme, |id| ledger.index.get(id))
            .map_err(|e| format!("scheme state: {e}"))?;
        ledger.check_all()?;
        Ok(ledger)
    }
}

/// Borrowed view of everything a snapshot must hold.
#[derive(Debug)]
pub(crate) struct SnapshotParts<'a> {
    pub config: &'a LedgerConfig,
    pub accounts: &'a [Account],
    pub pendings: &'a FxHashMap<TransferId, PendingTransfer>,
    pub ended: &'a FxHashMap<TransferId, PendingEnd>,
    pub ended_order: &'a VecDeque<(Timestamp, TransferId)>,
    pub payments: &'a PaymentLog,
    pub idempotency: &'a IdempotencyRing,
    pub next_transfer_id: u64,
    pub last_timestamp: Timestamp,
    pub halted: Option<&'a Halt>,
    pub batches: u64,
    pub scheme: &'a SchemeState,
}

/// Counts of what the ledger keeps in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retained {
    pub accounts: usize,
    pub pendings: usize,
    pub ended_pendings: usize,
    pub payments: usize,
    pub idempotency_keys: usize,
}

fn check_amount(amount: Won) -> Result<(), Rejection> {
    if !amount.is_positive() {
        return Err(Rejection::AmountNotPositive);
    }
    if amount > Won::TRANSFER_MAX {
        return Err(Rejection::AmountTooLarge);
    }
    Ok(())
}

fn spendable(lot: &Lot, sources: SourceSet, now: Timestamp) -> bool {
    sources.contains(lot.source) && lot.expires_at > now
}

fn lots_sum(lots: &[Lot]) -> Result<Won, Violation> {
    lots.iter()
        .try_fold(Won::ZERO, |acc, l| acc.checked_add(l.amount))
        .ok_or(Violation::Arithmetic)
}

/// Adds a lot to a wallet, merging with an identical lot, keeping spend order
/// (source rank, then earliest expiry, then tag).
fn deposit_lot(lots: &mut Lots, lot: Lot, config: &LedgerConfig) -> Result<(), Violation> {
    if lot.amount == Won::ZERO {
        return Ok(());
    }
    let key = |l: &Lot| (config.spend_rank(l.source), l.expires_at, l.tag);
    let new_key = key(&lot);
    let mut at = lots.len();
    for (i, l) in lots.iter_mut().enumerate() {
        let k = key(l);
        if k == new_key && l.source == lot.source {
            l.amount = l
                .amount
                .checked_add(lot.amount)
                .ok_or(Violation::Arithmetic)?;
            return Ok(());
        }
        if k > new_key {
            at = i;
            break;
        }
    }
    lots.insert(at, lot);
    Ok(())
}

/// The per-account invariants.
fn check_account(a: &Account) -> Result<(), Violation> {
    let available = a.available().ok_or(Violation::Arithmetic)?;
    if !a.kind.may_go_negative() && available.is_negative() {
        return Err(Violation::Negative {
            account: a.id,
            kind: a.kind,
            available: i128::from(available.get()),
        });
    }
    if a.debits_pending.is_negative() || a.credits_pending.is_negative() {
        return Err(Violation::Arithmetic);
    }
    if a.kind == AccountKind::CitizenWallet {
        let lots = lots_sum(&a.lots)?;
        if lots != available || a.lots.iter().any(|l| !l.amount.is_positive()) {
            return Err(Violation::LotsMismatch {
                account: a.id,
                lots: i128::from(lots.get()),
                available: i128::from(available.get()),
            });
        }
    } else if !a.lots.is_empty() {
        return Err(Violation::LotsMismatch {
            account: a.id,
            lots: 0,
            available: 0,
        });
    }
    Ok(())
}
