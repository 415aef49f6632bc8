//! What the ledger answers: an [`Applied`] result or one [`Rejection`], each rejection
//! with a stable machine code. Rejections are expected business answers, never panics.

use std::sync::Arc;

use crate::account::AccountKind;
use crate::command::TransferKind;
use crate::ids::{AccountId, Text, TransferId};
use crate::money::{Timestamp, Won};
use crate::scheme::{BirthYearParity, SchemeApplied, SuspendReason};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum TransferStatus {
    Posted = 1,
    Pending = 2,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Applied {
    AccountOpened,
    AccountStateChanged,
    AcceptsChanged,
    /// One transfer, with the amount that moved (an expiry computes its own amount).
    Transfer {
        id: TransferId,
        status: TransferStatus,
        amount: Won,
    },
    /// Linked transfers got consecutive ids starting at `first`.
    Linked {
        first: TransferId,
        count: u16,
    },
    PendingPosted {
        id: TransferId,
        amount: Won,
    },
    PendingVoided {
        id: TransferId,
    },
    Halted,
    Resumed,
    /// Shared, not boxed: the same answer goes to the caller and into the idempotency
    /// ring, and a clone of an `Arc` copies nothing.
    Scheme(Arc<SchemeApplied>),
}

/// The answer to one command. `repeated` is true when this is the stored outcome of an
/// earlier command with the same client and idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Outcome {
    pub result: Result<Applied, Rejection>,
    pub repeated: bool,
}

impl Outcome {
    pub fn is_applied(&self) -> bool {
        self.result.is_ok()
    }
}

/// Why a pending transfer can no longer be posted or voided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum PendingEnd {
    Posted = 1,
    Voided = 2,
    Expired = 3,
}

macro_rules! rejections {
    ($( $(#[$doc:meta])* $variant:ident $({ $($field:ident : $ty:ty),* $(,)? })? => $code:literal ),* $(,)?) => {
        /// Every way the ledger can refuse a command. Exhaustive: a caller that matches
        /// on it is told by the compiler when a new one appears.
        #[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum Rejection {
            $( $(#[$doc])* $variant $({ $($field: $ty),* })? ),*
        }

        /// The stable code of a rejection, without its details: what APIs, metrics and
        /// reports key on. Never renumber or rename one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RejectionCode {
            $( $variant ),*
        }

        impl RejectionCode {
            pub const ALL: &'static [RejectionCode] = &[$( RejectionCode::$variant ),*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $( RejectionCode::$variant => $code ),*
                }
            }
        }

        impl Rejection {
            pub const fn code(&self) -> RejectionCode {
                match self {
                    $( Rejection::$variant { .. } => RejectionCode::$variant ),*
                }
            }
        }
    };
}

