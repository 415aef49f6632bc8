//! Commands: what a client asks the ledger to do. Every command travels in an
//! [`Envelope`] with its client and idempotency key.

use crate::account::{AccountKind, AccountState, SourceSet};
use crate::ids::{
    AccountId, BudgetId, ClearingId, ClientId, FeeId, IdempotencyKey, MerchantId, ReserveId, Text,
    TransferId, WalletId,
};
use crate::money::{Timestamp, Won};
use crate::scheme::SchemeCommand;

/// The kinds of transfer. Each fixes the kind of account it debits and the kind it
/// credits; this table is the one place that says so, and `ARCHITECTURE.md` prints it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum TransferKind {
    Charge = 1,
    Subsidy = 2,
    Cashback = 3,
    Allowance = 4,
    BudgetFunding = 5,
    Payment = 6,
    PaymentRefund = 7,
    Gift = 8,
    Redemption = 9,
    Settlement = 10,
    CashRefund = 11,
    SubsidyReturn = 12,
    Expiry = 13,
    Fee = 14,
    Correction = 15,
}

impl TransferKind {
    pub const ALL: [TransferKind; 15] = [
        TransferKind::Charge,
        TransferKind::Subsidy,
        TransferKind::Cashback,
        TransferKind::Allowance,
        TransferKind::BudgetFunding,
        TransferKind::Payment,
        TransferKind::PaymentRefund,
        TransferKind::Gift,
        TransferKind::Redemption,
        TransferKind::Settlement,
        TransferKind::CashRefund,
        TransferKind::SubsidyReturn,
        TransferKind::Expiry,
        TransferKind::Fee,
        TransferKind::Correction,
    ];

    /// `(debited kind, credited kind)`. `None` means any kind: only an auditor's
    /// correction may move money between arbitrary accounts, and it names the auditor.
    pub const fn legs(self) -> (Option<AccountKind>, Option<AccountKind>) {
        use AccountKind::*;
        match self {
            TransferKind::Charge => (Some(IssuerReserve), Some(CitizenWallet)),
            TransferKind::Subsidy => (Some(SubsidyBudget), Some(CitizenWallet)),
            TransferKind::Cashback => (Some(SubsidyBudget), Some(CitizenWallet)),
            TransferKind::Allowance => (Some(SubsidyBudget), Some(CitizenWallet)),
            TransferKind::BudgetFunding => (Some(IssuerReserve), Some(SubsidyBudget)),
            TransferKind::Payment => (Some(CitizenWallet), Some(Merchant)),
            TransferKind::PaymentRefund => (Some(Merchant), Some(CitizenWallet)),
            TransferKind::Gift => (Some(CitizenWallet), Some(CitizenWallet)),
            TransferKind::Redemption => (Some(Merchant), Some(SettlementClearing)),
            TransferKind::Settlement => (Some(SettlementClearing), Some(IssuerReserve)),
            TransferKind::CashRefund => (Some(CitizenWallet), Some(SettlementClearing)),
            TransferKind::SubsidyReturn => (Some(CitizenWallet), Some(SubsidyBudget)),
            TransferKind::Expiry => (Some(CitizenWallet), Some(IssuerReserve)),
            TransferKind::Fee => (Some(Merchant), Some(Fees)),
            TransferKind::Correction => (None, None),
        }
    }

    /// Whether the transfer may be created pending (funds held, posted or voided later).
    /// Refunds, expiry and corrections are immediate: they settle something that
    /// already happened.
    pub const fn may_be_pending(self) -> bool {
        !matches!(
            self,
            TransferKind::PaymentRefund | TransferKind::Expiry | TransferKind::Correction
        )
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            TransferKind::Charge => "charge",
            TransferKind::Subsidy => "subsidy",
            TransferKind::Cashback => "cashback",
            TransferKind::Allowance => "allowance",
            TransferKind::BudgetFunding => "budget_funding",
            TransferKind::Payment => "payment",
            TransferKind::PaymentRefund => "payment_refund",
            TransferKind::Gift => "gift",
            TransferKind::Redemption => "redemption",
            TransferKind::Settlement => "settlement",
            TransferKind::CashRefund => "cash_refund",
            TransferKind::SubsidyReturn => "subsidy_return",
            TransferKind::Expiry => "expiry",
            TransferKind::Fee => "fee",
            TransferKind::Correction => "correction",
        }
    }

    pub fn from_u8(n: u8) -> Option<TransferKind> {
        TransferKind::ALL.into_iter().find(|k| *k as u8 == n)
    }
}

/// How value credited to a wallet is labelled: the scheme's tag and when it expires.
/// The source itself follows from the transfer kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LotSpec {
    pub tag: u16,
    pub expires_at: Timestamp,
}

