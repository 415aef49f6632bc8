//! `journal`: the durable, append-only, hash-chained record of every batch
//! the ledger sequencer applied, plus snapshots.
//!
//! The crate knows nothing about the ledger. Each record carries an opaque
//! payload, a sequence number and a timestamp; the engine encodes its batches
//! into payloads.
//!
//! * [`JournalStore`] is the storage trait the sequencer writes through
//!   (one durable write per call, poisoned after a failure).
//! * [`FileJournal`] is the file backend: one preallocated file
//!   `<dir>/journal.dat`.
//! * [`JournalReader`] reads a journal directory without modifying it
//!   (verifier, recovery).
//! * [`SnapshotStore`] keeps snapshots in `<dir>/snapshots/`.
//!
//! # Example
//!
//! ```
//! use journal::{FileJournal, FileJournalConfig, JournalReader, JournalStore, NewRecord, ReadOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let dir = tmp.path();
//! let (mut journal, report) = FileJournal::open(dir, FileJournalConfig::default())?;
//! assert!(report.torn_tail.is_none());
//! let next = journal.last_seq() + 1;
//! let receipt = journal.append_durable(&[
//!     NewRecord { seq: next, timestamp_us: 1, payload: b"batch 1" },
//!     NewRecord { seq: next + 1, timestamp_us: 2, payload: b"batch 2" },
//! ])?; // one write + one fdatasync
//! drop(journal);
//!
//! let reader = JournalReader::open(dir)?;
//! let records = reader.records(ReadOptions::default()).collect::<Result<Vec<_>, _>>()?;
//! assert_eq!(records[1].payload, b"batch 2");
//! assert_eq!(records[1].hash, receipt.last_hash);
//! # Ok(())
//! # }
//! ```
//!
//! # On-disk format of `journal.dat` (format version 1)
//!
//! This is the on-disk contract. All integers are little-endian.
//!
//! The file is a sequence of records starting at offset 0, followed by
//! zero bytes (preallocated space) up to the end of the file. Every record
//! starts at an offset that is a multiple of 8 and consists of an 80-byte
//! header, the payload, and 0–7 zero bytes of padding so that the next
//! record is 8-byte aligned again (record length =
//! `80 + round_up_8(payload_len)`).
//!
//! | offset | size | field                                                     |
//! |-------:|-----:|-----------------------------------------------------------|
//! |      0 |    4 | magic `b"MJNL"`                                           |
//! |      4 |    2 | format version, `1`                                       |
//! |      6 |    2 | reserved, must be zero                                    |
//! |      8 |    8 | `seq` (the first record has seq 1, then +1 per record)    |
//! |     16 |    8 | `timestamp_us` (opaque to the journal)                    |
//! |     24 |    8 | `payload_len` in bytes (at most [`MAX_PAYLOAD_LEN`])      |
//! |     32 |    8 | `synced_through_seq` (see below), always `< seq`          |
//! |     40 |   32 | `prev_hash`: chain hash of record `seq - 1` (zeros for 1) |
//! |     72 |    4 | crc32c of the payload                                     |
//! |     76 |    4 | crc32c of header bytes `0..76`                            |
//!
//! **Chain hash** of a record (see [`record_hash`]):
//! `blake3(prev_hash[32] || seq as u64 LE || timestamp_us as u64 LE ||
//! payload_len as u64 LE || payload)`. The chain hash before the first
//! record is [`GENESIS_HASH`] (32 zero bytes).
//!
//! **`synced_through_seq`** is the highest seq that had already been made
//! durable and acknowledged (by a successful `append_durable`) when the
//! record was written. All records written by one `append_durable` call
//! (one "write group") therefore carry the same value: the seq just before
//! the group.
//!
//! # Torn tail versus damage
//!
//! When opening, every record is checked (header crc, payload crc, zero
//! padding, seq continuity, `prev_hash` equal to the recomputed chain hash
//! of the previous record, record inside the file) and the region after the
//! last record must be all zeros. When the check fails at offset `X` where
//! record `s` was expected, every 8-aligned offset from `X` to the end of the
//! file is searched for a valid header (magic, version, header crc). If one
//! is found with `synced_through_seq >= s`, record `s` had been acknowledged
//! as durable before that later record was written, so this is damage to
//! acknowledged data: [`FileJournal::open`] refuses with
//! [`JournalError::Corrupt`] and [`JournalReader`] reports the same error.
//! Otherwise the bytes are the remains of a write group that was never
//! acknowledged (a crash mid-write): [`FileJournal::open`] copies them into
//! `torn-tail-seq<s>-off<X>.bin` next to `journal.dat`, zeroes them in
//! `journal.dat` and reports the cut in [`OpenReport::torn_tail`] (and logs a
//! warning). [`JournalReader`] only reports it.
//!
//! Limitation: damage to the last write group of the journal, with nothing
//! written after it, cannot be told apart from a torn write and is cut (but
//! quarantined and reported, never silently dropped).
//!
//! # Snapshot files
//!
//! See [`snapshot`] for the format of `snapshots/snapshot-<seq>.bin`.

