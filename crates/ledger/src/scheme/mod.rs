//! Voucher-scheme rules, decided inside the deterministic core so that replay and
//! verification cover them: discounts and cash-back from budgets, per-person limits,
//! purchase windows, money by source, merchant eligibility, gifts, refunds, auto-charge.
//!
//! The rules are data ([`SchemeConfig`], versioned with an effective time); the state
//! they need (per-citizen counters, merchant profiles, budget usage, purchase records)
//! lives in [`SchemeState`], changed only through the ledger's undo log and folded into
//! the state hash. The commands are [`SchemeCommand`]s; `state/scheme_exec.rs` applies
//! them by composing the ledger's typed transfers, so every won still moves through
//! the same direction-checked postings.

mod by_account;
pub mod calendar;
mod config;

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

pub use config::{
    AutoChargeRules, BP_ONE, BasisPoints, BirthYearParity, BudgetCeiling, CashbackRules, Channel,
    GiftRules, MerchantRules, PurchaseRules, PurchaseWindow, RefundRules, RevenueBand,
    SCHEME_LIST_MAX, SchemeConfig, SchemeConfigError, SourceRule,
};

use crate::account::SourceSet;
use crate::ids::{AccountId, MerchantId, Text, TransferId, WalletId};
use crate::money::{Timestamp, Won};
use crate::outcome::TransferStatus;
pub(crate) use by_account::ByAccount;
use calendar::KstDate;

/// At most this many scheme versions per currency (a change a day for 27 years).
pub const SCHEME_VERSIONS_MAX: usize = 10_000;
/// At most this many purchase records are kept for cancellation and confirmation.
pub const PURCHASE_RECORDS_MAX: usize = 5_000_000;

/// One version of a currency's scheme. Versions are never removed: what applied when
/// stays readable.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchemeVersion {
    /// 1, 2, 3, ...
    pub number: u32,
    pub effective_at: Timestamp,
    pub set_at: Timestamp,
    pub operator: Text,
    pub config: SchemeConfig,
}

/// What the scheme knows about a citizen: the birth year (for purchase windows; the
/// only personal datum the ledger holds) and this month's and year's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CitizenProfile {
    pub birth_year: u16,
    /// The KST month ([`KstDate::month_index`]) the monthly counters are for.
    pub month: u32,
    /// The KST year the yearly counter is for.
    pub year: i32,
    pub purchased_month: Won,
    /// Face value bought this month per channel, sorted by channel.
    pub purchased_by_channel: Vec<(u16, Won)>,
    pub purchased_year: Won,
    pub gift_sent_month: Won,
    pub gift_received_month: Won,
    /// Spend this month that earned cash-back, and the cash-back it earned.
    pub cashback_spend_month: Won,
    pub cashback_month: Won,
    /// Bought value (face) since the last balance refund: the base of the "refund once
    /// 60% is used" rule...
    pub face_loaded: Won,
    /// ...and the subsidy that came with it, by the budget that paid it (sorted), so
    /// that a refund returns each budget its own share.
    pub subsidy_loaded: Vec<(AccountId, Won)>,
    pub auto_charge: Option<AutoChargeSetting>,
    pub auto_charge_status: Option<AutoChargeStatus>,
}

impl CitizenProfile {
    /// Resets the counters of a month or year that has ended.
    pub(crate) fn roll(&mut self, today: KstDate) {
        let month = today.month_index();
        if self.month != month {
            self.month = month;
            self.purchased_month = Won::ZERO;
            self.purchased_by_channel.clear();
            self.gift_sent_month = Won::ZERO;
            self.gift_received_month = Won::ZERO;
            self.cashback_spend_month = Won::ZERO;
            self.cashback_month = Won::ZERO;
        }
        if self.year != today.year {
            self.year = today.year;
            self.purchased_year = Won::ZERO;
        }
    }

    pub fn purchased_on_channel(&self, channel: u16) -> Won {
        self.purchased_by_channel
            .iter()
            .find(|(c, _)| *c == channel)
            .map_or(Won::ZERO, |(_, w)| *w)
    }
}

