//! Applies [`SchemeCommand`]s: the scheme's rules decided inside the ledger, so that the
//! journal's replay re-decides every discount, limit and refund exactly.
//!
//! Every rule composes the ledger's typed transfers (`transfer_filtered`), so money
//! still moves only through direction-checked postings; scheme state changes go
//! through the undo log (`put_*`), so a rejected command leaves nothing behind.

use std::sync::Arc;

use super::{Failure, Ledger, Undo, check_amount};
use crate::account::{AccountKind, AccountState, Lot, Source, SourceSet};
use crate::command::{LotSpec, Mode, Transfer, TransferKind, TransferSpec};
use crate::ids::{
    AccountId, BudgetId, ClearingId, MerchantId, ReserveId, Text, TransferId, WalletId,
};
use crate::money::{DAY_US, Timestamp, Won};
use crate::outcome::{PendingEnd, Rejection, TransferStatus, Violation};
use crate::scheme::calendar::KstDate;
use crate::scheme::{
    AutoChargeSetting, AutoChargeStatus, BP_ONE, BalanceRefundQuote, BirthYearParity, BudgetUsage,
    CancelQuote, CashbackNote, CashbackRecord, CitizenProfile, MerchantProfile, PayoutRecord,
    PurchaseQuote, PurchaseRecord, PurchaseState, SCHEME_VERSIONS_MAX, SchemeApplied,
    SchemeCommand, SchemeConfig, SchemeVersion, merchant_suspension, scheme_sources,
};

/// Purchase records outlive their cancel window by this many days.
const PURCHASE_GRACE_DAYS: u32 = 30;
/// At most this many aged purchase records are forgotten per batch (the rest next time).
const PURCHASE_FORGET_PER_BATCH: usize = 4_096;

/// Which lots a draw may take, beyond the sources a transfer names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DrawFilter {
    sources: SourceSet,
    /// Bit `n`: bought value from channel `n` may be taken.
    purchased_tags: u64,
    /// Only this lot (source, tag, expiry): cancelling one purchase.
    exact: Option<(Source, u16, Timestamp)>,
}

impl DrawFilter {
    pub(crate) const ANY: DrawFilter = DrawFilter {
        sources: SourceSet::ALL,
        purchased_tags: u64::MAX,
        exact: None,
    };

    pub(crate) fn admits(&self, lot: &Lot) -> bool {
        if let Some((source, tag, expires_at)) = self.exact {
            return lot.source == source && lot.tag == tag && lot.expires_at == expires_at;
        }
        self.sources.contains(lot.source)
            && (lot.source != Source::Purchased
                || self.purchased_tags == u64::MAX
                || (lot.tag < 64 && self.purchased_tags & (1 << lot.tag) != 0))
    }
}

fn arith(w: Option<Won>) -> Result<Won, Violation> {
    w.ok_or(Violation::Arithmetic)
}

/// `a - b`, but never below zero (counters released after a month rolled over).
fn sub_floor(a: Won, b: Won) -> Won {
    a.checked_sub(b).unwrap_or(Won::ZERO).max(Won::ZERO)
}

/// `amount × bp / 10,000`, rounded down, in integers.
fn share(amount: Won, bp: u64) -> Won {
    let v = i128::from(amount.get()) * i128::from(bp) / i128::from(BP_ONE);
    Won::new(i64::try_from(v).unwrap_or(i64::MAX))
}

fn add_subsidy(
    loaded: &mut Vec<(AccountId, Won)>,
    budget: AccountId,
    amount: Won,
) -> Result<(), Violation> {
    match loaded.iter_mut().find(|(b, _)| *b == budget) {
        Some((_, w)) => *w = arith(w.checked_add(amount))?,
        None => {
            loaded.push((budget, amount));
            loaded.sort_by_key(|(b, _)| *b);
        }
    }
    Ok(())
}

/// `total × part / whole`, rounded down.
fn prorate_of(total: Won, part: Won, whole: Won) -> Won {
    let v = i128::from(total.get()) * i128::from(part.get()) / i128::from(whole.get().max(1));
    Won::new(i64::try_from(v).unwrap_or(0))
}

fn parity(birth_year: u16) -> BirthYearParity {
    if birth_year.is_multiple_of(2) {
        BirthYearParity::Even
    } else {
        BirthYearParity::Odd
    }
}

/// Value issued at `now` with a validity of `n` days is valid through the end of that
/// day (KST): it expires at the following midnight. Whole days are what citizens are
/// told, and value issued on the same day shares one lot instead of one per payment.
fn valid_until(now: Timestamp, n: u32) -> Timestamp {
    KstDate::of(now.plus_micros(days(n)))
        .start()
        .plus_micros(DAY_US)
}

fn days(n: u32) -> u64 {
    u64::from(n).saturating_mul(DAY_US)
}

fn text(s: &str) -> Text {
    Text::new(s).unwrap_or_else(|_| Text::new("?").unwrap_or_else(|_| unreachable!()))
}

fn source_set(sources: &[Source]) -> SourceSet {
    SourceSet::of(sources)
}

impl Ledger {
    // ----- reads ------------------------------------------------------------------------

    /// Every scheme version, oldest first (they are never removed).
    pub fn scheme_versions(&self) -> impl Iterator<Item = &SchemeVersion> {
        self.scheme.versions.iter().map(|v| v.as_ref())
    }

    /// The version in force at `at`.
    pub fn scheme_at(&self, at: Timestamp) -> Option<&SchemeVersion> {
        self.scheme.active(at).map(|v| v.as_ref())
    }

    pub fn citizen(&self, wallet: AccountId) -> Option<&CitizenProfile> {
        self.scheme.citizens.get(wallet, self.index.get(wallet))
    }

    pub fn merchant_profile(&self, merchant: AccountId) -> Option<&MerchantProfile> {
        self.scheme.merchants.get(&merchant)
    }

    pub fn budget_usage(&self, budget: AccountId) -> Option<&BudgetUsage> {
        self.scheme.budgets.get(&budget).map(|(usage, _)| usage)
    }

    pub fn purchase(&self, charge: TransferId) -> Option<&PurchaseRecord> {
        self.scheme.purchases.get(&charge)
    }

    /// Whose cash refund a pending payout settlement is.
    pub fn payout(&self, payout: TransferId) -> Option<&PayoutRecord> {
        self.scheme.payouts.get(&payout)
    }

    /// Every citizen's scheme profile (counters, auto-charge), in wallet order: what
    /// an interchange set carries.
    pub fn citizens(&self) -> Vec<(AccountId, &CitizenProfile)> {
        let mut all: Vec<_> = self.scheme.citizens.iter().collect();
        all.sort_unstable_by_key(|(id, _)| *id);
        all
    }

