//! Where a currency's journal and snapshots live. One trait, so that a PostgreSQL
//! backend can stand beside the embedded file backend without the sequencer changing.

use std::fmt;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use journal::{
    FileJournal, FileJournalConfig, JournalError, JournalReader, JournalStore, ReadOptions, Record,
    RecordHash, Snapshot, SnapshotStore,
};

/// What opening a journal for writing found.
#[derive(Debug)]
pub struct OpenedWriter {
    pub store: Box<dyn JournalStore>,
    pub last_seq: u64,
    pub last_hash: RecordHash,
    /// An unacknowledged torn tail that was cut off (and kept aside), described for
    /// the operator.
    pub torn_tail: Option<String>,
}

/// How a read of the journal ended.
#[derive(Debug, Clone, Default)]
pub struct ReadEnd {
    /// A torn tail seen after the last valid record (read-only: not cut).
    pub torn_tail: Option<String>,
}

pub trait Storage: Send + Sync + fmt::Debug {
    /// Opens the journal for appending; cuts (and reports) a torn tail, refuses damage
    /// to acknowledged records. With `trusted_through`, records after that seq are cut
    /// too: after a failed write they may sit in the page cache without being on disk.
    fn open_writer(&self, trusted_through: Option<u64>) -> Result<OpenedWriter, JournalError>;

    /// Reads records from `from_seq` on, checking the hash chain (starting from
    /// `expected_prev_hash` when given), and hands each to `visit` until it breaks.
    fn read_records(
        &self,
        from_seq: u64,
        expected_prev_hash: Option<RecordHash>,
        visit: &mut dyn FnMut(Record) -> ControlFlow<()>,
    ) -> Result<ReadEnd, JournalError>;

    /// [`Storage::read_records`] from a position an earlier read gave (the byte
    /// offset of record `from_seq` and the chain hash before it), so that a reader
    /// following the journal does not walk it from the start each time. The default
    /// reads from the start.
    fn read_records_at(
        &self,
        from_seq: u64,
        position: Option<(u64, RecordHash)>,
        visit: &mut dyn FnMut(Record) -> ControlFlow<()>,
    ) -> Result<ReadEnd, JournalError> {
        self.read_records(from_seq, position.map(|(_, hash)| hash), visit)
    }

    fn save_snapshot(
        &self,
        seq: u64,
        chain_hash: RecordHash,
        payload: &[u8],
    ) -> Result<(), JournalError>;
    /// Snapshot seqs available, oldest first.
    fn list_snapshots(&self) -> Result<Vec<u64>, JournalError>;
    fn load_snapshot(&self, seq: u64) -> Result<Snapshot, JournalError>;
    /// The first `len` bytes of a snapshot's payload (to see whose it is before
    /// loading it).
    fn peek_snapshot(&self, seq: u64, len: usize) -> Result<Vec<u8>, JournalError>;
    /// Deletes every snapshot not in `keep`.
    fn retain_snapshots(&self, keep: &[u64]) -> Result<(), JournalError>;
    /// Where it is, for messages.
    fn describe(&self) -> String;
}

/// The embedded default: `journal.dat` and `snapshots/` in one directory per currency.
#[derive(Debug, Clone)]
pub struct FileStorage {
    dir: PathBuf,
    config: FileJournalConfig,
}

impl FileStorage {
    pub fn new(dir: impl Into<PathBuf>, config: FileJournalConfig) -> FileStorage {
        FileStorage {
            dir: dir.into(),
            config,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Storage for FileStorage {
    fn open_writer(&self, trusted_through: Option<u64>) -> Result<OpenedWriter, JournalError> {
        let mut config = self.config.clone();
        config.trusted_through_seq = trusted_through;
        let (store, report) = FileJournal::open(&self.dir, config)?;
        let torn_tail = report.torn_tail.map(|t| {
            format!(
                "cut an unacknowledged torn tail at record {} (offset {}, {} bytes, {}); the bytes are kept in {}",
                t.seq,
                t.offset,
                t.bytes,
                t.reason,
                t.quarantine_path.display()
            )
        });
        if let Some(t) = &torn_tail {
            tracing::warn!(journal = %self.dir.display(), "{t}");
        }
        Ok(OpenedWriter {
            store: Box::new(store),
            last_seq: report.last_seq,
            last_hash: report.last_hash,
            torn_tail,
        })
    }

    fn read_records(
        &self,
        from_seq: u64,
        expected_prev_hash: Option<RecordHash>,
        visit: &mut dyn FnMut(Record) -> ControlFlow<()>,
    ) -> Result<ReadEnd, JournalError> {
        let reader = JournalReader::open(&self.dir)?;
        let options = ReadOptions {
            from_seq,
            verify_chain: true,
            expected_prev_hash,
        };
        visit_records(reader.records(options), visit)
    }

    fn read_records_at(
        &self,
        from_seq: u64,
        position: Option<(u64, RecordHash)>,
        visit: &mut dyn FnMut(Record) -> ControlFlow<()>,
    ) -> Result<ReadEnd, JournalError> {
        let Some((offset, prev_hash)) = position else {
            return self.read_records(from_seq, None, visit);
        };
        let reader = JournalReader::open(&self.dir)?;
        visit_records(reader.records_at(offset, from_seq, prev_hash), visit)
    }

    fn save_snapshot(
        &self,
        seq: u64,
        chain_hash: RecordHash,
        payload: &[u8],
    ) -> Result<(), JournalError> {
        SnapshotStore::open(&self.dir)?
            .save(seq, chain_hash, payload)
            .map(|_| ())
    }

    fn list_snapshots(&self) -> Result<Vec<u64>, JournalError> {
        SnapshotStore::open(&self.dir)?.list()
    }

    fn load_snapshot(&self, seq: u64) -> Result<Snapshot, JournalError> {
        SnapshotStore::open(&self.dir)?.load(seq)
    }

    fn peek_snapshot(&self, seq: u64, len: usize) -> Result<Vec<u8>, JournalError> {
        SnapshotStore::open(&self.dir)?.peek(seq, len)
    }

    fn retain_snapshots(&self, keep: &[u64]) -> Result<(), JournalError> {
        SnapshotStore::open(&self.dir)?.retain(keep).map(|_| ())
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}

/// Hands each record to `visit` until it breaks; then how the read ended.
fn visit_records(
    mut records: journal::RecordIter<'_>,
    visit: &mut dyn FnMut(Record) -> ControlFlow<()>,
) -> Result<ReadEnd, JournalError> {
    for record in records.by_ref() {
        if visit(record?).is_break() {
            return Ok(ReadEnd { torn_tail: None });
        }
    }
    let torn_tail = records
        .summary()
        .and_then(|s| s.torn_tail.as_ref())
        .map(|t| {
            format!(
                "torn tail at record {} (offset {}, {} bytes): {}",
                t.seq, t.offset, t.bytes, t.reason
            )
        });
    Ok(ReadEnd { torn_tail })
}
