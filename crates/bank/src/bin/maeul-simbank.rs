//! `maeul-simbank`: the simulated bank as a stand-alone HTTP service, for demos and for
//! running maeul against a misbehaving bank by hand (switch faults with `PUT /v1/faults`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use bank::{FaultPlan, NewAccount, SimBank, SimBankConfig};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "maeul-simbank",
    about = "Simulated bank with switchable faults"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
    /// Seed of the fault RNG.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// JSON file with an array of accounts to open:
    /// `[{"number": "...", "holder": "...", "balance": 0, "allow_negative": false}]`.
    #[arg(long)]
    accounts: Option<PathBuf>,
    /// JSON file with a fault plan to start with (same body as `PUT /v1/faults`).
    #[arg(long)]
    faults: Option<PathBuf>,
    /// SQLite file that keeps the books (created if missing): a restart from it keeps
    /// accounts, balances, statements and every reference's answer. Without it the bank
    /// forgets everything when it stops. `--accounts` then opens only missing accounts.
    #[arg(long)]
    data: Option<PathBuf>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &PathBuf) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path:?}"))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {path:?}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        // stdout carries only the URL line, for scripts.
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let accounts: Vec<NewAccount> = match &args.accounts {
        Some(path) => read_json(path)?,
        None => Vec::new(),
    };
    let faults: FaultPlan = match &args.faults {
        Some(path) => read_json(path)?,
        None => FaultPlan::none(),
    };
    let config = SimBankConfig {
        seed: args.seed,
        faults,
        accounts,
        path: args.data,
        ..SimBankConfig::default()
    };
    // Listen for the stop signal before announcing the URL: whoever reads the URL may
    // signal at once.
    let stop = stop_signal()?;
    let handle = SimBank::start(args.listen, config).await?;
    println!("maeul-simbank listening on {}", handle.url());
    stop.await?;
    tracing::info!("stopping");
    handle.shutdown().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM (how service managers and test harnesses ask a process to stop).
/// The handlers are installed when this is called, not when it is first awaited.
#[cfg(unix)]
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        Ok(())
    })
}

#[cfg(not(unix))]
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>>> {
    Ok(async { tokio::signal::ctrl_c().await.context("waiting for Ctrl-C") })
}