rejections! {
    AmountNotPositive => "amount_not_positive",
    /// Above [`Won::TRANSFER_MAX`], or a balance would overflow.
    AmountTooLarge => "amount_too_large",
    AccountNotFound { account: AccountId } => "account_not_found",
    AccountExists { account: AccountId } => "account_exists",
    AccountIdInvalid => "account_id_invalid",
    AccountKindMismatch { account: AccountId, expected: AccountKind, actual: AccountKind } => "account_kind_mismatch",
    AccountFrozen { account: AccountId } => "account_frozen",
    AccountClosed { account: AccountId } => "account_closed",
    /// Only an empty account with nothing held can be closed.
    AccountNotEmpty { account: AccountId } => "account_not_empty",
    SameAccount => "same_account",
    InsufficientFunds { account: AccountId, available: Won, requested: Won } => "insufficient_funds",
    /// The wallet holds enough in total, but not in sources this merchant or this
    /// operation accepts (or some of it has expired).
    InsufficientEligibleFunds { account: AccountId, eligible: Won, requested: Won } => "insufficient_eligible_funds",
    PendingNotAllowed { kind: TransferKind } => "pending_not_allowed",
    PendingTimeoutInvalid => "pending_timeout_invalid",
    /// The ledger already holds its maximum number of pending transfers.
    TooManyPending { max: u32 } => "too_many_pending",
    PendingNotFound { id: TransferId } => "pending_not_found",
    PendingAlreadyEnded { id: TransferId, end: PendingEnd } => "pending_already_ended",
    PostExceedsPending { id: TransferId, pending: Won } => "post_exceeds_pending",
    /// The payment is unknown, or older than the refund window the ledger keeps.
    PaymentNotFound { payment: TransferId } => "payment_not_found",
    RefundExceedsPayment { payment: TransferId, refundable: Won } => "refund_exceeds_payment",
    NothingToExpire { account: AccountId, at: Timestamp } => "nothing_to_expire",
    /// The same client and idempotency key were used before for a different command.
    IdempotencyKeyReused => "idempotency_key_reused",
    LinkedEmpty => "linked_empty",
    LinkedTooLong { max: u16 } => "linked_too_long",
    /// One transfer of a linked group failed, so none of them was applied.
    LinkedFailed { index: u16, cause: Box<Rejection> } => "linked_failed",
    /// Writes for this currency are stopped (by an operator, or after an invariant
    /// violation); reads go on. An operator must resume.
    CurrencyHalted => "currency_halted",
    /// The batch this command was in broke a ledger invariant; the whole batch was
    /// rolled back and the currency halted. Nothing of this command was applied.
    InvariantViolation => "invariant_violation",
    NotHalted => "not_halted",
    // ----- scheme rules (codes from here on are encoded with their details as postcard)
    /// No scheme version is in force yet for this currency.
    SchemeNotConfigured => "scheme_not_configured",
    SchemeInvalid { problem: Text } => "scheme_invalid",
    /// A new version may not apply before the latest version.
    SchemeEffectiveTooEarly { earliest: Timestamp } => "scheme_effective_too_early",
    SchemeVersionsFull { max: u32 } => "scheme_versions_full",
    CitizenNotRegistered { wallet: AccountId } => "citizen_not_registered",
    MerchantNotRegistered { merchant: AccountId } => "merchant_not_registered",
    /// The merchant cannot receive payments now; the reason says why.
    MerchantSuspended { merchant: AccountId, reason: SuspendReason } => "merchant_suspended",
    PurchasesClosed => "purchases_closed",
    /// Face value not a multiple of `unit`, or outside `min..=max`.
    PurchaseAmountInvalid { unit: Won, min: Won, max: Won } => "purchase_amount_invalid",
    ChannelUnknown { channel: u16 } => "channel_unknown",
    /// Today only citizens born in `allowed` years may buy.
    PurchaseWindowClosed { allowed: BirthYearParity } => "purchase_window_closed",
    MonthlyPurchaseLimit { limit: Won, used: Won } => "monthly_purchase_limit",
    ChannelMonthlyLimit { channel: u16, limit: Won, used: Won } => "channel_monthly_limit",
    YearlyPurchaseLimit { limit: Won, used: Won } => "yearly_purchase_limit",
    HoldingCap { cap: Won, holding: Won } => "holding_cap",
    /// The discount budget cannot pay the discount (spent, or at its ceiling); buying
    /// at full price is possible if the citizen accepts it.
    SubsidyBudgetExhausted { budget: AccountId, available: Won } => "subsidy_budget_exhausted",
    GiftsDisabled => "gifts_disabled",
    GiftsPausedToday => "gifts_paused_today",
    GiftSentMonthlyLimit { limit: Won, used: Won } => "gift_sent_monthly_limit",
    GiftReceivedMonthlyLimit { limit: Won, used: Won } => "gift_received_monthly_limit",
    PurchaseNotFound { purchase: TransferId } => "purchase_not_found",
    /// Confirm or fail a purchase that is no longer waiting for its bank.
    PurchaseNotPending { purchase: TransferId } => "purchase_not_pending",
    CancelWindowPassed { purchase: TransferId, until: Timestamp } => "cancel_window_passed",
    /// Part of the purchase was spent: only the balance refund applies now.
    PurchasePartlyUsed { purchase: TransferId, unused: Won } => "purchase_partly_used",
    RefundThresholdNotReached { used_bp: u16, required_bp: u16 } => "refund_threshold_not_reached",
    NothingToRefund { wallet: AccountId } => "nothing_to_refund",
    AutoChargeDisabled => "auto_charge_disabled",
    AutoChargeInvalid => "auto_charge_invalid",
    /// Only a posted purchase can be cancelled (a pending one is failed by its bank).
    PurchaseNotPosted { purchase: TransferId } => "purchase_not_posted",
    /// A charge for this wallet is still waiting for its bank; refund after it settles.
    ChargeInProgress { wallet: AccountId } => "charge_in_progress",
    /// This payment earned cash-back: refund it with the scheme's `RefundPayment`.
    SchemeRefundRequired { payment: TransferId } => "scheme_refund_required",
    /// `ConfirmRedemption` of a transfer that is not a pending redemption.
    NotARedemption { id: TransferId } => "not_a_redemption",
    /// Only the latest scheme version, before it comes into force, can be withdrawn.
    SchemeNotWithdrawable { version: u32 } => "scheme_not_withdrawable",
}

