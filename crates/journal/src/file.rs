//! The file backend: one preallocated `journal.dat` per directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::format::{Header, MAX_PAYLOAD_LEN, pad8, record_len};
use crate::scan::{Scanner, Step, classify_failure};
use crate::{
    AppendReceipt, GENESIS_HASH, JOURNAL_FILE_NAME, JournalError, JournalStore, NewRecord,
    RecordHash, record_hash,
};

/// Default preallocation chunk: 64 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 64 << 20;

/// Configuration of a [`FileJournal`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FileJournalConfig {
    /// The file is preallocated (fallocate) in chunks of this many bytes, so
    /// that appends write into already-allocated space. Default 64 MiB.
    pub chunk_size: u64,
    /// Records after this seq are not trusted and are cut off (quarantined like a
    /// torn tail): set it to the last acknowledged seq when reopening after a failed
    /// write or fsync, because pages whose write-back failed may be in the page cache
    /// (so the scan would see them) without ever reaching the disk.
    pub trusted_through_seq: Option<u64>,
    /// Test hook: make an append fail (only with the `fault-injection` feature).
    #[cfg(any(test, feature = "fault-injection"))]
    pub fault: FaultInjection,
}

impl Default for FileJournalConfig {
    fn default() -> Self {
        FileJournalConfig {
            chunk_size: DEFAULT_CHUNK_SIZE,
            trusted_through_seq: None,
            #[cfg(any(test, feature = "fault-injection"))]
            fault: FaultInjection::default(),
        }
    }
}

impl FileJournalConfig {
    /// Sets the preallocation chunk size (at least 4 KiB is used).
    pub fn with_chunk_size(mut self, chunk_size: u64) -> Self {
        self.chunk_size = chunk_size;
        self
    }

    /// Cuts every record after `seq` on open (see [`FileJournalConfig::trusted_through_seq`]).
    pub fn trusting_through(mut self, seq: u64) -> Self {
        self.trusted_through_seq = Some(seq);
        self
    }

    /// Sets the fault-injection hook.
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn with_fault(mut self, fault: FaultInjection) -> Self {
        self.fault = fault;
        self
    }
}

/// Injected failures for tests. Append calls are counted from 1 since open.
#[cfg(any(test, feature = "fault-injection"))]
#[derive(Debug, Clone, Default)]
pub struct FaultInjection {
    /// This append call writes only the first half of its bytes, then fails.
    pub fail_write_on_append: Option<u64>,
    /// This append call writes all its bytes but its fdatasync fails.
    pub fail_sync_on_append: Option<u64>,
}

/// What [`FileJournal::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Number of valid records kept.
    pub records: u64,
    /// Seq of the last record kept (0 when empty).
    pub last_seq: u64,
    /// Chain hash of the last record kept.
    pub last_hash: RecordHash,
    /// Offset where the next record will be written.
    pub end_offset: u64,
    /// Set when an unacknowledged torn tail was cut off.
    pub torn_tail: Option<TornTail>,
}

/// An unacknowledged torn tail that was cut off and quarantined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Seq of the first record that was cut.
    pub seq: u64,
    /// Byte offset in `journal.dat` where the cut starts.
    pub offset: u64,
    /// Number of bytes moved to the quarantine file.
    pub bytes: u64,
    /// Where the cut bytes were saved.
    pub quarantine_path: PathBuf,
    /// Why the record at `offset` was not valid.
    pub reason: String,
}

/// Append-only journal in `<dir>/journal.dat`. Holds an exclusive `flock`
/// on the file while open.
#[derive(Debug)]
pub struct FileJournal {
    path: PathBuf,
    dir: PathBuf,
    file: File,
    /// Offset where the next record goes.
    end: u64,
    /// Current file length (allocated space).
    allocated: u64,
    chunk_size: u64,
    last_seq: u64,
    last_hash: RecordHash,
    buf: Vec<u8>,
    poisoned: bool,
    #[cfg(any(test, feature = "fault-injection"))]
    fault: FaultInjection,
    #[cfg(any(test, feature = "fault-injection"))]
    append_calls: u64,
}

