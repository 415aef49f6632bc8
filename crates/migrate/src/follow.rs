//! A successor's node following the old operator's journal, record by record: each
//! record is checked against the chain, replayed with this build (every outcome and
//! state hash the old node recorded must come out the same), and only then appended
//! to the local journal, one durable write per batch of records. A kill at any point
//! loses at most records not yet written, which the next run asks for again; a run
//! resumes from the local journal's last record.

use std::ops::ControlFlow;
use std::path::Path;

use engine::{FileStorage, Replayer, Storage};
use journal::{FileJournal, FileJournalConfig, JournalStore, NewRecord, RecordHash};
use ledger::Rules;

use crate::MigrateError;
use crate::export::{currency_code, currency_dir};

/// A snapshot after this many records, so that `maeul serve` on the follower's data
/// directory starts from it instead of replaying from genesis.
pub const SNAPSHOT_EVERY_RECORDS: u64 = 100_000;

/// One record of the feed (`service::handover::Feed`'s frames).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedRecord {
    pub seq: u64,
    pub timestamp_us: u64,
    pub payload: Vec<u8>,
    pub hash: RecordHash,
}

/// Reads the frames of a feed: `seq u64 LE, timestamp_us u64 LE, payload_len u32 LE,
/// payload, chain hash [32]`.
pub fn parse_feed(mut body: &[u8]) -> Result<Vec<FeedRecord>, MigrateError> {
    let bad = |what: &str| MigrateError::Journal(format!("the feed is cut or malformed: {what}"));
    let mut out = Vec::new();
    while !body.is_empty() {
        let take = |body: &mut &[u8], n: usize| -> Result<Vec<u8>, MigrateError> {
            if body.len() < n {
                return Err(bad("a frame ends early"));
            }
            let (head, rest) = body.split_at(n);
            *body = rest;
            Ok(head.to_vec())
        };
        let u64_of = |b: Vec<u8>| -> Result<u64, MigrateError> {
            Ok(u64::from_le_bytes(
                b.try_into().map_err(|_| bad("a number"))?,
            ))
        };
        let seq = u64_of(take(&mut body, 8)?)?;
        let timestamp_us = u64_of(take(&mut body, 8)?)?;
        let len = u32::from_le_bytes(
            take(&mut body, 4)?
                .try_into()
                .map_err(|_| bad("a length"))?,
        );
        if u64::from(len) > journal::MAX_PAYLOAD_LEN {
            return Err(bad("a payload longer than a record may be"));
        }
        let payload = take(&mut body, len as usize)?;
        let hash: [u8; 32] = take(&mut body, 32)?.try_into().map_err(|_| bad("a hash"))?;
        out.push(FeedRecord {
            seq,
            timestamp_us,
            payload,
            hash: RecordHash(hash),
        });
    }
    Ok(out)
}

/// The local copy of a followed currency.
pub struct Follower {
    storage: FileStorage,
    journal: FileJournal,
    replayer: Replayer,
    last_snapshot: u64,
    /// The record the replay started after (its snapshot's; 0: genesis).
    started_from: u64,
    /// A write failed after records were replayed: reopen before going on.
    poisoned: bool,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("storage", &self.storage)
            .field("last_seq", &self.replayer.last_seq())
            .finish_non_exhaustive()
    }
}

impl Follower {
    /// Opens (or starts) the local journal of `code` in `data_dir` and replays it,
    /// from this build's newest snapshot when there is one.
    pub fn open(data_dir: &Path, code: &str) -> Result<Follower, MigrateError> {
        let code = currency_code(code)?;
        let dir = currency_dir(data_dir, &code);
        let (journal, _) = FileJournal::open(&dir, FileJournalConfig::default())
            .map_err(|e| MigrateError::Journal(e.to_string()))?;
        let storage = FileStorage::new(&dir, FileJournalConfig::default());
        let rules = Rules::this_build();
        let snapshot = storage
            .list_snapshots()
            .ok()
            .and_then(|seqs| seqs.last().copied())
            .and_then(|seq| storage.load_snapshot(seq).ok())
            .and_then(|s| Replayer::from_snapshot(s.seq, s.chain_hash, &s.payload, &rules).ok());
        let mut replayer = snapshot.unwrap_or_else(|| Replayer::from_genesis(&rules));
        let from = replayer.last_seq() + 1;
        let expected = (from > 1).then(|| replayer.last_hash());
        let mut failure = None;
        storage
            .read_records(from, expected, &mut |rec| match replayer.apply(&rec) {
                Ok(_) => ControlFlow::Continue(()),
                Err(d) => {
                    failure = Some(d.to_string());
                    ControlFlow::Break(())
                }
            })
            .map_err(|e| MigrateError::Journal(e.to_string()))?;
        if let Some(f) = failure {
            return Err(MigrateError::Journal(f));
        }
        if let Some(c) = replayer.currency()
            && c != &code
        {
            return Err(MigrateError::Target(format!(
                "{} holds currency {c}, not {code}",
                dir.display()
            )));
        }
        let last_snapshot = replayer.last_seq();
        Ok(Follower {
            started_from: from - 1,
            storage,
            journal,
            replayer,
            last_snapshot,
            poisoned: false,
        })
    }

