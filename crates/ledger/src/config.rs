//! Ledger parameters that are fixed per currency at genesis and journaled with it, so
//! that replay uses exactly the values the original run used.

use crate::account::Source;
use crate::money::DAY_US;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LedgerConfig {
    /// The order in which a wallet's sources are spent; within a source, the lot that
    /// expires first is spent first.
    pub spend_order: [Source; 5],
    /// How long (journal time) a client's idempotency key is remembered...
    pub idempotency_retention_us: u64,
    /// ...and how many keys at most (oldest forgotten first). About 90 bytes each.
    pub idempotency_entries_max: usize,
    /// How long a payment stays refundable by a linked refund...
    pub payment_refund_window_us: u64,
    /// ...and how many transfer ids the refund log spans at most (it keeps one slot per
    /// transfer id in the window, payment or not; about 100 bytes a slot).
    pub payment_records_max: usize,
    /// The longest a transfer may stay pending.
    pub pending_timeout_max_us: u64,
    /// How long an ended pending transfer is remembered, so that a late post or void
    /// is told "already posted/voided/expired" rather than "not found".
    pub ended_pending_retention_us: u64,
    /// At most this many pending transfers at once (each holds funds and memory).
    pub pending_transfers_max: usize,
}

impl Default for LedgerConfig {
    fn default() -> LedgerConfig {
        LedgerConfig {
            spend_order: [
                Source::Cashback,
                Source::Allowance,
                Source::Gift,
                Source::Correction,
                Source::Purchased,
            ],
            idempotency_retention_us: DAY_US,
            idempotency_entries_max: 20_000_000,
            payment_refund_window_us: 30 * DAY_US,
            payment_records_max: 20_000_000,
            pending_timeout_max_us: 7 * DAY_US,
            ended_pending_retention_us: DAY_US,
            pending_transfers_max: 1_000_000,
        }
    }
}

impl LedgerConfig {
    /// Rank of a source in the spending order (0 is spent first).
    pub fn spend_rank(&self, source: Source) -> u8 {
        self.spend_order
            .iter()
            .position(|s| *s == source)
            .map_or(u8::MAX, |p| p as u8)
    }

    /// A spend order must name every source exactly once, and every cap must fit the
    /// snapshot format's 32-bit counts.
    pub fn is_valid(&self) -> bool {
        let cap = u32::MAX as usize;
        Source::ALL
            .iter()
            .all(|s| self.spend_order.iter().filter(|o| *o == s).count() == 1)
            && self.idempotency_entries_max <= cap
            && self.payment_records_max <= cap
            && self.pending_transfers_max <= cap
    }
}
