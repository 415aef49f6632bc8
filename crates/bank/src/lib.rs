//! # bank — maeul's edge to real banks
//!
//! Money enters and leaves a regional currency through bank transfers: a citizen's charge
//! pulls won from their bank account into the issuer's, a merchant's redemption and a
//! cash refund pay won out of the issuer's account. Banks time out, answer slowly, answer
//! twice, refuse, and lose answers after the money moved. This crate does not hide any of
//! that; it makes every ambiguity explicit so that maeul (which keeps each bank order as a
//! pending transfer) can settle it:
//!
//! - every [`Order`] carries a caller-chosen [`Reference`] that the bank executes **at
//!   most once**, so retrying the identical order after an ambiguous failure is safe;
//! - every order carries `not_after_ms`, after which the bank refuses it, so a
//!   [`OrderStatus::Unknown`] seen after that instant means "never happened";
//! - [`BankError::is_ambiguous`] says exactly when money may or may not have moved;
//! - the bank's answer feed ([`Bank::answers`]) repeats every final answer, including the
//!   ones whose HTTP answer was lost.
//!
//! Before an account is used, maeul asks the bank whose it is ([`Bank::holder`], the
//! holder-name enquiry 예금주 조회) and sends it 1 won whose memo carries a code
//! ([`Bank::pay`] with [`Order::memo`], shown on the holder's statement as
//! [`StatementLine::memo`]): the 1원 인증 that proves the citizen can read that account.
//!
//! Three parts: the [`Bank`] trait and its types; [`HttpBank`], the client; and
//! [`SimBank`], a bank served over HTTP with switchable faults ([`FaultPlan`]), its books
//! in memory or in a SQLite file ([`SimBankConfig::path`]) that a restart reads back,
//! also shipped as the `maeul-simbank` binary.

mod client;
mod error;
pub mod sim;
mod types;
pub mod wire;

use std::future::Future;
use std::sync::Arc;

pub use client::HttpBank;
pub use error::BankError;
pub use sim::{AdminError, AuditReport, Executed, FaultPlan, InvalidFaultPlan, SimBank};
pub use sim::{SimBankConfig, SimBankHandle};
pub use types::{
    ACCOUNT_NO_CHARS_MAX, AccountNo, Answer, InvalidId, MEMO_CHARS_MAX, Order, OrderError,
    OrderStatus, REFERENCE_CHARS_MAX, Reference, RejectCode, StatementLine, UnknownRejectCode,
};
pub use wire::{AccountInfo, HolderBody, NewAccount};

/// A bank as maeul sees it.
///
/// The methods return `Send` futures (not `async fn`) so that callers can hand them to
/// `tokio::spawn`.
pub trait Bank: Send + Sync {
    /// Takes a citizen's payment: `debit` is the citizen's account, `credit` the issuer's
    /// (a direct debit, CMS 출금이체). Returns [`OrderStatus::Completed`] or
    /// [`OrderStatus::Rejected`], never `Unknown`: lack of an answer is an error.
    fn pull(&self, order: &Order) -> impl Future<Output = Result<OrderStatus, BankError>> + Send;

    /// Pays out: `debit` is the issuer's account, `credit` a merchant's or citizen's (a
    /// credit transfer). Same answers as [`Bank::pull`]; kept apart because real banks
    /// run the two through different products and limits.
    fn pay(&self, order: &Order) -> impl Future<Output = Result<OrderStatus, BankError>> + Send;

    /// What the bank knows about `reference`. `Unknown` is final only once the bank's
    /// clock is past the order's `not_after_ms`.
    fn status(
        &self,
        reference: &Reference,
    ) -> impl Future<Output = Result<OrderStatus, BankError>> + Send;

    /// The account's lines with `from_ms <= at_ms < to_ms`, ordered by `bank_tx_id`.
    fn statement(
        &self,
        account: &AccountNo,
        from_ms: u64,
        to_ms: u64,
    ) -> impl Future<Output = Result<Vec<StatementLine>, BankError>> + Send;

    /// Up to `limit` (at most [`wire::PAGE_LIMIT_MAX`]) entries of the answer feed with
    /// `seq > after_seq`, in seq order. An answer may appear more than once.
    fn answers(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Answer>, BankError>> + Send;

    /// Holder-name enquiry (예금주 조회): the name `account` is held under, or `None` when
    /// the bank has no open account with that number. Moves nothing. The answer is
    /// personal data: compare it, never log or show it.
    fn holder(
        &self,
        account: &AccountNo,
    ) -> impl Future<Output = Result<Option<String>, BankError>> + Send;
}

impl<B: Bank> Bank for Arc<B> {
    fn pull(&self, order: &Order) -> impl Future<Output = Result<OrderStatus, BankError>> + Send {
        (**self).pull(order)
    }

    fn pay(&self, order: &Order) -> impl Future<Output = Result<OrderStatus, BankError>> + Send {
        (**self).pay(order)
    }

    fn status(
        &self,
        reference: &Reference,
    ) -> impl Future<Output = Result<OrderStatus, BankError>> + Send {
        (**self).status(reference)
    }

    fn statement(
        &self,
        account: &AccountNo,
        from_ms: u64,
        to_ms: u64,
    ) -> impl Future<Output = Result<Vec<StatementLine>, BankError>> + Send {
        (**self).statement(account, from_ms, to_ms)
    }

    fn answers(
        &self,
        after_seq: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Answer>, BankError>> + Send {
        (**self).answers(after_seq, limit)
    }

    fn holder(
        &self,
        account: &AccountNo,
    ) -> impl Future<Output = Result<Option<String>, BankError>> + Send {
        (**self).holder(account)
    }
}