    /// Every merchant's scheme profile, in account order.
    pub fn merchant_profiles(&self) -> Vec<(AccountId, &MerchantProfile)> {
        let mut all: Vec<_> = self
            .scheme
            .merchants
            .iter()
            .map(|(id, p)| (*id, p))
            .collect();
        all.sort_unstable_by_key(|(id, _)| *id);
        all
    }

    /// Every budget's spending counters, in account order.
    pub fn budget_usages(&self) -> Vec<(AccountId, &BudgetUsage)> {
        let mut all: Vec<_> = (self.scheme.budgets.iter())
            .map(|(id, (usage, _))| (*id, usage))
            .collect();
        all.sort_unstable_by_key(|(id, _)| *id);
        all
    }

    /// Every purchase still remembered (for its cancellation window), in id order.
    pub fn purchases(&self) -> impl Iterator<Item = &PurchaseRecord> {
        self.scheme.purchases.values()
    }

    /// Every cash-back record still open to claw-back, in payment order.
    pub fn cashbacks(&self) -> impl Iterator<Item = &CashbackRecord> {
        self.scheme.cashbacks.values()
    }

    /// Every cash refund whose payout is still pending, in id order.
    pub fn payouts(&self) -> impl Iterator<Item = &PayoutRecord> {
        self.scheme.payouts.values()
    }

    /// Purchases still waiting for their bank (for the resolution sweep).
    pub fn pending_purchases(&self) -> impl Iterator<Item = &PurchaseRecord> {
        self.scheme
            .purchases
            .values()
            .filter(|p| p.state == PurchaseState::Pending)
    }

    /// Citizens with a standing auto-charge order (for the auto-charge job).
    pub fn auto_charge_orders(&self) -> impl Iterator<Item = (AccountId, &CitizenProfile)> {
        self.scheme
            .citizens
            .iter()
            .filter(|(_, p)| p.auto_charge.is_some())
    }

    /// Wallets holding value whose validity ended at or before `at` (for the expiry job).
    pub fn wallets_with_expired_value(&self, at: Timestamp) -> impl Iterator<Item = AccountId> {
        self.accounts
            .iter()
            .filter(move |a| a.lots.iter().any(|l| l.expires_at <= at))
            .map(|a| a.id)
    }

    // ----- undo-logged scheme state -------------------------------------------------------

    /// Puts wallet `id`'s profile (the wallet must exist: callers have checked it).
    fn put_citizen(&mut self, id: AccountId, p: CitizenProfile) -> Result<(), Rejection> {
        let at = self.resolve_any(id)?;
        let prev = self.scheme.set_citizen(id, at, Some(p));
        self.undo_values.citizens.push(prev);
        self.undo.push(Undo::Citizen { id });
        Ok(())
    }

    fn put_merchant(&mut self, id: AccountId, p: MerchantProfile) {
        let prev = self.scheme.set_merchant(id, Some(p));
        self.undo_values.merchants.push(prev);
        self.undo.push(Undo::Merchant { id });
    }

    fn put_budget(&mut self, id: AccountId, u: BudgetUsage) {
        let prev = self.scheme.set_budget(id, Some(u));
        self.undo_values.budgets.push(prev);
        self.undo.push(Undo::Budget { id });
    }

    fn put_purchase(&mut self, p: PurchaseRecord) {
        let id = p.charge;
        let prev = self.scheme.set_purchase(id, Some(p));
        self.undo_values.purchases.push(prev);
        self.undo.push(Undo::Purchase { id });
    }

    fn put_payout(&mut self, p: PayoutRecord) {
        let id = p.payout;
        let prev = self.scheme.set_payout(id, Some(p));
        self.undo_values.payouts.push(prev);
        self.undo.push(Undo::Payout { id });
    }

    /// Opens the pending settlement that pays a cash refund out of clearing to the
    /// citizen's bank, and records whose it is.
    fn open_payout(
        &mut self,
        cfg: &SchemeConfig,
        wallet: AccountId,
        cash: Won,
        timeout_us: Option<u64>,
        now: Timestamp,
    ) -> Result<Option<TransferId>, Failure> {
        let Some(timeout_us) = timeout_us else {
            return Ok(None);
        };
        if !cash.is_positive() {
            return Ok(None);
        }
        let (payout, _, _) = self.transfer(
            &Transfer::pending(
                TransferSpec::Settlement {
                    clearing: ClearingId(cfg.refunds.clearing),
                    reserve: ReserveId(cfg.purchase.reserve),
                    amount: cash,
                },
                timeout_us,
            ),
            now,
        )?;
        self.put_payout(PayoutRecord {
            payout,
            wallet,
            amount: cash,
            at: now,
        });
        Ok(Some(payout))
    }

    fn confirm_redemption(
        &mut self,
        redemption: TransferId,
        now: Timestamp,
    ) -> Result<SchemeApplied, Failure> {
        let version = self.active_version(now)?;
        let Some(pending) = self.pendings.get(&redemption) else {
            return Err(self.pending_lookup_failure(redemption).into());
        };
        if pending.kind != TransferKind::Redemption {
            return Err(Rejection::NotARedemption { id: redemption }.into());
        }
        let clearing = ClearingId(pending.credit);
        let amount = self.post_pending(redemption, None, now)?;
        self.transfer(
            &Transfer::posted(TransferSpec::Settlement {
                clearing,
                reserve: ReserveId(version.config.purchase.reserve),
                amount,
            }),
            now,
        )?;
        Ok(SchemeApplied::RedemptionConfirmed { redemption, amount })
    }

    fn put_cashback(&mut self, c: CashbackRecord) {
        let id = c.payment;
        let prev = self.scheme.set_cashback(id, Some(c));
        self.undo_values.cashbacks.push(prev);
        self.undo.push(Undo::Cashback { id });
    }

