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