fn fsync_dir(dir: &Path) -> Result<(), JournalError> {
    let d = File::open(dir).map_err(|e| JournalError::io(dir, "open directory", e))?;
    d.sync_all()
        .map_err(|e| JournalError::io(dir, "fsync directory", e))
}

/// Allocates `[offset, offset+len)`; falls back to `set_len` on file systems
/// without fallocate.
fn preallocate(file: &File, offset: u64, len: u64) -> io::Result<()> {
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), offset, len) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => {
            if file.metadata()?.len() < offset + len {
                file.set_len(offset + len)?;
            }
            Ok(())
        }
        Err(e) => Err(io::Error::from(e)),
    }
}

impl FileJournal {
    /// Opens (creating if needed) the journal in `dir` for appending.
    ///
    /// Validates every record (see the crate docs). Damage to acknowledged
    /// data is refused with [`JournalError::Corrupt`]; an unacknowledged torn
    /// tail is quarantined, zeroed and reported in [`OpenReport::torn_tail`].
    pub fn open(
        dir: impl AsRef<Path>,
        config: FileJournalConfig,
    ) -> Result<(FileJournal, OpenReport), JournalError> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(|e| JournalError::io(&dir, "create directory", e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsync_dir(parent)?;
            }
        }
        let path = dir.join(JOURNAL_FILE_NAME);
        let chunk_size = pad8(config.chunk_size.max(4096));
        let (file, created) = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => (f, false),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| JournalError::io(&path, "create", e))?;
                (f, true)
            }
            Err(e) => return Err(JournalError::io(&path, "open", e)),
        };
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                return Err(JournalError::Locked {
                    at: path.display().to_string(),
                });
            }
            Err(e) => return Err(JournalError::io(&path, "flock", io::Error::from(e))),
        }
        if created {
            preallocate(&file, 0, chunk_size)
                .map_err(|e| JournalError::io(&path, "fallocate", e))?;
            file.sync_all()
                .map_err(|e| JournalError::io(&path, "fsync", e))?;
            fsync_dir(&dir)?;
        }
        let file_len = file
            .metadata()
            .map_err(|e| JournalError::io(&path, "stat", e))?
            .len();

        let mut buf = Vec::new();
        let mut scanner = Scanner::new(&file, file_len);
        let mut records = 0u64;
        let mut last_hash = GENESIS_HASH;
        let mut torn_tail = None;
        // The first record after `trusted_through_seq`: (seq, offset).
        let mut untrusted: Option<(u64, u64)> = None;
        loop {
            let start = scanner.offset;
            let step = scanner
                .step(Some(&mut buf), true)
                .map_err(|e| JournalError::io(&path, "read", e))?;
            match step {
                Step::Record { hash, .. } => {
                    let seq = scanner.next_seq - 1;
                    if config.trusted_through_seq.is_some_and(|t| seq > t) {
                        untrusted.get_or_insert((seq, start));
                        continue;
                    }
                    records += 1;
                    last_hash = hash.unwrap_or(last_hash);
                }
                Step::End => break,
                Step::Bad { reason } => {
                    let (x, s) = (scanner.offset, scanner.next_seq);
                    let verdict = classify_failure(&file, file_len, x, s)
                        .map_err(|e| JournalError::io(&path, "read", e))?;
                    let nonzero_end = verdict.torn_end(&path, s, x, &reason)?;
                    torn_tail = Some(cut_torn_tail(
                        &dir,
                        &path,
                        &file,
                        s,
                        x,
                        nonzero_end,
                        reason,
                    )?);
                    break;
                }
            }
        }
        let mut end = scanner.offset;
        let mut last_seq = scanner.next_seq - 1;
        if let Some((seq, offset)) = untrusted {
            // Written but never acknowledged (its group's write or fsync failed): keep
            // the bytes aside, exactly like a torn tail, and continue before them.
            let valid_end = end;
            let cut = cut_torn_tail(
                &dir,
                &path,
                &file,
                seq,
                offset,
                valid_end,
                "written after the last acknowledged record; its write group failed to sync".into(),
            )?;
            end = offset;
            last_seq = seq - 1;
            if let Some(t) = torn_tail.replace(cut) {
                tracing::warn!(journal = %path.display(), quarantine = %t.quarantine_path.display(), "also cut a torn tail after them");
            }
        }
        // Records found on open may still be only in the page cache (the
        // previous process died between write and fdatasync). Make them
        // durable now, so that the next write's `synced_through_seq` is true.
        file.sync_data()
            .map_err(|e| JournalError::io(&path, "fdatasync", e))?;
        if let Some(t) = &torn_tail {
            tracing::warn!(
                journal = %path.display(),
                seq = t.seq,
                offset = t.offset,
                bytes = t.bytes,
                quarantine = %t.quarantine_path.display(),
                reason = %t.reason,
                "cut an unacknowledged torn tail off the journal; the bytes were quarantined"
            );
        }
        let report = OpenReport {
            records,
            last_seq,
            last_hash,
            end_offset: end,
            torn_tail,
        };
        buf.clear();
        let journal = FileJournal {
            path,
            dir,
            file,
            end,
            allocated: file_len,
            chunk_size,
            last_seq,
            last_hash,
            buf,
            poisoned: false,
            #[cfg(any(test, feature = "fault-injection"))]
            fault: config.fault,
            #[cfg(any(test, feature = "fault-injection"))]
            append_calls: 0,
        };
        Ok((journal, report))
    }

    /// Path of `journal.dat`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Directory of the journal.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Offset where the next record will be written.
    pub fn end_offset(&self) -> u64 {
        self.end
    }

    /// True after a failed append; the journal must be reopened.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    fn validate(&self, records: &[NewRecord<'_>]) -> Result<u64, JournalError> {
        let mut total = 0u64;
        for (i, r) in records.iter().enumerate() {
            let want = self.last_seq + 1 + i as u64;
            if r.seq != want {
                return Err(JournalError::InvalidAppend(format!(
                    "record {i} of the batch has seq {} but seq {want} is next",
                    r.seq
                )));
            }
            let len = r.payload.len() as u64;
            if len > MAX_PAYLOAD_LEN {
                return Err(JournalError::InvalidAppend(format!(
                    "record seq {} has a payload of {len} bytes, more than the maximum {MAX_PAYLOAD_LEN}",
                    r.seq
                )));
            }
            total += record_len(len);
        }
        Ok(total)
    }

    fn append_inner(
        &mut self,
        records: &[NewRecord<'_>],
        total: u64,
    ) -> Result<AppendReceipt, JournalError> {
        let path = &self.path;
        let need = self.end + total;
        if need > self.allocated {
            let new_alloc = need.div_ceil(self.chunk_size) * self.chunk_size;
            preallocate(&self.file, self.allocated, new_alloc - self.allocated)
                .map_err(|e| JournalError::io(path, "fallocate", e))?;
            self.allocated = new_alloc;
        }

        let synced_through_seq = self.last_seq;
        let mut hash = self.last_hash;
        self.buf.clear();
        for r in records {
            let header = Header {
                seq: r.seq,
                timestamp_us: r.timestamp_us,
                payload_len: r.payload.len() as u64,
                synced_through_seq,
                prev_hash: hash,
                payload_crc: crc32c::crc32c(r.payload),
            };
            self.buf.extend_from_slice(&header.encode());
            self.buf.extend_from_slice(r.payload);
            let padded = self.buf.len().next_multiple_of(8);
            self.buf.resize(padded, 0);
            hash = record_hash(&hash, r.seq, r.timestamp_us, r.payload);
        }
        debug_assert_eq!(self.buf.len() as u64, total);

        #[cfg(any(test, feature = "fault-injection"))]
        {
            self.append_calls += 1;
            if self.fault.fail_write_on_append == Some(self.append_calls) {
                let half = self.buf.len() / 2;
                self.file
                    .write_all_at(&self.buf[..half], self.end)
                    .map_err(|e| JournalError::io(path, "write", e))?;
                return Err(JournalError::io(
                    path,
                    "write",
                    io::Error::other("injected write failure"),
                ));
            }
        }
        self.file
            .write_all_at(&self.buf, self.end)
            .map_err(|e| JournalError::io(path, "write", e))?;
        #[cfg(any(test, feature = "fault-injection"))]
        if self.fault.fail_sync_on_append == Some(self.append_calls) {
            return Err(JournalError::io(
                path,
                "fdatasync",
                io::Error::other("injected fsync failure"),
            ));
        }
        self.file
            .sync_data()
            .map_err(|e| JournalError::io(path, "fdatasync", e))?;

        let first_seq = self.last_seq + 1;
        self.end = need;
        self.last_seq += records.len() as u64;
        self.last_hash = hash;
        // Do not keep a huge buffer forever after one giant batch.
        if self.buf.capacity() > 4 * self.chunk_size as usize {
            self.buf = Vec::new();
        }
        Ok(AppendReceipt {
            first_seq,
            last_seq: self.last_seq,
            last_hash: hash,
            bytes_written: total,
        })
    }
}