    /// Forgets purchases past their cancel window (and past any pending time), or over
    /// the cap, oldest first. Pure forgetting, like the other retention windows.
    pub(super) fn forget_purchases(&mut self, now: Timestamp) {
        if self.scheme.purchases.is_empty()
            && self.scheme.cashbacks.is_empty()
            && self.scheme.payouts.is_empty()
        {
            return;
        }
        // Kept 30 days past the cancel window, so that a late cancel is told
        // "cancel_window_passed" rather than "purchase_not_found".
        let window = self
            .scheme
            .active(now)
            .map_or(0, |v| days(v.config.refunds.cancel_window_days))
            .max(self.config.pending_timeout_max_us)
            .saturating_add(days(PURCHASE_GRACE_DAYS));
        let horizon = now.minus_micros(window);
        // Cash-back records live as long as the payment stays refundable.
        let horizon_payments = now.minus_micros(self.config.payment_refund_window_us);
        while let Some((&id, rec)) = self.scheme.cashbacks.first_key_value() {
            if rec.at >= horizon_payments
                && self.scheme.cashbacks.len() <= crate::scheme::PURCHASE_RECORDS_MAX
            {
                break;
            }
            self.scheme.set_cashback(id, None);
        }
        // Pending purchases are never forgotten: the bank's answer settles them.
        let over = self
            .scheme
            .purchases
            .len()
            .saturating_sub(crate::scheme::PURCHASE_RECORDS_MAX);
        let forget: Vec<TransferId> = self
            .scheme
            .purchases
            .iter()
            .take_while(|(_, rec)| rec.at < horizon || over > 0)
            .filter(|(_, rec)| rec.state != PurchaseState::Pending)
            .map(|(id, _)| *id)
            .take(over.max(PURCHASE_FORGET_PER_BATCH))
            .collect();
        for id in forget {
            self.scheme.set_purchase(id, None);
        }
        // Payout records live while their settlement may be pending, and a grace after.
        let horizon_payouts = now.minus_micros(
            self.config
                .pending_timeout_max_us
                .saturating_add(days(PURCHASE_GRACE_DAYS)),
        );
        while let Some((&id, rec)) = self.scheme.payouts.first_key_value() {
            if rec.at >= horizon_payouts
                && self.scheme.payouts.len() <= crate::scheme::PURCHASE_RECORDS_MAX
            {
                break;
            }
            self.scheme.set_payout(id, None);
        }
    }

    fn active_version(&self, now: Timestamp) -> Result<Arc<SchemeVersion>, Rejection> {
        self.scheme
            .active(now)
            .cloned()
            .ok_or(Rejection::SchemeNotConfigured)
    }

    fn citizen_profile(&self, wallet: AccountId) -> Result<CitizenProfile, Rejection> {
        self.citizen(wallet)
            .cloned()
            .ok_or(Rejection::CitizenNotRegistered { wallet })
    }

    /// What budget `budget` may still pay: its balance, within the scheme's ceilings.
    fn budget_room(
        &self,
        cfg: &SchemeConfig,
        budget: AccountId,
        today: KstDate,
    ) -> Result<Won, Failure> {
        let i = self.resolve(budget, AccountKind::SubsidyBudget)?;
        let account = &self.accounts[i as usize];
        if account.state != AccountState::Active {
            return Ok(Won::ZERO);
        }
        let mut room = arith(account.available())?.max(Won::ZERO);
        let usage = self.budget_usage(budget).cloned().unwrap_or_default();
        if let Some(ceiling) = cfg.ceiling(budget) {
            if let Some(total) = ceiling.total {
                room = room.min(sub_floor(total, usage.spent_total));
            }
            if let Some(monthly) = ceiling.monthly {
                let spent = if usage.month == today.month_index() {
                    usage.spent_month
                } else {
                    Won::ZERO
                };
                room = room.min(sub_floor(monthly, spent));
            }
        }
        Ok(room)
    }

    fn use_budget(
        &mut self,
        budget: AccountId,
        amount: Won,
        today: KstDate,
    ) -> Result<(), Failure> {
        let mut u = self.budget_usage(budget).cloned().unwrap_or_default();
        if u.month != today.month_index() {
            u.month = today.month_index();
            u.spent_month = Won::ZERO;
        }
        u.spent_month = arith(u.spent_month.checked_add(amount))?;
        u.spent_total = arith(u.spent_total.checked_add(amount))?;
        self.put_budget(budget, u);
        Ok(())
    }

    /// Subsidy came back to its budget: it no longer counts against the ceilings (the
    /// monthly one only if it was spent this same month).
    fn return_budget(&mut self, budget: AccountId, amount: Won, spent_in: Option<u32>) {
        let mut u = self.budget_usage(budget).cloned().unwrap_or_default();
        u.spent_total = sub_floor(u.spent_total, amount);
        if spent_in == Some(u.month) {
            u.spent_month = sub_floor(u.spent_month, amount);
        }
        self.put_budget(budget, u);
    }

    // ----- commands -----------------------------------------------------------------------

