//! `maeul bench`: runs the benchmarks of the ledger issue and prints their figures as
//! Markdown, with the naive SQL baselines measured in the same run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use engine::EngineOptions;

use crate::baseline::{self, BaselineResult, BaselineSpec, PgAvailability};
use crate::durable::{DurableResult, closed_loop, fixed_rate, prepared_engine, prepared_engine_on};
use crate::workload::Workload;
use crate::{apply, restart};

#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// Where the benchmark journals go (removed afterwards).
    pub dir: PathBuf,
    /// Seconds per timed run.
    pub seconds: u64,
    /// Transfers journaled for the restart benchmark.
    pub restart_transfers: u64,
    pub pg_conn: String,
    pub which: Vec<String>,
}

fn wants(o: &SuiteOptions, name: &str) -> bool {
    o.which.is_empty() || o.which.iter().any(|w| w == name || w == "all")
}

fn k(n: f64) -> String {
    if n >= 1_000_000.0 {
        format!("{:.2} M", n / 1_000_000.0)
    } else if n >= 1_000.0 {
        format!("{:.1} k", n / 1_000.0)
    } else {
        format!("{n:.0}")
    }
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1_000.0)
}

fn durable_row(r: &DurableResult) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {:.0} | {} | {} / {} |",
        r.label,
        r.offered_per_second.map_or("max".into(), k),
        k(r.per_second()),
        ms(r.latency_us_p50),
        ms(r.latency_us_p99),
        ms(r.latency_us_p999),
        r.commands_per_batch(),
        r.busy,
        r.slow_writes.over_10ms,
        r.slow_writes.over_100ms,
    )
}

fn baseline_row(r: &BaselineResult) -> String {
    format!(
        "| {} | {} | {} | {} |",
        r.name,
        k(r.per_second),
        ms(r.latency_us_p50),
        ms(r.latency_us_p99)
    )
}

