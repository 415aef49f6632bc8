//! Settling bank orders: sending them, reading their status when an answer is lost,
//! and applying the bank's final word to the ledger exactly once.

use std::sync::atomic::Ordering;

use bank::{Bank, Order, OrderStatus, Reference, RejectCode};
use ledger::scheme::{PurchaseState, SchemeCommand};
use ledger::{Applied, Command, PendingEnd, Rejection, TransferId, TransferKind};
use tracing::{error, warn};

use crate::{ORDER_PENDING_US, OrderKind, Purpose, Settled, Treasury, TreasuryError, key, now_ms};

/// What the ledger now says about an order the bank settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Concluded {
    /// Posted in the ledger (the bank moved the money).
    Posted,
    /// Voided in the ledger (the bank moved nothing).
    Voided,
    /// Not settled yet, or ended so long ago that the ledger no longer remembers how
    /// (the reconciliation report, built from the journal, is the authority then).
    Open,
    /// The bank and the ledger disagree (money moved but the ledger had already ended
    /// the order, or the reverse). Reconciliation reports it; an operator must act.
    Conflict(String),
}

/// What one resolution sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub answers_read: usize,
    pub posted: usize,
    pub voided: usize,
    pub still_open: usize,
    /// Orders sent again because the bank had not seen them and still could execute them.
    pub resent: usize,
    pub conflicts: Vec<String>,
    /// Orders the sweep could not settle this time (the ledger refused, or was
    /// unavailable); the next sweep tries again. One never stops the others.
    pub errors: Vec<String>,
}

pub(crate) fn settled_from(status: &OrderStatus) -> Option<Settled> {
    match status {
        OrderStatus::Completed { .. } => Some(Settled::Completed),
        OrderStatus::Rejected { code, message } => Some(Settled::Refused {
            code: *code,
            message: message.clone(),
        }),
        OrderStatus::Unknown => None,
    }
}

/// Whether a purchase's charge was posted at some point (a cancelled purchase was:
/// it is compared with the bank as a completed charge, not a voided one).
fn was_posted(state: PurchaseState) -> bool {
    match state {
        PurchaseState::Posted | PurchaseState::Cancelled => true,
        PurchaseState::Pending | PurchaseState::Failed => false,
    }
}

pub(crate) fn never_executed() -> Settled {
    Settled::Refused {
        code: RejectCode::Expired,
        message: "the bank never executed the order before its deadline".into(),
    }
}

impl<B: Bank> Treasury<B> {
    async fn send(&self, kind: OrderKind, order: &Order) -> Result<OrderStatus, bank::BankError> {
        match kind {
            OrderKind::Charge => self.bank.pull(order).await,
            OrderKind::Redemption | OrderKind::Payout => self.bank.pay(order).await,
        }
    }