    pub(super) fn execute_scheme(
        &mut self,
        command: &SchemeCommand,
        now: Timestamp,
    ) -> Result<SchemeApplied, Failure> {
        match command {
            SchemeCommand::SetScheme {
                config,
                effective_at,
                operator,
            } => self.set_scheme(config, *effective_at, operator, now),
            SchemeCommand::RegisterCitizen { wallet, birth_year } => {
                let id = wallet.account();
                self.resolve(id, AccountKind::CitizenWallet)?;
                let mut p = self.citizen(id).cloned().unwrap_or_default();
                p.birth_year = *birth_year;
                self.put_citizen(id, p)?;
                Ok(SchemeApplied::CitizenRegistered)
            }
            SchemeCommand::SetMerchantProfile {
                merchant,
                category,
                annual_revenue,
            } => {
                let id = merchant.account();
                self.resolve(id, AccountKind::Merchant)?;
                if annual_revenue.known().is_some_and(Won::is_negative) {
                    return Err(Rejection::AmountNotPositive.into());
                }
                let operator_suspension = self
                    .scheme
                    .merchants
                    .get(&id)
                    .and_then(|m| m.operator_suspension.clone());
                let profile = MerchantProfile {
                    category: *category,
                    annual_revenue: *annual_revenue,
                    operator_suspension,
                };
                let suspended = self
                    .scheme
                    .active(now)
                    .and_then(|v| merchant_suspension(&v.config, &profile));
                self.put_merchant(id, profile);
                Ok(SchemeApplied::MerchantProfileSet { suspended })
            }
            SchemeCommand::SuspendMerchant { merchant, reason } => {
                let id = merchant.account();
                let mut p = self.merchant(id)?;
                p.operator_suspension = Some(reason.clone());
                self.put_merchant(id, p);
                Ok(SchemeApplied::MerchantSuspended)
            }
            SchemeCommand::ReinstateMerchant { merchant } => {
                let id = merchant.account();
                let mut p = self.merchant(id)?;
                p.operator_suspension = None;
                let suspended = self
                    .scheme
                    .active(now)
                    .and_then(|v| merchant_suspension(&v.config, &p));
                self.put_merchant(id, p);
                Ok(SchemeApplied::MerchantReinstated { suspended })
            }
            SchemeCommand::Purchase {
                wallet,
                face,
                channel,
                full_price_ok,
                pending_timeout_us,
            } => self.buy(
                *wallet,
                *face,
                *channel,
                *full_price_ok,
                *pending_timeout_us,
                now,
            ),
            SchemeCommand::ConfirmPurchase { purchase } => {
                let mut rec = self.pending_purchase(*purchase)?;
                self.post_pending(rec.charge, None, now)?;
                if let Some(s) = rec.subsidy {
                    self.post_pending(s, None, now)?;
                }
                rec.state = PurchaseState::Posted;
                self.put_purchase(rec);
                Ok(SchemeApplied::PurchaseConfirmed {
                    purchase: *purchase,
                })
            }
            SchemeCommand::FailPurchase { purchase } => {
                let mut rec = self.pending_purchase(*purchase)?;
                for id in [Some(rec.charge), rec.subsidy].into_iter().flatten() {
                    // Already expired by its deadline: nothing is held any more.
                    if self.pendings.contains_key(&id) {
                        self.end_pending(id, PendingEnd::Voided, now)?;
                    }
                }
                self.release_purchase(&rec)?;
                rec.state = PurchaseState::Failed;
                self.put_purchase(rec);
                Ok(SchemeApplied::PurchaseFailed {
                    purchase: *purchase,
                })
            }
            SchemeCommand::CancelPurchase {
                purchase,
                payout_timeout_us,
            } => self.cancel_purchase(*purchase, *payout_timeout_us, now),
            SchemeCommand::ConfirmRedemption { redemption } => {
                self.confirm_redemption(*redemption, now)
            }
            SchemeCommand::Pay {
                payer,
                merchant,
                amount,
            } => self.pay(*payer, *merchant, *amount, now),
            SchemeCommand::RefundPayment { payment, amount } => {
                self.refund_scheme_payment(*payment, *amount, now)
            }
            SchemeCommand::Gift {
                sender,
                recipient,
                amount,
            } => self.gift(*sender, *recipient, *amount, now),
            SchemeCommand::RefundBalance {
                wallet,
                payout_timeout_us,
            } => self.refund_balance(*wallet, *payout_timeout_us, now),
            SchemeCommand::SetAutoCharge { wallet, setting } => {
                let id = wallet.account();
                let mut p = self.citizen_profile(id)?;
                if let Some(s) = setting {
                    let v = self.active_version(now)?;
                    check_auto_charge(&v.config, s)?;
                }
                p.auto_charge = setting.clone();
                self.put_citizen(id, p)?;
                Ok(SchemeApplied::AutoChargeSet)
            }
            SchemeCommand::RecordAutoCharge {
                wallet,
                month,
                result,
            } => {
                let id = wallet.account();
                let mut p = self.citizen_profile(id)?;
                let attempts = match &p.auto_charge_status {
                    Some(s) if s.month == *month => s.attempts.saturating_add(1),
                    _ => 1,
                };
                p.auto_charge_status = Some(AutoChargeStatus {
                    month: *month,
                    attempts,
                    at: now,
                    result: result.clone(),
                });
                self.put_citizen(id, p)?;
                Ok(SchemeApplied::AutoChargeRecorded)
            }
            SchemeCommand::WithdrawScheme { version, .. } => {
                let withdrawable = self
                    .scheme
                    .versions
                    .last()
                    .is_some_and(|v| v.number == *version && v.effective_at > now);
                if !withdrawable {
                    return Err(Rejection::SchemeNotWithdrawable { version: *version }.into());
                }
                let Some(withdrawn) = self.scheme.pop_version() else {
                    return Err(Rejection::SchemeNotWithdrawable { version: *version }.into());
                };
                let effective_at = withdrawn.effective_at;
                self.undo
                    .push(Undo::SchemeVersionPopped { version: withdrawn });
                Ok(SchemeApplied::SchemeWithdrawn {
                    version: *version,
                    effective_at,
                })
            }
        }
    }

    fn merchant(&self, id: AccountId) -> Result<MerchantProfile, Rejection> {
        self.resolve(id, AccountKind::Merchant)?;
        self.scheme
            .merchants
            .get(&id)
            .cloned()
            .ok_or(Rejection::MerchantNotRegistered { merchant: id })
    }

    fn set_scheme(
        &mut self,
        config: &SchemeConfig,
        effective_at: Timestamp,
        operator: &Text,
        now: Timestamp,
    ) -> Result<SchemeApplied, Failure> {
        if let Err(e) = config.validate() {
            let problem = e.to_string();
            let cut = problem
                .char_indices()
                .map(|(i, c)| i + c.len_utf8())
                .take_while(|end| *end <= Text::BYTES_MAX)
                .last()
                .unwrap_or(0);
            return Err(Rejection::SchemeInvalid {
                problem: text(&problem[..cut]),
            }
            .into());
        }
        let accounts = [(config.purchase.reserve, AccountKind::IssuerReserve)]
            .into_iter()
            .chain(
                config
                    .purchase
                    .discount_budget
                    .map(|b| (b, AccountKind::SubsidyBudget)),
            )
            .chain(
                config
                    .cashback
                    .as_ref()
                    .map(|c| (c.budget, AccountKind::SubsidyBudget)),
            )
            .chain(
                config
                    .budgets
                    .iter()
                    .map(|b| (b.budget, AccountKind::SubsidyBudget)),
            )
            .chain([(config.refunds.clearing, AccountKind::SettlementClearing)]);
        for (id, kind) in accounts {
            self.resolve(id, kind)?;
        }
        // A time already past means "from now": the batch's time is when it applies.
        let effective_at = effective_at.max(now);
        if let Some(latest) = self.scheme.versions.last()
            && effective_at < latest.effective_at
        {
            return Err(Rejection::SchemeEffectiveTooEarly {
                earliest: latest.effective_at,
            }
            .into());
        }
        if self.scheme.versions.len() >= SCHEME_VERSIONS_MAX {
            return Err(Rejection::SchemeVersionsFull {
                max: SCHEME_VERSIONS_MAX as u32,
            }
            .into());
        }
        let number = self.scheme.versions.len() as u32 + 1;
        self.scheme.push_version(Arc::new(SchemeVersion {
            number,
            effective_at,
            set_at: now,
            operator: operator.clone(),
            config: config.clone(),
        }));
        self.undo.push(Undo::SchemeVersionPushed);
        Ok(SchemeApplied::SchemeSet {
            version: number,
            effective_at,
        })
    }

    /// What buying `face` would cost and give, decided by the same code as the purchase
    /// itself ([`Ledger::buy`] calls it), without buying: for a citizen to see before
    /// confirming. Refused exactly as the purchase would be.
    pub fn quote_purchase(
        &self,
        wallet: WalletId,
        face: Won,
        channel: u16,
        full_price_ok: bool,
        now: Timestamp,
    ) -> Result<PurchaseQuote, Rejection> {
        self.price_purchase(wallet, face, channel, full_price_ok, now)
            .map_err(quote_rejection)
    }

