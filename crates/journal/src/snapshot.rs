//! Snapshots in `<dir>/snapshots/`.
//!
//! # Snapshot file format (version 1)
//!
//! `snapshot-<seq as 20 decimal digits>.bin`, little-endian:
//!
//! | offset | size | field                                                  |
//! |-------:|-----:|--------------------------------------------------------|
//! |      0 |    8 | magic `b"MAEULSNP"`                                    |
//! |      8 |    4 | format version, `1`                                    |
//! |     12 |    4 | reserved, zero                                         |
//! |     16 |    8 | `seq`: the last journal record included                |
//! |     24 |   32 | journal chain hash of record `seq` (zeros for seq 0)   |
//! |     56 |    8 | `payload_len`                                          |
//! |     64 |   32 | blake3 of the payload                                  |
//! |     96 |    4 | crc32c of bytes `0..96`                                |
//! |    100 |    4 | reserved, zero                                         |
//! |    104 |    … | payload (`payload_len` bytes, then end of file)        |
//!
//! A snapshot is written to `snapshot-<seq>.bin.tmp`, fsynced, renamed into
//! place and the directory fsynced, so a visible snapshot is complete.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use crate::{JournalError, RecordHash, writeback};

/// Snapshot file magic.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"MAEULSNP";
/// Snapshot format version.
pub const SNAPSHOT_VERSION: u32 = 1;
/// Snapshot header length.
pub const SNAPSHOT_HEADER_LEN: usize = 104;
/// Name of the snapshot directory inside a journal directory.
pub const SNAPSHOT_DIR_NAME: &str = "snapshots";

const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".bin";
const TMP_SUFFIX: &str = ".bin.tmp";

/// A verified snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Last journal record included in the snapshot.
    pub seq: u64,
    /// Journal chain hash of record `seq`.
    pub chain_hash: RecordHash,
    /// The opaque payload.
    pub payload: Vec<u8>,
}

/// Snapshots stored in `<journal dir>/snapshots/`.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
}

fn fsync_dir(dir: &Path) -> Result<(), JournalError> {
    let d = File::open(dir).map_err(|e| JournalError::io(dir, "open directory", e))?;
    d.sync_all()
        .map_err(|e| JournalError::io(dir, "fsync directory", e))
}

fn file_name(seq: u64) -> String {
    format!("{PREFIX}{seq:020}{SUFFIX}")
}

fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn encode_header(seq: u64, chain_hash: &RecordHash, payload: &[u8]) -> [u8; SNAPSHOT_HEADER_LEN] {
    let mut h = [0u8; SNAPSHOT_HEADER_LEN];
    h[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
    h[8..12].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    h[24..56].copy_from_slice(&chain_hash.0);
    h[56..64].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    // On one core: snapshots are written in the background of a serving node.
    h[64..96].copy_from_slice(blake3::hash(payload).as_bytes());
    let crc = crc32c::crc32c(&h[..96]);
    h[96..100].copy_from_slice(&crc.to_le_bytes());
    h
}

impl SnapshotStore {
    /// Opens `<journal_dir>/snapshots/`, creating it if needed.
    pub fn open(journal_dir: impl AsRef<Path>) -> Result<SnapshotStore, JournalError> {
        let journal_dir = journal_dir.as_ref();
        let dir = journal_dir.join(SNAPSHOT_DIR_NAME);
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(|e| JournalError::io(&dir, "create directory", e))?;
            fsync_dir(journal_dir)?;
        }
        Ok(SnapshotStore { dir })
    }

    /// The snapshot directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the snapshot file for `seq`.
    pub fn path_for(&self, seq: u64) -> PathBuf {
        self.dir.join(file_name(seq))
    }

    /// Atomically writes the snapshot taken after journal record `seq`
    /// (whose chain hash is `chain_hash`). Replaces an existing one.
    pub fn save(
        &self,
        seq: u64,
        chain_hash: RecordHash,
        payload: &[u8],
    ) -> Result<PathBuf, JournalError> {
        let path = self.path_for(seq);
        let tmp = self.dir.join(format!("{PREFIX}{seq:020}{TMP_SUFFIX}"));
        let header = encode_header(seq, &chain_hash, payload);
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| JournalError::io(&tmp, "create", e))?;
        f.write_all(&header)
            .and_then(|()| writeback::write_paced(&mut f, header.len() as u64, payload))
            .map_err(|e| JournalError::io(&tmp, "write", e))?;
        f.sync_all()
            .map_err(|e| JournalError::io(&tmp, "fsync", e))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(|e| JournalError::io(&path, "rename", e))?;
        fsync_dir(&self.dir)?;
        Ok(path)
    }

    /// Seqs of the snapshots present, ascending (not verified).
    pub fn list(&self) -> Result<Vec<u64>, JournalError> {
        let mut seqs = Vec::new();
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| JournalError::io(&self.dir, "read directory", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| JournalError::io(&self.dir, "read directory", e))?;
            if let Some(seq) = entry.file_name().to_str().and_then(parse_name) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        Ok(seqs)
    }

    /// The first `len` bytes of the payload of the snapshot for `seq`, after checking
    /// its header (not the payload's hash: that needs the whole file). Cheap enough to
    /// look at what a snapshot holds before deciding to load it.
    pub fn peek(&self, seq: u64, len: usize) -> Result<Vec<u8>, JournalError> {
        let (mut f, payload_len, _) = self.open_checked(seq)?;
        let n = usize::try_from(payload_len).map_or(len, |p| p.min(len));
        let mut prefix = vec![0u8; n];
        let path = self.path_for(seq);
        f.read_exact(&mut prefix)
            .map_err(|e| JournalError::io(&path, "read", e))?;
        Ok(prefix)
    }

    /// Opens the snapshot for `seq` and checks its header; the file is left at the
    /// payload. Returns the payload's length and the header.
    fn open_checked(
        &self,
        seq: u64,
    ) -> Result<(File, u64, [u8; SNAPSHOT_HEADER_LEN]), JournalError> {
        let path = self.path_for(seq);
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(JournalError::SnapshotNotFound {
                    at: self.dir.display().to_string(),
                    seq,
                });
            }
            Err(e) => return Err(JournalError::io(&path, "open", e)),
        };
        let bad = |reason: String| JournalError::SnapshotCorrupt {
            at: path.display().to_string(),
            reason,
        };
        let file_len = f
            .metadata()
            .map_err(|e| JournalError::io(&path, "stat", e))?
            .len();
        if file_len < SNAPSHOT_HEADER_LEN as u64 {
            return Err(bad(format!(
                "file is {file_len} bytes, shorter than the header"
            )));
        }
        let mut h = [0u8; SNAPSHOT_HEADER_LEN];
        f.read_exact(&mut h)
            .map_err(|e| JournalError::io(&path, "read", e))?;
        if h[0..8] != SNAPSHOT_MAGIC {
            return Err(bad("bad magic".to_string()));
        }
        let le32 = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let le64 = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&h[at..at + 8]);
            u64::from_le_bytes(a)
        };
        let crc = crc32c::crc32c(&h[..96]);
        if le32(96) != crc {
            return Err(bad("header crc32c mismatch".to_string()));
        }
        if le32(8) != SNAPSHOT_VERSION {
            return Err(bad(format!("unsupported snapshot version {}", le32(8))));
        }
        if le32(12) != 0 || le32(100) != 0 {
            return Err(bad("reserved header bytes are not zero".to_string()));
        }
        if le64(16) != seq {
            return Err(bad(format!(
                "header says seq {} but the file name says {seq}",
                le64(16)
            )));
        }
        let payload_len = le64(56);
        if file_len != SNAPSHOT_HEADER_LEN as u64 + payload_len {
            return Err(bad(format!(
                "file is {file_len} bytes but the header announces {payload_len} payload bytes"
            )));
        }
        Ok((f, payload_len, h))
    }

    /// Loads and verifies the snapshot for `seq`.
    pub fn load(&self, seq: u64) -> Result<Snapshot, JournalError> {
        let (mut f, payload_len, h) = self.open_checked(seq)?;
        let path = self.path_for(seq);
        let bad = |reason: String| JournalError::SnapshotCorrupt {
            at: path.display().to_string(),
            reason,
        };
        let len = usize::try_from(payload_len).map_err(|_| bad("payload too large".to_string()))?;
        let mut payload = vec![0u8; len];
        f.read_exact(&mut payload)
            .map_err(|e| JournalError::io(&path, "read", e))?;
        // On every core: a town's snapshot is a gigabyte or more, and hashing it on one
        // core was a fifth of a restart.
        let hash = blake3::Hasher::new().update_rayon(&payload).finalize();
        if hash.as_bytes()[..] != h[64..96] {
            return Err(bad("payload blake3 mismatch".to_string()));
        }
        let mut chain = [0u8; 32];
        chain.copy_from_slice(&h[24..56]);
        Ok(Snapshot {
            seq,
            chain_hash: RecordHash(chain),
            payload,
        })
    }

    /// Loads the newest snapshot that verifies. Damaged newer snapshots are
    /// skipped and returned as errors alongside (the caller should log them).
    /// `Ok((None, _))` means no usable snapshot: start from genesis.
    pub fn load_newest_valid(&self) -> Result<(Option<Snapshot>, Vec<JournalError>), JournalError> {
        let mut skipped = Vec::new();
        for seq in self.list()?.into_iter().rev() {
            match self.load(seq) {
                Ok(s) => return Ok((Some(s), skipped)),
                Err(e @ JournalError::SnapshotCorrupt { .. }) => {
                    tracing::warn!(error = %e, "skipping damaged snapshot");
                    skipped.push(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok((None, skipped))
    }

    /// Deletes all but the `keep_newest` newest snapshots (and leftover
    /// temporary files). Returns the seqs deleted.
    pub fn prune(&self, keep_newest: usize) -> Result<Vec<u64>, JournalError> {
        let seqs = self.list()?;
        let cut = seqs.len().saturating_sub(keep_newest);
        self.retain(&seqs[cut..])
    }

    /// Deletes every snapshot whose seq is not in `keep` (and leftover temporary
    /// files). Returns the seqs deleted.
    pub fn retain(&self, keep: &[u64]) -> Result<Vec<u64>, JournalError> {
        let mut removed = Vec::new();
        for seq in self.list()? {
            if keep.contains(&seq) {
                continue;
            }
            let p = self.path_for(seq);
            fs::remove_file(&p).map_err(|e| JournalError::io(&p, "remove", e))?;
            removed.push(seq);
        }
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| JournalError::io(&self.dir, "read directory", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| JournalError::io(&self.dir, "read directory", e))?;
            let name = entry.file_name();
            if name
                .to_str()
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(TMP_SUFFIX))
            {
                let p = entry.path();
                fs::remove_file(&p).map_err(|e| JournalError::io(&p, "remove", e))?;
            }
        }
        fsync_dir(&self.dir)?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_name(&file_name(0)), Some(0));
        assert_eq!(parse_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_name("snapshot-12.bin"), None);
        assert_eq!(parse_name(&format!("{PREFIX}{:020}{TMP_SUFFIX}", 5)), None);
    }
}
