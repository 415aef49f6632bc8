//! (b) Durable throughput through the engine (sequencer + journal with group commit),
//! closed loop and at fixed offered rates, with acknowledgement latency.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use engine::{CurrencyCode, Engine, EngineOptions, FileStorage, Storage, SubmitError, Ticket};
use hdrhistogram::Histogram;
use journal::FileJournalConfig;
use ledger::{Envelope, LedgerConfig};

use crate::workload::Workload;

#[derive(Debug, Clone)]
pub struct DurableResult {
    pub label: String,
    pub offered_per_second: Option<f64>,
    pub transfers: u64,
    pub rejected: u64,
    pub busy: u64,
    pub elapsed: Duration,
    pub batches: u64,
    pub durable_writes: u64,
    pub latency_us_p50: u64,
    pub latency_us_p99: u64,
    pub latency_us_p999: u64,
    /// Journal writes (write + fdatasync) that took over 10 ms, and over 100 ms: a
    /// submission due while one of them was under way waits for it, so a tail of that
    /// length is the disk's, whatever maeul does.
    pub slow_writes: SlowWrites,
}

/// Journal writes over 10 ms and over 100 ms during a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlowWrites {
    pub over_10ms: u64,
    pub over_100ms: u64,
}

impl SlowWrites {
    /// From the engine's commit-latency histogram (microseconds).
    fn of(engine: &Engine) -> SlowWrites {
        let h = &engine.counters().commit_latency;
        SlowWrites {
            over_10ms: h.count_above(10_000),
            over_100ms: h.count_above(100_000),
        }
    }

    fn since(self, engine: &Engine) -> SlowWrites {
        let now = SlowWrites::of(engine);
        SlowWrites {
            over_10ms: now.over_10ms.saturating_sub(self.over_10ms),
            over_100ms: now.over_100ms.saturating_sub(self.over_100ms),
        }
    }
}