/// One transfer, with its accounts typed by kind.
///
/// There is no variant that debits a merchant for a wallet's benefit except a refund of
/// a recorded payment, and a refund names only the payment (the ledger takes the
/// accounts from it), so "a payment that credits the payer" cannot be written:
///
/// ```compile_fail,E0308
/// use ledger::{MerchantId, TransferSpec, WalletId, Won};
/// let citizen = WalletId::new(1);
/// let shop = MerchantId::new(2);
/// // The Buyeo fault: the payer and the merchant swapped. Does not compile: the payer
/// // must be a WalletId and the merchant a MerchantId.
/// let _ = TransferSpec::Payment { payer: shop, merchant: citizen, amount: Won::new(7_000) };
/// ```
///
/// ```
/// use ledger::{MerchantId, TransferSpec, WalletId, Won};
/// let citizen = WalletId::new(1);
/// let shop = MerchantId::new(2);
/// let _ = TransferSpec::Payment { payer: citizen, merchant: shop, amount: Won::new(7_000) };
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TransferSpec {
    /// Value bought by a citizen, issued from the reserve.
    Charge {
        reserve: ReserveId,
        wallet: WalletId,
        amount: Won,
        lot: LotSpec,
    },
    /// The discount part of a purchase, paid from a subsidy budget.
    Subsidy {
        budget: BudgetId,
        wallet: WalletId,
        amount: Won,
        lot: LotSpec,
    },
    /// Cash-back on a payment, paid from a budget.
    Cashback {
        budget: BudgetId,
        wallet: WalletId,
        amount: Won,
        lot: LotSpec,
    },
    /// Policy money (allowances, aid) paid from a budget.
    Allowance {
        budget: BudgetId,
        wallet: WalletId,
        amount: Won,
        lot: LotSpec,
    },
    /// The municipality funds a budget.
    BudgetFunding {
        reserve: ReserveId,
        budget: BudgetId,
        amount: Won,
    },
    /// A citizen pays a merchant, drawing only from sources the merchant accepts.
    Payment {
        payer: WalletId,
        merchant: MerchantId,
        amount: Won,
    },
    /// A merchant cancels or refunds (part of) a recorded payment; the accounts are the
    /// payment's own, and the total refunded never exceeds the payment.
    PaymentRefund { payment: TransferId, amount: Won },
    /// A citizen gives value to another, from the given sources only.
    Gift {
        sender: WalletId,
        recipient: WalletId,
        amount: Won,
        sources: SourceSet,
    },
    /// A merchant redeems its balance towards its bank account.
    Redemption {
        merchant: MerchantId,
        clearing: ClearingId,
        amount: Won,
    },
    /// Clearing settled with the bank: the value leaves circulation.
    Settlement {
        clearing: ClearingId,
        reserve: ReserveId,
        amount: Won,
    },
    /// A citizen's remaining balance refunded in cash, from the given sources.
    CashRefund {
        wallet: WalletId,
        clearing: ClearingId,
        amount: Won,
        sources: SourceSet,
    },
    /// The subsidy share of a refunded balance goes back to its budget.
    SubsidyReturn {
        wallet: WalletId,
        budget: BudgetId,
        amount: Won,
        sources: SourceSet,
    },
    /// Every lot of the wallet whose validity ended at or before the batch's time is
    /// expired into the issuer. The amount is what was expired.
    Expiry {
        wallet: WalletId,
        reserve: ReserveId,
    },
    /// A merchant pays a fee to the operator.
    Fee {
        merchant: MerchantId,
        fees: FeeId,
        amount: Won,
    },
    /// An auditor moves money between any two accounts to correct an error. The
    /// auditor and the reason are journaled; every non-negativity rule still holds.
    Correction {
        debit: AccountId,
        credit: AccountId,
        amount: Won,
        auditor: Text,
        reason: Text,
        /// Used only when the credited account is a wallet.
        lot: LotSpec,
    },
}

impl TransferSpec {
    /// The accounts the transfer names directly (a refund names only its payment).
    pub fn named_accounts(&self) -> [Option<AccountId>; 2] {
        let two = |a: AccountId, b: AccountId| [Some(a), Some(b)];
        match self {
            TransferSpec::Charge {
                reserve, wallet, ..
            } => two(reserve.0, wallet.0),
            TransferSpec::Subsidy { budget, wallet, .. }
            | TransferSpec::Cashback { budget, wallet, .. }
            | TransferSpec::Allowance { budget, wallet, .. } => two(budget.0, wallet.0),
            TransferSpec::BudgetFunding {
                reserve, budget, ..
            } => two(reserve.0, budget.0),
            TransferSpec::Payment {
                payer, merchant, ..
            } => two(payer.0, merchant.0),
            TransferSpec::PaymentRefund { .. } => [None, None],
            TransferSpec::Gift {
                sender, recipient, ..
            } => two(sender.0, recipient.0),
            TransferSpec::Redemption {
                merchant, clearing, ..
            } => two(merchant.0, clearing.0),
            TransferSpec::Settlement {
                clearing, reserve, ..
            } => two(clearing.0, reserve.0),
            TransferSpec::CashRefund {
                wallet, clearing, ..
            } => two(wallet.0, clearing.0),
            TransferSpec::SubsidyReturn { wallet, budget, .. } => two(wallet.0, budget.0),
            TransferSpec::Expiry { wallet, reserve } => two(wallet.0, reserve.0),
            TransferSpec::Fee { merchant, fees, .. } => two(merchant.0, fees.0),
            TransferSpec::Correction { debit, credit, .. } => two(*debit, *credit),
        }
    }

