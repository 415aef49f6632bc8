//! Per-account history and live payment streams: a projection of the journal.
//!
//! At start it reads the end of the journal (at most `REBUILD_RECORDS` records), then
//! follows every durable batch the engine publishes. Each account keeps its last
//! `ENTRIES_PER_ACCOUNT` entries, each with a cursor of its own derived from where it is
//! in the journal (so pages neither skip nor repeat, and a restart keeps them); payments
//! and incoming payments also go to the account's live streams (server-sent events),
//! through a channel per account that has streams open. Derived, never authoritative:
//! the ledger and the journal are.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::ops::ControlFlow;
use std::sync::Arc;

use engine::record::{self, RecordBody};
use engine::{CommittedBatch, Engine, Storage};
use ledger::scheme::{SchemeApplied, SchemeCommand};
use ledger::{
    Applied, Command, Envelope, Outcome, Timestamp, TransferId, TransferSpec, TransferStatus,
};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use utoipa::ToSchema;

pub const ENTRIES_PER_ACCOUNT: usize = 500;
pub const REBUILD_RECORDS: u64 = 200_000;
/// How long a read waits for the history to hold what is already durable (see
/// [`History::caught_up`]); after that it answers with what it holds.
pub const CATCH_UP_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// Live entries waiting for one account's slowest stream; one further behind skips
/// ahead (its client reads the history for what it missed).
const LIVE_BACKLOG: usize = 64;
/// The kinds live streams tell (a citizen's payments, a merchant's incoming ones).
const LIVE_KINDS: [&str; 2] = ["payment", "payment_received"];
/// Pending redemptions are checked against the ledger this often (in batches): one that
/// expired there ends without a command, so it is dropped here once it is older than
/// `PRUNE_AFTER_US` (far past any payout's pending window, so one confirmed in a batch
/// this projection has not reached yet is never mistaken for expired).
const PRUNE_EVERY_BATCHES: u64 = 4_096;
const PRUNE_AFTER_US: u64 = 7 * 24 * 3600 * 1_000_000;

/// Commands of one journal record a cursor can tell apart. The engine's batches are
/// smaller (`batch_commands_max`, 16,384 by default; a test checks it); beyond this, the
/// last entries of a record would share cursors.
pub const CURSOR_COMMANDS_MAX: u64 = 1 << 16;
/// Entries one command can give one account (payment and cash-back: 2) or all its
/// accounts (with the merchant's payment_received: 3), each in its own slot.
const CURSOR_SLOTS: u64 = 4;

/// The page cursor of an entry: the journal record's seq, the command's index in it and
/// the entry's slot in the command (fixed per kind), so that
/// - every entry of an account has its own cursor, even two from one command (a
///   payment and its cash-back), and a page that ends between them loses neither;
/// - cursors grow with the journal, so `before` pages from newest to oldest;
/// - a restart (history rebuilt from the journal's tail) gives the same cursors;
/// - they stay below 2^53 (exact in JavaScript numbers) for the first 2^35 records.
pub fn cursor(seq: u64, command: usize, slot: u64) -> u64 {
    debug_assert!(slot < CURSOR_SLOTS, "slot {slot}");
    let command = (command as u64).min(CURSOR_COMMANDS_MAX - 1);
    seq.saturating_mul(CURSOR_COMMANDS_MAX * CURSOR_SLOTS)
        | (command * CURSOR_SLOTS)
        | slot.min(CURSOR_SLOTS - 1)
}

/// One line of an account's history, from that account's point of view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Entry {
    /// Page cursor: pass it as `before` to get older entries. Unique within the
    /// account's history, larger for newer entries, and the same after a restart.
    pub cursor: u64,
    /// Unix microseconds (journal time).
    pub at: u64,
    // Borrowed from the names below when the journal makes an entry: a payment makes
    // several, each copied for live subscribers and dropped when its account's history
    // is full, so an owned string cost allocations on every payment.
    /// payment, payment_received, cashback, charge, gift_sent, gift_received, refund,
    /// payment_refund, payment_refunded, redemption, expiry
    #[schema(value_type = String)]
    pub kind: Cow<'static, str>,
    /// Signed: + into the account, − out of it.
    pub amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<u64>,
}

