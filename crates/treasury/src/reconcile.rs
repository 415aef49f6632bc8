//! Reconciliation: the bank's statement of the issuer's account against maeul's bank
//! orders as the journal records them. Every difference is listed; none is hidden in
//! a total.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use bank::Bank;

use crate::events::{Event, EventFold, OrderEnd, OrderKind};
use crate::{Treasury, TreasuryError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// The bank moved money under a reference maeul never issued.
    UnknownAtMaeul {
        reference: String,
        amount: i64,
        at_ms: u64,
    },
    /// The bank moved money for an order the ledger voided or let expire: a citizen
    /// paid without being credited, or a payout left without being debited.
    MovedButNotPosted {
        reference: String,
        amount: i64,
        end: Option<OrderEnd>,
    },
    /// The ledger posted an order the bank never executed: value without money.
    PostedButNotMoved { reference: String, amount: i64 },
    AmountMismatch {
        reference: String,
        maeul: i64,
        bank: i64,
    },
    /// The bank executed one reference more than once.
    Duplicate { reference: String, times: usize },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconciliationReport {
    pub currency: String,
    pub from_ms: u64,
    pub to_ms: u64,
    /// Orders created in the window, and how many and how much matched the bank.
    pub orders: usize,
    pub matched: (usize, i64),
    /// Orders that ended without money moving, as the bank confirms (refusals).
    pub voided: usize,
    /// Orders still waiting for the bank (settled by the next sweep).
    pub in_flight: Vec<String>,
    pub statement_lines: usize,
    /// 1-won verification deposits (1원 인증) in the window: how many and how many won.
    /// The operator's cost, paid from the issuer's account outside the ledger, so
    /// listed apart rather than as differences.
    pub verification_deposits: (usize, i64),
    pub differences: Vec<Difference>,
}

impl ReconciliationReport {
    pub fn ok(&self) -> bool {
        self.differences.is_empty()
    }
}

#[derive(Debug)]
struct OrderRow {
    kind: OrderKind,
    amount: i64,
    created_ms: u64,
    end: Option<OrderEnd>,
}

impl<B: Bank> Treasury<B> {
    /// Matches orders created in `[from_ms, to_ms)` and statement lines of the same
    /// window (plus the orders' validity, for late executions) one to one.
    pub async fn reconcile(
        &self,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<ReconciliationReport, TreasuryError> {
        let mut orders: BTreeMap<String, OrderRow> = BTreeMap::new();
        let currency = self.currency.clone();
        EventFold::scan(self.storage.as_ref(), &mut |e| match e {
            Event::OrderOpened {
                at,
                order,
                id,
                amount,
                ..
            } => {
                orders.insert(
                    order.reference(&currency, *id),
                    OrderRow {
                        kind: *order,
                        amount: amount.get(),
                        created_ms: at.as_micros() / 1_000,
                        end: None,
                    },
                );
            }
            Event::OrderClosed { order, id, end, .. } => {
                if let Some(row) = orders.get_mut(&order.reference(&currency, *id)) {
                    row.end = Some(*end);
                }
            }
            Event::Posted { .. } => {}
        })?;
        let slack = 2
            * (self.config.order_validity.as_millis() as u64
                + self.config.clock_margin.as_millis() as u64);
        let lines = self
            .bank
            .statement(
                &self.config.issuer_account,
                from_ms,
                to_ms.saturating_add(slack),
            )
            .await
            .map_err(TreasuryError::Bank)?;
        let mut by_reference: HashMap<&str, Vec<&bank::StatementLine>> = HashMap::new();
        for line in &lines {
            by_reference
                .entry(line.reference.as_str())
                .or_default()
                .push(line);
        }
        let mut report = ReconciliationReport {
            currency: currency.clone(),
            from_ms,
            to_ms,
            statement_lines: lines.len(),
            ..ReconciliationReport::default()
        };
        let in_window = |ms: u64| ms >= from_ms && ms < to_ms;
        for (reference, row) in &orders {
            if !in_window(row.created_ms) {
                continue;
            }
            report.orders += 1;
            let found = by_reference.get(reference.as_str());
            let expected = row.kind.sign() * row.amount;
            match (row.end, found) {
                (_, Some(ls)) if ls.len() > 1 => report.differences.push(Difference::Duplicate {
                    reference: reference.clone(),
                    times: ls.len(),
                }),
                (Some(OrderEnd::Posted), Some(ls)) => {
                    if ls[0].amount == expected {
                        report.matched.0 += 1;
                        report.matched.1 += row.amount;
                    } else {
                        report.differences.push(Difference::AmountMismatch {
                            reference: reference.clone(),
                            maeul: expected,
                            bank: ls[0].amount,
                        });
                    }
                }
                (Some(OrderEnd::Posted), None) => {
                    report.differences.push(Difference::PostedButNotMoved {
                        reference: reference.clone(),
                        amount: row.amount,
                    })
                }
                (None, None) => report.in_flight.push(reference.clone()),
                // Pending in maeul while the bank already moved it: the sweep posts it.
                (None, Some(_)) => report.in_flight.push(reference.clone()),
                (Some(end), Some(ls)) => report.differences.push(Difference::MovedButNotPosted {
                    reference: reference.clone(),
                    amount: ls[0].amount,
                    end: Some(end),
                }),
                (Some(_), None) => report.voided += 1,
            }
        }
        for line in &lines {
            if !in_window(line.at_ms) {
                continue;
            }
            if crate::parse_verification_reference(&currency, line.reference.as_str()).is_some()
                && line.amount == -crate::VERIFICATION_DEPOSIT_WON
            {
                match by_reference.get(line.reference.as_str()) {
                    Some(ls) if ls.len() > 1 => {
                        // Listed once, at its first line.
                        if ls[0].bank_tx_id == line.bank_tx_id {
                            report.differences.push(Difference::Duplicate {
                                reference: line.reference.to_string(),
                                times: ls.len(),
                            });
                        }
                    }
                    _ => {
                        report.verification_deposits.0 += 1;
                        report.verification_deposits.1 += crate::VERIFICATION_DEPOSIT_WON;
                    }
                }
                continue;
            }
            let known = OrderKind::parse(&currency, line.reference.as_str()).is_some()
                && orders.contains_key(line.reference.as_str());
            if !known {
                report.differences.push(Difference::UnknownAtMaeul {
                    reference: line.reference.to_string(),
                    amount: line.amount,
                    at_ms: line.at_ms,
                });
            }
        }
        Ok(report)
    }
}

impl fmt::Display for ReconciliationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "대사 reconciliation {}  [{} .. {}) ms",
            self.currency, self.from_ms, self.to_ms
        )?;
        writeln!(
            f,
            "  orders {}  matched {} ({} won)  refused {}  in flight {}  statement lines {}",
            self.orders,
            self.matched.0,
            self.matched.1,
            self.voided,
            self.in_flight.len(),
            self.statement_lines
        )?;
        if self.verification_deposits.0 > 0 {
            writeln!(
                f,
                "  1원 인증 verification deposits {} ({} won, the operator's cost)",
                self.verification_deposits.0, self.verification_deposits.1
            )?;
        }
        if self.differences.is_empty() {
            writeln!(f, "  차이 없음 no differences")
        } else {
            writeln!(f, "  차이 {} differences:", self.differences.len())?;
            for d in &self.differences {
                writeln!(f, "    {d:?}")?;
            }
            Ok(())
        }
    }
}