/// A citizen's standing order to charge monthly, and to top up a shortfall at payment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AutoChargeSetting {
    /// Day of the KST month, 1..=28.
    pub day: u8,
    /// Face value bought each month (0: no monthly charge, top-up only).
    pub monthly_face: Won,
    pub channel: u16,
    /// Buy the shortfall when a payment finds the wallet short.
    pub topup: bool,
}

/// The last monthly auto-charge: what the citizen is shown and what decides a retry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AutoChargeStatus {
    pub month: u32,
    pub attempts: u8,
    pub at: Timestamp,
    pub result: AutoChargeResult,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AutoChargeResult {
    Charged {
        purchase: TransferId,
    },
    /// Sent; the bank's answer is not known yet. Never retried while so: the sweep
    /// settles the purchase, and the next run records how it ended.
    Pending {
        purchase: TransferId,
    },
    /// The stable code of the failure (e.g. `insufficient_funds` from the bank, or a
    /// scheme limit) and when it will be tried again, if it will.
    Failed {
        code: Text,
        next_attempt_at: Option<Timestamp>,
    },
}

/// Why a merchant cannot receive payments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SuspendReason {
    /// An operator suspended it (the reason is in the merchant's profile).
    Operator,
    /// Its annual revenue is over the scheme's cap.
    RevenueOverCap,
    /// Its category is excluded from the scheme.
    CategoryExcluded,
}

impl SuspendReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            SuspendReason::Operator => "operator",
            SuspendReason::RevenueOverCap => "revenue_over_cap",
            SuspendReason::CategoryExcluded => "category_excluded",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MerchantProfile {
    /// MCC or the scheme's own category number.
    pub category: u16,
    /// As judged from card-fee tier data; re-checked periodically by the operator.
    pub annual_revenue: AnnualRevenue,
    pub operator_suspension: Option<Text>,
}

/// A merchant's annual revenue as the scheme rules read it: known, or not known yet
/// (a registry file whose revenue column could not be understood, a band that
/// straddles the scheme's bands). Unknown revenue gets the least generous answer of
/// every rule that pays out because of revenue: the lowest cash-back rate of the
/// scheme's bands, and none of the sources reserved for merchants under a revenue cap.
/// It does not suspend the merchant: whether it may be paid is the operator's approval.
///
/// Encoded exactly as the `Won` it replaced (a known revenue has the same bytes, so
/// journals and state hashes written before it are unchanged); unknown is `i64::MIN`,
/// a value no revenue ever had (a negative revenue was always refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnnualRevenue {
    Known(Won),
    Unknown,
}

impl AnnualRevenue {
    const UNKNOWN_WIRE: i64 = i64::MIN;

    pub fn known(self) -> Option<Won> {
        match self {
            AnnualRevenue::Known(w) => Some(w),
            AnnualRevenue::Unknown => None,
        }
    }

    /// Whether the revenue is known to be over `cap` (unknown is not).
    pub fn is_over(self, cap: Won) -> bool {
        self.known().is_some_and(|w| w > cap)
    }
}

impl From<Won> for AnnualRevenue {
    fn from(w: Won) -> AnnualRevenue {
        AnnualRevenue::Known(w)
    }
}

impl Serialize for AnnualRevenue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            AnnualRevenue::Known(w) => w.serialize(s),
            AnnualRevenue::Unknown => s.serialize_i64(Self::UNKNOWN_WIRE),
        }
    }
}

impl<'de> Deserialize<'de> for AnnualRevenue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<AnnualRevenue, D::Error> {
        let v = i64::deserialize(d)?;
        Ok(if v == Self::UNKNOWN_WIRE {
            AnnualRevenue::Unknown
        } else {
            AnnualRevenue::Known(Won::new(v))
        })
    }
}

/// What a budget has paid out under the scheme (net of subsidy returned).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BudgetUsage {
    pub month: u32,
    pub spent_month: Won,
    pub spent_total: Won,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PurchaseState {
    /// The bank is being asked; the value is held pending.
    Pending,
    Posted,
    Failed,
    Cancelled,
}

