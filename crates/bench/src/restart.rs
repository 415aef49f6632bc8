//! (c) Restart time: open a currency whose journal holds millions of transfers
//! (snapshot + verified replay of the tail), and a full `verify` from genesis.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{Engine, EngineOptions, FileStorage, StartReport};
use journal::FileJournalConfig;

#[derive(Debug, Clone)]
pub struct RestartResult {
    pub journal_bytes: u64,
    pub open_time: Duration,
    pub report: StartReport,
    pub verify_time: Duration,
    pub verify_ok: bool,
    pub transfers_verified: u64,
}

pub fn restart(dir: &Path, options: EngineOptions) -> anyhow::Result<RestartResult> {
    let storage = Arc::new(FileStorage::new(dir, FileJournalConfig::default()));
    let journal_bytes = std::fs::metadata(dir.join(journal::JOURNAL_FILE_NAME))?.len();
    let started = Instant::now();
    let (engine, report) = Engine::open(storage.clone(), options)?;
    let open_time = started.elapsed();
    engine.shutdown();
    let started = Instant::now();
    let verified = engine::verify(storage.as_ref());
    let verify_time = started.elapsed();
    let transfers_verified = verified.transfers_by_kind.values().map(|t| t.count).sum();
    Ok(RestartResult {
        journal_bytes,
        open_time,
        report,
        verify_time,
        verify_ok: verified.ok(),
        transfers_verified,
    })
}