/// A merchant's redemption to its bank (asked for, or made by the daily settlement).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Settlement {
    pub transfer: u64,
    pub amount: i64,
    /// `pending` (the bank is paying), `paid`, `returned` (the bank refused: the value is
    /// back on the merchant's balance), `expired` (never confirmed: back on the balance).
    pub status: String,
    /// Unix microseconds the redemption was asked for.
    pub opened_at: u64,
    /// Unix microseconds it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
}

/// Settlements kept per merchant (more than a year of daily ones).
pub const SETTLEMENTS_PER_MERCHANT: usize = 400;

#[derive(Debug)]
pub struct History {
    accounts: RwLock<HashMap<u64, VecDeque<Entry>>>,
    /// Pending redemptions: whose they are and when they were opened, until they end.
    redemptions: RwLock<HashMap<TransferId, (u64, Timestamp)>>,
    /// Each merchant's settlements, newest last.
    settlements: RwLock<HashMap<u64, VecDeque<Settlement>>>,
    /// One channel per account with live streams open, made by its first stream and
    /// dropped with its last: a payment wakes its own accounts' streams and no others
    /// (one channel for the whole currency woke every stream on every payment).
    live: Mutex<HashMap<u64, broadcast::Sender<Entry>>>,
    /// The last journal record this history has taken in (applied or skipped).
    applied: watch::Sender<u64>,
}

/// One live stream's entries of one account; the account's channel goes with its last
/// stream.
#[derive(Debug)]
pub struct LiveEntries {
    history: Arc<History>,
    account: u64,
    rx: Option<broadcast::Receiver<Entry>>,
}