/// A purchase, kept for its cancel window (and while the bank is asked).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PurchaseRecord {
    /// The charge transfer's id is the purchase's id.
    pub charge: TransferId,
    pub subsidy: Option<TransferId>,
    pub wallet: AccountId,
    pub channel: u16,
    pub face: Won,
    pub paid: Won,
    pub discount: Won,
    pub budget: Option<AccountId>,
    pub at: Timestamp,
    /// The lot the purchase created: tag = channel, this expiry.
    pub expires_at: Timestamp,
    pub state: PurchaseState,
}

/// What a purchase would be, decided by the very code that makes it
/// (`Ledger::quote_purchase`), without making it: what is paid from the bank, the
/// discount, and the limits it counts against with what was bought before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurchaseQuote {
    pub face: Won,
    pub paid: Won,
    pub discount: Won,
    /// The discount budget is spent and the citizen accepted the full price.
    pub discount_withheld: bool,
    pub monthly_limit: Option<Won>,
    /// Face value bought this KST month before this purchase.
    pub purchased_month: Won,
    pub yearly_limit: Option<Won>,
    pub purchased_year: Won,
    pub channel_limit: Option<Won>,
    pub purchased_on_channel: Won,
    pub holding_cap: Option<Won>,
    /// What the wallet holds now, value on its way in included.
    pub holding: Won,
}

/// What cancelling a purchase would give back (`Ledger::quote_cancel_purchase`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelQuote {
    pub purchase: TransferId,
    pub wallet: AccountId,
    pub face: Won,
    /// Paid back to the citizen's bank: what they paid.
    pub cash: Won,
    /// The discount, back to the budget that paid it.
    pub subsidy: Won,
    /// The purchase can be cancelled until then.
    pub until: Timestamp,
}

/// What a balance refund would give back (`Ledger::quote_refund_balance`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceRefundQuote {
    /// Bought value left in the wallet: all of it leaves the wallet.
    pub remaining: Won,
    /// Paid to the citizen's bank.
    pub cash: Won,
    /// The subsidy share of what is left, back to the budgets that paid it.
    pub subsidy: Won,
    pub shares: Vec<(AccountId, Won)>,
}

/// A payment that earned cash-back (or counted towards the monthly cap), kept for the
/// ledger's refund window so that a refund takes the cash-back back with it (a
/// pay-and-refund loop must not farm cash-back).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CashbackRecord {
    pub payment: TransferId,
    pub payer: AccountId,
    pub amount: Won,
    pub refunded: Won,
    pub cashback: Won,
    /// Cash-back taken back so far.
    pub clawed: Won,
    /// Spend counted towards the monthly cap.
    pub counted: Won,
    pub budget: AccountId,
    pub at: Timestamp,
}

/// A cash refund on its way to a citizen's bank: the pending settlement out of clearing
/// that the bank edge pays, opened in the same command as the refund so that no crash
/// can leave a refund without its payout.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PayoutRecord {
    pub payout: TransferId,
    pub wallet: AccountId,
    pub amount: Won,
    pub at: Timestamp,
}

