use std::io;
use std::path::Path;

/// Every error a journal store returns, whatever keeps it (a file, a database).
/// `at` says where, for people: a file's path, or a database's table and currency.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An operating-system I/O call failed.
    #[error("I/O error on {at}: {op} failed: {source}")]
    Io {
        /// File or directory concerned.
        at: String,
        /// What was being done (e.g. "fdatasync").
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },

    /// A database call failed (connection lost, statement refused, timeout). For a
    /// write this means "maybe written": reopening tells which.
    #[error("database error on {at}: {op} failed: {message}")]
    Database {
        /// The database and what in it.
        at: String,
        /// What was being done (e.g. "append").
        op: &'static str,
        /// The database's own words.
        message: String,
    },

    /// Acknowledged (durable) data is damaged. The journal is not opened.
    #[error("journal {at} is corrupt at record seq {seq}, byte offset {offset}: {reason}")]
    Corrupt {
        /// The journal.
        at: String,
        /// The seq of the record that was expected at `offset`.
        seq: u64,
        /// Byte offset in the file where the damaged record starts (0 where records
        /// are rows, not bytes).
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
    #[error("journal {at} is locked by another writer")]
    Locked {
        /// The journal.
        at: String,
    },

    /// This writer no longer holds the right to write (its lease was taken by
    /// another node, maybe while it was paused). Nothing of the refused call was
    /// written, and nothing more will be: the writer must step down.
    #[error("journal {at}: writer epoch {epoch} was deposed; {now}")]
    Fenced {
        /// The journal.
        at: String,
        /// The epoch this writer held.
        epoch: u64,
        /// Who writes now, as far as is known.
        now: String,
    },

    /// The reader was asked for a chain that does not match what the
    /// caller expected (e.g. the chain hash recorded in a snapshot).
    #[error(
        "journal {at} chain mismatch at record seq {seq}, byte offset {offset}: \
         prev_hash is {found} but {expected} was expected"
    )]
    ChainMismatch {
        /// The journal.
        at: String,
        /// The record whose `prev_hash` did not match.
        seq: u64,
        /// Its byte offset (0 where records are rows).
        offset: u64,
        /// Expected chain hash (hex).
        expected: String,
        /// Found chain hash (hex).
        found: String,
    },

    /// A snapshot is damaged or is not a snapshot.
    #[error("snapshot {at} is damaged: {reason}")]
    SnapshotCorrupt {
        /// The snapshot.
        at: String,
        /// What is wrong.
        reason: String,
    },

    /// No snapshot with this seq exists.
    #[error("no snapshot for seq {seq} in {at}")]
    SnapshotNotFound {
        /// Where snapshots are kept.
        at: String,
        /// The requested seq.
        seq: u64,
    },
}

impl JournalError {
    pub(crate) fn io(path: impl AsRef<Path>, op: &'static str, source: io::Error) -> Self {
        JournalError::Io {
            at: path.as_ref().display().to_string(),
            op,
            source,
        }
    }
}
