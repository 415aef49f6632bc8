//! The simulated bank's books, without HTTP and without faults.
//!
//! Everything here runs under one lock and reads the clock under it, so transaction ids,
//! timestamps and expiry decisions are totally ordered: once a `status` read at bank time
//! `t > not_after_ms` has said `unknown`, no later execution of that order is possible.
//! Faults (in `http.rs`) only choose *which* of these calls happen and when; they cannot
//! make the books inconsistent.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::store::Event;
use super::{ADJUSTMENT_ACCOUNT, AdminError, AuditReport, Executed};
use crate::types::{AccountNo, Answer, Order, OrderStatus, Reference, RejectCode, StatementLine};
use crate::wire::{AccountInfo, AnswersPage, NewAccount, StatementPage};

/// Longest account holder name.
const HOLDER_CHARS_MAX: usize = 128;

/// The bank's clock: the system's Unix milliseconds, held from going backwards (see
/// [`Core::now`]) because an order's fate after `not_after_ms` must not change when the
/// wall clock is stepped back. Wall time rather than a monotonic offset, so that clients
/// on the same machine read exactly the clock `not_after_ms` is judged by.
pub(crate) enum Clock {
    System,
    #[cfg(test)]
    Manual(u64),
}

impl Clock {
    fn read(&self) -> u64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            #[cfg(test)]
            Clock::Manual(t) => *t,
        }
    }
}

pub(crate) struct Limits {
    pub orders_max: usize,
    pub accounts_max: usize,
}

/// How a transfer request is to be handled, as chosen by the fault plan.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// Execute (or reject on the merits); `duplicate` puts the answer in the feed twice.
    Execute { duplicate: bool },
    /// Refuse with `declined`.
    Decline,
    /// Reserve the reference but decide later, in [`Core::finish_held`].
    Hold,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Submitted {
    Final(OrderStatus),
    /// Reserved; the caller must call [`Core::finish_held`] later.
    Held,
    Conflict,
    Full,
}

struct Account {
    holder: String,
    balance: i64,
    allow_negative: bool,
    closed: bool,
    /// This account's side of each transaction touching it, in `tx_id` order.
    lines: Vec<Line>,
}

#[derive(Clone, Copy)]
struct Line {
    tx_id: u64,
    balance_after: i64,
}

enum TxKind {
    Order(Arc<Order>),
    /// An administrator set the balance; recorded so balances always equal the sum of
    /// statement lines.
    Adjustment {
        account: AccountNo,
        delta: i64,
    },
}

struct Tx {
    at_ms: u64,
    kind: TxKind,
}

enum EntryState {
    Held,
    Final(OrderStatus),
}

struct Entry {
    order: Arc<Order>,
    state: EntryState,
}

pub(crate) struct Core {
    clock: Clock,
    last_ms: u64,
    limits: Limits,
    accounts: HashMap<AccountNo, Account>,
    orders: HashMap<Reference, Entry>,
    /// `txs[i]` has `bank_tx_id == i + 1`.
    txs: Vec<Tx>,
    /// `answers[i]` has `seq == i + 1`.
    answers: Vec<Answer>,
    /// Changes not yet written to the store; `None` when the books live in memory only.
    log: Option<Vec<Event>>,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("accounts", &self.accounts.len())
            .field("orders", &self.orders.len())
            .field("txs", &self.txs.len())
            .field("answers", &self.answers.len())
            .finish_non_exhaustive()
    }
}

impl Core {
    pub(crate) fn new(clock: Clock, limits: Limits) -> Self {
        Self {
            clock,
            last_ms: 0,
            limits,
            accounts: HashMap::new(),
            orders: HashMap::new(),
            txs: Vec::new(),
            answers: Vec::new(),
            log: None,
        }
    }

    /// From now on every change is also kept as an [`Event`] until [`Core::take_log`].
    pub(crate) fn keep_log(&mut self) {
        self.log.get_or_insert_with(Vec::new);
    }

