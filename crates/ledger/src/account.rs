//! Accounts: kind, state, balances, and for citizen wallets the value held by source.

use smallvec::SmallVec;

use crate::ids::AccountId;
use crate::money::{Timestamp, Won};

/// What an account is for. Each transfer kind fixes which kind is debited and which is
/// credited (see [`crate::TransferKind::legs`]).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum AccountKind {
    CitizenWallet = 1,
    Merchant = 2,
    IssuerReserve = 3,
    SubsidyBudget = 4,
    SettlementClearing = 5,
    Fees = 6,
}

impl AccountKind {
    pub const ALL: [AccountKind; 6] = [
        AccountKind::CitizenWallet,
        AccountKind::Merchant,
        AccountKind::IssuerReserve,
        AccountKind::SubsidyBudget,
        AccountKind::SettlementClearing,
        AccountKind::Fees,
    ];

    /// Every account except the issuer's reserve must keep `balance - held >= 0`.
    /// The reserve is where issuance comes from: its balance is minus all value issued.
    pub const fn may_go_negative(self) -> bool {
        matches!(self, AccountKind::IssuerReserve)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            AccountKind::CitizenWallet => "citizen_wallet",
            AccountKind::Merchant => "merchant",
            AccountKind::IssuerReserve => "issuer_reserve",
            AccountKind::SubsidyBudget => "subsidy_budget",
            AccountKind::SettlementClearing => "settlement_clearing",
            AccountKind::Fees => "fees",
        }
    }

    pub fn from_u8(n: u8) -> Option<AccountKind> {
        AccountKind::ALL.into_iter().find(|k| *k as u8 == n)
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[repr(u8)]
pub enum AccountState {
    Active = 1,
    /// No money moves in or out (except an auditor's correction) until unfrozen.
    Frozen = 2,
    /// Final. Only an account with nothing in it and nothing held can be closed.
    Closed = 3,
}

impl AccountState {
    pub fn from_u8(n: u8) -> Option<AccountState> {
        [
            AccountState::Active,
            AccountState::Frozen,
            AccountState::Closed,
        ]
        .into_iter()
        .find(|s| *s as u8 == n)
    }
}

/// Where a won in a wallet came from. Each source has its own expiry and its own merchant
/// eligibility; the scheme decides which merchants accept which sources and in which
/// order sources are spent.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum Source {
    /// Bought by the citizen (including the discount subsidy that came with it).
    Purchased = 0,
    /// Policy money: farmer allowance, disaster aid, youth allowance.
    Allowance = 1,
    /// Cash-back earned on payments.
    Cashback = 2,
    /// Received as a gift from another citizen.
    Gift = 3,
    /// Credited by an auditor's correction.
    Correction = 4,
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::Purchased,
        Source::Allowance,
        Source::Cashback,
        Source::Gift,
        Source::Correction,
    ];

    pub fn from_u8(n: u8) -> Option<Source> {
        Source::ALL.into_iter().find(|s| *s as u8 == n)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Purchased => "purchased",
            Source::Allowance => "allowance",
            Source::Cashback => "cashback",
            Source::Gift => "gift",
            Source::Correction => "correction",
        }
    }
}

/// A set of sources, e.g. the sources a merchant accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SourceSet(u8);

impl SourceSet {
    pub const ALL: SourceSet = SourceSet(0b1_1111);
    pub const NONE: SourceSet = SourceSet(0);

    pub const fn of(sources: &[Source]) -> SourceSet {
        let mut bits = 0u8;
        let mut i = 0;
        while i < sources.len() {
            bits |= 1 << sources[i] as u8;
            i += 1;
        }
        SourceSet(bits)
    }

    pub const fn contains(self, s: Source) -> bool {
        self.0 & (1 << s as u8) != 0
    }

    pub const fn intersect(self, other: SourceSet) -> SourceSet {
        SourceSet(self.0 & other.0)
    }

    pub const fn without(self, s: Source) -> SourceSet {
        SourceSet(self.0 & !(1 << s as u8))
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    /// `None` if unknown bits are set (input from outside).
    pub const fn from_bits(bits: u8) -> Option<SourceSet> {
        if bits & !Self::ALL.0 != 0 {
            None
        } else {
            Some(SourceSet(bits))
        }
    }
}

/// A parcel of value in a wallet: same source, same scheme tag, same expiry.
///
/// `tag` is the scheme's own sub-source (a purchase channel, a policy programme) so that
/// rules like "only bank-bought value may be gifted" can be expressed later without a
/// new ledger type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lot {
    pub source: Source,
    pub tag: u16,
    pub expires_at: Timestamp,
    pub amount: Won,
}

/// The inline capacity chosen so that a typical wallet (one or two sources) needs no heap.
pub type Lots = SmallVec<[Lot; 2]>;

/// An account's balances, TigerBeetle style: posted and pending totals on each side.
///
/// `balance = credits_posted - debits_posted`; what can still be spent is
/// `balance - debits_pending`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub kind: AccountKind,
    pub state: AccountState,
    /// For merchants: which sources they accept. Ignored for other kinds.
    pub accepts: SourceSet,
    pub debits_posted: Won,
    pub credits_posted: Won,
    pub debits_pending: Won,
    pub credits_pending: Won,
    /// Citizen wallets only: the spendable value by source, in spending order. The sum
    /// always equals `balance - debits_pending` (held value is carried by the pending
    /// transfer itself).
    pub lots: Lots,
}

impl Account {
    pub fn new(id: AccountId, kind: AccountKind, accepts: SourceSet) -> Account {
        Account {
            id,
            kind,
            state: AccountState::Active,
            accepts,
            debits_posted: Won::ZERO,
            credits_posted: Won::ZERO,
            debits_pending: Won::ZERO,
            credits_pending: Won::ZERO,
            lots: Lots::new(),
        }
    }

    /// Posted balance. `None` only if the totals themselves overflowed, which the
    /// transfer rules make impossible (each total is checked when it grows).
    pub fn balance(&self) -> Option<Won> {
        self.credits_posted.checked_sub(self.debits_posted)
    }

    /// What can be spent now: posted balance less what is held by pending debits.
    pub fn available(&self) -> Option<Won> {
        self.balance()?.checked_sub(self.debits_pending)
    }

    pub fn lots_total(&self) -> Option<Won> {
        self.lots
            .iter()
            .try_fold(Won::ZERO, |acc, lot| acc.checked_add(lot.amount))
    }
}
