//! The journal read as a stream of money events: every posted movement (what reports
//! add up) and every bank order's life (what reconciliation matches against the bank).
//!
//! Derived from the journal alone, so reports and reconciliation can be rebuilt at any
//! time, by anyone holding the journal, and agree with `maeul verify`.

use std::collections::HashMap;
use std::ops::ControlFlow;

use engine::Storage;
use engine::record::{self, RecordBody};
use ledger::scheme::{SchemeApplied, SchemeCommand};
use ledger::{
    AccountId, Applied, Command, Mode, Outcome, Timestamp, Transfer, TransferId, TransferKind,
    TransferSpec, TransferStatus, Won,
};

use crate::TreasuryError;

/// Which of maeul's bank orders a pending transfer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderKind {
    /// A citizen's purchase: money pulled from the citizen's bank (the charge transfer).
    Charge,
    /// A merchant's redemption paid to its bank.
    Redemption,
    /// A cash refund paid to a citizen's bank (a pending settlement out of clearing).
    Payout,
}

impl OrderKind {
    pub const fn letter(self) -> char {
        match self {
            OrderKind::Charge => 'c',
            OrderKind::Redemption => 'r',
            OrderKind::Payout => 'p',
        }
    }

    /// The bank reference of an order: unique per currency and transfer, so the bank
    /// executes it at most once however often it is sent.
    pub fn reference(self, currency: &str, id: TransferId) -> String {
        format!("{currency}-{}{}", self.letter(), id.0)
    }

    /// Parses a reference of this currency back into its order.
    pub fn parse(currency: &str, reference: &str) -> Option<(OrderKind, TransferId)> {
        let rest = reference.strip_prefix(currency)?.strip_prefix('-')?;
        let mut chars = rest.chars();
        let kind = match chars.next()? {
            'c' => OrderKind::Charge,
            'r' => OrderKind::Redemption,
            'p' => OrderKind::Payout,
            _ => return None,
        };
        let id: u64 = chars.as_str().parse().ok()?;
        Some((kind, TransferId(id)))
    }