    /// The changes made since the last call, in order (empty when no log is kept).
    pub(crate) fn take_log(&mut self) -> Vec<Event> {
        self.log.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn record(&mut self, event: impl FnOnce() -> Event) {
        if let Some(log) = self.log.as_mut() {
            log.push(event());
        }
    }

    /// Read under the lock and never decreasing, so transaction times follow
    /// transaction ids and a "not executed" seen at time `t` stays true for orders whose
    /// `not_after_ms` is before `t`.
    pub(crate) fn now(&mut self) -> u64 {
        self.last_ms = self.last_ms.max(self.clock.read());
        self.last_ms
    }

    #[cfg(test)]
    pub(crate) fn set_manual_clock(&mut self, t: u64) {
        self.clock = Clock::Manual(t);
    }

    // ---- accounts ------------------------------------------------------------------

    /// Opens an account, or resets holder, balance and overdraft permission of an existing
    /// one (the balance change is booked as an adjustment line). Returns whether it was new.
    pub(crate) fn upsert_account(
        &mut self,
        new: NewAccount,
    ) -> Result<(AccountInfo, bool), AdminError> {
        if new.number.as_str() == ADJUSTMENT_ACCOUNT {
            return Err(AdminError::Invalid(format!(
                "{ADJUSTMENT_ACCOUNT} is reserved for balance adjustments"
            )));
        }
        if new.holder.chars().count() > HOLDER_CHARS_MAX {
            return Err(AdminError::Invalid(format!(
                "holder is longer than {HOLDER_CHARS_MAX} characters"
            )));
        }
        if new.balance < 0 && !new.allow_negative {
            return Err(AdminError::Invalid(
                "a negative balance needs allow_negative".into(),
            ));
        }
        let old = match self.accounts.get(&new.number) {
            Some(a) => Some(a.balance),
            None if self.accounts.len() >= self.limits.accounts_max => {
                return Err(AdminError::Full(format!(
                    "the bank holds at most {} accounts",
                    self.limits.accounts_max
                )));
            }
            None => None,
        };
        let delta = i64::try_from(i128::from(new.balance) - i128::from(old.unwrap_or(0)))
            .map_err(|_| AdminError::Invalid("balance change does not fit in i64".into()))?;
        let created = old.is_none();
        let now = self.now();
        let account = self.accounts.entry(new.number.clone()).or_insert(Account {
            holder: String::new(),
            balance: 0,
            allow_negative: false,
            closed: false,
            lines: Vec::new(),
        });
        account.holder = new.holder;
        account.allow_negative = new.allow_negative;
        let tx_id = self.txs.len() as u64 + 1;
        if delta != 0 {
            account.balance = new.balance;
            account.lines.push(Line {
                tx_id,
                balance_after: new.balance,
            });
            self.txs.push(Tx {
                at_ms: now,
                kind: TxKind::Adjustment {
                    account: new.number.clone(),
                    delta,
                },
            });
        }
        let info = Self::info(&new.number, account);
        self.record(|| Event::Account {
            number: info.number.clone(),
            holder: info.holder.clone(),
            allow_negative: info.allow_negative,
            closed: info.closed,
            at_ms: now,
        });
        if delta != 0 {
            self.record(|| Event::Adjust {
                tx_id,
                account: info.number.clone(),
                delta,
                at_ms: now,
            });
        }
        Ok((info, created))
    }

    pub(crate) fn close_account(&mut self, number: &AccountNo) -> Result<AccountInfo, AdminError> {
        let account = self
            .accounts
            .get_mut(number)
            .ok_or_else(|| AdminError::NotFound(number.clone()))?;
        account.closed = true;
        let info = Self::info(number, account);
        let now = self.now();
        self.record(|| Event::Account {
            number: info.number.clone(),
            holder: info.holder.clone(),
            allow_negative: info.allow_negative,
            closed: true,
            at_ms: now,
        });
        Ok(info)
    }

    /// The holder of an open account (예금주 조회); `None` for unknown and closed ones.
    pub(crate) fn holder(&self, number: &AccountNo) -> Option<String> {
        self.accounts
            .get(number)
            .filter(|a| !a.closed)
            .map(|a| a.holder.clone())
    }

    pub(crate) fn account(&self, number: &AccountNo) -> Option<AccountInfo> {
        self.accounts.get(number).map(|a| Self::info(number, a))
    }

    fn info(number: &AccountNo, a: &Account) -> AccountInfo {
        AccountInfo {
            number: number.clone(),
            holder: a.holder.clone(),
            balance: a.balance,
            allow_negative: a.allow_negative,
            closed: a.closed,
        }
    }

    // ---- orders --------------------------------------------------------------------

    pub(crate) fn submit(&mut self, order: &Order, mode: Mode) -> Submitted {
        let now = self.now();
        let order = match self.orders.get(&order.reference) {
            Some(entry) if *entry.order != *order => return Submitted::Conflict,
            Some(Entry {
                state: EntryState::Final(status),
                ..
            }) => return Submitted::Final(status.clone()),
            Some(_) if matches!(mode, Mode::Hold) => return Submitted::Held,
            // Held by an earlier request: this retry decides it now; the held request
            // will find the final answer when its hold ends.
            Some(entry) => entry.order.clone(),
            None if self.orders.len() >= self.limits.orders_max => return Submitted::Full,
            None => Arc::new(order.clone()),
        };
        if matches!(mode, Mode::Hold) {
            self.record(|| Event::Held {
                order: (*order).clone(),
                at_ms: now,
            });
            self.orders.insert(
                order.reference.clone(),
                Entry {
                    order,
                    state: EntryState::Held,
                },
            );
            return Submitted::Held;
        }
        let status = self.decide(&order, mode, now);
        self.finalize(
            order,
            status.clone(),
            matches!(mode, Mode::Execute { duplicate: true }),
        );
        Submitted::Final(status)
    }

    /// Ends a hold: executes the order if it is still held (and not expired by now).
    /// `None` only if the reference was never submitted.
    pub(crate) fn finish_held(&mut self, reference: &Reference) -> Option<OrderStatus> {
        let now = self.now();
        let entry = self.orders.get(reference)?;
        match &entry.state {
            EntryState::Final(status) => Some(status.clone()),
            EntryState::Held => {
                let order = entry.order.clone();
                let status = self.decide(&order, Mode::Execute { duplicate: false }, now);
                self.finalize(order, status.clone(), false);
                Some(status)
            }
        }
    }

    /// Judges the order and, if it passes, moves the money.
    fn decide(&mut self, order: &Arc<Order>, mode: Mode, now: u64) -> OrderStatus {
        if let Err(e) = order.check() {
            return OrderStatus::rejected(RejectCode::InvalidOrder, e.to_string());
        }
        if now > order.not_after_ms {
            return OrderStatus::rejected(
                RejectCode::Expired,
                format!(
                    "bank time {now} is past not_after_ms {}",
                    order.not_after_ms
                ),
            );
        }
        if matches!(mode, Mode::Decline) {
            return OrderStatus::rejected(RejectCode::Declined, "declined by the bank");
        }
        for number in [&order.debit, &order.credit] {
            match self.accounts.get(number) {
                None => {
                    return OrderStatus::rejected(
                        RejectCode::AccountNotFound,
                        format!("no account {number}"),
                    );
                }
                Some(a) if a.closed => {
                    return OrderStatus::rejected(
                        RejectCode::AccountClosed,
                        format!("account {number} is closed"),
                    );
                }
                Some(_) => {}
            }
        }
        let (Some(debit), Some(credit)) = (
            self.accounts.get(&order.debit),
            self.accounts.get(&order.credit),
        ) else {
            return OrderStatus::rejected(RejectCode::AccountNotFound, "account vanished");
        };
        if !debit.allow_negative && debit.balance < order.amount {
            return OrderStatus::rejected(
                RejectCode::InsufficientFunds,
                format!("account {} lacks funds", order.debit),
            );
        }
        let (Some(debit_after), Some(credit_after)) = (
            debit.balance.checked_sub(order.amount),
            credit.balance.checked_add(order.amount),
        ) else {
            return OrderStatus::rejected(RejectCode::Declined, "balance limit exceeded");
        };
        let tx_id = self.txs.len() as u64 + 1;
        for (number, balance_after) in [(&order.debit, debit_after), (&order.credit, credit_after)]
        {
            if let Some(a) = self.accounts.get_mut(number) {
                a.balance = balance_after;
                a.lines.push(Line {
                    tx_id,
                    balance_after,
                });
            }
        }
        self.txs.push(Tx {
            at_ms: now,
            kind: TxKind::Order(order.clone()),
        });
        OrderStatus::Completed {
            bank_tx_id: tx_id,
            amount: order.amount,
            at_ms: now,
        }
    }

    fn finalize(&mut self, order: Arc<Order>, status: OrderStatus, duplicate: bool) {
        let now = self.now();
        self.record(|| Event::Final {
            order: (*order).clone(),
            status: status.clone(),
            duplicate,
            at_ms: now,
        });
        self.settle(order, status, duplicate);
    }

    /// Puts a final answer in the feed (twice for a duplicate) and on its reference.
    fn settle(&mut self, order: Arc<Order>, status: OrderStatus, duplicate: bool) {
        for _ in 0..if duplicate { 2 } else { 1 } {
            self.answers.push(Answer {
                seq: self.answers.len() as u64 + 1,
                reference: order.reference.clone(),
                status: status.clone(),
            });
        }
        self.orders.insert(
            order.reference.clone(),
            Entry {
                order,
                state: EntryState::Final(status),
            },
        );
    }

    /// References reserved by a `late` fault and not decided yet.
    pub(crate) fn held(&self) -> Vec<Reference> {
        let mut held: Vec<Reference> = self
            .orders
            .iter()
            .filter(|(_, e)| matches!(e.state, EntryState::Held))
            .map(|(r, _)| r.clone())
            .collect();
        held.sort();
        held
    }

    /// Re-applies one recorded change, when the books are loaded from their store.
    /// Transaction ids and balances are derived again and must agree with the record;
    /// nothing is recorded anew.
    pub(crate) fn replay(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::Account {
                number,
                holder,
                allow_negative,
                closed,
                at_ms,
            } => {
                self.last_ms = self.last_ms.max(at_ms);
                let account = self.accounts.entry(number).or_insert_with(|| Account {
                    holder: String::new(),
                    balance: 0,
                    allow_negative: false,
                    closed: false,
                    lines: Vec::new(),
                });
                account.holder = holder;
                account.allow_negative = allow_negative;
                account.closed = closed;
            }
            Event::Adjust {
                tx_id,
                account,
                delta,
                at_ms,
            } => {
                self.last_ms = self.last_ms.max(at_ms);
                let next = self.txs.len() as u64 + 1;
                if tx_id != next {
                    return Err(format!("adjustment is tx {tx_id} where {next} was next"));
                }
                let a = self
                    .accounts
                    .get_mut(&account)
                    .ok_or_else(|| format!("adjustment of unknown account {account}"))?;
                a.balance = a
                    .balance
                    .checked_add(delta)
                    .ok_or_else(|| format!("adjustment of {account} overflows"))?;
                a.lines.push(Line {
                    tx_id,
                    balance_after: a.balance,
                });
                self.txs.push(Tx {
                    at_ms,
                    kind: TxKind::Adjustment { account, delta },
                });
            }
            Event::Held { order, at_ms } => {
                self.last_ms = self.last_ms.max(at_ms);
                self.orders.insert(
                    order.reference.clone(),
                    Entry {
                        order: Arc::new(order),
                        state: EntryState::Held,
                    },
                );
            }
            Event::Final {
                order,
                status,
                duplicate,
                at_ms,
            } => {
                self.last_ms = self.last_ms.max(at_ms);
                let order = Arc::new(order);
                if let OrderStatus::Completed {
                    bank_tx_id,
                    amount,
                    at_ms: tx_at,
                } = status
                {
                    let next = self.txs.len() as u64 + 1;
                    if bank_tx_id != next || amount != order.amount {
                        return Err(format!(
                            "{} executed as tx {bank_tx_id} of {amount} where tx {next} of {} was next",
                            order.reference, order.amount
                        ));
                    }
                    for (number, delta) in [(&order.debit, -amount), (&order.credit, amount)] {
                        let a = self.accounts.get_mut(number).ok_or_else(|| {
                            format!(
                                "{} moves money of unknown account {number}",
                                order.reference
                            )
                        })?;
                        a.balance = a
                            .balance
                            .checked_add(delta)
                            .ok_or_else(|| format!("{} overflows {number}", order.reference))?;
                        a.lines.push(Line {
                            tx_id: bank_tx_id,
                            balance_after: a.balance,
                        });
                    }
                    self.txs.push(Tx {
                        at_ms: tx_at,
                        kind: TxKind::Order(order.clone()),
                    });
                }
                self.settle(order, status, duplicate);
            }
        }
        Ok(())
    }

