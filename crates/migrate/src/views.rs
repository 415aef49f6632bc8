//! The ledger at the cut as interchange rows, and its control totals. Pure: the export
//! writes these rows, and the import computes them again from the replayed journal and
//! requires the set's files to say the same.

use ledger::scheme::PurchaseState;
use ledger::{AccountKind, AccountState, Ledger, Lot, Source, SourceSet};

use crate::MigrateError;
use crate::format::{
    AccountRow, AutoChargeRow, BudgetRow, CashbackRow, CitizenRow, LotRow, PaymentRow, PayoutRow,
    PendingRow, PurchaseRow, SchemeRow, Sums,
};

fn lot_row(l: &Lot) -> LotRow {
    LotRow {
        source: l.source.as_str().to_owned(),
        tag: l.tag,
        expires_at_us: l.expires_at.as_micros(),
        amount: l.amount.get(),
    }
}

fn state_name(s: AccountState) -> &'static str {
    match s {
        AccountState::Active => "active",
        AccountState::Frozen => "frozen",
        AccountState::Closed => "closed",
    }
}

fn sources(set: SourceSet) -> Vec<String> {
    Source::ALL
        .into_iter()
        .filter(|s| set.contains(*s))
        .map(|s| s.as_str().to_owned())
        .collect()
}

fn purchase_state(s: PurchaseState) -> &'static str {
    match s {
        PurchaseState::Pending => "pending",
        PurchaseState::Posted => "posted",
        PurchaseState::Failed => "failed",
        PurchaseState::Cancelled => "cancelled",
    }
}

fn balance(a: &ledger::Account) -> Result<i64, MigrateError> {
    a.balance()
        .map(ledger::Won::get)
        .ok_or_else(|| MigrateError::Ledger(format!("account {} overflows", a.id.0)))
}

/// One row of a ledger file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row {
    Account(AccountRow),
    Citizen(CitizenRow),
    Purchase(PurchaseRow),
    Payment(PaymentRow),
    Cashback(CashbackRow),
    Pending(PendingRow),
    Payout(PayoutRow),
    Scheme(SchemeRow),
    Budget(BudgetRow),
}