impl DurableResult {
    pub fn per_second(&self) -> f64 {
        self.transfers as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn commands_per_batch(&self) -> f64 {
        self.transfers as f64 / self.batches.max(1) as f64
    }
}

/// A fresh currency in `dir` with the workload's accounts.
pub fn prepared_engine(
    dir: &Path,
    workload: &Workload,
    options: EngineOptions,
) -> anyhow::Result<Engine> {
    prepared_engine_on(
        Arc::new(FileStorage::new(dir, FileJournalConfig::default())),
        workload,
        options,
    )
}

/// [`prepared_engine`] on any storage (the PostgreSQL journal, say).
pub fn prepared_engine_on(
    storage: Arc<dyn Storage>,
    workload: &Workload,
    options: EngineOptions,
) -> anyhow::Result<Engine> {
    let currency = CurrencyCode::new("bench").map_err(|e| anyhow!(e))?;
    let engine = Engine::create(storage, currency, LedgerConfig::default(), options)?;
    for chunk in workload.setup().chunks(4_096) {
        let outs = engine.execute(chunk.to_vec())?;
        anyhow::ensure!(outs.iter().all(|o| o.is_applied()), "setup failed");
    }
    Ok(engine)
}

/// Journals `n` payments of `workload` (client `client`), 4,096 a submission with up to
/// eight in flight: history for the restart and migration benchmarks, not timed itself.
pub fn journal_payments(
    engine: &Engine,
    workload: &Workload,
    client: u64,
    n: u64,
) -> anyhow::Result<()> {
    let mut payments = workload.payments(client);
    let mut left = n;
    let mut tickets = std::collections::VecDeque::new();
    while left > 0 || !tickets.is_empty() {
        while left > 0 && tickets.len() < 8 {
            let take = left.min(4_096);
            left -= take;
            let batch: Vec<_> = payments.by_ref().take(take as usize).collect();
            tickets.push_back(engine.submit(batch)?);
        }
        if let Some(t) = tickets.pop_front() {
            t.wait()?;
        }
    }
    Ok(())
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 100 s, 3 significant digits; cannot fail for these bounds.
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("constant histogram bounds are valid")
}

/// Submits, retrying after `Busy` (counted) until accepted.
fn submit(engine: &Engine, commands: Vec<Envelope>, busy: &mut u64) -> anyhow::Result<Ticket> {
    let mut commands = Some(commands);
    loop {
        let batch = commands.take().context("submission lost")?;
        match engine.submit(batch.clone()) {
            Ok(t) => return Ok(t),
            Err(SubmitError::Busy { retry_after }) => {
                *busy += 1;
                std::thread::sleep(retry_after / 50);
                commands = Some(batch);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The engine's batch and write counters at the start of a run.
struct CounterMark {
    batches: u64,
    writes: u64,
    slow: SlowWrites,
}

impl CounterMark {
    fn now(engine: &Engine) -> CounterMark {
        let c = engine.counters();
        CounterMark {
            batches: c.batches.load(std::sync::atomic::Ordering::Relaxed),
            writes: c.durable_writes.load(std::sync::atomic::Ordering::Relaxed),
            slow: SlowWrites::of(engine),
        }
    }

    fn batches_since(&self, engine: &Engine) -> u64 {
        CounterMark::now(engine).batches - self.batches
    }

    fn writes_since(&self, engine: &Engine) -> u64 {
        CounterMark::now(engine).writes - self.writes
    }

    fn slow_writes_since(&self, engine: &Engine) -> SlowWrites {
        self.slow.since(engine)
    }
}

/// What one closed-loop client saw.
struct ClientTally {
    done: u64,
    rejected: u64,
    busy: u64,
    hist: Histogram<u64>,
}

/// As fast as it goes: `clients` threads each keep `in_flight` submissions of `chunk`
/// payments outstanding for `duration`.
pub fn closed_loop(
    engine: &Engine,
    workload: &Workload,
    label: &str,
    clients: usize,
    chunk: usize,
    in_flight: usize,
    duration: Duration,
) -> anyhow::Result<DurableResult> {
    let before = CounterMark::now(engine);
    let started = Instant::now();
    let results: Vec<anyhow::Result<ClientTally>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                s.spawn(move || {
                    let mut payments = workload.payments(1_000 + c as u64);
                    let mut hist = histogram();
                    let (mut done, mut rejected, mut busy) = (0u64, 0u64, 0u64);
                    let mut waiting: VecDeque<(Ticket, Instant)> = VecDeque::new();
                    let end = started + duration;
                    loop {
                        while waiting.len() < in_flight && Instant::now() < end {
                            let batch: Vec<_> = payments.by_ref().take(chunk).collect();
                            waiting.push_back((submit(engine, batch, &mut busy)?, Instant::now()));
                        }
                        let Some((ticket, sent)) = waiting.pop_front() else {
                            break;
                        };
                        let outs = ticket.wait()?;
                        let us = sent.elapsed().as_micros() as u64;
                        hist.saturating_record_n(us.max(1), outs.len() as u64);
                        done += outs.len() as u64;
                        rejected += outs.iter().filter(|o| !o.is_applied()).count() as u64;
                    }
                    Ok(ClientTally {
                        done,
                        rejected,
                        busy,
                        hist,
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("client panicked"))))
            .collect()
    });
    let elapsed = started.elapsed();
    let mut total = DurableResult {
        label: label.to_owned(),
        offered_per_second: None,
        transfers: 0,
        rejected: 0,
        busy: 0,
        elapsed,
        batches: before.batches_since(engine),
        durable_writes: before.writes_since(engine),
        latency_us_p50: 0,
        latency_us_p99: 0,
        latency_us_p999: 0,
        slow_writes: before.slow_writes_since(engine),
    };
    let mut hist = histogram();
    for r in results {
        let ClientTally {
            done,
            rejected,
            busy,
            hist: h,
        } = r?;
        total.transfers += done;
        total.rejected += rejected;
        total.busy += busy;
        hist.add(&h).map_err(|e| anyhow!("histogram: {e}"))?;
    }
    total.latency_us_p50 = hist.value_at_quantile(0.50);
    total.latency_us_p99 = hist.value_at_quantile(0.99);
    total.latency_us_p999 = hist.value_at_quantile(0.999);
    Ok(total)
}

/// Offers `rate` payments per second for `duration`, in a submission every
/// millisecond. Latency is measured from when each submission was *due* (so a stall
/// in the sender counts against maeul, not hidden: no coordinated omission).
pub fn fixed_rate(
    engine: &Engine,
    workload: &Workload,
    rate: u64,
    duration: Duration,
) -> anyhow::Result<DurableResult> {
    let tick = Duration::from_millis(1);
    let per_tick = (rate / 1_000).max(1) as usize;
    let before = CounterMark::now(engine);
    let (tx, rx) = crossbeam_channel::bounded::<(Ticket, Instant)>(100_000);
    let started = Instant::now();
    let receiver = std::thread::spawn(move || -> anyhow::Result<(u64, u64, Histogram<u64>)> {
        let mut hist = histogram();
        let (mut done, mut rejected) = (0u64, 0u64);
        for (ticket, due) in rx {
            let outs = ticket.wait()?;
            hist.saturating_record_n((due.elapsed().as_micros() as u64).max(1), outs.len() as u64);
            done += outs.len() as u64;
            rejected += outs.iter().filter(|o| !o.is_applied()).count() as u64;
        }
        Ok((done, rejected, hist))
    });
    let mut payments = workload.payments(2_000 + rate);
    let mut busy = 0;
    let mut ticks = 0u32;
    let send_result = (|| -> anyhow::Result<()> {
        while started.elapsed() < duration {
            let due = started + tick * ticks;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let batch: Vec<_> = payments.by_ref().take(per_tick).collect();
            let ticket = submit(engine, batch, &mut busy)?;
            tx.send((ticket, due))
                .map_err(|_| anyhow!("receiver stopped"))?;
            ticks += 1;
        }
        Ok(())
    })();
    drop(tx);
    let (done, rejected, hist) = receiver
        .join()
        .map_err(|_| anyhow!("receiver panicked"))??;
    send_result?;
    Ok(DurableResult {
        label: format!("fixed {rate}/s"),
        offered_per_second: Some(rate as f64),
        transfers: done,
        rejected,
        busy,
        elapsed: started.elapsed(),
        batches: before.batches_since(engine),
        durable_writes: before.writes_since(engine),
        latency_us_p50: hist.value_at_quantile(0.50),
        latency_us_p99: hist.value_at_quantile(0.99),
        latency_us_p999: hist.value_at_quantile(0.999),
        slow_writes: before.slow_writes_since(engine),
    })
}