pub fn run(o: &SuiteOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(&o.dir)?;
    let secs = Duration::from_secs(o.seconds.max(1));
    let uniform = Workload::default();
    let hot = Workload {
        hot_merchant_percent: 90,
        ..Workload::default()
    };
    println!("# maeul benchmarks\n");
    println!(
        "workload: {} citizens, {} merchants, payments of 1,000–50,000 won; \"hot\" sends 90% of payments to one merchant.\n",
        uniform.citizens, uniform.merchants
    );

    if wants(o, "apply") {
        println!("## (a) in-memory apply, one core\n");
        let transfers = 2_000_000;
        let retained = 1_000_000;
        let a = apply::apply_rate(&uniform, retained, transfers, 8_192, 5);
        let h = apply::apply_rate(&hot, retained, transfers, 8_192, 5);
        let scheme = Workload {
            scheme: Some(crate::workload::BUSAN_LIKE),
            ..uniform
        };
        let s = apply::apply_rate(&scheme, retained, transfers, 8_192, 5);
        println!(
            "| workload | transfers/s (median of 5 runs of {}) | runs | rejected |",
            k(transfers as f64)
        );
        println!("|---|---|---|---|");
        let runs =
            |r: &apply::ApplyResult| r.runs.iter().map(|x| k(*x)).collect::<Vec<_>>().join(", ");
        println!(
            "| uniform | **{}** | {} | {} |",
            k(a.median()),
            runs(&a),
            a.rejected
        );
        println!(
            "| hot merchant | **{}** | {} | {} |",
            k(h.median()),
            runs(&h),
            h.rejected
        );
        println!(
            "| uniform, scheme rules (Busan-like: eligibility, sources, cash-back; {:.2}× plain) | **{}** | {} | {} |",
            s.median() / a.median(),
            k(s.median()),
            runs(&s),
            s.rejected
        );
        println!(
            "\nSteady state: the ledger retains {} idempotency keys and refundable payments (its caps) and is warmed up to them before timing. The scheme row's cash-back records have a cap of their own ({}) and are not warmed up to it: they grow while timed.",
            k(retained as f64),
            k(ledger::scheme::PURCHASE_RECORDS_MAX as f64)
        );
        if let Some(b) = a.bytes_per_retained_transfer {
            println!(
                "Memory: ≈ {b} bytes per retained transfer (resident size of a warmed-up ledger / transfers retained, accounts included)."
            );
        }
        println!();
    }

    let mut maeul_uniform = None;
    let mut maeul_hot = None;
    if wants(o, "durable") {
        println!(
            "## (b) durable throughput, group commit (fdatasync per write), payments over the engine\n"
        );
        println!(
            "| run | offered/s | achieved/s | p50 ms | p99 ms | p999 ms | commands/batch | busy | journal writes > 10 / > 100 ms |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        // Removed only after the last run: deleting a run's gigabytes of journal and
        // snapshots stalls the disk for 150–250 ms on the machines here, and inside the
        // next run that stall would be all its p99 measured.
        let mut used = Vec::new();
        for (w, name) in [(&uniform, "uniform"), (&hot, "hot")] {
            let dir = tempdir_in(&o.dir, name)?;
            used.push(dir.clone());
            let engine = prepared_engine(&dir, w, EngineOptions::default())?;
            let r = closed_loop(
                &engine,
                w,
                &format!("closed loop, {name}"),
                2,
                2_048,
                4,
                secs,
            )?;
            println!("{}", durable_row(&r));
            if name == "uniform" {
                maeul_uniform = Some(r);
            } else {
                maeul_hot = Some(r);
            }
            engine.shutdown();
        }
        // Each offered rate on a fresh currency, so that no run inherits another's state.
        for rate in [100_000, 500_000, 1_000_000] {
            let dir = tempdir_in(&o.dir, &format!("rate-{rate}"))?;
            used.push(dir.clone());
            let engine = prepared_engine(&dir, &uniform, EngineOptions::default())?;
            let r = fixed_rate(&engine, &uniform, rate, secs)?;
            println!("{}", durable_row(&r));
            engine.shutdown();
        }
        for dir in used {
            std::fs::remove_dir_all(&dir)?;
        }
        // Let the deletions' stall pass before anything else is timed.
        std::thread::sleep(Duration::from_secs(3));
        println!(
            "\nLatency is from the moment a submission was due to its durable acknowledgement; closed-loop clients submit 2,048 payments at a time, fixed-rate runs one submission per millisecond. A journal write (write + fdatasync) that takes 100 ms makes every submission due meanwhile wait for it: in a 5-second run one such write is a p99 of about 100 ms, however fast the rest.\n"
        );
    }

    if wants(o, "pg") {
        postgres_journal(o, &uniform, secs)?;
    }

    if wants(o, "restart") {
        println!(
            "## (c) restart with {} journaled transfers\n",
            k(o.restart_transfers as f64)
        );
        let dir = tempdir_in(&o.dir, "restart")?;
        let engine = prepared_engine(&dir, &uniform, EngineOptions::default())?;
        crate::durable::journal_payments(&engine, &uniform, 77, o.restart_transfers)?;
        engine.shutdown();
        let r = restart::restart(&dir, EngineOptions::default())?;
        println!(
            "open phases: journal scan {:.2} s, snapshot load {:.2} s, tail replay {:.2} s, invariant check {:.2} s\n",
            r.report.journal_open.as_secs_f64(),
            r.report.snapshot_load.as_secs_f64(),
            r.report.replay.as_secs_f64(),
            r.report.check.as_secs_f64()
        );
        println!(
            "| journal | open (snapshot + verified tail) | snapshot at record | records replayed | full verify from genesis | verify |"
        );
        println!("|---|---|---|---|---|---|");
        println!(
            "| {} MiB | **{:.2} s** | {} | {} | {:.2} s ({} transfers) | {} |\n",
            r.journal_bytes >> 20,
            r.open_time.as_secs_f64(),
            r.report
                .snapshot_seq
                .map_or("none (genesis)".into(), |s| s.to_string()),
            r.report.records_replayed,
            r.verify_time.as_secs_f64(),
            k(r.transfers_verified as f64),
            if r.verify_ok { "OK" } else { "FAILED" }
        );
        if std::env::var_os("MAEUL_BENCH_KEEP").is_some() {
            println!("(kept {} for inspection)", dir.display());
        } else {
            std::fs::remove_dir_all(&dir)?;
        }
    }

    if wants(o, "baseline") {
        println!("## (d) baseline: one SQL transaction per transfer, same workload\n");
        println!("| baseline | transfers/s | p50 ms | p99 ms |");
        println!("|---|---|---|---|");
        let mut rows = Vec::new();
        for (w, clients) in [(&uniform, 1usize), (&hot, 1)] {
            let spec = spec(w, clients, secs);
            let r = baseline::sqlite_one_tx_per_transfer(&o.dir, &spec)?;
            println!("{}", baseline_row(&r));
            rows.push(("sqlite", w.hot_merchant_percent, r));
        }
        for (w, clients) in [(&uniform, 8usize), (&hot, 8)] {
            match baseline::postgres_one_tx_per_transfer(&o.pg_conn, &spec(w, clients, secs)) {
                PgAvailability::Ran(r) => {
                    println!("{}", baseline_row(&r));
                    rows.push(("postgres", w.hot_merchant_percent, r));
                }
                PgAvailability::Skipped { reason } => {
                    println!("| postgres ({clients} clients): skipped — {reason} | | | |")
                }
                PgAvailability::Failed(e) => {
                    println!("| postgres ({clients} clients): FAILED — {e:#} | | | |")
                }
            }
        }
        if let (Some(u), Some(h)) = (&maeul_uniform, &maeul_hot) {
            println!("\n| ratio maeul / baseline (durable closed loop) | uniform | hot merchant |");
            println!("|---|---|---|");
            for db in ["sqlite", "postgres"] {
                let get = |hot: u8| {
                    rows.iter()
                        .find(|(d, p, _)| *d == db && *p == hot)
                        .map(|(_, _, r)| r.per_second)
                };
                if let (Some(bu), Some(bh)) = (get(0), get(90)) {
                    println!(
                        "| vs {db} | **{:.0}×** | **{:.0}×** |",
                        u.per_second() / bu,
                        h.per_second() / bh
                    );
                }
            }
        }
        println!();
    }
    Ok(())
}

/// (l) The same closed loop with the journal in a file and in PostgreSQL, in one run,
/// then PostgreSQL at fixed offered rates.
fn postgres_journal(o: &SuiteOptions, uniform: &Workload, secs: Duration) -> anyhow::Result<()> {
    println!(
        "## (l) durable throughput, PostgreSQL journal vs file journal (same run, uniform payments)\n"
    );
    let scratch = match pgstore::scratch::ScratchDb::on(&o.pg_conn) {
        Ok(s) => s,
        Err(e) => {
            println!("PostgreSQL at `{}`: FAILED — {e}\n", o.pg_conn);
            return Ok(());
        }
    };
    println!(
        "| journal | offered/s | achieved/s | p50 ms | p99 ms | p999 ms | commands/batch | busy | journal writes > 10 / > 100 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let dir = tempdir_in(&o.dir, "pg-vs-file")?;
    let engine = prepared_engine(&dir, uniform, EngineOptions::default())?;
    let file = closed_loop(&engine, uniform, "file, closed loop", 2, 2_048, 4, secs)?;
    println!("{}", durable_row(&file));
    engine.shutdown();
    std::fs::remove_dir_all(&dir)?;

    let db = scratch.db();
    let mut pg_runs = Vec::new();
    for (i, rate) in [None, Some(100_000), Some(200_000)].into_iter().enumerate() {
        let currency = format!("bench{i}");
        let lease = pgstore::lease::try_acquire(&db, &currency, "bench", Duration::from_secs(600))?
            .ok_or_else(|| anyhow::anyhow!("the bench lease is held"))?;
        // The engine names its currency "bench"; the rows are keyed by the lease's.
        let storage: Arc<dyn engine::Storage> =
            Arc::new(pgstore::PgStorage::writer(Arc::clone(&db), &lease));
        let engine = prepared_engine_on(storage, uniform, EngineOptions::default())?;
        let r = match rate {
            None => closed_loop(
                &engine,
                uniform,
                "PostgreSQL, closed loop",
                2,
                2_048,
                4,
                secs,
            )?,
            Some(rate) => {
                let mut r = fixed_rate(&engine, uniform, rate, secs)?;
                r.label = format!("PostgreSQL, {}", r.label);
                r
            }
        };
        println!("{}", durable_row(&r));
        pg_runs.push(r);
        engine.shutdown();
    }
    if let Some(pg) = pg_runs.first() {
        println!(
            "\nPostgreSQL {} (`{}`), one INSERT per write group under the writer lease; ratio PostgreSQL / file, closed loop: **{:.2}×**.\n",
            db.describe(),
            o.pg_conn,
            pg.per_second() / file.per_second().max(1e-9)
        );
    }
    Ok(())
}

fn spec(w: &Workload, clients: usize, duration: Duration) -> BaselineSpec {
    BaselineSpec {
        citizens: w.citizens,
        merchants: w.merchants,
        hot_merchant_percent: w.hot_merchant_percent,
        clients,
        duration_max: duration,
        ..BaselineSpec::default()
    }
}

fn tempdir_in(base: &std::path::Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = base.join(format!("{name}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