/// Commands of the scheme layer. They compose the ledger's typed transfers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SchemeCommand {
    /// A new version of the rules, applying from `effective_at` (a time already past
    /// means from the batch's time; never before the latest version's).
    SetScheme {
        config: Box<SchemeConfig>,
        effective_at: Timestamp,
        operator: Text,
    },
    RegisterCitizen {
        wallet: WalletId,
        birth_year: u16,
    },
    /// Category and annual revenue; eligibility follows from the scheme's rules.
    SetMerchantProfile {
        merchant: MerchantId,
        category: u16,
        annual_revenue: AnnualRevenue,
    },
    SuspendMerchant {
        merchant: MerchantId,
        reason: Text,
    },
    ReinstateMerchant {
        merchant: MerchantId,
    },
    /// Buy `face` won of vouchers through `channel`. With `pending_timeout_us` the value
    /// is held pending while the bank is asked (then `ConfirmPurchase`/`FailPurchase`);
    /// without, the bank has already paid. If the discount budget cannot pay the
    /// discount, the purchase is refused unless `full_price_ok`.
    Purchase {
        wallet: WalletId,
        face: Won,
        channel: u16,
        full_price_ok: bool,
        pending_timeout_us: Option<u64>,
    },
    ConfirmPurchase {
        purchase: TransferId,
    },
    FailPurchase {
        purchase: TransferId,
    },
    /// Cancel an unused purchase within its window: what was paid goes back in cash,
    /// the discount to its budget. With `payout_timeout_us`, the payout to the citizen's
    /// bank is opened pending in the same command.
    CancelPurchase {
        purchase: TransferId,
        payout_timeout_us: Option<u64>,
    },
    /// Pay a merchant under the scheme's eligibility rules, earning cash-back.
    Pay {
        payer: WalletId,
        merchant: MerchantId,
        amount: Won,
    },
    /// A merchant cancels or refunds (part of) a scheme payment: the value goes back to
    /// the payer's lots, and the cash-back it earned goes back to its budget in
    /// proportion (as far as the payer still holds cash-back).
    RefundPayment {
        payment: TransferId,
        amount: Won,
    },
    Gift {
        sender: WalletId,
        recipient: WalletId,
        amount: Won,
    },
    /// Refund the remaining bought value once enough of it was used; the subsidy share
    /// goes back to its budget. `payout_timeout_us` as for `CancelPurchase`.
    RefundBalance {
        wallet: WalletId,
        payout_timeout_us: Option<u64>,
    },
    /// The bank paid a merchant's pending redemption: post it and take the value out of
    /// circulation (clearing → reserve), both or neither.
    ConfirmRedemption {
        redemption: TransferId,
    },
    SetAutoCharge {
        wallet: WalletId,
        setting: Option<AutoChargeSetting>,
    },
    /// The result of a monthly auto-charge attempt, so that the citizen is told and the
    /// retry policy has a durable record.
    RecordAutoCharge {
        wallet: WalletId,
        month: u32,
        result: AutoChargeResult,
    },
    /// Withdraws the latest scheme version before it comes into force (a version set
    /// by mistake, for instance far in the future, which would otherwise refuse every
    /// later version). Versions in force are never withdrawn: they decided money.
    WithdrawScheme {
        version: u32,
        operator: Text,
    },
}

/// Why cash-back was less than the rate alone would give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CashbackNote {
    /// The merchant's revenue band earns no cash-back.
    NoRateForMerchant,
    MonthlySpendCapReached,
    MonthlyCashbackCapReached,
    /// The budget (or its ceiling) ran out: first come, first served.
    BudgetExhausted,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SchemeApplied {
    SchemeSet {
        version: u32,
        /// When it applies (the batch's time if the one asked for had passed).
        effective_at: Timestamp,
    },
    CitizenRegistered,
    MerchantProfileSet {
        suspended: Option<SuspendReason>,
    },
    MerchantSuspended,
    MerchantReinstated {
        suspended: Option<SuspendReason>,
    },
    Purchased {
        charge: TransferId,
        subsidy: Option<TransferId>,
        face: Won,
        paid: Won,
        discount: Won,
        status: TransferStatus,
        /// The discount budget could not pay, and the citizen accepted full price.
        discount_withheld: bool,
    },
    PurchaseConfirmed {
        purchase: TransferId,
    },
    PurchaseFailed {
        purchase: TransferId,
    },
    PurchaseCancelled {
        purchase: TransferId,
        cash_transfer: TransferId,
        cash: Won,
        subsidy_transfer: Option<TransferId>,
        subsidy: Won,
        payout: Option<TransferId>,
    },
    Paid {
        payment: TransferId,
        amount: Won,
        cashback: Won,
        cashback_transfer: Option<TransferId>,
        cashback_note: Option<CashbackNote>,
    },
    PaymentRefunded {
        refund: TransferId,
        amount: Won,
        cashback_returned: Won,
        /// Cash-back due back that the payer had already spent.
        cashback_unrecovered: Won,
    },
    Gifted {
        gift: TransferId,
        amount: Won,
    },
    BalanceRefunded {
        cash_transfer: Option<TransferId>,
        cash: Won,
        /// The first subsidy return (one per budget that paid subsidy).
        subsidy_transfer: Option<TransferId>,
        subsidy: Won,
        payout: Option<TransferId>,
    },
    RedemptionConfirmed {
        redemption: TransferId,
        amount: Won,
    },
    AutoChargeSet,
    AutoChargeRecorded,
    SchemeWithdrawn {
        version: u32,
        /// When it would have come into force.
        effective_at: Timestamp,
    },
}