/// Where a walk over the ledger's rows goes, file by file, one row at a time: a town's
/// twenty million refundable payments are never all held as rows.
pub trait RowSink {
    /// Before the rows of `name`: every ledger file in the set's order, empty ones too.
    fn file(&mut self, name: &'static str) -> Result<(), MigrateError>;
    fn row(&mut self, row: Row) -> Result<(), MigrateError>;
}

fn account_row(a: &ledger::Account) -> Result<AccountRow, MigrateError> {
    Ok(AccountRow {
        id: a.id.0,
        kind: a.kind.as_str().to_owned(),
        state: state_name(a.state).to_owned(),
        balance: balance(a)?,
        debits_pending: a.debits_pending.get(),
        credits_pending: a.credits_pending.get(),
        accepts: (a.kind == AccountKind::Merchant).then(|| sources(a.accepts)),
        lots: a.lots.iter().map(lot_row).collect(),
    })
}

fn pending_row(p: &ledger::PendingTransfer) -> PendingRow {
    PendingRow {
        id: p.id.0,
        kind: p.kind.as_str().to_owned(),
        debit: p.debit.0,
        credit: p.credit.0,
        amount: p.amount.get(),
        deadline_us: p.deadline.as_micros(),
    }
}

/// The control totals straight from the ledger (its accounts and pending transfers),
/// without walking the other files' rows.
pub fn sums_of(ledger: &Ledger) -> Result<Sums, MigrateError> {
    let mut sums = Sums::default();
    for a in ledger.accounts() {
        add_account(&mut sums, &account_row(a)?)?;
    }
    for p in ledger.pendings() {
        add_pending(&mut sums, &pending_row(p))?;
    }
    Ok(sums)
}

/// Walks the rows of every ledger file, in the set's order (ids ascending).
pub fn visit_rows(ledger: &Ledger, sink: &mut dyn RowSink) -> Result<(), MigrateError> {
    use crate::format::files;
    sink.file(files::ACCOUNTS)?;
    let mut sorted: Vec<&ledger::Account> = ledger.accounts().iter().collect();
    sorted.sort_unstable_by_key(|a| a.id);
    for a in sorted {
        sink.row(Row::Account(account_row(a)?))?;
    }
    sink.file(files::CITIZENS)?;
    for (wallet, p) in ledger.citizens() {
        sink.row(Row::Citizen(CitizenRow {
            wallet: wallet.0,
            birth_year: p.birth_year,
            counters_month: p.month,
            counters_year: p.year,
            purchased_month: p.purchased_month.get(),
            purchased_year: p.purchased_year.get(),
            purchased_by_channel: p
                .purchased_by_channel
                .iter()
                .map(|(c, w)| (*c, w.get()))
                .collect(),
            gift_sent_month: p.gift_sent_month.get(),
            gift_received_month: p.gift_received_month.get(),
            cashback_spend_month: p.cashback_spend_month.get(),
            cashback_month: p.cashback_month.get(),
            face_loaded: p.face_loaded.get(),
            subsidy_loaded: p
                .subsidy_loaded
                .iter()
                .map(|(b, w)| (b.0, w.get()))
                .collect(),
            auto_charge: p.auto_charge.as_ref().map(|a| AutoChargeRow {
                day: a.day,
                monthly_face: a.monthly_face.get(),
                channel: a.channel,
                topup: a.topup,
            }),
        }))?;
    }
    sink.file(files::PURCHASES)?;
    for p in ledger.purchases() {
        sink.row(Row::Purchase(PurchaseRow {
            charge: p.charge.0,
            subsidy: p.subsidy.map(|t| t.0),
            wallet: p.wallet.0,
            channel: p.channel,
            face: p.face.get(),
            paid: p.paid.get(),
            discount: p.discount.get(),
            budget: p.budget.map(|b| b.0),
            at_us: p.at.as_micros(),
            cancellable_until_us: p.expires_at.as_micros(),
            state: purchase_state(p.state).to_owned(),
        }))?;
    }
    sink.file(files::PAYMENTS)?;
    for (id, p) in ledger.payments() {
        sink.row(Row::Payment(PaymentRow {
            payment: id.0,
            payer: p.payer.0,
            merchant: p.merchant.0,
            amount: p.amount.get(),
            refunded: p.refunded.get(),
            at_us: p.at.as_micros(),
            drawn: p.drawn.iter().map(lot_row).collect(),
        }))?;
    }
    sink.file(files::CASHBACKS)?;
    for c in ledger.cashbacks() {
        sink.row(Row::Cashback(CashbackRow {
            payment: c.payment.0,
            payer: c.payer.0,
            amount: c.amount.get(),
            refunded: c.refunded.get(),
            cashback: c.cashback.get(),
            clawed: c.clawed.get(),
            counted: c.counted.get(),
            budget: c.budget.0,
            at_us: c.at.as_micros(),
        }))?;
    }
    sink.file(files::PENDING)?;
    let mut pending: Vec<PendingRow> = ledger.pendings().map(pending_row).collect();
    pending.sort_unstable_by_key(|p| p.id);
    for p in pending {
        sink.row(Row::Pending(p))?;
    }
    sink.file(files::PAYOUTS)?;
    for p in ledger.payouts() {
        sink.row(Row::Payout(PayoutRow {
            payout: p.payout.0,
            wallet: p.wallet.0,
            amount: p.amount.get(),
            at_us: p.at.as_micros(),
        }))?;
    }
    sink.file(files::SCHEMES)?;
    for v in ledger.scheme_versions() {
        sink.row(Row::Scheme(SchemeRow {
            number: v.number,
            effective_at_us: v.effective_at.as_micros(),
            set_at_us: v.set_at.as_micros(),
            operator: v.operator.as_str().to_owned(),
            config_toml: v
                .config
                .to_toml()
                .map_err(|e| MigrateError::Ledger(format!("scheme version {}: {e}", v.number)))?,
        }))?;
    }
    sink.file(files::BUDGETS)?;
    for (id, usage) in ledger.budget_usages() {
        let account = ledger
            .account(id)
            .ok_or_else(|| MigrateError::Ledger(format!("budget {} has no account", id.0)))?;
        sink.row(Row::Budget(BudgetRow {
            budget: id.0,
            balance: balance(account)?,
            usage_month: usage.month,
            spent_month: usage.spent_month.get(),
            spent_total: usage.spent_total.get(),
        }))?;
    }
    Ok(())
}

fn add(
    map: &mut std::collections::BTreeMap<String, i64>,
    key: &str,
    won: i64,
) -> Result<(), MigrateError> {
    let slot = map.entry(key.to_owned()).or_insert(0);
    *slot = slot
        .checked_add(won)
        .ok_or_else(|| MigrateError::Ledger(format!("the {key} total overflows")))?;
    Ok(())
}

/// One account row into the control totals.
pub fn add_account(sums: &mut Sums, a: &AccountRow) -> Result<(), MigrateError> {
    add(&mut sums.balances_by_account_kind, &a.kind, a.balance)?;
    *sums.accounts_by_kind.entry(a.kind.clone()).or_insert(0) += 1;
    for lot in &a.lots {
        add(&mut sums.wallets_by_source, &lot.source, lot.amount)?;
    }
    Ok(())
}

/// One pending row into the control totals.
pub fn add_pending(sums: &mut Sums, p: &PendingRow) -> Result<(), MigrateError> {
    add(&mut sums.pending_by_kind, &p.kind, p.amount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::{
        AccountId, ClientId, Command, Envelope, IdempotencyKey, LedgerConfig, LotSpec, ReserveId,
        Timestamp, Transfer, TransferSpec, WalletId, Won,
    };

    /// The accounts file's ids, in the order walked.
    struct AccountIds(Vec<u64>);

    impl RowSink for AccountIds {
        fn file(&mut self, _: &'static str) -> Result<(), MigrateError> {
            Ok(())
        }

        fn row(&mut self, row: Row) -> Result<(), MigrateError> {
            if let Row::Account(a) = row {
                self.0.push(a.id);
            }
            Ok(())
        }
    }

    fn open(id: u64, kind: AccountKind) -> Command {
        Command::OpenAccount {
            account: AccountId(id),
            kind,
            accepts: SourceSet::ALL,
        }
    }

    #[test]
    fn balances_add_up_to_zero_and_lots_by_source_to_the_wallets() {
        let mut l = Ledger::new(LedgerConfig::default());
        let mut key = 0u128;
        let mut env = |command| {
            key += 1;
            Envelope {
                client: ClientId(1),
                key: IdempotencyKey(key),
                command,
            }
        };
        let batch = vec![
            env(open(1, AccountKind::IssuerReserve)),
            env(open(10, AccountKind::CitizenWallet)),
            env(open(11, AccountKind::CitizenWallet)),
            env(Command::Transfer(Transfer::posted(TransferSpec::Charge {
                reserve: ReserveId::new(1),
                wallet: WalletId::new(10),
                amount: Won::new(12_000),
                lot: LotSpec {
                    tag: 0,
                    expires_at: Timestamp::MAX,
                },
            }))),
            env(Command::Transfer(Transfer::posted(TransferSpec::Charge {
                reserve: ReserveId::new(1),
                wallet: WalletId::new(11),
                amount: Won::new(500),
                lot: LotSpec {
                    tag: 0,
                    expires_at: Timestamp::MAX,
                },
            }))),
        ];
        let (outcomes, _) = l.apply(&batch, Timestamp::from_micros(1_000_000));
        assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
        let mut ids = AccountIds(Vec::new());
        visit_rows(&l, &mut ids).expect("rows");
        let s = sums_of(&l).expect("sums");
        assert_eq!(s.balances_by_account_kind["issuer_reserve"], -12_500);
        assert_eq!(s.balances_by_account_kind["citizen_wallet"], 12_500);
        assert_eq!(s.balances_by_account_kind.values().sum::<i64>(), 0);
        assert_eq!(s.wallets_by_source["purchased"], 12_500);
        assert_eq!(s.accounts_by_kind["citizen_wallet"], 2);
        assert_eq!(ids.0, [1, 10, 11]);
    }
}
