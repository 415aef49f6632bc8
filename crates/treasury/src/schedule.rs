//! When the jobs run: the in-flight sweep every few seconds, auto-charge every few
//! minutes (the job itself knows whose day it is and whose retry is due), expiry once a
//! day after midnight, and the daily settlement at the operator's cut-off. All times of
//! day are KST.

use std::sync::Arc;
use std::time::Duration;

use bank::Bank;
use ledger::Timestamp;
use ledger::scheme::calendar::KstDate;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::{Treasury, now_ms};

#[derive(Clone, Debug)]
pub struct Schedule {
    pub sweep_every: Duration,
    pub auto_charge_every: Duration,
    /// KST (hour, minute) of the daily expiry run.
    pub expiry_at: (u8, u8),
    /// KST (hour, minute) of the daily settlement cut-off; `None`: this node never
    /// pays merchants out by itself (a rehearsal, a test that needs their balances).
    pub settlement_cutoff: Option<(u8, u8)>,
}

impl Schedule {
    /// The daily settlement's cut-off unless the operator sets another: 23:30 KST.
    pub const SETTLEMENT_CUTOFF: (u8, u8) = (23, 30);
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            sweep_every: Duration::from_secs(10),
            auto_charge_every: Duration::from_secs(15 * 60),
            expiry_at: (0, 5),
            settlement_cutoff: Some(Schedule::SETTLEMENT_CUTOFF),
        }
    }
}

/// The instant today's run at `at` (KST hour, minute) is due, if it is due at `now` and
/// has not run today yet.
pub fn due_daily(now: Timestamp, at: (u8, u8), last_run: Option<KstDate>) -> Option<Timestamp> {
    let today = KstDate::of(now);
    let due = today
        .start()
        .plus_micros((u64::from(at.0) * 60 + u64::from(at.1)) * 60 * 1_000_000);
    (now >= due && last_run != Some(today)).then_some(due)
}

fn now() -> Timestamp {
    Timestamp::from_micros(now_ms() * 1_000)
}

impl<B: Bank + 'static> Treasury<B> {
    /// Runs the jobs until `stop` turns true. Each job's failure is logged and retried
    /// at its next turn; none stops the others.
    pub async fn run_schedule(
        self: Arc<Self>,
        schedule: Schedule,
        mut stop: watch::Receiver<bool>,
    ) {
        let tick = schedule.sweep_every.min(Duration::from_secs(1));
        let mut last_sweep: Option<std::time::Instant> = None;
        let mut last_auto: Option<std::time::Instant> = None;
        let mut expired_on: Option<KstDate> = None;
        let mut settled_on: Option<KstDate> = None;
        loop {
            if *stop.borrow() {
                return;
            }
            if !self.engine.writes_here() {
                // Another node writes this currency and runs its jobs: once, not once
                // a node. This node runs them from when it is promoted.
                tokio::select! {
                    _ = tokio::time::sleep(tick) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let t = now();
            if last_sweep.is_none_or(|l| l.elapsed() >= schedule.sweep_every) {
                last_sweep = Some(std::time::Instant::now());
                match self.sweep().await {
                    Ok(r) if !r.conflicts.is_empty() => {
                        warn!(conflicts = ?r.conflicts, "bank and ledger disagree; see reconciliation")
                    }
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "sweep failed"),
                }
            }
            if last_auto.is_none_or(|l| l.elapsed() >= schedule.auto_charge_every) {
                last_auto = Some(std::time::Instant::now());
                match self.run_auto_charge(t).await {
                    Ok(r) if !r.notices.is_empty() => {
                        info!(charged = r.done, failed = r.failed, "auto-charge run")
                    }
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "auto-charge failed"),
                }
            }
            if due_daily(t, schedule.expiry_at, expired_on).is_some() {
                match self.run_expiry(t).await {
                    Ok(r) => {
                        expired_on = Some(KstDate::of(t));
                        info!(wallets = r.done, won = r.amount, "expiry run");
                    }
                    Err(e) => warn!(error = %e, "expiry failed"),
                }
            }
            if let Some(cutoff) = schedule
                .settlement_cutoff
                .and_then(|at| due_daily(t, at, settled_on))
            {
                let batch = self.settle_day(cutoff).await;
                settled_on = Some(KstDate::of(t));
                info!(
                    day = %batch.day,
                    paid = batch.paid.0,
                    paid_won = batch.paid.1,
                    refused = batch.refused.0,
                    in_doubt = batch.in_doubt.0,
                    "daily settlement"
                );
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_jobs_run_once_a_day_after_their_time() {
        // 2026-03-10 23:29:59.999999 KST, then 23:30 exactly.
        let day = KstDate {
            year: 2026,
            month: 3,
            day: 10,
        };
        let cutoff = day.start().plus_micros((23 * 60 + 30) * 60 * 1_000_000);
        assert_eq!(due_daily(cutoff.minus_micros(1), (23, 30), None), None);
        assert_eq!(due_daily(cutoff, (23, 30), None), Some(cutoff));
        assert_eq!(due_daily(cutoff, (23, 30), Some(day)), None);
        // The next day, before its time: not yet; after: due again.
        let next = KstDate::of(day.start().plus_micros(ledger::DAY_US));
        let next_cutoff = next.start().plus_micros((23 * 60 + 30) * 60 * 1_000_000);
        assert_eq!(due_daily(next.start(), (23, 30), Some(day)), None);
        assert_eq!(
            due_daily(next_cutoff, (23, 30), Some(day)),
            Some(next_cutoff)
        );
    }
}