    fn price_purchase(
        &self,
        wallet: WalletId,
        face: Won,
        channel: u16,
        full_price_ok: bool,
        now: Timestamp,
    ) -> Result<PurchaseQuote, Failure> {
        let version = self.active_version(now)?;
        let cfg = &version.config;
        let rules = &cfg.purchase;
        if !rules.enabled {
            return Err(Rejection::PurchasesClosed.into());
        }
        let id = wallet.account();
        let w = self.resolve(id, AccountKind::CitizenWallet)?;
        self.check_open(w, TransferKind::Charge)?;
        let mut profile = self.citizen_profile(id)?;
        check_amount(face)?;
        if face.get() % rules.unit.get() != 0 || face < rules.min || face > rules.max_per_purchase {
            return Err(Rejection::PurchaseAmountInvalid {
                unit: rules.unit,
                min: rules.min,
                max: rules.max_per_purchase,
            }
            .into());
        }
        let ch = cfg
            .channel(channel)
            .ok_or(Rejection::ChannelUnknown { channel })?;
        let today = KstDate::of(now);
        for window in &rules.windows {
            if window.days.contains(&today.day) && parity(profile.birth_year) != window.birth_year {
                return Err(Rejection::PurchaseWindowClosed {
                    allowed: window.birth_year,
                }
                .into());
            }
        }
        profile.roll(today);
        let after = |used: Won| arith(used.checked_add(face));
        if let Some(limit) = rules.monthly_limit
            && after(profile.purchased_month)? > limit
        {
            return Err(Rejection::MonthlyPurchaseLimit {
                limit,
                used: profile.purchased_month,
            }
            .into());
        }
        let on_channel = profile.purchased_on_channel(channel);
        if let Some(limit) = ch.monthly_limit
            && after(on_channel)? > limit
        {
            return Err(Rejection::ChannelMonthlyLimit {
                channel,
                limit,
                used: on_channel,
            }
            .into());
        }
        if let Some(limit) = rules.yearly_limit
            && after(profile.purchased_year)? > limit
        {
            return Err(Rejection::YearlyPurchaseLimit {
                limit,
                used: profile.purchased_year,
            }
            .into());
        }
        let a = &self.accounts[w as usize];
        let holding = arith(a.balance().and_then(|b| b.checked_add(a.credits_pending)))?;
        if let Some(cap) = rules.holding_cap
            && after(holding)? > cap
        {
            return Err(Rejection::HoldingCap { cap, holding }.into());
        }

        let mut discount = share(face, u64::from(rules.discount_bp));
        if drill!(self, DiscountOneWonMore) && discount.is_positive() {
            discount = arith(discount.checked_add(Won::new(1)))?;
        }
        let mut discount_withheld = false;
        let budget = rules.discount_budget;
        if let (true, Some(b)) = (discount.is_positive(), budget) {
            let room = self.budget_room(cfg, b, today)?;
            if room < discount {
                if !full_price_ok {
                    return Err(Rejection::SubsidyBudgetExhausted {
                        budget: b,
                        available: room,
                    }
                    .into());
                }
                discount = Won::ZERO;
                discount_withheld = true;
            }
        }
        let paid = arith(face.checked_sub(discount))?;
        Ok(PurchaseQuote {
            face,
            paid,
            discount,
            discount_withheld,
            monthly_limit: rules.monthly_limit,
            purchased_month: profile.purchased_month,
            yearly_limit: rules.yearly_limit,
            purchased_year: profile.purchased_year,
            channel_limit: ch.monthly_limit,
            purchased_on_channel: on_channel,
            holding_cap: rules.holding_cap,
            holding,
        })
    }

    fn buy(
        &mut self,
        wallet: WalletId,
        face: Won,
        channel: u16,
        full_price_ok: bool,
        pending_timeout_us: Option<u64>,
        now: Timestamp,
    ) -> Result<SchemeApplied, Failure> {
        let quote = self.price_purchase(wallet, face, channel, full_price_ok, now)?;
        let version = self.active_version(now)?;
        let cfg = &version.config;
        let rules = &cfg.purchase;
        let id = wallet.account();
        let today = KstDate::of(now);
        let mut profile = self.citizen_profile(id)?;
        profile.roll(today);
        let after = |used: Won| arith(used.checked_add(face));
        let on_channel = quote.purchased_on_channel;
        let discount = quote.discount;
        let discount_withheld = quote.discount_withheld;
        let budget = rules.discount_budget;
        let paid = quote.paid;
        let lot = LotSpec {
            tag: channel,
            expires_at: valid_until(now, rules.validity_days),
        };
        let mode = match pending_timeout_us {
            None => Mode::Posted,
            Some(timeout_us) => Mode::Pending { timeout_us },
        };
        let (charge, status, _) = self.transfer(
            &Transfer {
                spec: TransferSpec::Charge {
                    reserve: ReserveId(rules.reserve),
                    wallet,
                    amount: paid,
                    lot,
                },
                mode,
            },
            now,
        )?;
        let subsidy = match (discount.is_positive(), budget) {
            (true, Some(b)) => {
                let (sid, _, _) = self.transfer(
                    &Transfer {
                        spec: TransferSpec::Subsidy {
                            budget: BudgetId(b),
                            wallet,
                            amount: discount,
                            lot,
                        },
                        mode,
                    },
                    now,
                )?;
                self.use_budget(b, discount, today)?;
                add_subsidy(&mut profile.subsidy_loaded, b, discount)?;
                Some(sid)
            }
            _ => None,
        };

        profile.purchased_month = after(profile.purchased_month)?;
        let new_on_channel = after(on_channel)?;
        match profile
            .purchased_by_channel
            .iter_mut()
            .find(|(c, _)| *c == channel)
        {
            Some((_, w)) => *w = new_on_channel,
            None => {
                profile.purchased_by_channel.push((channel, new_on_channel));
                profile.purchased_by_channel.sort_by_key(|(c, _)| *c);
            }
        }
        profile.purchased_year = after(profile.purchased_year)?;
        profile.face_loaded = after(profile.face_loaded)?;
        self.put_citizen(id, profile)?;
        self.put_purchase(PurchaseRecord {
            charge,
            subsidy,
            wallet: id,
            channel,
            face,
            paid,
            discount,
            budget: subsidy.and(budget),
            at: now,
            expires_at: lot.expires_at,
            state: match status {
                TransferStatus::Pending => PurchaseState::Pending,
                TransferStatus::Posted => PurchaseState::Posted,
            },
        });
        Ok(SchemeApplied::Purchased {
            charge,
            subsidy,
            face,
            paid,
            discount,
            status,
            discount_withheld,
        })
    }