mod error;
mod file;
mod format;
mod reader;
mod scan;
pub mod snapshot;
mod writeback;

pub use error::JournalError;
#[cfg(any(test, feature = "fault-injection"))]
pub use file::FaultInjection;
pub use file::{DEFAULT_CHUNK_SIZE, FileJournal, FileJournalConfig, OpenReport, TornTail};
pub use format::{FORMAT_VERSION, HEADER_LEN, MAGIC, MAX_PAYLOAD_LEN, record_len};
pub use reader::{JournalReader, ReadOptions, ReadSummary, Record, RecordIter, TornTailInfo};
pub use snapshot::{Snapshot, SnapshotStore};

use std::fmt;

/// Name of the journal file inside the journal directory.
pub const JOURNAL_FILE_NAME: &str = "journal.dat";

/// A blake3 chain hash (see [`record_hash`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RecordHash(pub [u8; 32]);

/// The chain hash "before" the first record: 32 zero bytes.
pub const GENESIS_HASH: RecordHash = RecordHash([0u8; 32]);

impl RecordHash {
    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for RecordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RecordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordHash({self})")
    }
}

/// Chain hash of a record:
/// `blake3(prev_hash || seq LE u64 || timestamp_us LE u64 || payload_len LE u64 || payload)`.
pub fn record_hash(
    prev_hash: &RecordHash,
    seq: u64,
    timestamp_us: u64,
    payload: &[u8],
) -> RecordHash {
    let mut h = blake3::Hasher::new();
    h.update(&prev_hash.0);
    h.update(&seq.to_le_bytes());
    h.update(&timestamp_us.to_le_bytes());
    h.update(&(payload.len() as u64).to_le_bytes());
    h.update(payload);
    RecordHash(*h.finalize().as_bytes())
}

/// A record to append.
#[derive(Debug, Clone, Copy)]
pub struct NewRecord<'a> {
    /// Must continue the journal: `last_seq() + 1` for the first record of a
    /// batch, then consecutive.
    pub seq: u64,
    /// Opaque to the journal; stored and hashed.
    pub timestamp_us: u64,
    /// Opaque payload, at most [`MAX_PAYLOAD_LEN`] bytes (may be empty).
    pub payload: &'a [u8],
}

/// What a successful [`JournalStore::append_durable`] made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendReceipt {
    /// Seq of the first record of the batch (`last_seq + 1` when the batch was empty).
    pub first_seq: u64,
    /// Seq of the last record of the batch (= the store's `last_seq()` now).
    pub last_seq: u64,
    /// Chain hash of the last record (= the store's `last_hash()` now).
    pub last_hash: RecordHash,
    /// Bytes written to storage by this call (headers, payloads, padding).
    pub bytes_written: u64,
}

/// Durable, append-only, hash-chained storage of records.
pub trait JournalStore: Send + fmt::Debug {
    /// Appends the records (consecutive seqs continuing `last_seq() + 1`) and
    /// makes them durable with ONE durable write (one fdatasync). Returns only
    /// after they are durable. An empty batch is a no-op.
    ///
    /// A batch that is invalid ([`JournalError::InvalidAppend`]: wrong seq,
    /// payload too large) is rejected before storage is touched and leaves
    /// the store usable. After any other `Err` the store is poisoned: every
    /// later call returns [`JournalError::Poisoned`]. A failed write or fsync
    /// is never retried as if nothing happened (the kernel may have dropped
    /// the dirty pages); the caller must reopen from disk, and must treat the
    /// records of the failed call as "maybe written": reopening tells which.
    fn append_durable(&mut self, records: &[NewRecord<'_>]) -> Result<AppendReceipt, JournalError>;

    /// Seq of the last durable record; 0 when the journal is empty.
    fn last_seq(&self) -> u64;

    /// Chain hash of the last durable record; [`GENESIS_HASH`] when empty.
    fn last_hash(&self) -> RecordHash;
}
