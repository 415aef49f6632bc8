//! Read-only, streaming access to a journal directory.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::scan::{Scanner, Step, classify_failure};
use crate::{JOURNAL_FILE_NAME, JournalError, RecordHash};

/// One record read back from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Sequence number.
    pub seq: u64,
    /// Timestamp as given to `append_durable`.
    pub timestamp_us: u64,
    /// Byte offset of the record header in `journal.dat`.
    pub offset: u64,
    /// The payload.
    pub payload: Vec<u8>,
    /// Chain hash of the previous record, as stored in the header.
    pub prev_hash: RecordHash,
    /// Chain hash of this record (recomputed from its contents).
    pub hash: RecordHash,
    /// Highest seq acknowledged as durable when this record was written.
    pub synced_through_seq: u64,
}

/// How to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// First seq to return. Earlier records are skipped reading headers
    /// only (their headers, seqs and sizes are checked, their payloads are
    /// not read).
    pub from_seq: u64,
    /// Check that each record's `prev_hash` equals the recomputed chain hash
    /// of the record before it. When starting after seq 1 the chain starts
    /// from the `prev_hash` stored in the first returned record (compare it
    /// with `expected_prev_hash`). Without it, a broken link is not reported
    /// (forensic reading); crcs are always checked.
    pub verify_chain: bool,
    /// If set, the `prev_hash` of record `from_seq` must equal this (e.g.
    /// the chain hash stored in the snapshot at `from_seq - 1`).
    pub expected_prev_hash: Option<RecordHash>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            from_seq: 1,
            verify_chain: true,
            expected_prev_hash: None,
        }
    }
}

impl ReadOptions {
    /// Reads from `seq` on (see [`ReadOptions::from_seq`]).
    pub fn from_seq(seq: u64) -> Self {
        ReadOptions {
            from_seq: seq,
            ..Self::default()
        }
    }
}

/// A torn tail seen by the reader (nothing is modified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTailInfo {
    /// Seq of the first record that is not valid.
    pub seq: u64,
    /// Its byte offset.
    pub offset: u64,
    /// Number of bytes from `offset` to the end of the non-zero region.
    pub bytes: u64,
    /// Why the record is not valid.
    pub reason: String,
}

/// How a read ended (available from [`RecordIter::summary`] once the
/// iterator returned `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSummary {
    /// Records returned by the iterator.
    pub records_read: u64,
    /// Seq of the last valid record in the journal (0 when empty).
    pub last_seq: u64,
    /// Chain hash of that record, if its payload was read.
    pub last_hash: Option<RecordHash>,
    /// Offset just after the last valid record.
    pub end_offset: u64,
    /// An unacknowledged torn tail after the last valid record, if any.
    pub torn_tail: Option<TornTailInfo>,
}

/// Read-only access to `<dir>/journal.dat`. Never modifies anything, so it
/// can run next to a live writer (it sees the file as long as it was at
/// open; a write in progress then shows up as a torn tail).
#[derive(Debug)]
pub struct JournalReader {
    path: PathBuf,
    file: File,
    file_len: u64,
}

impl JournalReader {
    /// Opens the journal in `dir` read-only.
    pub fn open(dir: impl AsRef<Path>) -> Result<JournalReader, JournalError> {
        let path = dir.as_ref().join(JOURNAL_FILE_NAME);
        let file = File::open(&path).map_err(|e| JournalError::io(&path, "open", e))?;
        let file_len = file
            .metadata()
            .map_err(|e| JournalError::io(&path, "stat", e))?
            .len();
        Ok(JournalReader {
            path,
            file,
            file_len,
        })
    }

