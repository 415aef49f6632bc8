//! The data directory: `DATA_DIR/currencies/<code>/` holds one currency's journal and
//! snapshots. Nothing else is needed to run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use engine::{CurrencyCode, FileStorage, Storage};
use journal::FileJournalConfig;

pub fn currency_dir(data_dir: &Path, code: &CurrencyCode) -> PathBuf {
    data_dir.join("currencies").join(code.as_str())
}

pub fn storage(data_dir: &Path, code: &CurrencyCode) -> Arc<dyn Storage> {
    Arc::new(FileStorage::new(
        currency_dir(data_dir, code),
        FileJournalConfig::default(),
    ))
}

/// The currencies present, by code.
pub fn currencies(data_dir: &Path) -> anyhow::Result<Vec<CurrencyCode>> {
    let root = data_dir.join("currencies");
    if !root.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&root).with_context(|| format!("reading {}", root.display()))? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        match CurrencyCode::new(&name) {
            Ok(code) if entry.path().join(journal::JOURNAL_FILE_NAME).exists() => out.push(code),
            _ => tracing::warn!(dir = %entry.path().display(), "not a currency directory; ignored"),
        }
    }
    out.sort();
    Ok(out)
}

/// The file whose OS lock says who writes a data directory.
pub const LOCK_FILE: &str = "maeul.lock";

/// One process writes a data directory: `maeul serve`, or one offline verb. Held for
/// the life of the value (the OS drops the lock when the process ends, even killed).
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

/// Takes the data directory's lock for `who` (e.g. "maeul serve"), or says who holds
/// it. Two writers of one directory once gave two merchants the same id.
pub fn lock(data_dir: &Path, who: &str) -> anyhow::Result<DataDirLock> {
    use std::io::{Read, Seek, Write};
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let path = data_dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            anyhow::bail!(
                "the data directory {} is in use by {}: one process writes a data directory at a time. \
                 Stop it first (or, while `maeul serve` runs, use the HTTP API for this)",
                data_dir.display(),
                if holder.is_empty() {
                    "another maeul process"
                } else {
                    holder
                }
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    // Who holds it, for the next one who asks.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    file.set_len(0)?;
    file.rewind()?;
    write!(
        file,
        "{who} (pid {}, since unix time {since})",
        std::process::id()
    )?;
    file.flush()?;
    Ok(DataDirLock { _file: file })
}