impl JournalStore for FileJournal {
    fn append_durable(&mut self, records: &[NewRecord<'_>]) -> Result<AppendReceipt, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned);
        }
        let total = self.validate(records)?;
        if records.is_empty() {
            return Ok(AppendReceipt {
                first_seq: self.last_seq + 1,
                last_seq: self.last_seq,
                last_hash: self.last_hash,
                bytes_written: 0,
            });
        }
        let result = self.append_inner(records, total);
        if let Err(e) = &result {
            self.poisoned = true;
            tracing::error!(journal = %self.path.display(), error = %e, "journal append failed; store poisoned");
        }
        result
    }

    fn last_seq(&self) -> u64 {
        self.last_seq
    }

    fn last_hash(&self) -> RecordHash {
        self.last_hash
    }
}

/// Copies `[x, nonzero_end)` into a quarantine file, fsyncs it, then zeroes
/// the range in the journal and fsyncs the journal.
fn cut_torn_tail(
    dir: &Path,
    path: &Path,
    file: &File,
    seq: u64,
    x: u64,
    nonzero_end: u64,
    reason: String,
) -> Result<TornTail, JournalError> {
    let base = format!("torn-tail-seq{seq}-off{x}");
    let mut n = 0u32;
    let (qpath, qfile) = loop {
        let name = if n == 0 {
            format!("{base}.bin")
        } else {
            format!("{base}-{n}.bin")
        };
        let qpath = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&qpath) {
            Ok(f) => break (qpath, f),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && n < 10_000 => n += 1,
            Err(e) => return Err(JournalError::io(&qpath, "create quarantine file", e)),
        }
    };
    const CHUNK: usize = 1 << 20;
    let mut buf = vec![0u8; CHUNK];
    let mut pos = x;
    while pos < nonzero_end {
        let len = usize::try_from(nonzero_end - pos).map_or(CHUNK, |l| l.min(CHUNK));
        file.read_exact_at(&mut buf[..len], pos)
            .map_err(|e| JournalError::io(path, "read", e))?;
        qfile
            .write_all_at(&buf[..len], pos - x)
            .map_err(|e| JournalError::io(&qpath, "write", e))?;
        pos += len as u64;
    }
    qfile
        .sync_all()
        .map_err(|e| JournalError::io(&qpath, "fsync", e))?;
    fsync_dir(dir)?;

    buf.fill(0);
    let mut pos = x;
    while pos < nonzero_end {
        let len = usize::try_from(nonzero_end - pos).map_or(CHUNK, |l| l.min(CHUNK));
        file.write_all_at(&buf[..len], pos)
            .map_err(|e| JournalError::io(path, "zero torn tail", e))?;
        pos += len as u64;
    }
    file.sync_data()
        .map_err(|e| JournalError::io(path, "fdatasync", e))?;
    Ok(TornTail {
        seq,
        offset: x,
        bytes: nonzero_end - x,
        quarantine_path: qpath,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64, payload: &[u8]) -> NewRecord<'_> {
        NewRecord {
            seq,
            timestamp_us: seq * 10,
            payload,
        }
    }

    #[test]
    fn failed_sync_poisons_and_reopen_tells_what_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = FileJournalConfig::default()
            .with_chunk_size(4096)
            .with_fault(FaultInjection {
                fail_sync_on_append: Some(2),
                ..FaultInjection::default()
            });
        let (mut j, _) = FileJournal::open(dir.path(), cfg).unwrap();
        j.append_durable(&[rec(1, b"one")]).unwrap();
        let err = j.append_durable(&[rec(2, b"two")]).unwrap_err();
        assert!(
            matches!(
                err,
                JournalError::Io {
                    op: "fdatasync",
                    ..
                }
            ),
            "{err}"
        );
        assert!(j.is_poisoned());
        assert!(matches!(
            j.append_durable(&[rec(2, b"two")]),
            Err(JournalError::Poisoned)
        ));
        assert!(matches!(
            j.append_durable(&[rec(3, b"three")]),
            Err(JournalError::Poisoned)
        ));
        assert!(matches!(j.append_durable(&[]), Err(JournalError::Poisoned)));
        assert_eq!(j.last_seq(), 1, "state is not advanced by a failed append");
        drop(j);
        // The bytes of the failed call did reach the file (only the fsync
        // "failed"): reopening finds them. Callers must reopen to learn this.
        let (j, report) = FileJournal::open(dir.path(), FileJournalConfig::default()).unwrap();
        assert_eq!(report.last_seq, 2);
        assert!(report.torn_tail.is_none());
        assert!(!j.is_poisoned());
    }

    #[test]
    fn failed_write_poisons_and_reopen_cuts_the_half_written_group() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = FileJournalConfig::default()
            .with_chunk_size(4096)
            .with_fault(FaultInjection {
                fail_write_on_append: Some(2),
                ..FaultInjection::default()
            });
        let (mut j, _) = FileJournal::open(dir.path(), cfg).unwrap();
        let r1 = j.append_durable(&[rec(1, &[1u8; 300])]).unwrap();
        let p = [2u8; 500];
        // Half of this group's bytes lands inside record 2.
        assert!(matches!(
            j.append_durable(&[rec(2, &p), rec(3, &p[..100])]),
            Err(JournalError::Io { op: "write", .. })
        ));
        assert!(matches!(
            j.append_durable(&[rec(2, &p)]),
            Err(JournalError::Poisoned)
        ));
        drop(j);
        let (mut j, report) = FileJournal::open(dir.path(), FileJournalConfig::default()).unwrap();
        assert_eq!(report.last_seq, 1);
        assert_eq!(report.last_hash, r1.last_hash);
        let torn = report.torn_tail.unwrap();
        assert_eq!(torn.seq, 2);
        assert_eq!(torn.offset, record_len(300));
        assert!(torn.quarantine_path.exists());
        let r2 = j.append_durable(&[rec(2, b"again")]).unwrap();
        assert_eq!(r2.first_seq, 2);
    }

    #[test]
    fn invalid_append_does_not_poison() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = FileJournal::open(dir.path(), FileJournalConfig::default()).unwrap();
        assert!(matches!(
            j.append_durable(&[rec(2, b"x")]),
            Err(JournalError::InvalidAppend(_))
        ));
        assert!(matches!(
            j.append_durable(&[rec(1, b"x"), rec(3, b"y")]),
            Err(JournalError::InvalidAppend(_))
        ));
        assert!(!j.is_poisoned());
        let empty = j.append_durable(&[]).unwrap();
        assert_eq!(
            (empty.first_seq, empty.last_seq, empty.bytes_written),
            (1, 0, 0)
        );
        j.append_durable(&[rec(1, b"x")]).unwrap();
        assert_eq!(j.last_seq(), 1);
    }

    #[test]
    fn second_writer_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let (_j, _) = FileJournal::open(dir.path(), FileJournalConfig::default()).unwrap();
        let err = FileJournal::open(dir.path(), FileJournalConfig::default()).unwrap_err();
        assert!(matches!(err, JournalError::Locked { .. }), "{err}");
    }
}