/// The scheme's state inside the ledger. Changed only by `state/scheme_exec.rs`, through
/// the undo log; `hash` is the sum of one XXH3-128 hash per item, kept current.
#[derive(Debug, Default)]
pub(crate) struct SchemeState {
    pub(crate) versions: Vec<Arc<SchemeVersion>>,
    /// At the wallet's account index (see [`ByAccount`]): a payment's payer is read
    /// on every scheme payment. Merchants are far fewer and stay in a map.
    pub(crate) citizens: ByAccount<CitizenProfile>,
    pub(crate) merchants: FxHashMap<AccountId, MerchantProfile>,
    /// With each usage's hash, as citizens' profiles keep theirs: a budget's usage is
    /// replaced by every payment that earns cash-back.
    pub(crate) budgets: FxHashMap<AccountId, (BudgetUsage, u128)>,
    pub(crate) purchases: BTreeMap<TransferId, PurchaseRecord>,
    pub(crate) cashbacks: BTreeMap<TransferId, CashbackRecord>,
    pub(crate) payouts: BTreeMap<TransferId, PayoutRecord>,
    pub(crate) hash: u128,
    /// Reused for hashing items (no allocation per change).
    scratch: Vec<u8>,
}

fn item_hash<T: Serialize>(scratch: &mut Vec<u8>, tag: u8, id: u64, item: &T) -> u128 {
    let mut buf = std::mem::take(scratch);
    buf.clear();
    buf.push(tag);
    buf.extend_from_slice(&id.to_le_bytes());
    // Serializing plain data into a Vec cannot fail.
    let (hash, buf) = match postcard::to_extend(item, buf) {
        Ok(bytes) => (xxh3_128(&bytes), bytes),
        Err(_) => (0, Vec::new()),
    };
    *scratch = buf;
    hash
}

/// Sets (or removes) an item kept with its own hash, keeping the state's `sum` current:
/// `store` puts the new item and its hash, and hands back the one it replaced with the
/// hash it was put with, so the old item is never encoded again. Returns the old item.
fn replace_hashed<V: Serialize>(
    sum: &mut u128,
    scratch: &mut Vec<u8>,
    tag: u8,
    id: u64,
    new: Option<V>,
    store: impl FnOnce(Option<(V, u128)>) -> Option<(V, u128)>,
) -> Option<V> {
    let new = new.map(|n| {
        let hash = item_hash(scratch, tag, id, &n);
        *sum = sum.wrapping_add(hash);
        (n, hash)
    });
    let (old, hash) = store(new)?;
    *sum = sum.wrapping_sub(hash);
    Some(old)
}

macro_rules! keyed_setter {
    ($name:ident, $field:ident, $key:ty, $val:ty, $tag:literal, $id:expr) => {
        /// Sets (or removes) one item, keeping the hash current; returns the old one.
        pub(crate) fn $name(&mut self, key: $key, new: Option<$val>) -> Option<$val> {
            let id: fn(&$key) -> u64 = $id;
            let k = id(&key);
            if let Some(n) = &new {
                self.hash = self
                    .hash
                    .wrapping_add(item_hash(&mut self.scratch, $tag, k, n));
            }
            let old = match new {
                Some(n) => self.$field.insert(key, n),
                None => self.$field.remove(&key),
            };
            if let Some(o) = &old {
                self.hash = self
                    .hash
                    .wrapping_sub(item_hash(&mut self.scratch, $tag, k, o));
            }
            old
        }
    };
}

