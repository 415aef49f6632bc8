//! Operator reports a municipality asks for: issuance, sales, subsidy spent and left,
//! outstanding balance by source, payments, redemptions, refunds and expiries, per day
//! and per month (KST). Built from the journal (flows) and the ledger (what is held
//! now), so they can be re-run at any time and agree with `maeul verify`.

use std::collections::BTreeMap;
use std::fmt;

use engine::{Engine, Storage};
use ledger::scheme::calendar::KstDate;
use ledger::{AccountKind, Ledger, Source, TransferKind};

use crate::TreasuryError;
use crate::events::{Event, EventFold};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub won: i64,
}

impl Tally {
    fn add(&mut self, won: i64) {
        self.count += 1;
        self.won += won;
    }
}

/// The flows of one day, one month, or the whole life of the currency.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Period {
    /// `2026-03-10`, `2026-03` or `total`.
    pub label: String,
    /// What citizens paid for vouchers (sales, 판매액).
    pub sales: Tally,
    /// Discount paid by budgets at purchase.
    pub discount: Tally,
    pub cashback: Tally,
    /// Policy money (allowances) paid by budgets.
    pub allowance: Tally,
    pub budget_funding: Tally,
    pub payments: Tally,
    pub payment_refunds: Tally,
    pub gifts: Tally,
    pub redemptions: Tally,
    /// Cash refunds to citizens (cancelled purchases and balance refunds).
    pub cash_refunds: Tally,
    /// Subsidy that came back to budgets with refunds.
    pub subsidy_returned: Tally,
    pub expiries: Tally,
    /// Value that left circulation through the bank (redemptions and refunds paid).
    pub settled: Tally,
}

impl Period {
    fn labelled(label: String) -> Period {
        Period {
            label,
            ..Period::default()
        }
    }

    /// Value issued into wallets: bought value plus every subsidy.
    pub fn issuance(&self) -> i64 {
        self.sales.won + self.discount.won + self.cashback.won + self.allowance.won
    }

    /// Subsidy spent, net of what came back.
    pub fn subsidy_spent(&self) -> i64 {
        self.discount.won + self.cashback.won + self.allowance.won - self.subsidy_returned.won
    }

