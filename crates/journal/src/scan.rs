//! Sequential validation of `journal.dat`, shared by the writer (open) and
//! the read-only reader. Streams: never holds more than one record (or one
//! scan chunk) in memory.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::format::{HEADER_LEN, Header, MAGIC, pad8, record_len};
use crate::{GENESIS_HASH, JournalError, RecordHash, record_hash};

/// Chunk size for zero checks and the forward header search.
const SCAN_CHUNK: usize = 1 << 20;

/// Result of one scanner step.
#[derive(Debug)]
pub(crate) enum Step {
    /// A valid record at `offset`. If the payload was read it is in the
    /// caller's buffer (`payload_len` bytes, padding removed) and `hash` is
    /// its chain hash.
    Record {
        header: Header,
        offset: u64,
        hash: Option<RecordHash>,
    },
    /// Clean end: zeros (or nothing) from `offset` to the end of the file.
    End,
    /// The record expected at the scanner's offset is not valid.
    Bad { reason: String },
}

/// Walks the records of a journal file from offset 0.
#[derive(Debug)]
pub(crate) struct Scanner<'f> {
    file: &'f File,
    pub file_len: u64,
    /// Offset of the next record.
    pub offset: u64,
    /// Seq expected at `offset`.
    pub next_seq: u64,
    /// Chain hash of record `next_seq - 1`, if known (unknown after records
    /// were skipped reading headers only).
    pub chain: Option<RecordHash>,
}

impl<'f> Scanner<'f> {
    pub(crate) fn new(file: &'f File, file_len: u64) -> Self {
        Scanner {
            file,
            file_len,
            offset: 0,
            next_seq: 1,
            chain: Some(GENESIS_HASH),
        }
    }

    pub(crate) fn file(&self) -> &'f File {
        self.file
    }

    /// Validates the record at the current offset and advances past it.
    ///
    /// With `payload = None` only the header is read (the payload crc is not
    /// checked and the chain hash becomes unknown). With `verify_chain`, a
    /// known chain hash must equal the header's `prev_hash`.
    pub(crate) fn step(
        &mut self,
        payload: Option<&mut Vec<u8>>,
        verify_chain: bool,
    ) -> io::Result<Step> {
        let off = self.offset;
        let s = self.next_seq;
        let remaining = self.file_len.saturating_sub(off);
        if remaining < HEADER_LEN as u64 {
            return Ok(match first_nonzero(self.file, off, self.file_len)? {
                None => Step::End,
                Some(_) => Step::Bad {
                    reason: format!(
                        "incomplete record header: only {remaining} bytes before the end of the file"
                    ),
                },
            });
        }
        let mut hb = [0u8; HEADER_LEN];
        self.file.read_exact_at(&mut hb, off)?;
        if hb.iter().all(|&b| b == 0) {
            return Ok(
                match first_nonzero(self.file, off + HEADER_LEN as u64, self.file_len)? {
                    None => Step::End,
                    Some(nz) => Step::Bad {
                        reason: format!(
                            "no record header here (zero bytes) but non-zero bytes follow at offset {nz}"
                        ),
                    },
                },
            );
        }
        let header = match Header::decode(&hb) {
            Ok(h) => h,
            Err(reason) => return Ok(Step::Bad { reason }),
        };
        if header.seq != s {
            return Ok(Step::Bad {
                reason: format!("expected seq {s} but the header says seq {}", header.seq),
            });
        }
        if verify_chain
            && let Some(chain) = self.chain
            && header.prev_hash != chain
        {
            return Ok(Step::Bad {
                reason: format!(
                    "prev_hash {} does not match the chain hash {} of record {}",
                    header.prev_hash,
                    chain,
                    s - 1
                ),
            });
        }
        let rec_len = record_len(header.payload_len);
        if rec_len > remaining {
            return Ok(Step::Bad {
                reason: format!(
                    "record of {rec_len} bytes (payload_len {}) runs past the end of the file ({} bytes left)",
                    header.payload_len, remaining
                ),
            });
        }
        let mut hash = None;
        match payload {
            Some(buf) => {
                // Bounded by the file length checked above.
                let padded = usize::try_from(pad8(header.payload_len)).map_err(io::Error::other)?;
                let len = usize::try_from(header.payload_len).map_err(io::Error::other)?;
                buf.clear();
                buf.resize(padded, 0);
                self.file.read_exact_at(buf, off + HEADER_LEN as u64)?;
                if buf[len..].iter().any(|&b| b != 0) {
                    return Ok(Step::Bad {
                        reason: "non-zero padding after the payload".to_string(),
                    });
                }
                buf.truncate(len);
                let crc = crc32c::crc32c(buf);
                if crc != header.payload_crc {
                    return Ok(Step::Bad {
                        reason: format!(
                            "payload crc32c mismatch (header {:08x}, computed {crc:08x})",
                            header.payload_crc
                        ),
                    });
                }
                let h = record_hash(&header.prev_hash, header.seq, header.timestamp_us, buf);
                hash = Some(h);
                self.chain = Some(h);
            }
            None => self.chain = None,
        }
        self.offset = off + rec_len;
        self.next_seq = s + 1;
        Ok(Step::Record {
            header,
            offset: off,
            hash,
        })
    }
}