    pub(crate) fn status(&self, reference: &Reference) -> OrderStatus {
        match self.orders.get(reference) {
            Some(Entry {
                state: EntryState::Final(status),
                ..
            }) => status.clone(),
            _ => OrderStatus::Unknown,
        }
    }

    pub(crate) fn executed(&self, reference: &Reference) -> Option<Executed> {
        let entry = self.orders.get(reference)?;
        match entry.state {
            EntryState::Final(OrderStatus::Completed {
                bank_tx_id, at_ms, ..
            }) => Some(Executed {
                bank_tx_id,
                debit: entry.order.debit.clone(),
                credit: entry.order.credit.clone(),
                amount: entry.order.amount,
                at_ms,
            }),
            _ => None,
        }
    }

    // ---- reports -------------------------------------------------------------------

    /// One page of `number`'s lines with `from_ms <= at_ms < to_ms` and
    /// `bank_tx_id > after_tx`. Relies on `at_ms` never decreasing with `tx_id`.
    pub(crate) fn statement(
        &self,
        number: &AccountNo,
        from_ms: u64,
        to_ms: u64,
        after_tx: u64,
        limit: usize,
    ) -> Result<StatementPage, AdminError> {
        let account = self
            .accounts
            .get(number)
            .ok_or_else(|| AdminError::NotFound(number.clone()))?;
        let lines = &account.lines;
        let at = |l: &Line| self.tx(l.tx_id).map_or(u64::MAX, |t| t.at_ms);
        let start = lines
            .partition_point(|l| at(l) < from_ms)
            .max(lines.partition_point(|l| l.tx_id <= after_tx));
        let in_range: Vec<&Line> = lines[start..]
            .iter()
            .take_while(|l| at(l) < to_ms)
            .take(limit.saturating_add(1))
            .collect();
        let more = in_range.len() > limit;
        let page: Vec<StatementLine> = in_range
            .into_iter()
            .take(limit)
            .filter_map(|l| self.statement_line(number, *l))
            .collect();
        let next_after_tx = if more {
            page.last().map(|l| l.bank_tx_id)
        } else {
            None
        };
        Ok(StatementPage {
            lines: page,
            next_after_tx,
        })
    }

