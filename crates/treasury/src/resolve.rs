//! Settling bank orders: sending them, reading their status when an answer is lost,
//! and applying the bank's final word to the ledger exactly once.

use std::sync::atomic::Ordering;

use bank::{Bank, Order, OrderStatus, Reference, RejectCode};
use ledger::{Applied, Command, Rejection, Transfer, TransferId, TransferKind, TransferSpec};
use tracing::{error, warn};

use crate::{ORDER_PENDING_US, OrderKind, Purpose, Settled, Treasury, TreasuryError, key, now_ms};

/// What the ledger now says about an order the bank settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Concluded {
    /// Posted in the ledger (the bank moved the money).
    Posted,
    /// Voided in the ledger (the bank moved nothing).
    Voided,
    /// Not settled yet.
    Open,
    /// The bank and the ledger disagree (money moved but the ledger had already ended
    /// the order, or the reverse). Reconciliation reports it; an operator must act.
    Conflict(String),
}

/// Counts from one resolution sweep.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub answers_read: usize,
    pub posted: usize,
    pub voided: usize,
    pub still_open: usize,
    pub conflicts: Vec<String>,
}

fn settled_from(status: &OrderStatus) -> Option<Settled> {
    match status {
        OrderStatus::Completed { .. } => Some(Settled::Completed),
        OrderStatus::Rejected { code, message } => Some(Settled::Refused {
            code: *code,
            message: message.clone(),
        }),
        OrderStatus::Unknown => None,
    }
}

impl<B: Bank> Treasury<B> {
    /// Sends an order and follows it until the bank's answer is final, or until it is
    /// clear that it cannot be had now (then `InDoubt`: the sweep finishes it).
    pub(crate) async fn run_order(
        &self,
        kind: OrderKind,
        order: &Order,
        created_us: u64,
    ) -> Settled {
        let sent = match kind {
            OrderKind::Charge => self.bank.pull(order).await,
            OrderKind::Redemption | OrderKind::Payout => self.bank.pay(order).await,
        };
        match sent {
            Ok(status) => {
                if let Some(s) = settled_from(&status) {
                    return s;
                }
            }
            Err(e) if e.is_ambiguous() => {}
            Err(e) => {
                // A conflict or a protocol error: not something a retry fixes.
                warn!(reference = %order.reference, error = %e, "bank refused to read the order");
                return Settled::InDoubt;
            }
        }
        self.follow(kind, &order.reference, created_us, Some(order))
            .await
    }