/// First non-zero byte in `[from, to)`, if any.
pub(crate) fn first_nonzero(file: &File, from: u64, to: u64) -> io::Result<Option<u64>> {
    let mut buf = vec![0u8; SCAN_CHUNK];
    let mut pos = from;
    while pos < to {
        let n = chunk_len(to - pos);
        file.read_exact_at(&mut buf[..n], pos)?;
        if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
            return Ok(Some(pos + i as u64));
        }
        pos += n as u64;
    }
    Ok(None)
}

fn chunk_len(left: u64) -> usize {
    usize::try_from(left).map_or(SCAN_CHUNK, |l| l.min(SCAN_CHUNK))
}

/// Decision about a failed record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A later valid header proves the failed record had been acknowledged.
    Acknowledged {
        witness_seq: u64,
        witness_offset: u64,
        witness_synced_through: u64,
    },
    /// Remains of an unacknowledged write; non-zero bytes end at `nonzero_end`.
    Torn { nonzero_end: u64 },
}

impl Verdict {
    /// For a torn tail, where its non-zero bytes end; for damage to acknowledged data,
    /// the error naming the failed record `seq` at `offset` and the witness that proves
    /// it had been acknowledged.
    pub(crate) fn torn_end(
        self,
        path: &Path,
        seq: u64,
        offset: u64,
        reason: &str,
    ) -> Result<u64, JournalError> {
        match self {
            Verdict::Torn { nonzero_end } => Ok(nonzero_end),
            Verdict::Acknowledged {
                witness_seq,
                witness_offset,
                witness_synced_through,
            } => Err(JournalError::Corrupt {
                at: path.display().to_string(),
                seq,
                offset,
                reason: format!(
                    "{reason}; the valid record seq {witness_seq} at offset {witness_offset} \
                         was written after seq {witness_synced_through} had been acknowledged as \
                         durable, so this is damage to acknowledged data, not a torn write"
                ),
            }),
        }
    }
}

/// Searches `[x, file_len)` (8-aligned offsets) for a valid header whose
/// `synced_through_seq >= s`, and finds where the non-zero bytes end.
pub(crate) fn classify_failure(file: &File, file_len: u64, x: u64, s: u64) -> io::Result<Verdict> {
    debug_assert_eq!(x % 8, 0);
    let window = SCAN_CHUNK + HEADER_LEN;
    let mut buf = vec![0u8; window];
    let mut nonzero_end = x;
    let mut pos = x;
    while pos < file_len {
        let n = usize::try_from(file_len - pos).map_or(window, |l| l.min(window));
        file.read_exact_at(&mut buf[..n], pos)?;
        let own = n.min(SCAN_CHUNK);
        if let Some(i) = buf[..own].iter().rposition(|&b| b != 0) {
            nonzero_end = pos + i as u64 + 1;
        }
        let mut i = 0;
        while i < own && i + HEADER_LEN <= n {
            if buf[i..i + 4] == MAGIC {
                let mut hb = [0u8; HEADER_LEN];
                hb.copy_from_slice(&buf[i..i + HEADER_LEN]);
                if let Ok(h) = Header::decode(&hb)
                    && h.synced_through_seq >= s
                {
                    return Ok(Verdict::Acknowledged {
                        witness_seq: h.seq,
                        witness_offset: pos + i as u64,
                        witness_synced_through: h.synced_through_seq,
                    });
                }
            }
            i += 8;
        }
        pos += own as u64;
    }
    Ok(Verdict::Torn { nonzero_end })
}