    fn tx(&self, tx_id: u64) -> Option<&Tx> {
        let i = usize::try_from(tx_id.checked_sub(1)?).ok()?;
        self.txs.get(i)
    }

    fn statement_line(&self, number: &AccountNo, line: Line) -> Option<StatementLine> {
        let tx = self.tx(line.tx_id)?;
        let (reference, counterparty, amount, memo) = match &tx.kind {
            TxKind::Order(o) if o.debit == *number => (
                o.reference.clone(),
                o.credit.clone(),
                -o.amount,
                o.memo.clone(),
            ),
            TxKind::Order(o) => (
                o.reference.clone(),
                o.debit.clone(),
                o.amount,
                o.memo.clone(),
            ),
            TxKind::Adjustment { delta, .. } => (
                Reference::new(format!("adjust-{}", line.tx_id)).ok()?,
                AccountNo::new(ADJUSTMENT_ACCOUNT).ok()?,
                *delta,
                String::new(),
            ),
        };
        Some(StatementLine {
            bank_tx_id: line.tx_id,
            reference,
            counterparty,
            amount,
            balance_after: line.balance_after,
            at_ms: tx.at_ms,
            memo,
        })
    }

    pub(crate) fn answers(&self, after: u64, limit: usize) -> AnswersPage {
        let start = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(self.answers.len());
        AnswersPage {
            answers: self.answers[start..].iter().take(limit).cloned().collect(),
            last_seq: self.answers.len() as u64,
        }
    }