impl LiveEntries {
    /// The account's next live entry (`Lagged` when this stream fell behind).
    pub async fn recv(&mut self) -> Result<Entry, broadcast::error::RecvError> {
        match self.rx.as_mut() {
            Some(rx) => rx.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for LiveEntries {
    fn drop(&mut self) {
        // Under the lock streams subscribe under: none can join between the count and
        // the removal.
        let mut live = self.history.live.lock();
        drop(self.rx.take());
        if live
            .get(&self.account)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            live.remove(&self.account);
        }
    }
}

impl History {
    fn empty() -> History {
        History {
            accounts: RwLock::new(HashMap::new()),
            redemptions: RwLock::new(HashMap::new()),
            settlements: RwLock::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            applied: watch::Sender::new(0),
        }
    }

    /// Waits, at most `within`, until the history has taken in every record up to
    /// `seq`, so that a person who has just paid sees the payment in their history (the
    /// history follows the engine's stream, a moment behind the answer). Whether it
    /// caught up; a reader that times out is shown what there is.
    pub async fn caught_up(&self, seq: u64, within: std::time::Duration) -> bool {
        let mut rx = self.applied.subscribe();
        matches!(
            tokio::time::timeout(within, rx.wait_for(|applied| *applied >= seq)).await,
            Ok(Ok(_))
        )
    }

    /// [`History::caught_up`] with what the engine has made durable by now: what a
    /// person reads right after an answer (a till after a payment, a refund page) holds
    /// that answer.
    pub async fn holds_durable(&self, engine: &Engine) -> bool {
        self.caught_up(engine.durable_seq(), CATCH_UP_WAIT).await
    }

    /// Builds from the end of the journal and follows the engine from then on.
    pub fn follow(engine: &Arc<Engine>, storage: &Arc<dyn Storage>) -> Arc<History> {
        let history = Arc::new(History::empty());
        // Subscribe first, then read: nothing between the two is missed, and batches
        // read from the journal are skipped when they come again.
        let mut rx = engine.subscribe();
        let durable = engine.durable_seq();
        let from = durable.saturating_sub(REBUILD_RECORDS).max(1);
        let _ = storage.read_records(from, None, &mut |rec| {
            if let Ok(RecordBody::Batch(b)) = record::decode(&rec.payload) {
                history.apply(rec.seq, b.timestamp, &b.commands, &b.outcomes, engine);
            }
            if rec.seq >= durable {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        history.applied.send_replace(durable);
        let h = Arc::clone(&history);
        let engine = Arc::clone(engine);
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(batch) => {
                        let b: &CommittedBatch = &batch;
                        if b.seq > durable {
                            h.apply(b.seq, b.timestamp, &b.commands, &b.outcomes, &engine);
                        }
                        if b.seq.is_multiple_of(PRUNE_EVERY_BATCHES) {
                            h.prune_ended_redemptions(&engine, b.timestamp);
                        }
                        h.applied.send_if_modified(|applied| {
                            let newer = b.seq > *applied;
                            *applied = (*applied).max(b.seq);
                            newer
                        });
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(
                            batches = n,
                            "history fell behind; some entries are missing"
                        );
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        history
    }

    /// Forgets pending redemptions the ledger no longer holds (expired there).
    pub fn prune_ended_redemptions(&self, engine: &Engine, now: Timestamp) {
        let ids: Vec<TransferId> = self
            .redemptions
            .read()
            .iter()
            .filter(|(_, (_, opened))| {
                now.as_micros().saturating_sub(opened.as_micros()) > PRUNE_AFTER_US
            })
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            return;
        }
        let ended: Vec<TransferId> = engine.read(|l| {
            ids.into_iter()
                .filter(|id| l.pending(*id).is_none())
                .collect()
        });
        for id in ended {
            self.end_redemption(id, "expired", now);
        }
    }

    /// A merchant's settlements, newest first, paged by transfer id (`before`).
    pub fn settlements(&self, merchant: u64, before: Option<u64>, limit: usize) -> Vec<Settlement> {
        self.settlements
            .read()
            .get(&merchant)
            .map_or_else(Vec::new, |all| {
                all.iter()
                    .rev()
                    .filter(|s| before.is_none_or(|b| s.transfer < b))
                    .take(limit)
                    .cloned()
                    .collect()
            })
    }

    fn open_settlement(
        &self,
        merchant: u64,
        transfer: TransferId,
        amount: i64,
        at: Timestamp,
        paid: bool,
    ) {
        let mut all = self.settlements.write();
        let list = all.entry(merchant).or_default();
        if list.len() >= SETTLEMENTS_PER_MERCHANT {
            list.pop_front();
        }
        list.push_back(Settlement {
            transfer: transfer.0,
            amount,
            status: if paid { "paid" } else { "pending" }.into(),
            opened_at: at.as_micros(),
            ended_at: paid.then_some(at.as_micros()),
        });
    }

    /// Ends a pending redemption (`paid`, `returned`, `expired`); its merchant, if known.
    fn end_redemption(&self, id: TransferId, status: &str, at: Timestamp) -> Option<u64> {
        let (merchant, _) = self.redemptions.write().remove(&id)?;
        if let Some(s) = self
            .settlements
            .write()
            .get_mut(&merchant)
            .and_then(|l| l.iter_mut().rev().find(|s| s.transfer == id.0))
        {
            s.status = status.into();
            s.ended_at = Some(at.as_micros());
        }
        Some(merchant)
    }

    /// How many pending redemptions are followed (for tests and metrics).
    pub fn pending_redemptions(&self) -> usize {
        self.redemptions.read().len()
    }

    pub fn page(&self, account: u64, before: Option<u64>, limit: usize) -> Vec<Entry> {
        let accounts = self.accounts.read();
        let Some(entries) = accounts.get(&account) else {
            return Vec::new();
        };
        entries
            .iter()
            .rev()
            .filter(|e| before.is_none_or(|b| e.cursor < b))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Live entries (payments and incoming payments) of `account`, from now on.
    pub fn live(self: &Arc<Self>, account: u64) -> LiveEntries {
        let rx = self
            .live
            .lock()
            .entry(account)
            .or_insert_with(|| broadcast::channel(LIVE_BACKLOG).0)
            .subscribe();
        LiveEntries {
            history: Arc::clone(self),
            account,
            rx: Some(rx),
        }
    }

    /// Accounts with live streams open (for tests and metrics).
    pub fn live_accounts(&self) -> usize {
        self.live.lock().len()
    }

    fn push(&self, account: u64, entry: Entry) {
        {
            let mut accounts = self.accounts.write();
            let q = accounts.entry(account).or_default();
            if q.len() >= ENTRIES_PER_ACCOUNT {
                q.pop_front();
            }
            q.push_back(entry.clone());
        }
        if LIVE_KINDS.contains(&&*entry.kind)
            && let Some(tx) = self.live.lock().get(&account)
        {
            let _ = tx.send(entry);
        }
    }

    fn apply(
        &self,
        seq: u64,
        at: Timestamp,
        commands: &[Envelope],
        outcomes: &[Outcome],
        engine: &Engine,
    ) {
        if commands.len() as u64 > CURSOR_COMMANDS_MAX {
            tracing::warn!(
                seq,
                commands = commands.len(),
                "a record with more commands than cursors tell apart: some entries share one"
            );
        }
        for (i, (env, out)) in commands.iter().zip(outcomes).enumerate() {
            let (Ok(applied), false) = (&out.result, out.repeated) else {
                continue;
            };
            let entry = |slot: u64,
                         kind: &'static str,
                         amount: i64,
                         counterparty: Option<u64>,
                         transfer: Option<TransferId>| Entry {
                cursor: cursor(seq, i, slot),
                at: at.as_micros(),
                kind: Cow::Borrowed(kind),
                amount,
                counterparty,
                transfer: transfer.map(|t| t.0),
            };
            match (&env.command, applied) {
                (Command::Scheme(c), Applied::Scheme(a)) => match (c.as_ref(), a.as_ref()) {
                    (
                        SchemeCommand::Pay {
                            payer, merchant, ..
                        },
                        SchemeApplied::Paid {
                            payment,
                            amount,
                            cashback,
                            ..
                        },
                    ) => {
                        let (p, m) = (payer.account().0, merchant.account().0);
                        self.push(
                            p,
                            entry(0, "payment", -amount.get(), Some(m), Some(*payment)),
                        );
                        if cashback.is_positive() {
                            self.push(
                                p,
                                entry(1, "cashback", cashback.get(), None, Some(*payment)),
                            );
                        }
                        self.push(
                            m,
                            entry(2, "payment_received", amount.get(), Some(p), Some(*payment)),
                        );
                    }
                    (
                        SchemeCommand::RefundPayment { payment, .. },
                        SchemeApplied::PaymentRefunded {
                            refund,
                            amount,
                            cashback_returned,
                            ..
                        },
                    ) => {
                        let parties =
                            engine.read(|l| l.payment(*payment).map(|r| (r.payer.0, r.merchant.0)));
                        if let Some((p, m)) = parties {
                            let back = amount.get() - cashback_returned.get();
                            self.push(
                                p,
                                entry(0, "payment_refunded", back, Some(m), Some(*refund)),
                            );
                            self.push(
                                m,
                                entry(1, "payment_refund", -amount.get(), Some(p), Some(*refund)),
                            );
                        }
                    }
                    (
                        SchemeCommand::Purchase { wallet, .. },
                        SchemeApplied::Purchased {
                            charge,
                            face,
                            status: TransferStatus::Posted,
                            ..
                        },
                    ) => self.push(
                        wallet.account().0,
                        entry(0, "charge", face.get(), None, Some(*charge)),
                    ),
                    (SchemeCommand::ConfirmPurchase { purchase }, _) => {
                        let rec =
                            engine.read(|l| l.purchase(*purchase).map(|p| (p.wallet.0, p.face)));
                        if let Some((w, face)) = rec {
                            self.push(w, entry(0, "charge", face.get(), None, Some(*purchase)));
                        }
                    }
                    (
                        SchemeCommand::Gift {
                            sender, recipient, ..
                        },
                        SchemeApplied::Gifted { gift, amount },
                    ) => {
                        let (s, r) = (sender.account().0, recipient.account().0);
                        self.push(
                            s,
                            entry(0, "gift_sent", -amount.get(), Some(r), Some(*gift)),
                        );
                        self.push(
                            r,
                            entry(1, "gift_received", amount.get(), Some(s), Some(*gift)),
                        );
                    }
                    (
                        SchemeCommand::RefundBalance { wallet, .. },
                        SchemeApplied::BalanceRefunded {
                            cash,
                            subsidy,
                            cash_transfer,
                            ..
                        },
                    ) => self.push(
                        wallet.account().0,
                        entry(
                            0,
                            "refund",
                            -(cash.get() + subsidy.get()),
                            None,
                            *cash_transfer,
                        ),
                    ),
                    (
                        SchemeCommand::CancelPurchase { .. },
                        SchemeApplied::PurchaseCancelled {
                            purchase,
                            cash,
                            subsidy,
                            cash_transfer,
                            ..
                        },
                    ) => {
                        let w = engine.read(|l| l.purchase(*purchase).map(|p| p.wallet.0));
                        if let Some(w) = w {
                            self.push(
                                w,
                                entry(
                                    0,
                                    "refund",
                                    -(cash.get() + subsidy.get()),
                                    None,
                                    Some(*cash_transfer),
                                ),
                            );
                        }
                    }
                    (_, SchemeApplied::RedemptionConfirmed { redemption, amount }) => {
                        if let Some(m) = self.end_redemption(*redemption, "paid", at) {
                            self.push(
                                m,
                                entry(0, "redemption", -amount.get(), None, Some(*redemption)),
                            );
                        }
                    }
                    _ => {}
                },
                (Command::Transfer(t), Applied::Transfer { id, status, amount }) => {
                    match (&t.spec, status) {
                        (TransferSpec::Redemption { merchant, .. }, TransferStatus::Posted) => {
                            let m = merchant.account().0;
                            self.open_settlement(m, *id, amount.get(), at, true);
                            self.push(m, entry(0, "redemption", -amount.get(), None, Some(*id)));
                        }
                        (TransferSpec::Redemption { merchant, .. }, TransferStatus::Pending) => {
                            let m = merchant.account().0;
                            self.redemptions.write().insert(*id, (m, at));
                            self.open_settlement(m, *id, amount.get(), at, false);
                        }
                        (TransferSpec::Expiry { wallet, .. }, _) => {
                            self.push(
                                wallet.account().0,
                                entry(0, "expiry", -amount.get(), None, Some(*id)),
                            );
                        }
                        _ => {}
                    }
                }
                (Command::VoidPending { pending }, Applied::PendingVoided { .. }) => {
                    self.end_redemption(*pending, "returned", at);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(cursor: u64, transfer: u64) -> Entry {
        Entry {
            cursor,
            at: 0,
            kind: "payment".into(),
            amount: -1,
            counterparty: None,
            transfer: Some(transfer),
        }
    }

    /// Every page of `account`'s history of at most `limit` entries, following `before`.
    fn all_pages(h: &History, account: u64, limit: usize) -> Vec<Entry> {
        let mut seen: Vec<Entry> = Vec::new();
        loop {
            let page = h.page(account, seen.last().map(|e| e.cursor), limit);
            assert!(page.len() <= limit);
            if page.is_empty() {
                return seen;
            }
            seen.extend(page);
        }
    }

    proptest! {
        /// Whatever a journal gives (several entries of one command for one account,
        /// many commands per record, records of other currencies' seqs skipped), paging
        /// with any limit shows every entry exactly once, newest first.
        #[test]
        fn paging_shows_every_entry_exactly_once(
            records in prop::collection::vec(
                (1u64..4, prop::collection::vec(prop::collection::vec(0u64..3, 1..=3), 1..6)),
                0..12,
            ),
            limit in 1usize..8,
        ) {
            let h = History::empty();
            let mut pushed: HashMap<u64, Vec<Entry>> = HashMap::new();
            let (mut seq, mut transfer) = (0, 0);
            for (gap, commands) in records {
                seq += gap;
                for (i, accounts) in commands.iter().enumerate() {
                    for (slot, account) in accounts.iter().enumerate() {
                        transfer += 1;
                        let e = entry(cursor(seq, i, slot as u64), transfer);
                        h.push(*account, e.clone());
                        pushed.entry(*account).or_default().push(e);
                    }
                }
            }
            for account in 0..3 {
                let mut want = pushed.remove(&account).unwrap_or_default();
                want.reverse();
                prop_assert_eq!(all_pages(&h, account, limit), want);
            }
        }
    }

    #[test]
    fn cursors_grow_with_slot_command_and_record_and_stay_exact_in_javascript() {
        let order = [
            cursor(1, 0, 0),
            cursor(1, 0, 1),
            cursor(1, 0, 2),
            cursor(1, 1, 0),
            cursor(1, CURSOR_COMMANDS_MAX as usize - 1, 3),
            cursor(2, 0, 0),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert!(cursor((1 << 35) - 1, CURSOR_COMMANDS_MAX as usize - 1, 3) < 1 << 53);
    }

    #[test]
    fn the_engines_batches_fit_in_a_cursor() {
        let o = engine::EngineOptions::default();
        assert!(o.batch_commands_max as u64 <= CURSOR_COMMANDS_MAX);
        assert!(o.submission_commands_max as u64 <= CURSOR_COMMANDS_MAX);
    }

    #[tokio::test]
    async fn a_read_waits_for_what_is_durable_and_no_longer_than_it_may() {
        let h = Arc::new(History::empty());
        let later = Arc::clone(&h);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            later.applied.send_replace(5);
        });
        assert!(h.caught_up(5, std::time::Duration::from_secs(5)).await);
        assert!(
            h.caught_up(3, std::time::Duration::ZERO).await,
            "already past"
        );
        let waited = std::time::Instant::now();
        assert!(!h.caught_up(6, std::time::Duration::from_millis(30)).await);
        assert!(waited.elapsed() < std::time::Duration::from_secs(2));
    }

    #[tokio::test]
    async fn live_entries_reach_only_their_accounts_streams_and_channels_go_with_the_last() {
        let h = Arc::new(History::empty());
        let mut one = h.live(1);
        let mut one_again = h.live(1);
        let mut two = h.live(2);
        assert_eq!(h.live_accounts(), 2);
        h.push(1, entry(cursor(1, 0, 0), 1));
        assert_eq!(one.recv().await.ok().map(|e| e.transfer), Some(Some(1)));
        assert_eq!(
            one_again.recv().await.ok().map(|e| e.transfer),
            Some(Some(1))
        );
        let quiet = tokio::time::timeout(std::time::Duration::from_millis(50), two.recv()).await;
        assert!(
            quiet.is_err(),
            "account 2's stream woke for account 1: {quiet:?}"
        );
        // A cash-back is in the history, not on the live stream.
        let mut cashback = entry(cursor(1, 0, 1), 2);
        cashback.kind = "cashback".into();
        h.push(1, cashback);
        h.push(1, entry(cursor(2, 0, 0), 3));
        assert_eq!(one.recv().await.ok().map(|e| e.transfer), Some(Some(3)));
        drop(one);
        assert_eq!(h.live_accounts(), 2, "account 1 still has a stream");
        drop(one_again);
        drop(two);
        assert_eq!(h.live_accounts(), 0, "channels go with their last stream");
    }
}
