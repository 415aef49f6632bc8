//! (a) The in-memory apply rate of payments on one core: the ledger alone, no journal.

use std::time::Instant;

use ledger::{Ledger, LedgerConfig, Timestamp};

use crate::workload::Workload;

#[derive(Debug, Clone)]
pub struct ApplyResult {
    pub transfers_per_run: u64,
    pub batch: usize,
    /// Transfers per second of each run.
    pub runs: Vec<f64>,
    pub rejected: u64,
}

impl ApplyResult {
    pub fn median(&self) -> f64 {
        crate::median(&self.runs)
    }
}

/// Applies `transfers` payments in batches of `batch` to a fresh ledger, `runs` times,
/// timing only `apply` (setup and payment generation are outside the timed part).
pub fn apply_rate(workload: &Workload, transfers: u64, batch: usize, runs: usize) -> ApplyResult {
    let mut result = ApplyResult {
        transfers_per_run: transfers,
        batch,
        runs: Vec::new(),
        rejected: 0,
    };
    let setup = workload.setup();
    let payments: Vec<_> = workload.payments(0).take(transfers as usize).collect();
    for _ in 0..runs {
        let mut ledger = Ledger::new(LedgerConfig::default());
        let mut outcomes = Vec::new();
        let mut now = 1_000_000u64;
        for chunk in setup.chunks(batch.max(1)) {
            ledger.apply_into(chunk, Timestamp::from_micros(now), &mut outcomes);
        }
        let started = Instant::now();
        for chunk in payments.chunks(batch.max(1)) {
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
