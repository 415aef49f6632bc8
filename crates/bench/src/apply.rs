//! (a) The in-memory apply rate of payments on one core: the ledger alone, no journal.
//!
//! Measured in steady state: the ledger keeps at most `retained` idempotency keys and
//! refundable payments (as a server does once its retention caps are reached), and it
//! is warmed up to that size before the clock starts, so the figure is not the cost of
//! growing fresh hash tables.

use std::time::Instant;

use ledger::{Ledger, LedgerConfig, Timestamp};

use crate::workload::Workload;

#[derive(Debug, Clone)]
pub struct ApplyResult {
    pub transfers_per_run: u64,
    pub batch: usize,
    pub retained: usize,
    /// Transfers per second of each run.
    pub runs: Vec<f64>,
    pub rejected: u64,
    /// Resident memory of one warmed-up ledger divided by what it retains.
    pub bytes_per_retained_transfer: Option<u64>,
}

impl ApplyResult {
    pub fn median(&self) -> f64 {
        crate::median(&self.runs)
    }
}

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The first `n` items in a vector allocated once. Growing it by doubling would free
/// blocks that stay resident under some allocators (mimalloc keeps them for reuse), and
/// the ledger built next would reuse them without raising the resident size, so the
/// memory figure would read far too low.
fn collect_exact<T>(items: impl Iterator<Item = T>, n: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(n);
    out.extend(items.take(n));
    out
}

/// Applies `transfers` payments in batches of `batch` to a ledger warmed up to
/// `retained` keys and payments, `runs` times, timing only `apply`.
pub fn apply_rate(
    workload: &Workload,
    retained: usize,
    transfers: u64,
    batch: usize,
    runs: usize,
) -> ApplyResult {
    let batch = batch.max(1);
    let config = LedgerConfig {
        idempotency_entries_max: retained,
        payment_records_max: retained,
        ..LedgerConfig::default()
    };
    let mut result = ApplyResult {
        transfers_per_run: transfers,
        batch,
        retained,
        runs: Vec::new(),
        rejected: 0,
        bytes_per_retained_transfer: None,
    };
    let setup = workload.setup();
    let warmup = collect_exact(workload.payments(0), retained);
    let payments = collect_exact(workload.payments(1), transfers as usize);
    for run in 0..runs {
        let rss_before = rss_bytes();
        let mut ledger = Ledger::new(config.clone());
        let mut outcomes = Vec::new();
        let mut now = 1_000_000u64;
        for chunk in setup.chunks(batch).chain(warmup.chunks(batch)) {
            now += 100;
            ledger.apply_into(chunk, Timestamp::from_micros(now), &mut outcomes);
        }
        if let (0, Some(before), Some(after)) = (run, rss_before, rss_bytes()) {
            result.bytes_per_retained_transfer =
                Some(after.saturating_sub(before) / retained.max(1) as u64);
        }
        let started = Instant::now();
        for chunk in payments.chunks(batch) {
            now += 100;
            ledger.apply_into(chunk, Timestamp::from_micros(now), &mut outcomes);
            result.rejected += outcomes.iter().filter(|o| !o.is_applied()).count() as u64;
        }
        let elapsed = started.elapsed().as_secs_f64();
        result.runs.push(transfers as f64 / elapsed);
        assert!(
            ledger.halted().is_none(),
            "the ledger halted during the benchmark"
        );
    }
    result
}