    fn add(&mut self, kind: TransferKind, won: i64) {
        let t = match kind {
            TransferKind::Charge => &mut self.sales,
            TransferKind::Subsidy => &mut self.discount,
            TransferKind::Cashback => &mut self.cashback,
            TransferKind::Allowance => &mut self.allowance,
            TransferKind::BudgetFunding => &mut self.budget_funding,
            TransferKind::Payment => &mut self.payments,
            TransferKind::PaymentRefund => &mut self.payment_refunds,
            TransferKind::Gift => &mut self.gifts,
            TransferKind::Redemption => &mut self.redemptions,
            TransferKind::CashRefund => &mut self.cash_refunds,
            TransferKind::SubsidyReturn => &mut self.subsidy_returned,
            TransferKind::Expiry => &mut self.expiries,
            TransferKind::Settlement => &mut self.settled,
            TransferKind::Fee | TransferKind::Correction => return,
        };
        t.add(won);
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetLine {
    pub budget: ledger::AccountId,
    /// What the budget still holds (subsidy left).
    pub left: i64,
    pub spent_total: i64,
    pub spent_this_month: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperatorReport {
    pub currency: String,
    pub days: Vec<Period>,
    pub months: Vec<Period>,
    pub total: Period,
    pub budgets: Vec<BudgetLine>,
    /// Value held in citizens' wallets now, by source.
    pub outstanding_by_source: Vec<(Source, i64)>,
    /// Value held by merchants, not yet redeemed.
    pub merchants_outstanding: i64,
    /// In the clearing account: redemptions and refunds on their way to banks.
    pub clearing: i64,
}

impl OperatorReport {
    /// Flows from the journal in `storage`, holdings from `engine`'s ledger (read
    /// after the scan, so the sequencer is never held up by it).
    pub fn build(storage: &dyn Storage, engine: &Engine) -> Result<OperatorReport, TreasuryError> {
        let mut report = OperatorReport::flows(storage)?;
        engine.read(|l| report.add_holdings(l));
        Ok(report)
    }

    /// The same from a ledger at hand (e.g. one replayed from the journal offline).
    pub fn from_ledger(
        storage: &dyn Storage,
        ledger: &Ledger,
    ) -> Result<OperatorReport, TreasuryError> {
        let mut report = OperatorReport::flows(storage)?;
        report.add_holdings(ledger);
        Ok(report)
    }

    fn flows(storage: &dyn Storage) -> Result<OperatorReport, TreasuryError> {
        let mut days: BTreeMap<String, Period> = BTreeMap::new();
        let mut months: BTreeMap<String, Period> = BTreeMap::new();
        let mut total = Period::labelled("total".into());
        let fold = EventFold::scan(storage, &mut |e| {
            if let Event::Posted { at, kind, amount } = e {
                let d = KstDate::of(*at);
                let day = format!("{:04}-{:02}-{:02}", d.year, d.month, d.day);
                let month = format!("{:04}-{:02}", d.year, d.month);
                days.entry(day.clone())
                    .or_insert_with(|| Period::labelled(day))
                    .add(*kind, amount.get());
                months
                    .entry(month.clone())
                    .or_insert_with(|| Period::labelled(month))
                    .add(*kind, amount.get());
                total.add(*kind, amount.get());
            }
        })?;
        Ok(OperatorReport {
            currency: fold.currency().unwrap_or_default().to_owned(),
            days: days.into_values().collect(),
            months: months.into_values().collect(),
            total,
            ..OperatorReport::default()
        })
    }

    fn add_holdings(&mut self, l: &Ledger) {
        let now = KstDate::of(l.last_timestamp()).month_index();
        let mut by_source = [0i64; 5];
        for a in l.accounts() {
            let balance = a.balance().map_or(0, |b| b.get());
            match a.kind {
                AccountKind::CitizenWallet => {
                    for lot in &a.lots {
                        by_source[lot.source as usize] += lot.amount.get();
                    }
                }
                AccountKind::Merchant => self.merchants_outstanding += balance,
                AccountKind::SettlementClearing => self.clearing += balance,
                AccountKind::SubsidyBudget => {
                    let usage = l.budget_usage(a.id).cloned().unwrap_or_default();
                    self.budgets.push(BudgetLine {
                        budget: a.id,
                        left: balance,
                        spent_total: usage.spent_total.get(),
                        spent_this_month: if usage.month == now {
                            usage.spent_month.get()
                        } else {
                            0
                        },
                    });
                }
                AccountKind::IssuerReserve | AccountKind::Fees => {}
            }
        }
        self.outstanding_by_source = Source::ALL
            .iter()
            .map(|s| (*s, by_source[*s as usize]))
            .collect();
    }
}

fn row(f: &mut fmt::Formatter<'_>, p: &Period) -> fmt::Result {
    writeln!(
        f,
        "  {:<10} {:>14} {:>14} {:>12} {:>14} {:>12} {:>12} {:>12} {:>10}",
        p.label,
        group(p.issuance()),
        group(p.sales.won),
        group(p.subsidy_spent()),
        group(p.payments.won),
        group(p.redemptions.won),
        group(p.cash_refunds.won),
        group(p.expiries.won),
        p.payments.count
    )
}

/// `1234567` → `1,234,567`.
fn group(n: i64) -> String {
    engine::replay::group(i128::from(n))
}

impl fmt::Display for OperatorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "운영 보고서 operator report — {}", self.currency)?;
        writeln!(
            f,
            "  {:<10} {:>14} {:>14} {:>12} {:>14} {:>12} {:>12} {:>12} {:>10}",
            "기간 period",
            "발행 issued",
            "판매 sales",
            "보조 subsidy",
            "결제 payments",
            "환전 redeemed",
            "환불 refunds",
            "소멸 expired",
            "결제 건수"
        )?;
        for p in &self.months {
            row(f, p)?;
        }
        row(f, &self.total)?;
        writeln!(f, "  예산 budgets:")?;
        for b in &self.budgets {
            writeln!(
                f,
                "    {}  남음 left {} won  집행 spent {} won (this month {})",
                b.budget,
                group(b.left),
                group(b.spent_total),
                group(b.spent_this_month)
            )?;
        }
        writeln!(f, "  잔액 outstanding in wallets by source:")?;
        for (s, won) in &self.outstanding_by_source {
            writeln!(f, "    {:<12} {:>16} won", s.as_str(), group(*won))?;
        }
        writeln!(
            f,
            "  merchants not yet redeemed {} won; clearing (on its way to banks) {} won",
            group(self.merchants_outstanding),
            group(self.clearing)
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_thousands() {
        assert_eq!(super::group(0), "0");
        assert_eq!(super::group(1_234_567), "1,234,567");
        assert_eq!(super::group(-1_000), "-1,000");
    }
}