    fn pending_purchase(&self, purchase: TransferId) -> Result<PurchaseRecord, Rejection> {
        let rec = self
            .scheme
            .purchases
            .get(&purchase)
            .cloned()
            .ok_or(Rejection::PurchaseNotFound { purchase })?;
        if rec.state != PurchaseState::Pending {
            return Err(Rejection::PurchaseNotPending { purchase });
        }
        Ok(rec)
    }

    /// A purchase that did not happen (bank refused) or was cancelled no longer counts
    /// against the citizen's limits or the budget's ceilings.
    fn release_purchase(&mut self, rec: &PurchaseRecord) -> Result<(), Failure> {
        let bought = KstDate::of(rec.at);
        let mut p = self.citizen_profile(rec.wallet)?;
        if p.month == bought.month_index() {
            p.purchased_month = sub_floor(p.purchased_month, rec.face);
            if let Some((_, w)) = p
                .purchased_by_channel
                .iter_mut()
                .find(|(c, _)| *c == rec.channel)
            {
                *w = sub_floor(*w, rec.face);
            }
        }
        if p.year == bought.year {
            p.purchased_year = sub_floor(p.purchased_year, rec.face);
        }
        p.face_loaded = sub_floor(p.face_loaded, rec.face);
        if let Some(b) = rec.budget
            && let Some((_, s)) = p.subsidy_loaded.iter_mut().find(|(id, _)| *id == b)
        {
            *s = sub_floor(*s, rec.discount);
        }
        p.subsidy_loaded.retain(|(_, s)| s.is_positive());
        self.put_citizen(rec.wallet, p)?;
        if let Some(b) = rec.budget {
            self.return_budget(b, rec.discount, Some(bought.month_index()));
        }
        Ok(())
    }

    /// What cancelling `purchase` would pay back, decided by the same code as the
    /// cancellation ([`Ledger::cancel_purchase`] calls it), without cancelling.
    pub fn quote_cancel_purchase(
        &self,
        purchase: TransferId,
        now: Timestamp,
    ) -> Result<CancelQuote, Rejection> {
        self.price_cancel(purchase, now).map_err(quote_rejection)
    }

    fn price_cancel(&self, purchase: TransferId, now: Timestamp) -> Result<CancelQuote, Failure> {
        let version = self.active_version(now)?;
        let cfg = &version.config;
        let rec = self
            .scheme
            .purchases
            .get(&purchase)
            .ok_or(Rejection::PurchaseNotFound { purchase })?;
        if rec.state != PurchaseState::Posted {
            return Err(Rejection::PurchaseNotPosted { purchase }.into());
        }
        let until = rec.at.plus_micros(days(cfg.refunds.cancel_window_days));
        if now > until {
            return Err(Rejection::CancelWindowPassed { purchase, until }.into());
        }
        let w = self.resolve(rec.wallet, AccountKind::CitizenWallet)?;
        let unused = self.accounts[w as usize]
            .lots
            .iter()
            .filter(|l| {
                l.source == Source::Purchased
                    && l.tag == rec.channel
                    && l.expires_at == rec.expires_at
                    && l.expires_at > now
            })
            .try_fold(Won::ZERO, |acc, l| acc.checked_add(l.amount));
        let unused = arith(unused)?;
        if unused < rec.face {
            return Err(Rejection::PurchasePartlyUsed { purchase, unused }.into());
        }
        let keep_discount = drill!(self, CancelKeepsDiscount);
        let subsidy = match rec.budget {
            Some(_) if rec.discount.is_positive() && !keep_discount => rec.discount,
            _ => Won::ZERO,
        };
        Ok(CancelQuote {
            purchase,
            wallet: rec.wallet,
            face: rec.face,
            cash: rec.paid,
            subsidy,
            until,
        })
    }

    fn cancel_purchase(
        &mut self,
        purchase: TransferId,
        payout_timeout_us: Option<u64>,
        now: Timestamp,
    ) -> Result<SchemeApplied, Failure> {
        let quote = self.price_cancel(purchase, now)?;
        let version = self.active_version(now)?;
        let cfg = &version.config;
        let mut rec = self
            .scheme
            .purchases
            .get(&purchase)
            .cloned()
            .ok_or(Rejection::PurchaseNotFound { purchase })?;
        let only_this = DrawFilter {
            exact: Some((Source::Purchased, rec.channel, rec.expires_at)),
            ..DrawFilter::ANY
        };
        let wallet = WalletId(rec.wallet);
        let purchased = SourceSet::of(&[Source::Purchased]);
        let (cash_transfer, _, _) = self.transfer_filtered(
            &Transfer::posted(TransferSpec::CashRefund {
                wallet,
                clearing: ClearingId(cfg.refunds.clearing),
                amount: rec.paid,
                sources: purchased,
            }),
            now,
            only_this,
        )?;
        let subsidy_transfer = match rec.budget {
            Some(b) if quote.subsidy.is_positive() => Some(
                self.transfer_filtered(
                    &Transfer::posted(TransferSpec::SubsidyReturn {
                        wallet,
                        budget: BudgetId(b),
                        amount: rec.discount,
                        sources: purchased,
                    }),
                    now,
                    only_this,
                )?
                .0,
            ),
            _ => None,
        };
        self.release_purchase(&rec)?;
        rec.state = PurchaseState::Cancelled;
        let (cash, subsidy, wallet) = (rec.paid, rec.discount, rec.wallet);
        self.put_purchase(rec);
        let payout = self.open_payout(cfg, wallet, cash, payout_timeout_us, now)?;
        Ok(SchemeApplied::PurchaseCancelled {
            purchase,
            cash_transfer,
            cash,
            subsidy_transfer,
            subsidy,
            payout,
        })
    }