impl SchemeState {
    /// Sets (or removes) wallet `key`'s profile, at its account index `at`, keeping the
    /// hash current; returns the old one.
    pub(crate) fn set_citizen(
        &mut self,
        key: AccountId,
        at: u32,
        new: Option<CitizenProfile>,
    ) -> Option<CitizenProfile> {
        replace_hashed(&mut self.hash, &mut self.scratch, b'C', key.0, new, |n| {
            self.citizens.set(key, at, n)
        })
    }
    keyed_setter!(
        set_merchant,
        merchants,
        AccountId,
        MerchantProfile,
        b'M',
        |k| k.0
    );
    /// Sets (or removes) budget `key`'s usage, keeping the hash current; returns the old
    /// one.
    pub(crate) fn set_budget(
        &mut self,
        key: AccountId,
        new: Option<BudgetUsage>,
    ) -> Option<BudgetUsage> {
        replace_hashed(
            &mut self.hash,
            &mut self.scratch,
            b'B',
            key.0,
            new,
            |n| match n {
                Some(n) => self.budgets.insert(key, n),
                None => self.budgets.remove(&key),
            },
        )
    }
    keyed_setter!(
        set_purchase,
        purchases,
        TransferId,
        PurchaseRecord,
        b'R',
        |k| k.0
    );
    keyed_setter!(
        set_cashback,
        cashbacks,
        TransferId,
        CashbackRecord,
        b'K',
        |k| k.0
    );
    keyed_setter!(set_payout, payouts, TransferId, PayoutRecord, b'P', |k| k.0);

    pub(crate) fn push_version(&mut self, v: Arc<SchemeVersion>) {
        self.hash =
            self.hash
                .wrapping_add(item_hash(&mut self.scratch, b'V', u64::from(v.number), &v));
        self.versions.push(v);
    }

    pub(crate) fn pop_version(&mut self) -> Option<Arc<SchemeVersion>> {
        let v = self.versions.pop()?;
        self.hash =
            self.hash
                .wrapping_sub(item_hash(&mut self.scratch, b'V', u64::from(v.number), &v));
        Some(v)
    }

    /// The version in force at `now`.
    pub(crate) fn active(&self, now: Timestamp) -> Option<&Arc<SchemeVersion>> {
        self.versions.iter().rev().find(|v| v.effective_at <= now)
    }
}

/// The scheme state in canonical order, as a snapshot stores it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct SchemeSnapshot {
    pub(crate) versions: Vec<SchemeVersion>,
    pub(crate) citizens: Vec<(AccountId, CitizenProfile)>,
    pub(crate) merchants: Vec<(AccountId, MerchantProfile)>,
    pub(crate) budgets: Vec<(AccountId, BudgetUsage)>,
    pub(crate) purchases: Vec<PurchaseRecord>,
    pub(crate) cashbacks: Vec<CashbackRecord>,
    pub(crate) payouts: Vec<PayoutRecord>,
}

