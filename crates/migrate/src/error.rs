//! The one error of an export or an import, with the file, row or step at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The journal could not be read or does not replay to what it recorded.
    #[error("the journal does not verify: {0}")]
    Journal(String),
    #[error("the ledger: {0}")]
    Ledger(String),
    /// The service's stores (people, registry, notices) could not be read or written.
    #[error("the service's store: {0}")]
    Store(String),
    /// The set is not what its manifest says, or not what its journal says.
    #[error("the set does not check: {0}")]
    Set(String),
    /// The set was written by a newer maeul.
    #[error(
        "the set is format version {found}; this build reads up to version {reads}: use a newer maeul"
    )]
    NewerFormat { found: u32, reads: u32 },
    #[error("people's data: {0}")]
    People(String),
    /// The target already holds something the set would contradict.
    #[error("the target: {0}")]
    Target(String),
    #[error("{0}")]
    Usage(String),
}

impl MigrateError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> MigrateError {
        let path = path.into();
        move |source| MigrateError::Io { path, source }
    }

    pub(crate) fn store(e: impl std::fmt::Display) -> MigrateError {
        MigrateError::Store(e.to_string())
    }
}