    fn pay(
        &mut self,
        payer: WalletId,
        merchant: MerchantId,
        amount: Won,
        now: Timestamp,
    ) -> Result<SchemeApplied, Failure> {
        let version = self.active_version(now)?;
        let cfg = &version.config;
        let m = self.merchant(merchant.account())?;
        if let Some(reason) = merchant_suspension(cfg, &m) {
            return Err(Rejection::MerchantSuspended {
                merchant: merchant.account(),
                reason,
            }
            .into());
        }
        let payer_id = payer.account();
        self.resolve(payer_id, AccountKind::CitizenWallet)?;
        let profile = match &cfg.cashback {
            Some(_) => Some(self.citizen_profile(payer_id)?),
            None => None,
        };
        let filter = DrawFilter {
            sources: scheme_sources(cfg, &m),
            ..DrawFilter::ANY
        };
        let (payment, _, _) = self.transfer_filtered(
            &Transfer::posted(TransferSpec::Payment {
                payer,
                merchant,
                amount,
            }),
            now,
            filter,
        )?;

        let (Some(rules), Some(mut profile)) = (&cfg.cashback, profile) else {
            return Ok(SchemeApplied::Paid {
                payment,
                amount,
                cashback: Won::ZERO,
                cashback_transfer: None,
                cashback_note: None,
            });
        };
        let earning_sources = source_set(&rules.earning_sources);
        // The payment's record (kept for refunds) holds the lots it drew.
        let earning = self
            .payments
            .get(payment)
            .map(|r| {
                r.drawn
                    .iter()
                    .filter(|l| earning_sources.contains(l.source))
                    .try_fold(Won::ZERO, |acc, l| acc.checked_add(l.amount))
            })
            .unwrap_or(Some(Won::ZERO));
        let earning = arith(earning)?;
        let today = KstDate::of(now);
        profile.roll(today);
        let mut rate = cfg.cashback_rate(m.annual_revenue);
        if drill!(self, CashbackTenfold) {
            rate = rate.saturating_mul(10);
        }
        let mut note = None;
        let mut counted = Won::ZERO;
        let mut cashback = Won::ZERO;
        if rate == 0 {
            note = Some(CashbackNote::NoRateForMerchant);
        } else {
            counted = earning;
            if let Some(cap) = rules.monthly_spend_cap {
                let room = sub_floor(cap, profile.cashback_spend_month);
                if counted > room {
                    counted = room;
                    note = Some(CashbackNote::MonthlySpendCapReached);
                }
            }
            cashback = share(counted, u64::from(rate));
            if let Some(cap) = rules.monthly_cashback_cap {
                let room = sub_floor(cap, profile.cashback_month);
                if cashback > room {
                    cashback = room;
                    note = Some(CashbackNote::MonthlyCashbackCapReached);
                }
            }
            let room = self.budget_room(cfg, rules.budget, today)?;
            if cashback > room {
                cashback = room;
                note = Some(CashbackNote::BudgetExhausted);
            }
        }
        let cashback_transfer = if cashback.is_positive() {
            let lot = LotSpec {
                tag: 0,
                expires_at: valid_until(now, rules.validity_days),
            };
            let (id, _, _) = self.transfer(
                &Transfer::posted(TransferSpec::Cashback {
                    budget: BudgetId(rules.budget),
                    wallet: payer,
                    amount: cashback,
                    lot,
                }),
                now,
            )?;
            self.use_budget(rules.budget, cashback, today)?;
            Some(id)
        } else {
            None
        };
        profile.cashback_spend_month = arith(profile.cashback_spend_month.checked_add(counted))?;
        profile.cashback_month = arith(profile.cashback_month.checked_add(cashback))?;
        self.put_citizen(payer_id, profile)?;
        if cashback.is_positive() || counted.is_positive() {
            self.put_cashback(CashbackRecord {
                payment,
                payer: payer_id,
                amount,
                refunded: Won::ZERO,
                cashback,
                clawed: Won::ZERO,
                counted,
                budget: rules.budget,
                at: now,
            });
        }
        Ok(SchemeApplied::Paid {
            payment,
            amount,
            cashback,
            cashback_transfer,
            cashback_note: note,
        })
    }

    fn refund_scheme_payment(
        &mut self,
        payment: TransferId,
        amount: Won,
        now: Timestamp,
    ) -> Result<SchemeApplied, Failure> {
        let refund = self.refund_payment(payment, amount)?;
        let Some(mut rec) = self.scheme.cashbacks.get(&payment).cloned() else {
            return Ok(SchemeApplied::PaymentRefunded {
                refund,
                amount,
                cashback_returned: Won::ZERO,
                cashback_unrecovered: Won::ZERO,
            });
        };
        rec.refunded = arith(rec.refunded.checked_add(amount))?;
        // What is due back in total after this refund, in proportion, rounded down;
        // less what was already taken back.
        let due = sub_floor(
            prorate_of(rec.cashback, rec.refunded, rec.amount),
            rec.clawed,
        );
        let w = self.resolve(rec.payer, AccountKind::CitizenWallet)?;
        let held = self.accounts[w as usize]
            .lots
            .iter()
            .filter(|l| l.source == Source::Cashback && l.expires_at > now)
            .try_fold(Won::ZERO, |acc, l| acc.checked_add(l.amount));
        let mut take = due.min(arith(held)?);
        if drill!(self, RefundKeepsCashback) {
            take = Won::ZERO;
        }
        if take.is_positive() {
            self.transfer(
                &Transfer::posted(TransferSpec::SubsidyReturn {
                    wallet: WalletId(rec.payer),
                    budget: BudgetId(rec.budget),
                    amount: take,
                    sources: SourceSet::of(&[Source::Cashback]),
                }),
                now,
            )?;
            self.return_budget(rec.budget, take, Some(KstDate::of(rec.at).month_index()));
        }
        // The refunded spend no longer counts towards the month's cap (if it is still
        // the month it was counted in), nor the cash-back taken back.
        if let Some(mut p) = self.citizen(rec.payer).cloned()
            && p.month == KstDate::of(rec.at).month_index()
        {
            let before = sub_floor(rec.refunded, amount);
            let uncount = sub_floor(
                prorate_of(rec.counted, rec.refunded, rec.amount),
                prorate_of(rec.counted, before, rec.amount),
            );
            p.cashback_spend_month = sub_floor(p.cashback_spend_month, uncount);
            p.cashback_month = sub_floor(p.cashback_month, take);
            self.put_citizen(rec.payer, p)?;
        }
        rec.clawed = arith(rec.clawed.checked_add(take))?;
        self.put_cashback(rec);
        Ok(SchemeApplied::PaymentRefunded {
            refund,
            amount,
            cashback_returned: take,
            cashback_unrecovered: sub_floor(due, take),
        })
    }