impl SchemeState {
    pub(crate) fn to_snapshot(&self) -> SchemeSnapshot {
        fn sorted<'a, V: Clone + 'a>(
            m: impl Iterator<Item = (AccountId, &'a V)>,
        ) -> Vec<(AccountId, V)> {
            let mut v: Vec<_> = m.map(|(k, v)| (k, v.clone())).collect();
            v.sort_by_key(|(k, _)| *k);
            v
        }
        SchemeSnapshot {
            versions: self.versions.iter().map(|v| v.as_ref().clone()).collect(),
            citizens: sorted(self.citizens.iter()),
            merchants: sorted(self.merchants.iter().map(|(k, v)| (*k, v))),
            budgets: sorted(self.budgets.iter().map(|(k, (v, _))| (*k, v))),
            purchases: self.purchases.values().cloned().collect(),
            cashbacks: self.cashbacks.values().cloned().collect(),
            payouts: self.payouts.values().cloned().collect(),
        }
    }

    /// `index` gives an account's index in the ledger's account table: a citizen's
    /// profile without a wallet is refused.
    pub(crate) fn from_snapshot(
        s: SchemeSnapshot,
        index: impl Fn(AccountId) -> Option<u32>,
    ) -> Result<SchemeState, String> {
        let mut state = SchemeState::default();
        for (i, v) in s.versions.into_iter().enumerate() {
            if v.number as usize != i + 1 || v.config.validate().is_err() {
                return Err(format!(
                    "scheme version {} out of order or invalid",
                    v.number
                ));
            }
            state.push_version(Arc::new(v));
        }
        for (k, v) in s.citizens {
            let at = index(k).ok_or_else(|| format!("citizen {k} has no wallet"))?;
            if state.set_citizen(k, at, Some(v)).is_some() {
                return Err(format!("citizen {k} twice"));
            }
        }
        for (k, v) in s.merchants {
            if state.set_merchant(k, Some(v)).is_some() {
                return Err(format!("merchant {k} twice"));
            }
        }
        for (k, v) in s.budgets {
            if state.set_budget(k, Some(v)).is_some() {
                return Err(format!("budget {k} twice"));
            }
        }
        for p in s.purchases {
            if state.set_purchase(p.charge, Some(p)).is_some() {
                return Err("purchase twice".into());
            }
        }
        for c in s.cashbacks {
            if state.set_cashback(c.payment, Some(c)).is_some() {
                return Err("cash-back record twice".into());
            }
        }
        for p in s.payouts {
            if state.set_payout(p.payout, Some(p)).is_some() {
                return Err("payout record twice".into());
            }
        }
        Ok(state)
    }
}

/// How far ahead a new scheme version may be set: a year and a day (a budget year).
pub const SCHEME_HORIZON_US: u64 = 366 * crate::money::DAY_US;

/// Why an `effective_at` given for a new scheme version is not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EffectiveAtProblem {
    /// Beyond the horizon, and so large it reads as nanoseconds (or more): a unit slip.
    #[error(
        "effective_at {given} is not in microseconds (it reads as year {year_if_micros} or later); give Unix microseconds"
    )]
    WrongUnit { given: u64, year_if_micros: u64 },
    /// Later than the horizon: versions set that far ahead would refuse every version
    /// set before them comes into force.
    #[error("effective_at {given} is more than 366 days ahead (latest {latest}); set it nearer")]
    TooFarAhead { given: u64, latest: u64 },
}

/// Checks an `effective_at` (Unix microseconds; 0 or a past time means now) before a
/// `SetScheme` is sent: the unit and the horizon. The ledger itself takes any time
/// (journals written before this check replay as they were); callers check here.
pub fn check_effective_at(effective_at_us: u64, now_us: u64) -> Result<(), EffectiveAtProblem> {
    let latest = now_us.saturating_add(SCHEME_HORIZON_US);
    if effective_at_us <= latest {
        return Ok(());
    }
    // Microseconds since 1970 stay below 10^17 until the year 5138.
    if effective_at_us >= 100_000_000_000_000_000 {
        return Err(EffectiveAtProblem::WrongUnit {
            given: effective_at_us,
            year_if_micros: 1970 + effective_at_us / (365 * crate::money::DAY_US),
        });
    }
    Err(EffectiveAtProblem::TooFarAhead {
        given: effective_at_us,
        latest,
    })
}

/// Why the scheme would refuse a payment to this merchant now, if it would.
pub fn merchant_suspension(cfg: &SchemeConfig, m: &MerchantProfile) -> Option<SuspendReason> {
    if m.operator_suspension.is_some() {
        Some(SuspendReason::Operator)
    } else if cfg
        .merchants
        .revenue_cap
        .is_some_and(|cap| m.annual_revenue.is_over(cap))
    {
        Some(SuspendReason::RevenueOverCap)
    } else if cfg.merchants.excluded_categories.contains(&m.category) {
        Some(SuspendReason::CategoryExcluded)
    } else {
        None
    }
}

/// The sources the scheme lets this merchant accept (before its own `accepts`).
pub fn scheme_sources(cfg: &SchemeConfig, m: &MerchantProfile) -> SourceSet {
    cfg.sources.iter().fold(SourceSet::ALL, |set, rule| {
        // Unknown revenue is not known to be under the cap: the source is not taken.
        let over = rule
            .merchant_revenue_cap
            .is_some_and(|cap| m.annual_revenue.known().is_none_or(|w| w > cap));
        if over || rule.excluded_categories.contains(&m.category) {
            set.without(rule.source)
        } else {
            set
        }
    })
}
