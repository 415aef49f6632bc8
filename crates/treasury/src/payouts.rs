//! Money out: merchant redemptions (on request and in the daily settlement) and cash
//! refunds paid to citizens.

use std::sync::Arc;

use bank::{AccountNo, Bank, Order, RejectCode};
use ledger::scheme::calendar::KstDate;
use ledger::scheme::{SchemeApplied, SchemeCommand};
use ledger::{
    AccountKind, Applied, ClientId, Command, Envelope, IdempotencyKey, MerchantId, Mode, Rejection,
    Timestamp, Transfer, TransferId, TransferSpec, TransferStatus, WalletId, Won,
};
use tokio::task::JoinSet;

use crate::resolve::{Concluded, expect_applied};
use crate::{ORDER_PENDING_US, OrderKind, Purpose, Settled, Treasury, TreasuryError, key};

/// How a payout (redemption or cash refund) ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayoutResult {
    Paid {
        transfer: TransferId,
        amount: Won,
    },
    /// The bank refused: a redemption's value is back on the merchant's balance; a
    /// refund stays owed in the clearing account for an operator to resolve.
    Refused {
        transfer: TransferId,
        amount: Won,
        code: RejectCode,
        message: String,
    },
    InDoubt {
        transfer: TransferId,
        amount: Won,
    },
}

/// One merchant's line in a daily settlement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementItem {
    pub merchant: MerchantId,
    pub result: Result<PayoutResult, String>,
}

/// A day's automatic settlement: every merchant's balance at the cut-off, redeemed to
/// its bank, with the totals an operator signs off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettlementBatch {
    /// `YYYY-MM-DD` (KST) of the cut-off.
    pub day: String,
    pub cutoff: Timestamp,
    pub items: Vec<SettlementItem>,
    pub paid: (usize, i64),
    pub refused: (usize, i64),
    pub in_doubt: (usize, i64),
    /// Merchants skipped: no linked account, or already settled for this day.
    pub skipped: Vec<(MerchantId, String)>,
}

impl<B: Bank> Treasury<B> {
    async fn pay_order(
        &self,
        kind: OrderKind,
        id: TransferId,
        amount: Won,
        to: AccountNo,
    ) -> Result<PayoutResult, TreasuryError> {
        let Some(deadline) = self.engine.read(|l| l.pending(id).map(|p| p.deadline)) else {
            // Already ended (a retried request): the bank's status tells how.
            let reference = self.reference(kind, id)?;
            let settled = self.follow(kind, &reference, 0, None).await;
            return Ok(result(id, amount, &settled, Concluded::Open));
        };
        let created = deadline.as_micros().saturating_sub(ORDER_PENDING_US);
        let order = Order {
            reference: self.reference(kind, id)?,
            debit: self.config.issuer_account.clone(),
            credit: to,
            amount: amount.get(),
            memo: match kind {
                OrderKind::Redemption => "maeul redemption".into(),
                _ => "maeul refund".into(),
            },
            not_after_ms: self.not_after_ms(created),
        };
        let settled = self.run_order(kind, &order, created).await;
        let concluded = self.conclude(kind, id, &settled).await?;
        Ok(result(id, amount, &settled, concluded))
    }

    /// A merchant redeems `amount` of its balance to its linked bank account.
    pub async fn redeem(
        &self,
        client: ClientId,
        key: IdempotencyKey,
        merchant: MerchantId,
        amount: Won,
    ) -> Result<PayoutResult, TreasuryError> {
        let to = self
            .accounts
            .get(merchant.account())
            .ok_or(TreasuryError::NoLinkedAccount(merchant.account()))?;
        let mut outs = self
            .submit(vec![Envelope {
                client,
                key,
                command: Command::Transfer(Transfer {
                    spec: TransferSpec::Redemption {
                        merchant,
                        clearing: self.config.clearing,
                        amount,
                    },
                    mode: Mode::Pending {
                        timeout_us: ORDER_PENDING_US,
                    },
                }),
            }])
            .await?;
        let out = outs
            .pop()
            .ok_or_else(|| TreasuryError::Unexpected("no answer".into()))?;
        let Applied::Transfer {
            id,
            status: TransferStatus::Pending,
            amount,
        } = expect_applied(out)?
        else {
            return Err(TreasuryError::Unexpected(
                "unexpected answer to a redemption".into(),
            ));
        };
        self.pay_order(OrderKind::Redemption, id, amount, to).await
    }

    /// Pays a refund's payout (a pending settlement the ledger opened with the refund)
    /// to the citizen's bank.
    pub async fn pay_out(&self, payout: TransferId) -> Result<PayoutResult, TreasuryError> {
        let Some(record) = self.engine.read(|l| l.payout(payout).cloned()) else {
            return Err(TreasuryError::Refused(Rejection::PendingNotFound {
                id: payout,
            }));
        };
        let to = self
            .accounts
            .get(record.wallet)
            .ok_or(TreasuryError::NoLinkedAccount(record.wallet))?;
        self.pay_order(OrderKind::Payout, payout, record.amount, to)
            .await
    }