    /// Path of `journal.dat`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Iterates over records. Damage to acknowledged data is yielded as
    /// [`JournalError::Corrupt`] (then the iterator ends); a torn tail ends
    /// the iteration and is reported in [`RecordIter::summary`].
    pub fn records(&self, options: ReadOptions) -> RecordIter<'_> {
        RecordIter {
            path: &self.path,
            scanner: Scanner::new(&self.file, self.file_len),
            options,
            records_read: 0,
            done: false,
            summary: None,
        }
    }

    /// Reads from a position an earlier read gave: record `seq` at byte `offset`,
    /// the record before it having chain hash `prev_hash` (a follower resuming where
    /// it stopped: no header before `offset` is read). The chain is checked from
    /// there; a position that is not a record's reads as a bad record.
    pub fn records_at(&self, offset: u64, seq: u64, prev_hash: RecordHash) -> RecordIter<'_> {
        let mut scanner = Scanner::new(&self.file, self.file_len);
        scanner.offset = offset;
        scanner.next_seq = seq;
        scanner.chain = Some(prev_hash);
        RecordIter {
            path: &self.path,
            scanner,
            options: ReadOptions {
                from_seq: seq,
                verify_chain: true,
                expected_prev_hash: Some(prev_hash),
            },
            records_read: 0,
            done: false,
            summary: None,
        }
    }

    /// Reads and verifies the whole journal (crcs and chain), returning how
    /// it ends, or the first error.
    pub fn verify(&self) -> Result<ReadSummary, JournalError> {
        let mut it = self.records(ReadOptions::default());
        for r in it.by_ref() {
            r?;
        }
        it.summary().cloned().ok_or_else(|| {
            JournalError::io(
                &self.path,
                "verify",
                std::io::Error::other("iteration ended without a summary"),
            )
        })
    }
}

/// Iterator over the records of a [`JournalReader`].
#[derive(Debug)]
pub struct RecordIter<'r> {
    path: &'r Path,
    scanner: Scanner<'r>,
    options: ReadOptions,
    records_read: u64,
    done: bool,
    summary: Option<ReadSummary>,
}

impl RecordIter<'_> {
    /// How the read ended; `None` until the iterator returned `None`, and
    /// after it yielded an error.
    pub fn summary(&self) -> Option<&ReadSummary> {
        self.summary.as_ref()
    }

    fn finish(&mut self, torn_tail: Option<TornTailInfo>) {
        self.done = true;
        self.summary = Some(ReadSummary {
            records_read: self.records_read,
            last_seq: self.scanner.next_seq - 1,
            last_hash: self.scanner.chain,
            end_offset: self.scanner.offset,
            torn_tail,
        });
    }

    fn fail(&mut self, e: JournalError) -> Option<Result<Record, JournalError>> {
        self.done = true;
        Some(Err(e))
    }
}

impl Iterator for RecordIter<'_> {
    type Item = Result<Record, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let skipping = self.scanner.next_seq < self.options.from_seq;
            let mut payload = Vec::new();
            let step = if skipping {
                self.scanner.step(None, self.options.verify_chain)
            } else {
                self.scanner
                    .step(Some(&mut payload), self.options.verify_chain)
            };
            let step = match step {
                Ok(s) => s,
                Err(e) => return self.fail(JournalError::io(self.path, "read", e)),
            };
            match step {
                Step::Record { .. } if skipping => continue,
                Step::Record {
                    header,
                    offset,
                    hash,
                } => {
                    if header.seq == self.options.from_seq
                        && let Some(expected) = self.options.expected_prev_hash
                        && expected != header.prev_hash
                    {
                        return self.fail(JournalError::ChainMismatch {
                            at: self.path.display().to_string(),
                            seq: header.seq,
                            offset,
                            expected: expected.to_string(),
                            found: header.prev_hash.to_string(),
                        });
                    }
                    let Some(hash) = hash else {
                        return self.fail(JournalError::io(
                            self.path,
                            "read",
                            std::io::Error::other("payload was not read"),
                        ));
                    };
                    self.records_read += 1;
                    return Some(Ok(Record {
                        seq: header.seq,
                        timestamp_us: header.timestamp_us,
                        offset,
                        payload,
                        prev_hash: header.prev_hash,
                        hash,
                        synced_through_seq: header.synced_through_seq,
                    }));
                }
                Step::End => {
                    self.finish(None);
                    return None;
                }
                Step::Bad { reason } => {
                    let (x, s) = (self.scanner.offset, self.scanner.next_seq);
                    let verdict =
                        match classify_failure(self.scanner_file(), self.scanner.file_len, x, s) {
                            Ok(v) => v,
                            Err(e) => return self.fail(JournalError::io(self.path, "read", e)),
                        };
                    match verdict.torn_end(self.path, s, x, &reason) {
                        Err(corrupt) => return self.fail(corrupt),
                        Ok(nonzero_end) => {
                            self.finish(Some(TornTailInfo {
                                seq: s,
                                offset: x,
                                bytes: nonzero_end - x,
                                reason,
                            }));
                            return None;
                        }
                    }
                }
            }
        }
    }
}

impl RecordIter<'_> {
    fn scanner_file(&self) -> &File {
        self.scanner.file()
    }
}