    /// Money into the issuer's bank account (+) or out of it (−).
    pub const fn sign(self) -> i64 {
        match self {
            OrderKind::Charge => 1,
            OrderKind::Redemption | OrderKind::Payout => -1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderEnd {
    Posted,
    Voided,
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Posted money of one transfer kind.
    Posted {
        at: Timestamp,
        kind: TransferKind,
        amount: Won,
    },
    OrderOpened {
        at: Timestamp,
        order: OrderKind,
        id: TransferId,
        amount: Won,
        /// The wallet or merchant on the other side.
        party: Option<AccountId>,
    },
    OrderClosed {
        at: Timestamp,
        order: OrderKind,
        id: TransferId,
        end: OrderEnd,
    },
}

#[derive(Clone, Debug)]
struct Open {
    kind: TransferKind,
    amount: Won,
    deadline: Timestamp,
    order: Option<OrderKind>,
    /// A purchase's subsidy travels with its charge.
    subsidy: Option<TransferId>,
}

/// Folds records into events. Keeps only what is pending, so memory is bounded by the
/// ledger's own pending cap.
#[derive(Debug, Default)]
pub struct EventFold {
    currency: Option<String>,
    open: HashMap<TransferId, Open>,
    last: Timestamp,
}

impl EventFold {
    pub fn currency(&self) -> Option<&str> {
        self.currency.as_deref()
    }

    /// The time of the last batch read.
    pub fn last_timestamp(&self) -> Timestamp {
        self.last
    }

    /// Reads the whole journal of `storage`, handing every event to `sink`.
    pub fn scan(
        storage: &dyn Storage,
        sink: &mut dyn FnMut(&Event),
    ) -> Result<EventFold, TreasuryError> {
        let mut fold = EventFold::default();
        let mut failure = None;
        storage
            .read_records(1, None, &mut |rec| match record::decode(&rec.payload) {
                Ok(RecordBody::Genesis { currency, .. }) => {
                    fold.currency = Some(currency.as_str().to_owned());
                    ControlFlow::Continue(())
                }
                Ok(RecordBody::Batch(batch)) => {
                    fold.batch(batch.timestamp, &batch.commands, &batch.outcomes, sink);
                    ControlFlow::Continue(())
                }
                // Which build writes from here on: no money moves.
                Ok(RecordBody::Rules(_)) => ControlFlow::Continue(()),
                Err(e) => {
                    failure = Some(format!("record {}: {e}", rec.seq));
                    ControlFlow::Break(())
                }
            })
            .map_err(|e| TreasuryError::Journal(e.to_string()))?;
        if let Some(f) = failure {
            return Err(TreasuryError::Journal(f));
        }
        Ok(fold)
    }

    /// Folds one batch (read from the journal, or just committed: `Engine::subscribe`),
    /// handing its events to `sink`. Pendings opened before the first batch folded are
    /// not known, so their ends tell nothing.
    pub fn batch(
        &mut self,
        at: Timestamp,
        commands: &[ledger::Envelope],
        outcomes: &[Outcome],
        sink: &mut dyn FnMut(&Event),
    ) {
        self.last = at;
        // Pendings whose deadline passed expire at the start of the batch.
        let mut due: Vec<TransferId> = self
            .open
            .iter()
            .filter(|(_, o)| o.deadline <= at)
            .map(|(id, _)| *id)
            .collect();
        due.sort();
        for id in due {
            if let Some(o) = self.open.remove(&id)
                && let Some(order) = o.order
            {
                sink(&Event::OrderClosed {
                    at,
                    order,
                    id,
                    end: OrderEnd::Expired,
                });
            }
        }
        for (env, out) in commands.iter().zip(outcomes) {
            let Ok(applied) = &out.result else { continue };
            if out.repeated {
                continue;
            }
            self.command(at, &env.command, applied, sink);
        }
    }

    fn command(
        &mut self,
        at: Timestamp,
        command: &Command,
        applied: &Applied,
        sink: &mut dyn FnMut(&Event),
    ) {
        match (command, applied) {
            (Command::Transfer(t), Applied::Transfer { id, status, amount }) => {
                self.transfer(at, t, *id, *status, *amount, sink);
            }
            (
                Command::Linked(ts) | Command::Migrated { transfers: ts, .. },
                Applied::Linked { first, .. },
            ) => {
                for (i, t) in ts.iter().enumerate() {
                    let id = TransferId(first.0 + i as u64);
                    let status = match t.mode {
                        Mode::Posted => TransferStatus::Posted,
                        Mode::Pending { .. } => TransferStatus::Pending,
                    };
                    let amount = t.spec.amount().unwrap_or(Won::ZERO);
                    self.transfer(at, t, id, status, amount, sink);
                }
            }
            (Command::PostPending { .. }, Applied::PendingPosted { id, amount }) => {
                self.end(at, *id, Some(*amount), sink);
            }
            (Command::VoidPending { .. }, Applied::PendingVoided { id }) => {
                self.end(at, *id, None, sink);
            }
            (Command::Scheme(c), Applied::Scheme(a)) => self.scheme(at, c, a, sink),
            _ => {}
        }
    }

    fn transfer(
        &mut self,
        at: Timestamp,
        t: &Transfer,
        id: TransferId,
        status: TransferStatus,
        amount: Won,
        sink: &mut dyn FnMut(&Event),
    ) {
        let kind = t.spec.kind();
        match (status, t.mode) {
            (TransferStatus::Posted, _) => sink(&Event::Posted { at, kind, amount }),
            (TransferStatus::Pending, Mode::Pending { timeout_us }) => {
                // Only the treasury creates pending redemptions and settlements: they
                // are its bank payouts.
                let (order, party) = match &t.spec {
                    TransferSpec::Redemption { merchant, .. } => {
                        (Some(OrderKind::Redemption), Some(merchant.account()))
                    }
                    TransferSpec::Settlement { .. } => (Some(OrderKind::Payout), None),
                    _ => (None, None),
                };
                if let Some(order) = order {
                    sink(&Event::OrderOpened {
                        at,
                        order,
                        id,
                        amount,
                        party,
                    });
                }
                self.open.insert(
                    id,
                    Open {
                        kind,
                        amount,
                        deadline: at.plus_micros(timeout_us),
                        order,
                        subsidy: None,
                    },
                );
            }
            (TransferStatus::Pending, Mode::Posted) => {}
        }
    }

    /// A pending transfer posted (`Some(amount)`) or voided (`None`).
    fn end(
        &mut self,
        at: Timestamp,
        id: TransferId,
        posted: Option<Won>,
        sink: &mut dyn FnMut(&Event),
    ) {
        let Some(open) = self.open.remove(&id) else {
            return;
        };
        if let Some(amount) = posted {
            sink(&Event::Posted {
                at,
                kind: open.kind,
                amount,
            });
        }
        if let Some(order) = open.order {
            sink(&Event::OrderClosed {
                at,
                order,
                id,
                end: if posted.is_some() {
                    OrderEnd::Posted
                } else {
                    OrderEnd::Voided
                },
            });
        }
        if let Some(s) = open.subsidy {
            let amount = self.open.get(&s).map(|o| o.amount);
            self.end(at, s, posted.and(amount), sink);
        }
    }

    fn scheme(
        &mut self,
        at: Timestamp,
        command: &SchemeCommand,
        applied: &SchemeApplied,
        sink: &mut dyn FnMut(&Event),
    ) {
        let mut post = |kind, amount: Won| {
            if amount.is_positive() {
                sink(&Event::Posted { at, kind, amount });
            }
        };
        match (command, applied) {
            (
                SchemeCommand::Purchase {
                    wallet,
                    pending_timeout_us,
                    ..
                },
                SchemeApplied::Purchased {
                    charge,
                    subsidy,
                    paid,
                    discount,
                    status,
                    ..
                },
            ) => match (status, pending_timeout_us) {
                (TransferStatus::Pending, Some(timeout)) => {
                    let deadline = at.plus_micros(*timeout);
                    self.open.insert(
                        *charge,
                        Open {
                            kind: TransferKind::Charge,
                            amount: *paid,
                            deadline,
                            order: Some(OrderKind::Charge),
                            subsidy: *subsidy,
                        },
                    );
                    if let Some(s) = subsidy {
                        self.open.insert(
                            *s,
                            Open {
                                kind: TransferKind::Subsidy,
                                amount: *discount,
                                deadline,
                                order: None,
                                subsidy: None,
                            },
                        );
                    }
                    sink(&Event::OrderOpened {
                        at,
                        order: OrderKind::Charge,
                        id: *charge,
                        amount: *paid,
                        party: Some(wallet.account()),
                    });
                }
                _ => {
                    post(TransferKind::Charge, *paid);
                    post(TransferKind::Subsidy, *discount);
                }
            },
            (SchemeCommand::ConfirmPurchase { purchase }, _) => {
                let amount = self.open.get(purchase).map(|o| o.amount);
                self.end(at, *purchase, amount, sink);
            }
            (SchemeCommand::FailPurchase { purchase }, _) => self.end(at, *purchase, None, sink),
            (
                SchemeCommand::CancelPurchase {
                    payout_timeout_us, ..
                }
                | SchemeCommand::RefundBalance {
                    payout_timeout_us, ..
                },
                SchemeApplied::PurchaseCancelled {
                    cash,
                    subsidy,
                    payout,
                    ..
                }
                | SchemeApplied::BalanceRefunded {
                    cash,
                    subsidy,
                    payout,
                    ..
                },
            ) => {
                post(TransferKind::CashRefund, *cash);
                post(TransferKind::SubsidyReturn, *subsidy);
                if let (Some(id), Some(timeout)) = (payout, payout_timeout_us) {
                    self.open.insert(
                        *id,
                        Open {
                            kind: TransferKind::Settlement,
                            amount: *cash,
                            deadline: at.plus_micros(*timeout),
                            order: Some(OrderKind::Payout),
                            subsidy: None,
                        },
                    );
                    sink(&Event::OrderOpened {
                        at,
                        order: OrderKind::Payout,
                        id: *id,
                        amount: *cash,
                        party: None,
                    });
                }
            }
            (_, SchemeApplied::RedemptionConfirmed { redemption, amount }) => {
                self.end(at, *redemption, Some(*amount), sink);
                sink(&Event::Posted {
                    at,
                    kind: TransferKind::Settlement,
                    amount: *amount,
                });
            }
            (
                _,
                SchemeApplied::Paid {
                    amount, cashback, ..
                },
            ) => {
                post(TransferKind::Payment, *amount);
                post(TransferKind::Cashback, *cashback);
            }
            (_, SchemeApplied::Gifted { amount, .. }) => post(TransferKind::Gift, *amount),
            (
                _,
                SchemeApplied::PaymentRefunded {
                    amount,
                    cashback_returned,
                    ..
                },
            ) => {
                post(TransferKind::PaymentRefund, *amount);
                post(TransferKind::SubsidyReturn, *cashback_returned);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_round_trip_and_reject_other_currencies() {
        let r = OrderKind::Redemption.reference("BUSAN", TransferId(42));
        assert_eq!(r, "BUSAN-r42");
        assert_eq!(
            OrderKind::parse("BUSAN", &r),
            Some((OrderKind::Redemption, TransferId(42)))
        );
        assert_eq!(OrderKind::parse("SEOUL", &r), None);
        assert_eq!(OrderKind::parse("BUSAN", "BUSAN-x1"), None);
        assert_eq!(OrderKind::parse("BUSAN", "BUSAN-c"), None);
        assert_eq!(OrderKind::parse("BUSAN", "BUSANX-c1"), None);
    }
}