    /// The remaining balance refunded in cash once the scheme's used share is reached
    /// (the subsidy share goes back to its budget), paid to the citizen's bank. The
    /// payout is opened in the same ledger command as the refund, so a crash between
    /// the two cannot leave a refund unpaid: the sweep finds the payout pending.
    pub async fn refund_balance(
        &self,
        client: ClientId,
        key: IdempotencyKey,
        wallet: WalletId,
    ) -> Result<Option<PayoutResult>, TreasuryError> {
        let applied = self
            .scheme_command(
                client,
                key,
                SchemeCommand::RefundBalance {
                    wallet,
                    payout_timeout_us: Some(ORDER_PENDING_US),
                },
            )
            .await?;
        match applied {
            SchemeApplied::BalanceRefunded {
                payout: Some(p), ..
            } => Ok(Some(self.pay_out(p).await?)),
            _ => Ok(None),
        }
    }

    /// An unused purchase cancelled within its window: what was paid goes back to the
    /// citizen's bank, the discount to its budget.
    pub async fn cancel_purchase(
        &self,
        client: ClientId,
        key: IdempotencyKey,
        purchase: TransferId,
    ) -> Result<Option<PayoutResult>, TreasuryError> {
        let applied = self
            .scheme_command(
                client,
                key,
                SchemeCommand::CancelPurchase {
                    purchase,
                    payout_timeout_us: Some(ORDER_PENDING_US),
                },
            )
            .await?;
        match applied {
            SchemeApplied::PurchaseCancelled {
                payout: Some(p), ..
            } => Ok(Some(self.pay_out(p).await?)),
            _ => Ok(None),
        }
    }

    async fn scheme_command(
        &self,
        client: ClientId,
        key: IdempotencyKey,
        command: SchemeCommand,
    ) -> Result<SchemeApplied, TreasuryError> {
        let out = self
            .submit(vec![Envelope {
                client,
                key,
                command: Command::Scheme(Box::new(command)),
            }])
            .await?
            .pop()
            .ok_or_else(|| TreasuryError::Unexpected("no answer".into()))?;
        match expect_applied(out)? {
            Applied::Scheme(a) => Ok(std::sync::Arc::unwrap_or_clone(a)),
            _ => Err(TreasuryError::Unexpected("unexpected answer".into())),
        }
    }
}

impl<B: Bank + 'static> Treasury<B> {
    /// The daily settlement: every merchant's available balance at `cutoff` redeemed to
    /// its bank, at most `parallel_orders` at a time. Running it again for the same day
    /// settles only merchants not yet settled that day.
    pub async fn settle_day(self: &Arc<Self>, cutoff: Timestamp) -> SettlementBatch {
        let day = KstDate::of(cutoff);
        let day_index = u64::from(day.month_index()) * 32 + u64::from(day.day);
        let mut batch = SettlementBatch {
            day: format!("{:04}-{:02}-{:02}", day.year, day.month, day.day),
            cutoff,
            ..SettlementBatch::default()
        };
        let merchants: Vec<(MerchantId, Won)> = self.engine.read(|l| {
            l.accounts()
                .iter()
                .filter(|a| a.kind == AccountKind::Merchant)
                .filter_map(|a| {
                    let available = a.available()?;
                    available
                        .is_positive()
                        .then_some((MerchantId(a.id), available))
                })
                .collect()
        });
        let mut tasks = JoinSet::new();
        let mut queue = merchants.into_iter();
        let parallel = self.config.parallel_orders.max(1);
        loop {
            while tasks.len() < parallel {
                let Some((merchant, amount)) = queue.next() else {
                    break;
                };
                let me = Arc::clone(self);
                let k = key(Purpose::DailyRedemption, day_index, merchant.account().0);
                let client = me.config.client;
                tasks.spawn(async move {
                    let r = me.redeem(client, k, merchant, amount).await;
                    (merchant, r)
                });
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            let Ok((merchant, r)) = joined else { continue };
            match r {
                Ok(p) => {
                    let slot = match &p {
                        PayoutResult::Paid { amount, .. } => (&mut batch.paid, amount),
                        PayoutResult::Refused { amount, .. } => (&mut batch.refused, amount),
                        PayoutResult::InDoubt { amount, .. } => (&mut batch.in_doubt, amount),
                    };
                    slot.0.0 += 1;
                    slot.0.1 += slot.1.get();
                    batch.items.push(SettlementItem {
                        merchant,
                        result: Ok(p),
                    });
                }
                Err(TreasuryError::Refused(Rejection::IdempotencyKeyReused)) => batch
                    .skipped
                    .push((merchant, "already settled for this day".into())),
                Err(TreasuryError::NoLinkedAccount(_)) => batch
                    .skipped
                    .push((merchant, "no bank account linked".into())),
                Err(e) => batch.items.push(SettlementItem {
                    merchant,
                    result: Err(e.to_string()),
                }),
            }
        }
        batch.items.sort_by_key(|i| i.merchant);
        batch.skipped.sort();
        batch
    }
}

fn result(id: TransferId, amount: Won, settled: &Settled, concluded: Concluded) -> PayoutResult {
    match (settled, concluded) {
        (Settled::Completed, Concluded::Posted | Concluded::Open) => PayoutResult::Paid {
            transfer: id,
            amount,
        },
        (Settled::Refused { code, message }, Concluded::Voided | Concluded::Open) => {
            PayoutResult::Refused {
                transfer: id,
                amount,
                code: *code,
                message: message.clone(),
            }
        }
        _ => PayoutResult::InDoubt {
            transfer: id,
            amount,
        },
    }
}
