//! A scheme's rules as data. Every number a municipality sets is here, never a constant
//! in code; a change is a journaled `SetScheme` command with an effective time, so
//! replay applies each version exactly when it applied the first time.
//!
//! The same structure is read from a scheme file (TOML, see `schemes/` at the repository
//! root) and stored in the journal (canonical postcard bytes): field order is format.

use serde::{Deserialize, Serialize};

use crate::account::Source;
use crate::ids::AccountId;
use crate::money::Won;

/// Basis points: 10,000 = 100%. Rates are integers so that no float comes near money.
pub type BasisPoints = u16;
pub const BP_ONE: u64 = 10_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemeConfig {
    /// Shown to operators, e.g. "부산 동백전 2026".
    pub name: String,
    pub purchase: PurchaseRules,
    #[serde(default)]
    pub cashback: Option<CashbackRules>,
    /// Ceilings on what each subsidy budget may pay out (net of returns).
    #[serde(default)]
    pub budgets: Vec<BudgetCeiling>,
    pub gifts: GiftRules,
    /// Which merchants accept which source of money. A source without a rule is
    /// accepted by every registered merchant that accepts it.
    #[serde(default)]
    pub sources: Vec<SourceRule>,
    pub merchants: MerchantRules,
    pub refunds: RefundRules,
    pub auto_charge: AutoChargeRules,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRules {
    pub enabled: bool,
    /// The issuer's reserve that issues bought value.
    pub reserve: AccountId,
    /// Discount at purchase on the face value: at 1,000 bp a 50,000 voucher costs 45,000.
    #[serde(default)]
    pub discount_bp: BasisPoints,
    /// The budget that pays the discount. Required when `discount_bp > 0`.
    #[serde(default)]
    pub discount_budget: Option<AccountId>,
    /// Face values must be a multiple of this (e.g. 10,000).
    pub unit: Won,
    pub min: Won,
    pub max_per_purchase: Won,
    /// Face value bought per citizen per KST month, all channels together.
    #[serde(default)]
    pub monthly_limit: Option<Won>,
    #[serde(default)]
    pub yearly_limit: Option<Won>,
    /// A wallet may not hold more than this (all sources, including value on its way in).
    #[serde(default)]
    pub holding_cap: Option<Won>,
    /// How value is bought (bank transfer, debit card, credit card, paper...). A channel's
    /// id is the tag on the lots it creates.
    pub channels: Vec<Channel>,
    /// Days on which only citizens born in even (or odd) years may buy.
    #[serde(default)]
    pub windows: Vec<PurchaseWindow>,
    /// Bought value expires this many days after purchase (5 years by law: 1,826).
    pub validity_days: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// 0..=63; the lot tag.
    pub id: u16,
    pub name: String,
    #[serde(default)]
    pub monthly_limit: Option<Won>,
    /// Whether value bought through this channel may be gifted (Seoul: bank transfer and
    /// debit card yes, credit card no).
    #[serde(default = "yes")]
    pub giftable: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BirthYearParity {
    Even,
    Odd,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseWindow {
    /// Days of the KST month (1..=31) the window applies to.
    pub days: Vec<u8>,
    pub birth_year: BirthYearParity,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CashbackRules {
    pub budget: AccountId,
    /// Rate by the merchant's annual revenue, ascending by `up_to`; the last band may be
    /// open (`up_to` absent). A merchant above every band earns nothing.
    pub bands: Vec<RevenueBand>,
    /// Spend per citizen per month that earns cash-back (Busan: 500,000).
    #[serde(default)]
    pub monthly_spend_cap: Option<Won>,
    /// Cash-back per citizen per month.
    #[serde(default)]
    pub monthly_cashback_cap: Option<Won>,
    /// Which money earns cash-back when spent (usually bought value only).
    pub earning_sources: Vec<Source>,
    pub validity_days: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevenueBand {
    #[serde(default)]
    pub up_to: Option<Won>,
    pub rate_bp: BasisPoints,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetCeiling {
    pub budget: AccountId,
    #[serde(default)]
    pub total: Option<Won>,
    #[serde(default)]
    pub monthly: Option<Won>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiftRules {
    pub enabled: bool,
    #[serde(default)]
    pub sent_monthly_limit: Option<Won>,
    #[serde(default)]
    pub received_monthly_limit: Option<Won>,
    /// Sources that may be gifted. Bought value only from giftable channels.
    pub giftable_sources: Vec<Source>,
    /// Days of the month (KST) with gifts switched off (issuance days, to save capacity).
    #[serde(default)]
    pub paused_days: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceRule {
    pub source: Source,
    /// Only merchants with annual revenue at or under this accept the source.
    #[serde(default)]
    pub merchant_revenue_cap: Option<Won>,
    /// Merchant categories (MCC or the scheme's own) that do not accept the source.
    #[serde(default)]
    pub excluded_categories: Vec<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantRules {
    /// A merchant over this annual revenue is suspended: it can receive no payment
    /// (it may still redeem what it holds).
    #[serde(default)]
    pub revenue_cap: Option<Won>,
    /// Categories excluded from the scheme altogether (gambling, large marts...).
    #[serde(default)]
    pub excluded_categories: Vec<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRules {
    /// The clearing account cash refunds pass through on their way to the bank.
    pub clearing: AccountId,
    /// An unused purchase may be cancelled in full this many days after it.
    pub cancel_window_days: u32,
    /// The remaining balance is refundable once this share of the bought value is used.
    pub used_share_bp: BasisPoints,
    /// For small values (bought value at most `small_value_max`) the share is this.
    pub small_value_max: Won,
    pub small_used_share_bp: BasisPoints,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoChargeRules {
    pub enabled: bool,
    /// A failed monthly auto-charge is retried this many times in all...
    pub max_attempts: u8,
    /// ...this many hours apart; the citizen is told after every failure.
    pub retry_interval_hours: u16,
    /// A top-up at payment time buys the shortfall rounded up to this unit.
    pub topup_unit: Won,
}

/// Why a scheme configuration was refused: the field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct SchemeConfigError {
    pub field: &'static str,
    pub problem: String,
}

fn bad(field: &'static str, problem: impl Into<String>) -> SchemeConfigError {
    SchemeConfigError {
        field,
        problem: problem.into(),
    }
}

/// Most channels, windows, bands, rules a scheme may have: every list is bounded.
pub const SCHEME_LIST_MAX: usize = 64;

impl SchemeConfig {
    /// Checks everything that does not need the ledger's accounts: the first of
    /// [`SchemeConfig::problems`] (what the ledger journals when it refuses a version).
    pub fn validate(&self) -> Result<(), SchemeConfigError> {
        match self.problems().into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }

    /// Every problem [`SchemeConfig::validate`] finds, in the order it checks them, so
    /// that an operator fixing a file sees them all at once. Within one list (channels,
    /// bands), only its first problem: the later ones often follow from it.
    pub fn problems(&self) -> Vec<SchemeConfigError> {
        let mut out = Vec::new();
        let p = &self.purchase;
        if self.name.trim().is_empty() || self.name.len() > 128 {
            out.push(bad("name", "must be 1..=128 bytes"));
        }
        if u64::from(p.discount_bp) > BP_ONE / 2 {
            out.push(bad("purchase.discount_bp", "at most 5000 (50%)"));
        }
        if p.discount_bp > 0 && p.discount_budget.is_none() {
            out.push(bad("purchase.discount_budget", "a discount needs a budget"));
        }
        let positive = |w: Won| w.is_positive() && w <= Won::TRANSFER_MAX;
        if !positive(p.unit) || !positive(p.min) || !positive(p.max_per_purchase) {
            out.push(bad(
                "purchase",
                "unit, min and max_per_purchase must be positive",
            ));
        }
        if p.min > p.max_per_purchase {
            out.push(bad("purchase.min", "above max_per_purchase"));
        }
        for (field, limit) in [
            ("purchase.monthly_limit", p.monthly_limit),
            ("purchase.yearly_limit", p.yearly_limit),
            ("purchase.holding_cap", p.holding_cap),
            ("gifts.sent_monthly_limit", self.gifts.sent_monthly_limit),
            (
                "gifts.received_monthly_limit",
                self.gifts.received_monthly_limit,
            ),
        ] {
            if limit.is_some_and(|l| l.is_negative()) {
                out.push(bad(field, "must not be negative"));
            }
        }
        if p.channels.is_empty() || p.channels.len() > SCHEME_LIST_MAX {
            out.push(bad("purchase.channels", "1..=64 channels"));
        }
        for (i, c) in p.channels.iter().enumerate() {
            let problem = if c.id >= 64 {
                Some(bad("purchase.channels.id", "0..=63"))
            } else if p.channels[..i].iter().any(|o| o.id == c.id) {
                Some(bad("purchase.channels.id", format!("{} twice", c.id)))
            } else if c.monthly_limit.is_some_and(|l| l.is_negative()) {
                Some(bad("purchase.channels.monthly_limit", "negative"))
            } else {
                None
            };
            if let Some(problem) = problem {
                out.push(problem);
                break;
            }
        }
        if p.windows.len() > SCHEME_LIST_MAX
            || p.windows
                .iter()
                .any(|w| w.days.is_empty() || w.days.iter().any(|d| !(1..=31).contains(d)))
        {
            out.push(bad("purchase.windows", "days are 1..=31"));
        }
        if p.validity_days == 0 {
            out.push(bad("purchase.validity_days", "must be at least 1"));
        }
        if let Some(cb) = &self.cashback {
            if cb.bands.is_empty() || cb.bands.len() > SCHEME_LIST_MAX {
                out.push(bad("cashback.bands", "1..=64 bands"));
            }
            let mut last: Option<Won> = None;
            for (i, b) in cb.bands.iter().enumerate() {
                let problem = if u64::from(b.rate_bp) > BP_ONE / 2 {
                    Some(bad("cashback.bands.rate_bp", "at most 5000 (50%)"))
                } else {
                    match b.up_to {
                        None if i + 1 != cb.bands.len() => {
                            Some(bad("cashback.bands", "only the last band may be open"))
                        }
                        Some(u) if last.is_some_and(|l| u <= l) => {
                            Some(bad("cashback.bands", "up_to must ascend"))
                        }
                        _ => {
                            last = b.up_to;
                            None
                        }
                    }
                };
                if let Some(problem) = problem {
                    out.push(problem);
                    break;
                }
            }
            if cb.earning_sources.is_empty() {
                out.push(bad("cashback.earning_sources", "name at least one"));
            }
            if cb.validity_days == 0 {
                out.push(bad("cashback.validity_days", "must be at least 1"));
            }
        }
        if self.budgets.len() > SCHEME_LIST_MAX
            || self.sources.len() > SCHEME_LIST_MAX
            || self.merchants.excluded_categories.len() > 4 * SCHEME_LIST_MAX
        {
            out.push(bad("scheme", "too many entries"));
        }
        if self.gifts.paused_days.iter().any(|d| !(1..=31).contains(d)) {
            out.push(bad("gifts.paused_days", "days are 1..=31"));
        }
        let r = &self.refunds;
        if u64::from(r.used_share_bp) > BP_ONE || u64::from(r.small_used_share_bp) > BP_ONE {
            out.push(bad("refunds", "shares are at most 10000 bp"));
        }
        if r.small_value_max.is_negative() {
            out.push(bad("refunds.small_value_max", "negative"));
        }
        let a = &self.auto_charge;
        if a.enabled && (a.max_attempts == 0 || !positive(a.topup_unit)) {
            out.push(bad(
                "auto_charge",
                "max_attempts and topup_unit must be positive",
            ));
        }
        out
    }

    /// Reads and validates a scheme file (TOML). Unknown fields are errors, so a typo
    /// in a limit's name cannot silently drop the limit.
    pub fn from_toml(text: &str) -> Result<SchemeConfig, SchemeConfigError> {
        let config: SchemeConfig = toml::from_str(text).map_err(|e| bad("file", e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as a scheme file (TOML) that [`SchemeConfig::from_toml`] reads
    /// back to the same configuration. The journal keeps the configuration, not the
    /// file, so a file's comments and layout are not kept.
    pub fn to_toml(&self) -> Result<String, SchemeConfigError> {
        toml::to_string(self).map_err(|e| bad("file", e.to_string()))
    }

    pub fn channel(&self, id: u16) -> Option<&Channel> {
        self.purchase.channels.iter().find(|c| c.id == id)
    }

    /// Bit `n` set: bought value from channel `n` may be gifted.
    pub fn giftable_channels(&self) -> u64 {
        self.purchase
            .channels
            .iter()
            .filter(|c| c.giftable)
            .fold(0, |m, c| m | 1u64 << c.id)
    }

    pub fn ceiling(&self, budget: AccountId) -> Option<&BudgetCeiling> {
        self.budgets.iter().find(|b| b.budget == budget)
    }

    /// The cash-back rate for a merchant with this annual revenue; with the revenue
    /// unknown, the lowest rate of any band (never the generous one by default).
    pub fn cashback_rate(&self, revenue: impl Into<super::AnnualRevenue>) -> BasisPoints {
        let Some(cb) = &self.cashback else { return 0 };
        let Some(revenue) = revenue.into().known() else {
            return cb.bands.iter().map(|b| b.rate_bp).min().unwrap_or(0);
        };
        cb.bands
            .iter()
            .find(|b| b.up_to.is_none_or(|u| revenue <= u))
            .map_or(0, |b| b.rate_bp)
    }
}
