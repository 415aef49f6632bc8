//! An operator's dashboard: payments, sales and subsidy spent over the last minutes, in
//! buckets of journal time, with the subsidy budgets left, the sequencer's queue and
//! whether the currency takes writes.
//!
//! The series are a projection of the journal, like the history: the treasury's own
//! money events (`treasury::events::EventFold`, what the operator report counts) folded
//! into buckets. A currency's series start at its first dashboard view, from the end of
//! the journal (at most `BACKFILL_RECORDS` records), then follow every durable batch.
//! Derived, never authoritative; bounded (`BUCKETS` buckets kept).

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

use engine::record::{self, RecordBody};
use engine::{Engine, Storage};
use ledger::{AccountKind, Envelope, Outcome, Timestamp, TransferKind};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use treasury::events::{Event, EventFold};
use utoipa::ToSchema;

use crate::error::ServiceError;
use crate::standing::Standing;
use crate::{Caller, Service, now_us};

/// Seconds of journal time per bucket.
pub const BUCKET_S: u64 = 10;
/// Buckets kept and shown: ten minutes.
pub const BUCKETS: usize = 60;
/// Records read back from the journal when a currency's series start.
pub const BACKFILL_RECORDS: u64 = 20_000;

const BUCKET_US: u64 = BUCKET_S * 1_000_000;

/// What one bucket counted. Amounts in won.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    payments: u64,
    payments_won: i64,
    sales_won: i64,
    /// Discount, cash-back and allowances paid by budgets, less subsidy returned.
    subsidy_won: i64,
    /// Money put into budgets.
    funding_won: i64,
}

impl Counts {
    fn add(&mut self, kind: TransferKind, won: i64) {
        match kind {
            TransferKind::Payment => {
                self.payments += 1;
                self.payments_won += won;
            }
            TransferKind::Charge => self.sales_won += won,
            TransferKind::Subsidy | TransferKind::Cashback | TransferKind::Allowance => {
                self.subsidy_won += won
            }
            TransferKind::SubsidyReturn => self.subsidy_won -= won,
            TransferKind::BudgetFunding => self.funding_won += won,
            _ => {}
        }
    }
}

/// One currency's buckets, by bucket number (journal microseconds / `BUCKET_US`).
#[derive(Debug, Default)]
struct Buckets {
    fold: EventFold,
    counts: BTreeMap<u64, Counts>,
    /// The first batch time counted.
    since_us: Option<u64>,
}

impl Buckets {
    fn batch(&mut self, at: Timestamp, commands: &[Envelope], outcomes: &[Outcome]) {
        self.since_us.get_or_insert(at.as_micros());
        let counts = &mut self.counts;
        self.fold.batch(at, commands, outcomes, &mut |e| {
            if let Event::Posted { at, kind, amount } = e {
                counts
                    .entry(at.as_micros() / BUCKET_US)
                    .or_default()
                    .add(*kind, amount.get());
            }
        });
        // Keep a bound: only the newest buckets.
        while self.counts.len() > BUCKETS * 2 {
            self.counts.pop_first();
        }
    }
}

/// The series of every currency whose dashboard has been looked at.
#[derive(Debug, Default)]
pub struct Dashboards {
    series: Mutex<HashMap<String, Arc<Mutex<Buckets>>>>,
}

impl Dashboards {
    /// The currency's series, started (read back, then followed) at the first call.
    fn of(
        &self,
        code: &str,
        engine: &Arc<Engine>,
        storage: &Arc<dyn Storage>,
    ) -> Arc<Mutex<Buckets>> {
        let mut series = self.series.lock();
        if let Some(s) = series.get(code) {
            return Arc::clone(s);
        }
        let s = follow(engine, storage);
        series.insert(code.to_owned(), Arc::clone(&s));
        s
    }
}