    /// The last record held, and its chain hash.
    pub fn last(&self) -> (u64, RecordHash) {
        (self.replayer.last_seq(), self.replayer.last_hash())
    }

    /// The replayed ledger's state hash (none before the genesis record).
    pub fn state_hash(&self) -> Option<String> {
        self.replayer.ledger().map(|l| l.state_hash().to_string())
    }

    /// Checks, replays and appends a feed's records; answers how many were taken.
    /// Nothing is written unless every record checks.
    pub fn take(&mut self, records: &[FeedRecord]) -> Result<u64, MigrateError> {
        if self.poisoned {
            return Err(MigrateError::Journal(
                "a write failed earlier: open the follower again".into(),
            ));
        }
        let mut new = Vec::with_capacity(records.len());
        for r in records {
            let (last, prev) = self.last();
            if r.seq <= last {
                continue; // sent again after a lost answer
            }
            if r.seq != last + 1 {
                return Err(MigrateError::Journal(format!(
                    "the feed skipped from record {last} to {}",
                    r.seq
                )));
            }
            let hash = journal::record_hash(&prev, r.seq, r.timestamp_us, &r.payload);
            if hash != r.hash {
                return Err(MigrateError::Journal(format!(
                    "record {}'s chain hash is {hash} here, {} at the old node: it is not the \
                     journal it follows",
                    r.seq, r.hash
                )));
            }
            let rec = journal::Record {
                seq: r.seq,
                timestamp_us: r.timestamp_us,
                offset: 0,
                payload: r.payload.clone(),
                prev_hash: prev,
                hash,
                synced_through_seq: 0,
            };
            if let Err(d) = self.replayer.apply(&rec) {
                // The replayer took nothing it could not apply; the records before it
                // in this batch are replayed but not written: reopen.
                self.poisoned = !new.is_empty();
                return Err(MigrateError::Journal(d.to_string()));
            }
            new.push(r);
        }
        if new.is_empty() {
            return Ok(0);
        }
        let batch: Vec<NewRecord<'_>> = new
            .iter()
            .map(|r| NewRecord {
                seq: r.seq,
                timestamp_us: r.timestamp_us,
                payload: &r.payload,
            })
            .collect();
        if let Err(e) = self.journal.append_durable(&batch) {
            self.poisoned = true;
            return Err(MigrateError::Journal(e.to_string()));
        }
        if self.replayer.last_seq() - self.last_snapshot >= SNAPSHOT_EVERY_RECORDS {
            self.snapshot()?;
        }
        Ok(new.len() as u64)
    }

    /// What a serving engine takes over ([`engine::Engine::open_replayed`]): the
    /// journal, still open for appending, the replayed state that checked every record
    /// of it, and the record the replay started after.
    pub fn into_serving(self) -> Result<(Box<dyn JournalStore>, Replayer, u64), MigrateError> {
        if self.poisoned {
            return Err(MigrateError::Journal(
                "a write failed earlier: open the follower again".into(),
            ));
        }
        Ok((Box::new(self.journal), self.replayer, self.started_from))
    }

    /// Saves a snapshot of the replayed state (kept: the newest two).
    pub fn snapshot(&mut self) -> Result<(), MigrateError> {
        let mut payload = Vec::new();
        if !self.replayer.encode_snapshot(&mut payload) {
            return Ok(());
        }
        let (seq, hash) = self.last();
        self.storage
            .save_snapshot(seq, hash, &payload)
            .map_err(|e| MigrateError::Journal(e.to_string()))?;
        if let Ok(seqs) = self.storage.list_snapshots() {
            let keep: Vec<u64> = seqs.iter().rev().take(2).copied().collect();
            let _ = self.storage.retain_snapshots(&keep);
        }
        self.last_snapshot = seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(r: &FeedRecord) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&r.seq.to_le_bytes());
        b.extend_from_slice(&r.timestamp_us.to_le_bytes());
        b.extend_from_slice(&(r.payload.len() as u32).to_le_bytes());
        b.extend_from_slice(&r.payload);
        b.extend_from_slice(r.hash.as_bytes());
        b
    }

    #[test]
    fn frames_read_back_and_a_cut_frame_is_refused() {
        let records = vec![
            FeedRecord {
                seq: 1,
                timestamp_us: 5,
                payload: b"genesis".to_vec(),
                hash: RecordHash([1; 32]),
            },
            FeedRecord {
                seq: 2,
                timestamp_us: 6,
                payload: Vec::new(),
                hash: RecordHash([2; 32]),
            },
        ];
        let body: Vec<u8> = records.iter().flat_map(frame).collect();
        assert_eq!(parse_feed(&body).unwrap(), records);
        for cut in 1..body.len() {
            if cut == frame(&records[0]).len() {
                continue;
            }
            assert!(parse_feed(&body[..cut]).is_err(), "cut at {cut}");
        }
    }
}