    /// Looks the order up until its status is final. With `resend`, an order the bank
    /// has not seen is sent again (the identical order: executed at most once).
    pub(crate) async fn follow(
        &self,
        kind: OrderKind,
        reference: &Reference,
        created_us: u64,
        resend: Option<&Order>,
    ) -> Settled {
        // Give up waiting (not deciding) a while after the order can no longer execute.
        let give_up_ms = self.not_after_ms(created_us)
            + 2 * self.config.clock_margin.as_millis() as u64
            + 10 * self.config.poll_interval.as_millis() as u64;
        loop {
            match self.bank.status(reference).await {
                Ok(status) => {
                    if let Some(s) = settled_from(&status) {
                        return s;
                    }
                    if self.past_not_after(created_us) {
                        return Settled::Refused {
                            code: RejectCode::Expired,
                            message: "the bank never executed the order before its deadline".into(),
                        };
                    }
                    if let Some(order) = resend {
                        let again = match kind {
                            OrderKind::Charge => self.bank.pull(order).await,
                            _ => self.bank.pay(order).await,
                        };
                        if let Ok(status) = again
                            && let Some(s) = settled_from(&status)
                        {
                            return s;
                        }
                    }
                }
                Err(e) => {
                    if now_ms() > give_up_ms {
                        warn!(reference = %reference, error = %e, "order still in doubt");
                        return Settled::InDoubt;
                    }
                }
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    /// Applies the bank's final answer to the ledger. Idempotent: the treasury's keys
    /// repeat, so a duplicate answer (from the feed, a retry, a second worker) changes
    /// nothing.
    pub(crate) async fn conclude(
        &self,
        kind: OrderKind,
        id: TransferId,
        settled: &Settled,
    ) -> Result<Concluded, TreasuryError> {
        let completed = match settled {
            Settled::InDoubt => return Ok(Concluded::Open),
            Settled::Completed => true,
            Settled::Refused { .. } => false,
        };
        let command = |c| Command::Scheme(Box::new(c));
        let outcome = match (kind, completed) {
            (OrderKind::Charge, true) => {
                self.own(
                    key(Purpose::Confirm, id.0, 0),
                    command(ledger::scheme::SchemeCommand::ConfirmPurchase { purchase: id }),
                )
                .await?
            }
            (OrderKind::Charge, false) => {
                self.own(
                    key(Purpose::Fail, id.0, 0),
                    command(ledger::scheme::SchemeCommand::FailPurchase { purchase: id }),
                )
                .await?
            }
            (OrderKind::Redemption, true) => {
                let amount = self.engine.read(|l| l.pending(id).map(|p| p.amount));
                let Some(amount) = amount else {
                    return self.already_ended(kind, id, true);
                };
                // Posted and moved out of circulation in one batch: both or neither.
                let outs = self
                    .submit(vec![
                        self.envelope(
                            key(Purpose::RedemptionPost, id.0, 0),
                            Command::PostPending {
                                pending: id,
                                amount: None,
                            },
                        ),
                        self.envelope(
                            key(Purpose::RedemptionSettle, id.0, 0),
                            Command::Transfer(Transfer::posted(TransferSpec::Settlement {
                                clearing: self.config.clearing,
                                reserve: self.config.reserve,
                                amount,
                            })),
                        ),
                    ])
                    .await?;
                outs.into_iter()
                    .next()
                    .ok_or_else(|| TreasuryError::Engine("no answer".into()))?
            }
            (OrderKind::Payout, true) => {
                self.own(
                    key(Purpose::PayoutPost, id.0, 0),
                    Command::PostPending {
                        pending: id,
                        amount: None,
                    },
                )
                .await?
            }
            (OrderKind::Redemption, false) => {
                self.own(
                    key(Purpose::RedemptionVoid, id.0, 0),
                    Command::VoidPending { pending: id },
                )
                .await?
            }
            (OrderKind::Payout, false) => {
                self.own(
                    key(Purpose::PayoutVoid, id.0, 0),
                    Command::VoidPending { pending: id },
                )
                .await?
            }
        };
        match outcome.result {
            Ok(_) => Ok(if completed {
                Concluded::Posted
            } else {
                Concluded::Voided
            }),
            Err(Rejection::PurchaseNotPending { .. })
            | Err(Rejection::PendingAlreadyEnded { .. })
            | Err(Rejection::PendingNotFound { .. }) => self.already_ended(kind, id, completed),
            Err(r) => Err(TreasuryError::Refused(r)),
        }
    }

    /// The order was already ended in the ledger: fine if it ended the way the bank
    /// says, a conflict otherwise.
    fn already_ended(
        &self,
        kind: OrderKind,
        id: TransferId,
        completed: bool,
    ) -> Result<Concluded, TreasuryError> {
        let posted = match kind {
            OrderKind::Charge => self.engine.read(|l| {
                l.purchase(id)
                    .map(|p| p.state == ledger::scheme::PurchaseState::Posted)
            }),
            _ => self.engine.read(|l| match l.pending(id) {
                Some(_) => None,
                None => Some(true),
            }),
        };
        // For payouts the ledger forgets how a pending ended after a day; the
        // reconciliation report, built from the journal, is the authority then.
        let Some(posted) = posted else {
            return Ok(Concluded::Open);
        };
        if kind == OrderKind::Charge && posted != completed {
            let msg = format!(
                "{}: the bank says {} but the ledger {} it",
                OrderKind::Charge.reference(&self.currency, id),
                if completed { "completed" } else { "refused" },
                if posted { "posted" } else { "voided" }
            );
            error!("{msg}");
            return Ok(Concluded::Conflict(msg));
        }
        Ok(if completed {
            Concluded::Posted
        } else {
            Concluded::Voided
        })
    }

    pub(crate) fn envelope(
        &self,
        key: ledger::IdempotencyKey,
        command: Command,
    ) -> ledger::Envelope {
        ledger::Envelope {
            client: self.config.client,
            key,
            command,
        }
    }

    /// Settles every order still in flight: reads the bank's answer feed, then looks up
    /// each pending order the ledger holds. Run at start-up (recovery) and periodically.
    pub async fn sweep(&self) -> Result<SweepReport, TreasuryError> {
        let mut report = SweepReport::default();
        // 1. The answer feed (duplicates are harmless: conclude is idempotent).
        loop {
            let after = self.answers_cursor.load(Ordering::Relaxed);
            let page = match self.bank.answers(after, 500).await {
                Ok(p) => p,
                Err(e) => {
                    warn!(error = %e, "bank answer feed unavailable");
                    break;
                }
            };
            let Some(last) = page.last().map(|a| a.seq) else {
                break;
            };
            for answer in &page {
                report.answers_read += 1;
                let Some((kind, id)) = OrderKind::parse(&self.currency, answer.reference.as_str())
                else {
                    continue;
                };
                if let Some(s) = settled_from(&answer.status) {
                    self.count(&mut report, self.conclude(kind, id, &s).await?);
                }
            }
            self.answers_cursor.store(last, Ordering::Relaxed);
        }
        // 2. Whatever is still pending: one status look-up each.
        let open: Vec<(OrderKind, TransferId, u64)> = self.engine.read(|l| {
            let charges = l
                .pending_purchases()
                .map(|p| (OrderKind::Charge, p.charge, p.at.as_micros()));
            let payouts = l.pendings().filter_map(|p| {
                let kind = match p.kind {
                    TransferKind::Redemption => OrderKind::Redemption,
                    TransferKind::Settlement => OrderKind::Payout,
                    _ => return None,
                };
                let created = p.deadline.as_micros().saturating_sub(ORDER_PENDING_US);
                Some((kind, p.id, created))
            });
            let mut v: Vec<_> = charges.chain(payouts).collect();
            v.sort_by_key(|(_, id, _)| *id);
            v
        });
        for (kind, id, created) in open {
            let reference = self.reference(kind, id)?;
            let settled = match self.bank.status(&reference).await {
                Ok(status) => match settled_from(&status) {
                    Some(s) => s,
                    None if self.past_not_after(created) => Settled::Refused {
                        code: RejectCode::Expired,
                        message: "the bank never executed the order before its deadline".into(),
                    },
                    None => Settled::InDoubt,
                },
                Err(_) => Settled::InDoubt,
            };
            self.count(&mut report, self.conclude(kind, id, &settled).await?);
        }
        Ok(report)
    }

    fn count(&self, report: &mut SweepReport, c: Concluded) {
        match c {
            Concluded::Posted => report.posted += 1,
            Concluded::Voided => report.voided += 1,
            Concluded::Open => report.still_open += 1,
            Concluded::Conflict(m) => report.conflicts.push(m),
        }
    }
}

/// The ledger's answer to a command the treasury expected to succeed.
pub(crate) fn expect_applied(outcome: ledger::Outcome) -> Result<Applied, TreasuryError> {
    outcome.result.map_err(TreasuryError::Refused)
}