    fn gift(
        &mut self,
        sender: WalletId,
        recipient: WalletId,
        amount: Won,
        now: Timestamp,
    ) -> Result<SchemeApplied, Failure> {
        let version = self.active_version(now)?;
        let cfg = &version.config;
        let rules = &cfg.gifts;
        if !rules.enabled {
            return Err(Rejection::GiftsDisabled.into());
        }
        let today = KstDate::of(now);
        if rules.paused_days.contains(&today.day) {
            return Err(Rejection::GiftsPausedToday.into());
        }
        check_amount(amount)?;
        let mut from = self.citizen_profile(sender.account())?;
        let mut to = self.citizen_profile(recipient.account())?;
        from.roll(today);
        to.roll(today);
        let sent = arith(from.gift_sent_month.checked_add(amount))?;
        if let Some(limit) = rules.sent_monthly_limit
            && sent > limit
        {
            return Err(Rejection::GiftSentMonthlyLimit {
                limit,
                used: from.gift_sent_month,
            }
            .into());
        }
        let received = arith(to.gift_received_month.checked_add(amount))?;
        if let Some(limit) = rules.received_monthly_limit
            && received > limit
        {
            return Err(Rejection::GiftReceivedMonthlyLimit {
                limit,
                used: to.gift_received_month,
            }
            .into());
        }
        let giftable = source_set(&rules.giftable_sources);
        let filter = DrawFilter {
            sources: giftable,
            purchased_tags: cfg.giftable_channels(),
            exact: None,
        };
        let (gift, _, _) = self.transfer_filtered(
            &Transfer::posted(TransferSpec::Gift {
                sender,
                recipient,
                amount,
                sources: giftable,
            }),
            now,
            filter,
        )?;
        from.gift_sent_month = sent;
        to.gift_received_month = received;
        self.put_citizen(sender.account(), from)?;
        self.put_citizen(recipient.account(), to)?;
        Ok(SchemeApplied::Gifted { gift, amount })
    }

    /// What a balance refund would pay back and return to the budgets, decided by the
    /// same code as the refund ([`Ledger::refund_balance`] calls it), without refunding.
    pub fn quote_refund_balance(
        &self,
        wallet: WalletId,
        now: Timestamp,
    ) -> Result<BalanceRefundQuote, Rejection> {
        self.price_refund_balance(wallet, now)
            .map_err(quote_rejection)
    }

    fn price_refund_balance(
        &self,
        wallet: WalletId,
        now: Timestamp,
    ) -> Result<BalanceRefundQuote, Failure> {
        let version = self.active_version(now)?;
        let cfg = &version.config;
        let id = wallet.account();
        let w = self.resolve(id, AccountKind::CitizenWallet)?;
        let p = self.citizen_profile(id)?;
        if self.accounts[w as usize].credits_pending.is_positive() {
            return Err(Rejection::ChargeInProgress { wallet: id }.into());
        }
        let remaining = self.accounts[w as usize]
            .lots
            .iter()
            .filter(|l| l.source == Source::Purchased && l.expires_at > now)
            .try_fold(Won::ZERO, |acc, l| acc.checked_add(l.amount));
        let remaining = arith(remaining)?;
        let loaded = p.face_loaded;
        if !loaded.is_positive() || !remaining.is_positive() {
            return Err(Rejection::NothingToRefund { wallet: id }.into());
        }
        let r = &cfg.refunds;
        let required = if loaded <= r.small_value_max {
            r.small_used_share_bp
        } else {
            r.used_share_bp
        };
        let used = sub_floor(loaded, remaining);
        let used_x = i128::from(used.get()) * i128::from(BP_ONE);
        if used_x < i128::from(loaded.get()) * i128::from(required) {
            let used_bp = (used_x / i128::from(loaded.get())) as u16;
            return Err(Rejection::RefundThresholdNotReached {
                used_bp,
                required_bp: required,
            }
            .into());
        }
        // The subsidy share of what is left goes back to the budgets that paid it, each
        // its own share, not to the citizen.
        let mut shares = Vec::new();
        for (b, s) in &p.subsidy_loaded {
            let share =
                i128::from(remaining.get()) * i128::from(s.get()) / i128::from(loaded.get());
            let share = Won::new(i64::try_from(share).unwrap_or(0)).min(*s);
            if share.is_positive() {
                shares.push((*b, share));
            }
        }
        if drill!(self, BalanceRefundSkipsSubsidy) {
            shares.clear();
        }
        let subsidy = shares
            .iter()
            .try_fold(Won::ZERO, |acc, (_, s)| acc.checked_add(*s));
        let subsidy = arith(subsidy)?.min(remaining);
        let cash = arith(remaining.checked_sub(subsidy))?;
        Ok(BalanceRefundQuote {
            remaining,
            cash,
            subsidy,
            shares,
        })
    }

    fn refund_balance(
        &mut self,
        wallet: WalletId,
        payout_timeout_us: Option<u64>,
        now: Timestamp,
    ) -> Result<SchemeApplied, Failure> {
        let BalanceRefundQuote {
            cash,
            subsidy,
            shares,
            ..
        } = self.price_refund_balance(wallet, now)?;
        let version = self.active_version(now)?;
        let cfg = &version.config;
        let r = &cfg.refunds;
        let id = wallet.account();
        let mut p = self.citizen_profile(id)?;
        let purchased = SourceSet::of(&[Source::Purchased]);
        let cash_transfer = if cash.is_positive() {
            Some(
                self.transfer(
                    &Transfer::posted(TransferSpec::CashRefund {
                        wallet,
                        clearing: ClearingId(r.clearing),
                        amount: cash,
                        sources: purchased,
                    }),
                    now,
                )?
                .0,
            )
        } else {
            None
        };
        let mut subsidy_transfer = None;
        for (b, share) in shares {
            let (sid, _, _) = self.transfer(
                &Transfer::posted(TransferSpec::SubsidyReturn {
                    wallet,
                    budget: BudgetId(b),
                    amount: share,
                    sources: purchased,
                }),
                now,
            )?;
            self.return_budget(b, share, None);
            subsidy_transfer.get_or_insert(sid);
        }
        p.face_loaded = Won::ZERO;
        p.subsidy_loaded.clear();
        self.put_citizen(id, p)?;
        let payout = self.open_payout(cfg, id, cash, payout_timeout_us, now)?;
        Ok(SchemeApplied::BalanceRefunded {
            cash_transfer,
            cash,
            subsidy_transfer,
            subsidy,
            payout,
        })
    }
}

/// A quote's refusal: the purchase's own, or (should a total overflow, which the rules
/// check cannot happen) "too large".
fn quote_rejection(f: Failure) -> Rejection {
    match f {
        Failure::Reject(r) => r,
        Failure::Violation(_) => Rejection::AmountTooLarge,
    }
}

fn check_auto_charge(cfg: &SchemeConfig, s: &AutoChargeSetting) -> Result<(), Rejection> {
    if !cfg.auto_charge.enabled {
        return Err(Rejection::AutoChargeDisabled);
    }
    let p = &cfg.purchase;
    let face_ok = s.monthly_face == Won::ZERO
        || (s.monthly_face.get() % p.unit.get() == 0
            && s.monthly_face >= p.min
            && s.monthly_face <= p.max_per_purchase);
    if !(1..=28).contains(&s.day) || !face_ok || cfg.channel(s.channel).is_none() {
        return Err(Rejection::AutoChargeInvalid);
    }
    if s.monthly_face == Won::ZERO && !s.topup {
        return Err(Rejection::AutoChargeInvalid);
    }
    Ok(())
}