    /// Re-derives every balance and cross-checks orders, transactions and the answer feed.
    pub(crate) fn audit(&self) -> AuditReport {
        let mut problems = Vec::new();
        let mut report = AuditReport {
            accounts: self.accounts.len(),
            orders: self.orders.len(),
            ..AuditReport::default()
        };

        // Each account: balance == sum of its lines, and every line's balance_after is
        // the running sum.
        for (number, account) in &self.accounts {
            let mut running: i128 = 0;
            for line in &account.lines {
                match self.statement_line(number, *line) {
                    Some(sl) => {
                        running += i128::from(sl.amount);
                        if running != i128::from(sl.balance_after) {
                            problems.push(format!(
                                "{number}: line {} says balance {} but lines sum to {running}",
                                sl.bank_tx_id, sl.balance_after
                            ));
                        }
                    }
                    None => problems.push(format!("{number}: line {} has no tx", line.tx_id)),
                }
            }
            if running != i128::from(account.balance) {
                problems.push(format!(
                    "{number}: balance {} but lines sum to {running}",
                    account.balance
                ));
            }
            if account.balance < 0 && !account.allow_negative {
                problems.push(format!("{number}: overdrawn to {}", account.balance));
            }
            report.total_balance += i128::from(account.balance);
        }

        // Each transaction: an order executed once, matching its entry; or an adjustment.
        let mut executed_refs: HashMap<&Reference, u64> = HashMap::new();
        for (i, tx) in self.txs.iter().enumerate() {
            let tx_id = i as u64 + 1;
            match &tx.kind {
                TxKind::Adjustment { delta, account } => {
                    report.adjustments_total += i128::from(*delta);
                    if !self.accounts.contains_key(account) {
                        problems.push(format!("tx {tx_id}: adjustment of unknown {account}"));
                    }
                }
                TxKind::Order(o) => {
                    report.transactions += 1;
                    if let Some(first) = executed_refs.insert(&o.reference, tx_id) {
                        problems.push(format!(
                            "reference {} executed twice: tx {first} and tx {tx_id}",
                            o.reference
                        ));
                    }
                    match self.orders.get(&o.reference).map(|e| &e.state) {
                        Some(EntryState::Final(OrderStatus::Completed { bank_tx_id, .. }))
                            if *bank_tx_id == tx_id => {}
                        _ => problems.push(format!(
                            "tx {tx_id} ({}) does not match its order's answer",
                            o.reference
                        )),
                    }
                }
            }
        }

        // Each order: held, or final and in the feed with the same answer.
        let mut in_feed: HashMap<&Reference, &OrderStatus> = HashMap::new();
        for (i, a) in self.answers.iter().enumerate() {
            if a.seq != i as u64 + 1 {
                problems.push(format!("answer {i} has seq {}", a.seq));
            }
            if let Some(prev) = in_feed.insert(&a.reference, &a.status)
                && *prev != a.status
            {
                problems.push(format!("feed gives {} two different answers", a.reference));
            }
        }
        report.answers = self.answers.len();
        for (reference, entry) in &self.orders {
            match &entry.state {
                EntryState::Held => report.orders_held += 1,
                EntryState::Final(status) => {
                    match status {
                        OrderStatus::Completed { .. } => {
                            report.completed += 1;
                            if !executed_refs.contains_key(reference) {
                                problems.push(format!("{reference} completed without a tx"));
                            }
                        }
                        OrderStatus::Rejected { .. } => report.rejected += 1,
                        OrderStatus::Unknown => {
                            problems.push(format!("{reference} is final but unknown"));
                        }
                    }
                    if in_feed.get(reference) != Some(&status) {
                        problems.push(format!("{reference}'s answer is missing from the feed"));
                    }
                }
            }
        }
        for reference in in_feed.keys() {
            if !matches!(
                self.orders.get(*reference).map(|e| &e.state),
                Some(EntryState::Final(_))
            ) {
                problems.push(format!("feed answers {reference}, which is not final"));
            }
        }

        // Money is only created by adjustments; transfers conserve it.
        if report.total_balance != report.adjustments_total {
            problems.push(format!(
                "balances sum to {} but adjustments to {}",
                report.total_balance, report.adjustments_total
            ));
        }
        report.problems = problems;
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(s: &str) -> AccountNo {
        AccountNo::new(s).unwrap()
    }

    fn core() -> Core {
        let mut c = Core::new(
            Clock::Manual(1_000),
            Limits {
                orders_max: 100,
                accounts_max: 10,
            },
        );
        for (n, b) in [("a", 1_000), ("b", 0)] {
            c.upsert_account(NewAccount {
                number: acct(n),
                holder: n.into(),
                balance: b,
                allow_negative: false,
            })
            .unwrap();
        }
        c
    }

    fn order(r: &str, amount: i64, not_after_ms: u64) -> Order {
        Order {
            reference: Reference::new(r).unwrap(),
            debit: acct("a"),
            credit: acct("b"),
            amount,
            memo: String::new(),
            not_after_ms,
        }
    }

    const EXEC: Mode = Mode::Execute { duplicate: false };

    #[test]
    fn held_order_expires_if_its_hold_outlives_not_after() {
        let mut c = core();
        let o = order("r1", 10, 1_500);
        assert_eq!(c.submit(&o, Mode::Hold), Submitted::Held);
        assert_eq!(c.status(&o.reference), OrderStatus::Unknown);
        c.set_manual_clock(2_000);
        let s = c.finish_held(&o.reference).unwrap();
        assert!(matches!(
            s,
            OrderStatus::Rejected {
                code: RejectCode::Expired,
                ..
            }
        ));
        assert_eq!(c.account(&acct("a")).unwrap().balance, 1_000);
        assert!(c.audit().is_consistent(), "{:?}", c.audit().problems);
    }

    #[test]
    fn retry_during_hold_executes_once() {
        let mut c = core();
        let o = order("r1", 10, 5_000);
        assert_eq!(c.submit(&o, Mode::Hold), Submitted::Held);
        let Submitted::Final(first) = c.submit(&o, EXEC) else {
            panic!()
        };
        assert!(first.is_completed());
        assert_eq!(c.finish_held(&o.reference), Some(first));
        assert_eq!(c.account(&acct("b")).unwrap().balance, 10);
        let mut other = o.clone();
        other.amount = 11;
        assert_eq!(c.submit(&other, Mode::Hold), Submitted::Conflict);
        let audit = c.audit();
        assert!(audit.is_consistent(), "{:?}", audit.problems);
        assert_eq!(audit.answers, 1);
    }

    #[test]
    fn statement_pages_and_time_window() {
        let mut c = core();
        for i in 0..10u64 {
            c.set_manual_clock(2_000 + i * 10);
            assert!(matches!(
                c.submit(&order(&format!("r{i}"), 1, 10_000), EXEC),
                Submitted::Final(OrderStatus::Completed { .. })
            ));
        }
        let a = acct("a");
        // The opening adjustment (at 1000) plus ten transfers.
        let all = c.statement(&a, 0, u64::MAX, 0, 1000).unwrap();
        assert_eq!(all.lines.len(), 11);
        assert_eq!(all.next_after_tx, None);
        let p1 = c.statement(&a, 2_000, 2_050, 0, 3).unwrap();
        assert_eq!(p1.lines.len(), 3);
        assert_eq!(p1.lines[0].at_ms, 2_000);
        let next = p1.next_after_tx.unwrap();
        let p2 = c.statement(&a, 2_000, 2_050, next, 3).unwrap();
        assert_eq!(p2.lines.len(), 2);
        assert_eq!(p2.next_after_tx, None);
        assert_eq!(p2.lines[1].at_ms, 2_040);
        // Exactly full last page: no cursor.
        let p = c.statement(&a, 2_000, 2_030, 0, 3).unwrap();
        assert_eq!((p.lines.len(), p.next_after_tx), (3, None));
        assert!(c.statement(&acct("zz"), 0, 1, 0, 1).is_err());
    }

    #[test]
    fn admin_balance_changes_are_booked() {
        let mut c = core();
        c.upsert_account(NewAccount {
            number: acct("a"),
            holder: "A".into(),
            balance: 400,
            allow_negative: false,
        })
        .unwrap();
        let st = c.statement(&acct("a"), 0, u64::MAX, 0, 10).unwrap();
        assert_eq!(st.lines.iter().map(|l| l.amount).sum::<i64>(), 400);
        let audit = c.audit();
        assert!(audit.is_consistent(), "{:?}", audit.problems);
        assert_eq!(audit.adjustments_total, 400);
    }

    #[test]
    fn order_cap() {
        let mut c = core();
        c.limits.orders_max = 2;
        assert!(matches!(
            c.submit(&order("1", 1, 5_000), EXEC),
            Submitted::Final(_)
        ));
        assert!(matches!(
            c.submit(&order("2", 1, 5_000), Mode::Hold),
            Submitted::Held
        ));
        assert_eq!(c.submit(&order("3", 1, 5_000), EXEC), Submitted::Full);
        // Known references still answer.
        assert!(matches!(
            c.submit(&order("1", 1, 5_000), EXEC),
            Submitted::Final(_)
        ));
    }

    #[test]
    fn overflow_is_declined_not_a_panic() {
        let mut c = core();
        c.upsert_account(NewAccount {
            number: acct("b"),
            holder: "b".into(),
            balance: i64::MAX,
            allow_negative: false,
        })
        .unwrap();
        let Submitted::Final(s) = c.submit(&order("r", 1, 5_000), EXEC) else {
            panic!()
        };
        assert!(matches!(
            s,
            OrderStatus::Rejected {
                code: RejectCode::Declined,
                ..
            }
        ));
        assert!(c.audit().is_consistent());
    }
}