/// The first rejection code of the scheme layer, whose details the codec stores as
/// postcard rather than field by field.
pub(crate) const FIRST_SCHEME_CODE: RejectionCode = RejectionCode::SchemeNotConfigured;

impl Rejection {
    /// Rejections that describe a passing condition rather than the command itself are
    /// not remembered under the idempotency key, so a retry after it clears is judged
    /// afresh.
    pub const fn is_transient(&self) -> bool {
        matches!(
            self,
            Rejection::CurrencyHalted
                | Rejection::InvariantViolation
                | Rejection::TooManyPending { .. }
                | Rejection::SchemeNotConfigured
                | Rejection::PurchasesClosed
                | Rejection::PurchaseWindowClosed { .. }
                | Rejection::GiftsPausedToday
                | Rejection::ChargeInProgress { .. }
        )
    }
}

/// A broken ledger invariant: a bug, not a business answer. The batch is rolled back
/// and writes stop until an operator resumes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Violation {
    /// Within the batch, the balances of the accounts it touched did not net to zero.
    BatchNotBalanced { net: i128 },
    /// Pending debits and credits created or ended in the batch did not match.
    PendingNotBalanced { net: i128 },
    /// An account that must never be negative is (after what it holds for pending
    /// transfers).
    Negative {
        account: AccountId,
        kind: AccountKind,
        available: i128,
    },
    /// A wallet's lots do not add up to what it can spend.
    LotsMismatch {
        account: AccountId,
        lots: i128,
        available: i128,
    },
    /// A rule posted a transfer between accounts of the wrong kinds (for instance a
    /// payment crediting a wallet).
    WrongDirection {
        kind: TransferKind,
        debit: AccountKind,
        credit: AccountKind,
    },
    /// A total overflowed where the rules had checked that it could not.
    Arithmetic,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::BatchNotBalanced { net } => {
                write!(f, "balances changed by the batch net to {net}, not 0")
            }
            Violation::PendingNotBalanced { net } => {
                write!(f, "pending debits and credits differ by {net}")
            }
            Violation::Negative {
                account,
                kind,
                available,
            } => write!(
                f,
                "{account} ({}) would have {available} available; it may never be negative",
                kind.as_str()
            ),
            Violation::LotsMismatch {
                account,
                lots,
                available,
            } => write!(
                f,
                "{account}: lots total {lots} but {available} is available"
            ),
            Violation::WrongDirection {
                kind,
                debit,
                credit,
            } => write!(
                f,
                "a {} transfer debited a {} and credited a {}",
                kind.as_str(),
                debit.as_str(),
                credit.as_str()
            ),
            Violation::Arithmetic => f.write_str("an account total overflowed"),
        }
    }
}
