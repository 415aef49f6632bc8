use std::io;
use std::path::PathBuf;

/// Every error the crate returns.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An operating-system I/O call failed.
    #[error("I/O error on {}: {op} failed: {source}", path.display())]
    Io {
        /// File or directory concerned.
        path: PathBuf,
        /// What was being done (e.g. "fdatasync").
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },

    /// Acknowledged (durable) data is damaged. The journal is not opened.
    #[error(
        "journal {} is corrupt at record seq {seq}, byte offset {offset}: {reason}",
        path.display()
    )]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// The seq of the record that was expected at `offset`.
        seq: u64,
        /// Byte offset in the file where the damaged record starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// A previous call failed; the store must be reopened from disk.
    #[error("journal store is poisoned by an earlier failed write; reopen it from disk")]
    Poisoned,

    /// The batch passed to `append_durable` is invalid; nothing was written
    /// and the store is still usable.
    #[error("invalid append: {0}")]
    InvalidAppend(String),

    /// Another `FileJournal` (maybe in another process) has the journal open.
    #[error("journal {} is locked by another writer", path.display())]
    Locked {
        /// The journal file.
        path: PathBuf,
    },

    /// The reader was asked for a chain that does not match what the
    /// caller expected (e.g. the chain hash recorded in a snapshot).
    #[error(
        "journal {} chain mismatch at record seq {seq}, byte offset {offset}: \
         prev_hash is {found} but {expected} was expected",
        path.display()
    )]
    ChainMismatch {
        /// The journal file.
        path: PathBuf,
        /// The record whose `prev_hash` did not match.
        seq: u64,
        /// Its byte offset.
        offset: u64,
        /// Expected chain hash (hex).
        expected: String,
        /// Found chain hash (hex).
        found: String,
    },

    /// A snapshot file is damaged or is not a snapshot.
    #[error("snapshot {} is damaged: {reason}", path.display())]
    SnapshotCorrupt {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// No snapshot with this seq exists.
    #[error("no snapshot for seq {seq} in {}", dir.display())]
    SnapshotNotFound {
        /// The snapshot directory.
        dir: PathBuf,
        /// The requested seq.
        seq: u64,
    },
}

impl JournalError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        JournalError::Io {
            path: path.into(),
            op,
            source,
        }
    }
}