/// Reads the journal's end and follows the engine from then on (as the history does:
/// subscribe first, so nothing in between is missed).
fn follow(engine: &Arc<Engine>, storage: &Arc<dyn Storage>) -> Arc<Mutex<Buckets>> {
    let buckets = Arc::new(Mutex::new(Buckets::default()));
    let mut rx = engine.subscribe();
    let durable = engine.durable_seq();
    let from = durable.saturating_sub(BACKFILL_RECORDS).max(1);
    {
        let mut b = buckets.lock();
        let _ = storage.read_records(from, None, &mut |rec| {
            if let Ok(RecordBody::Batch(batch)) = record::decode(&rec.payload) {
                b.batch(batch.timestamp, &batch.commands, &batch.outcomes);
            }
            if rec.seq >= durable {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
    }
    let b = Arc::clone(&buckets);
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(batch) if batch.seq > durable => {
                    b.lock()
                        .batch(batch.timestamp, &batch.commands, &batch.outcomes);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        batches = n,
                        "dashboard fell behind; some batches are not counted"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    buckets
}

/// One bucket of the dashboard's series.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Point {
    /// Unix microseconds the bucket starts (journal time).
    pub start_us: u64,
    pub payments: u64,
    pub payments_won: i64,
    pub sales_won: i64,
    /// Subsidy paid out net of what came back.
    pub subsidy_won: i64,
    /// What the subsidy budgets held at the bucket's end: today's balance with the later
    /// buckets' spending added back and their funding taken off.
    pub budget_left_won: i64,
}

/// The sums over the dashboard's buckets, and the payments' rates (in tenths of a
/// payment per second, so that no float comes near a count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Window {
    pub seconds: u64,
    pub payments: u64,
    pub sales_won: i64,
    pub subsidy_won: i64,
    /// Payments per second over the whole window, times ten.
    pub mean_per_second_x10: u64,
    /// The busiest bucket's payments per second, times ten.
    pub peak_per_second_x10: u64,
}

impl Window {
    /// Checked sums: an overflow is an error, never a wrapped total.
    pub fn of(points: &[Point], bucket_s: u64) -> Result<Window, ServiceError> {
        let overflow = || ServiceError::internal("dashboard totals overflow");
        let mut w = Window {
            seconds: bucket_s.saturating_mul(points.len() as u64),
            ..Window::default()
        };
        for p in points {
            w.payments = w.payments.checked_add(p.payments).ok_or_else(overflow)?;
            w.sales_won = w.sales_won.checked_add(p.sales_won).ok_or_else(overflow)?;
            w.subsidy_won = w
                .subsidy_won
                .checked_add(p.subsidy_won)
                .ok_or_else(overflow)?;
            w.peak_per_second_x10 = w
                .peak_per_second_x10
                .max(per_second_x10(p.payments, bucket_s));
        }
        w.mean_per_second_x10 = per_second_x10(w.payments, w.seconds);
        Ok(w)
    }
}

/// `count` over `seconds`, times ten, rounded down (over no time: over one second).
pub fn per_second_x10(count: u64, seconds: u64) -> u64 {
    let x10 = u128::from(count) * 10 / u128::from(seconds.max(1));
    u64::try_from(x10).unwrap_or(u64::MAX)
}

/// Whether the currency takes writes, and what works.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CurrencyHealth {
    /// running, recovering, failed, read_only, stopped.
    pub engine: String,
    /// Why the engine is not running, for operators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The ledger's halt, if it is halted: the operator's reason or the broken invariant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted: Option<String>,
    pub payments: bool,
    pub charging: bool,
    pub redemption: bool,
    /// What the background audit found wrong, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_failure: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Dashboard {
    pub currency: String,
    /// Unix microseconds of the answer (wall clock).
    pub at_us: u64,
    pub bucket_s: u64,
    /// Oldest first, `BUCKETS` of them, the last one the current bucket.
    pub points: Vec<Point>,
    /// The sums over `points`.
    pub window: Window,
    /// The first batch time counted (the series know nothing before).
    pub since_us: Option<u64>,
    /// What the subsidy budgets hold now.
    pub budget_left_won: i64,
    /// Submissions waiting for the sequencer.
    pub queue_depth: usize,
    /// Commands applied since the engine started (engine counter).
    pub commands: u64,
    pub health: CurrencyHealth,
}

/// The dashboard of the operator's own currency `code`.
pub fn dashboard(
    service: &Service,
    caller: &Caller,
    code: &str,
) -> Result<Dashboard, ServiceError> {
    let currency = service.operator_of(caller, code)?;
    let engine = &currency.engine;
    let series = service.dashboards.of(code, engine, &currency.storage);
    let at_us = now_us();
    let budget_left_won = engine.read(|l| {
        l.accounts()
            .iter()
            .filter(|a| a.kind == AccountKind::SubsidyBudget)
            .try_fold(0i64, |sum, a| {
                sum.checked_add(a.balance().map_or(0, |b| b.get()))
            })
    });
    let budget_left_won =
        budget_left_won.ok_or_else(|| ServiceError::internal("subsidy budgets overflow i64"))?;
    let (points, since_us) = {
        let b = series.lock();
        (points(&b.counts, at_us, budget_left_won), b.since_us)
    };
    let window = Window::of(&points, BUCKET_S)?;
    let standing = Standing::of(engine, at_us);
    let (name, cause) = standing.engine_state();
    let cause = cause.map(str::to_owned);
    let works = standing.works;
    Ok(Dashboard {
        currency: code.to_owned(),
        at_us,
        bucket_s: BUCKET_S,
        points,
        window,
        since_us,
        budget_left_won,
        queue_depth: engine.queue_depth(),
        commands: engine
            .counters()
            .commands
            .load(std::sync::atomic::Ordering::Relaxed),
        health: CurrencyHealth {
            engine: name.into(),
            cause,
            halted: standing.halt.map(|h| format!("{:?}", h.cause)),
            payments: works.payments,
            charging: works.charging,
            redemption: works.redemption,
            audit_failure: engine.audit_failure(),
        },
    })
}

/// The last `BUCKETS` buckets up to the one holding `now_us` (zeros where nothing
/// happened), with the budgets' balance at each bucket's end worked back from `left_now`.
fn points(counts: &BTreeMap<u64, Counts>, now_us: u64, left_now: i64) -> Vec<Point> {
    let last = now_us / BUCKET_US;
    let first = last.saturating_sub(BUCKETS as u64 - 1);
    // Money moved after the shown buckets (a batch stamped ahead of this clock) counts too.
    let mut left = left_now;
    for (_, c) in counts.range(last + 1..) {
        left += c.subsidy_won - c.funding_won;
    }
    let mut out: Vec<Point> = Vec::with_capacity(BUCKETS);
    for n in (first..=last).rev() {
        let c = counts.get(&n).copied().unwrap_or_default();
        out.push(Point {
            start_us: n * BUCKET_US,
            payments: c.payments,
            payments_won: c.payments_won,
            sales_won: c.sales_won,
            subsidy_won: c.subsidy_won,
            budget_left_won: left,
        });
        left += c.subsidy_won - c.funding_won;
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(entries: &[(u64, Counts)]) -> BTreeMap<u64, Counts> {
        entries.iter().copied().collect()
    }

    fn point(payments: u64, sales_won: i64, subsidy_won: i64) -> Point {
        Point {
            start_us: 0,
            payments,
            payments_won: 0,
            sales_won,
            subsidy_won,
            budget_left_won: 0,
        }
    }

    #[test]
    fn the_window_sums_its_buckets_and_rates_in_tenths() {
        let w = Window::of(
            &[point(3, 1_000, 100), point(0, 0, -40), point(12, 5, 0)],
            10,
        )
        .expect("no overflow");
        assert_eq!(w.seconds, 30);
        assert_eq!(w.payments, 15);
        assert_eq!(w.sales_won, 1_005);
        assert_eq!(w.subsidy_won, 60, "subsidy that came back is taken off");
        assert_eq!(w.mean_per_second_x10, 5, "15 payments in 30 s is 0.5/s");
        assert_eq!(w.peak_per_second_x10, 12, "12 payments in 10 s is 1.2/s");
        assert_eq!(Window::of(&[], 10).expect("empty"), Window::default());
    }

    #[test]
    fn a_window_that_would_overflow_is_an_error_not_a_wrapped_total() {
        let e =
            Window::of(&[point(1, i64::MAX, 0), point(1, 1, 0)], 10).expect_err("i64::MAX + 1 won");
        assert_eq!(e.status, http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(per_second_x10(u64::MAX, 1), u64::MAX, "a rate saturates");
    }

    #[test]
    fn points_cover_the_last_buckets_with_zeros_between() {
        let now = 1_000 * BUCKET_US + 5;
        let c = counts(&[
            (
                1_000,
                Counts {
                    payments: 3,
                    payments_won: 30_000,
                    ..Counts::default()
                },
            ),
            (
                990,
                Counts {
                    sales_won: 50_000,
                    ..Counts::default()
                },
            ),
            (
                900,
                Counts {
                    payments: 99,
                    ..Counts::default()
                },
            ),
        ]);
        let p = points(&c, now, 0);
        assert_eq!(p.len(), BUCKETS);
        assert_eq!(p[BUCKETS - 1].start_us, 1_000 * BUCKET_US);
        assert_eq!(p[BUCKETS - 1].payments, 3);
        assert_eq!(p[BUCKETS - 11].sales_won, 50_000);
        assert_eq!(p[0].start_us, (1_000 - BUCKETS as u64 + 1) * BUCKET_US);
        assert_eq!(
            p.iter().map(|x| x.payments).sum::<u64>(),
            3,
            "too old is not shown"
        );
    }

    #[test]
    fn the_budget_left_is_worked_back_from_now() {
        let now = 100 * BUCKET_US;
        let c = counts(&[
            (
                100,
                Counts {
                    subsidy_won: 1_000,
                    ..Counts::default()
                },
            ),
            (
                99,
                Counts {
                    subsidy_won: 500,
                    funding_won: 10_000,
                    ..Counts::default()
                },
            ),
        ]);
        let p = points(&c, now, 20_000);
        let n = p.len();
        assert_eq!(p[n - 1].budget_left_won, 20_000);
        assert_eq!(p[n - 2].budget_left_won, 21_000);
        // Before bucket 99: its spending back, its funding off.
        assert_eq!(p[n - 3].budget_left_won, 21_000 + 500 - 10_000);
        assert_eq!(p[0].budget_left_won, 11_500);
    }

    #[test]
    fn kinds_count_where_the_report_counts_them() {
        let mut c = Counts::default();
        c.add(TransferKind::Payment, 4_000);
        c.add(TransferKind::Payment, 1_000);
        c.add(TransferKind::Charge, 50_000);
        c.add(TransferKind::Subsidy, 5_000);
        c.add(TransferKind::Cashback, 100);
        c.add(TransferKind::SubsidyReturn, 600);
        c.add(TransferKind::BudgetFunding, 1_000_000);
        c.add(TransferKind::Gift, 7);
        assert_eq!(
            c,
            Counts {
                payments: 2,
                payments_won: 5_000,
                sales_won: 50_000,
                subsidy_won: 4_500,
                funding_won: 1_000_000,
            }
        );
    }
}