    /// Sends an order and follows it until the bank's answer is final, or until it is
    /// clear that it cannot be had now (then `InDoubt`: the sweep finishes it).
    pub(crate) async fn run_order(
        &self,
        kind: OrderKind,
        order: &Order,
        created_us: u64,
    ) -> Settled {
        match self.send(kind, order).await {
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
            // Judged before asking: an "unknown" answered after `not_after` had passed
            // here (plus the margin) cannot be overtaken by an execution at the bank.
            let past = self.past_not_after(created_us);
            match self.bank.status(reference).await {
                Ok(status) => {
                    if let Some(s) = settled_from(&status) {
                        return s;
                    }
                    if past {
                        return never_executed();
                    }
                    if let Some(order) = resend
                        && let Ok(status) = self.send(kind, order).await
                        && let Some(s) = settled_from(&status)
                    {
                        return s;
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
    /// nothing, and an order the ledger already ended is compared, not re-applied.
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
        if kind == OrderKind::Charge {
            match self.engine.read(|l| l.purchase(id).map(|p| p.state)) {
                None => return Ok(Concluded::Open),
                Some(PurchaseState::Pending) => {}
                // A cancelled purchase was posted first: the bank did take the money.
                Some(state) => {
                    return Ok(self.compare(kind, id, completed, was_posted(state)));
                }
            }
        }
        let (purpose, command) = match (kind, completed) {
            (OrderKind::Charge, true) => (
                Purpose::Confirm,
                Command::Scheme(Box::new(SchemeCommand::ConfirmPurchase { purchase: id })),
            ),
            (OrderKind::Charge, false) => (
                Purpose::Fail,
                Command::Scheme(Box::new(SchemeCommand::FailPurchase { purchase: id })),
            ),
            // Posted and taken out of circulation in one command: both or neither.
            (OrderKind::Redemption, true) => (
                Purpose::RedemptionConfirm,
                Command::Scheme(Box::new(SchemeCommand::ConfirmRedemption {
                    redemption: id,
                })),
            ),
            (OrderKind::Payout, true) => (
                Purpose::PayoutPost,
                Command::PostPending {
                    pending: id,
                    amount: None,
                },
            ),
            (OrderKind::Redemption, false) => (
                Purpose::RedemptionVoid,
                Command::VoidPending { pending: id },
            ),
            (OrderKind::Payout, false) => {
                (Purpose::PayoutVoid, Command::VoidPending { pending: id })
            }
        };
        // A fresh key per attempt: the ledger's own state (a purchase no longer
        // pending, a pending already ended) is what makes a repeat harmless, and a
        // refusal that later clears (a frozen wallet) must not be replayed as the
        // stored answer of a fixed key.
        let attempt = self.attempts.fetch_add(1, Ordering::Relaxed);
        let outcome = self
            .own(
                key(purpose, id.0, now_ms() << 16 | (attempt & 0xFFFF)),
                command,
            )
            .await?;
        match outcome.result {
            Ok(_) => Ok(if completed {
                Concluded::Posted
            } else {
                Concluded::Voided
            }),
            Err(Rejection::PendingAlreadyEnded { end, .. }) => {
                Ok(self.compare(kind, id, completed, end == PendingEnd::Posted))
            }
            Err(Rejection::PurchaseNotPending { .. }) => {
                let posted = self
                    .engine
                    .read(|l| l.purchase(id).map(|p| was_posted(p.state)));
                Ok(posted.map_or(Concluded::Open, |p| self.compare(kind, id, completed, p)))
            }
            Err(Rejection::PendingNotFound { .. }) | Err(Rejection::PurchaseNotFound { .. }) => {
                Ok(Concluded::Open)
            }
            Err(r) => Err(TreasuryError::Refused(r)),
        }
    }

    /// The ledger had already ended the order: fine if the way it ended matches the
    /// bank, a conflict otherwise.
    fn compare(&self, kind: OrderKind, id: TransferId, completed: bool, posted: bool) -> Concluded {
        if posted == completed {
            return if posted {
                Concluded::Posted
            } else {
                Concluded::Voided
            };
        }
        let msg = format!(
            "{}: the bank says {} but the ledger {} it",
            kind.reference(&self.currency, id),
            if completed { "completed" } else { "refused" },
            if posted {
                "posted"
            } else {
                "voided or expired"
            }
        );
        error!("{msg}");
        Concluded::Conflict(msg)
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

    /// The identical order for a pending one, rebuilt from the ledger alone (and the
    /// linked bank accounts), to send it again.
    fn rebuild(&self, kind: OrderKind, id: TransferId, created_us: u64) -> Option<Order> {
        let (party, amount) = self.engine.read(|l| match kind {
            OrderKind::Charge => l.purchase(id).map(|p| (p.wallet, p.paid)),
            OrderKind::Redemption => l.pending(id).map(|p| (p.debit, p.amount)),
            OrderKind::Payout => l.payout(id).map(|p| (p.wallet, p.amount)),
        })?;
        let party_account = self.accounts.get(party)?;
        let issuer = self.config.issuer_account.clone();
        let (debit, credit, memo) = match kind {
            OrderKind::Charge => (party_account, issuer, "maeul charge"),
            OrderKind::Redemption => (issuer, party_account, "maeul redemption"),
            OrderKind::Payout => (issuer, party_account, "maeul refund"),
        };
        Some(Order {
            reference: self.reference(kind, id).ok()?,
            debit,
            credit,
            amount: amount.get(),
            memo: memo.into(),
            not_after_ms: self.not_after_ms(created_us),
        })
    }

    /// Settles every order still in flight: reads the bank's answer feed, then looks up
    /// each pending order the ledger holds, sending again those the bank has not seen
    /// while they can still execute. Run at start-up (recovery) and periodically.
    pub async fn sweep(&self) -> Result<SweepReport, TreasuryError> {
        let mut report = SweepReport::default();
        // 1. The answer feed (duplicates are harmless: conclude is idempotent). The
        //    cursor lives in memory: a new process reads the feed from the start.
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
                    let r = self.conclude(kind, id, &s).await;
                    self.count(&mut report, kind, id, r);
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
            let past = self.past_not_after(created);
            let settled = match self.bank.status(&reference).await {
                Ok(status) => match settled_from(&status) {
                    Some(s) => s,
                    None if past => never_executed(),
                    None => match self.rebuild(kind, id, created) {
                        // Not seen by the bank yet (e.g. a crash before sending):
                        // send it now, while it can still execute.
                        Some(order) => {
                            report.resent += 1;
                            match self.send(kind, &order).await {
                                Ok(status) => settled_from(&status).unwrap_or(Settled::InDoubt),
                                Err(_) => Settled::InDoubt,
                            }
                        }
                        None => Settled::InDoubt,
                    },
                },
                Err(_) => Settled::InDoubt,
            };
            let r = self.conclude(kind, id, &settled).await;
            self.count(&mut report, kind, id, r);
        }
        Ok(report)
    }

    fn count(
        &self,
        report: &mut SweepReport,
        kind: OrderKind,
        id: TransferId,
        r: Result<Concluded, TreasuryError>,
    ) {
        match r {
            Ok(Concluded::Posted) => report.posted += 1,
            Ok(Concluded::Voided) => report.voided += 1,
            Ok(Concluded::Open) => report.still_open += 1,
            Ok(Concluded::Conflict(m)) => report.conflicts.push(m),
            Err(e) => report
                .errors
                .push(format!("{}: {e}", kind.reference(&self.currency, id))),
        }
    }
}

/// The ledger's answer to a command the treasury expected to succeed.
pub(crate) fn expect_applied(outcome: ledger::Outcome) -> Result<Applied, TreasuryError> {
    outcome.result.map_err(TreasuryError::Refused)
}