    /// The amount the transfer names; `None` for an expiry, whose amount is decided
    /// when it is applied.
    pub const fn amount(&self) -> Option<Won> {
        match self {
            TransferSpec::Charge { amount, .. }
            | TransferSpec::Subsidy { amount, .. }
            | TransferSpec::Cashback { amount, .. }
            | TransferSpec::Allowance { amount, .. }
            | TransferSpec::BudgetFunding { amount, .. }
            | TransferSpec::Payment { amount, .. }
            | TransferSpec::PaymentRefund { amount, .. }
            | TransferSpec::Gift { amount, .. }
            | TransferSpec::Redemption { amount, .. }
            | TransferSpec::Settlement { amount, .. }
            | TransferSpec::CashRefund { amount, .. }
            | TransferSpec::SubsidyReturn { amount, .. }
            | TransferSpec::Fee { amount, .. }
            | TransferSpec::Correction { amount, .. } => Some(*amount),
            TransferSpec::Expiry { .. } => None,
        }
    }

    pub const fn kind(&self) -> TransferKind {
        match self {
            TransferSpec::Charge { .. } => TransferKind::Charge,
            TransferSpec::Subsidy { .. } => TransferKind::Subsidy,
            TransferSpec::Cashback { .. } => TransferKind::Cashback,
            TransferSpec::Allowance { .. } => TransferKind::Allowance,
            TransferSpec::BudgetFunding { .. } => TransferKind::BudgetFunding,
            TransferSpec::Payment { .. } => TransferKind::Payment,
            TransferSpec::PaymentRefund { .. } => TransferKind::PaymentRefund,
            TransferSpec::Gift { .. } => TransferKind::Gift,
            TransferSpec::Redemption { .. } => TransferKind::Redemption,
            TransferSpec::Settlement { .. } => TransferKind::Settlement,
            TransferSpec::CashRefund { .. } => TransferKind::CashRefund,
            TransferSpec::SubsidyReturn { .. } => TransferKind::SubsidyReturn,
            TransferSpec::Expiry { .. } => TransferKind::Expiry,
            TransferSpec::Fee { .. } => TransferKind::Fee,
            TransferSpec::Correction { .. } => TransferKind::Correction,
        }
    }
}

/// Posted at once, or pending: funds held until posted, voided, or expired when the
/// journal's time passes `timeout_us` after the batch that created it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Posted,
    Pending { timeout_us: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Transfer {
    pub spec: TransferSpec,
    pub mode: Mode,
}

impl Transfer {
    pub fn posted(spec: TransferSpec) -> Transfer {
        Transfer {
            spec,
            mode: Mode::Posted,
        }
    }

    pub fn pending(spec: TransferSpec, timeout_us: u64) -> Transfer {
        Transfer {
            spec,
            mode: Mode::Pending { timeout_us },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    OpenAccount {
        account: AccountId,
        kind: AccountKind,
        accepts: SourceSet,
    },
    SetAccountState {
        account: AccountId,
        state: AccountState,
    },
    /// Change which sources a merchant accepts.
    SetAccepts {
        merchant: MerchantId,
        accepts: SourceSet,
    },
    Transfer(Transfer),
    /// Transfers that all succeed or all fail (a discounted charge: the paid part and
    /// the subsidy part). At most [`crate::LINKED_TRANSFERS_MAX`].
    Linked(Vec<Transfer>),
    /// Post a pending transfer, in full (`None`) or in part.
    PostPending {
        pending: TransferId,
        amount: Option<Won>,
    },
    VoidPending {
        pending: TransferId,
    },
    /// An operator stops all writes for this currency (reads go on).
    Halt {
        operator: Text,
        reason: Text,
    },
    /// An operator resumes writes after a halt, including one the ledger imposed itself
    /// after an invariant violation.
    Resume {
        operator: Text,
    },
    /// A scheme-rule command (purchase with discount, pay with cash-back, gift,
    /// refunds, configuration). Boxed: most commands are plain transfers.
    Scheme(Box<SchemeCommand>),
    /// Value or a statement brought over from a previous operator's system: the
    /// transfers (all or none, as `Linked`; none is a journaled statement, such as an
    /// operator's sign-off on a control-total difference) and where they came from
    /// (file, line, the old system's id), so every migrated won has its provenance in
    /// the journal.
    Migrated {
        note: Text,
        transfers: Vec<Transfer>,
    },
}

/// A command with who sent it and its idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Envelope {
    pub client: ClientId,
    pub key: IdempotencyKey,
    pub command: Command,
}
