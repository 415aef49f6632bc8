//! `maeul`: the command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use engine::{CurrencyCode, Engine, EngineError, EngineOptions, SubmitError};
use maeul::{data_dir, demo, drill};

#[derive(Parser, Debug)]
#[command(
    name = "maeul",
    version,
    about = "Regional digital currencies: a ledger that cannot move money the wrong way"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Runs every currency in the data directory (creating the demo currency in an empty
    /// one). Until the HTTP API lands it drives the demo with synthetic payments and
    /// prints the currency's state every few seconds. Ctrl-C stops it gracefully.
    Serve {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Synthetic payments per second for the demo currency (0: none).
        #[arg(long, default_value_t = 200)]
        demo_rate: u64,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Re-executes every journaled command with this version of maeul and checks the
    /// hash chain, every outcome and the state hashes. Exits non-zero on any difference.
    Verify {
        data_dir: PathBuf,
        /// Only this currency.
        #[arg(long)]
        currency: Option<String>,
    },
    /// Runs the benchmarks and prints their figures (Markdown).
    Bench {
        /// Which: apply, durable, restart, baseline (default: all).
        which: Vec<String>,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 10_000_000)]
        restart_transfers: u64,
        #[arg(long, default_value = "./bench-data")]
        dir: PathBuf,
        #[arg(long, default_value = bench::baseline::PG_DEFAULT_CONN)]
        pg: String,
    },
    /// Fault drills for tests.
    #[command(hide = true)]
    Drill {
        #[command(subcommand)]
        drill: Drill,
    },
}

#[derive(Subcommand, Debug)]
enum Drill {
    /// Writes under concurrent load until killed, printing each acknowledged command.
    CrashLoad {
        data_dir: PathBuf,
        #[arg(long)]
        run: u64,
        #[arg(long, default_value_t = 4)]
        clients: u64,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Serve {
            data_dir,
            demo_rate,
            seconds,
        } => serve(&data_dir, demo_rate, seconds.map(Duration::from_secs)),
        Cmd::Verify { data_dir, currency } => return verify(&data_dir, currency.as_deref()),
        Cmd::Bench {
            which,
            seconds,
            restart_transfers,
            dir,
            pg,
        } => {
            let options = bench::suite::SuiteOptions {
                dir: dir.clone(),
                seconds,
                restart_transfers,
                pg_conn: pg,
                which,
            };
            let r = bench::suite::run(&options);
            if std::env::var_os("MAEUL_BENCH_KEEP").is_none() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            r
        }
        Cmd::Drill {
            drill:
                Drill::CrashLoad {
                    data_dir,
                    run,
                    clients,
                },
        } => drill::crash_load(&data_dir, run, clients),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn verify(data_dir: &std::path::Path, only: Option<&str>) -> ExitCode {
    let currencies = match data_dir::currencies(data_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let currencies: Vec<_> = currencies
        .into_iter()
        .filter(|c| only.is_none_or(|o| c.as_str() == o))
        .collect();
    if currencies.is_empty() {
        eprintln!(
            "error: no currency found under {}",
            data_dir.join("currencies").display()
        );
        return ExitCode::from(2);
    }
    let mut all_ok = true;
    for code in currencies {
        let started = Instant::now();
        let report = engine::verify(data_dir::storage(data_dir, &code).as_ref());
        println!("{report}  ({:.2} s)\n", started.elapsed().as_secs_f64());
        all_ok &= report.ok();
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn serve(
    data_dir: &std::path::Path,
    demo_rate: u64,
    limit: Option<Duration>,
) -> anyhow::Result<()> {
    let mut codes = data_dir::currencies(data_dir)?;
    let demo_code = CurrencyCode::new("demo").map_err(anyhow::Error::msg)?;
    if codes.is_empty() {
        tracing::info!(data_dir = %data_dir.display(), "empty data directory: creating the demo currency");
        let engine = Engine::create(
            data_dir::storage(data_dir, &demo_code),
            demo_code.clone(),
            ledger::LedgerConfig::default(),
            EngineOptions::default(),
        )?;
        demo::populate(&engine, (EngineOptions::default().clock)())?;
        engine.shutdown();
        codes.push(demo_code.clone());
    }
    let mut engines = Vec::new();
    for code in &codes {
        match Engine::open(data_dir::storage(data_dir, code), EngineOptions::default()) {
            Ok((engine, report)) => {
                tracing::info!(currency = %code, ?report, "serving");
                engines.push(engine);
            }
            Err(e @ EngineError::Divergence(_)) => {
                return Err(e).context(format!("currency {code}"));
            }
            Err(e) => return Err(e).with_context(|| format!("opening currency {code}")),
        }
    }

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_flag = std::sync::Arc::clone(&stop);
    ctrlc::set_handler(move || stop_flag.store(true, std::sync::atomic::Ordering::Relaxed))
        .context("installing the Ctrl-C handler")?;
    let started = Instant::now();
    let mut traffic = demo::Traffic::new(started.elapsed().as_nanos() as u64 ^ 0x5eed);
    let mut last_report = Instant::now();
    let mut sent = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed)
        && limit.is_none_or(|l| started.elapsed() < l)
    {
        if let Some(demo) = engines.iter().find(|e| e.currency() == &demo_code) {
            let due = (started.elapsed().as_secs_f64() * demo_rate as f64) as u64;
            while sent < due {
                match demo.submit(vec![traffic.next_command()]) {
                    Ok(_) | Err(SubmitError::Busy { .. }) => {}
                    Err(e) => tracing::warn!("demo traffic: {e}"),
                }
                sent += 1;
            }
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            for e in &engines {
                let c = e.counters();
                tracing::info!(
                    currency = %e.currency(),
                    health = ?e.health(),
                    durable_seq = e.durable_seq(),
                    commands = c.commands.load(std::sync::atomic::Ordering::Relaxed),
                    batches = c.batches.load(std::sync::atomic::Ordering::Relaxed),
                    state_hash = %e.state_hash(),
                    "status"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for e in engines {
        e.shutdown();
    }
    Ok(())
}
