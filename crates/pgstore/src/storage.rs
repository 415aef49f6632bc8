//! A currency's journal and snapshots as rows: the engine's `Storage` on PostgreSQL.
//!
//! Records are the file journal's records (seq, timestamp, opaque payload, blake3
//! chain hash), one row each; every reader recomputes the chain. A write group is one
//! statement, so it commits whole or not at all, and only under the writer's epoch:
//!
//! ```sql
//! WITH lease AS (SELECT 1 FROM maeul_writers WHERE currency = $1 AND epoch = $2 FOR SHARE)
//! INSERT INTO maeul_journal ... WHERE EXISTS (SELECT 1 FROM lease)
//! ```
//!
//! Taking the lease updates that row, so it waits for an insert that holds it and
//! makes every later insert under the old epoch insert nothing. A deposed writer's
//! write is answered [`JournalError::Fenced`] and nothing of it exists.

use std::ops::ControlFlow;
use std::sync::Arc;

use engine::{OpenedWriter, ReadEnd, Storage};
use journal::{
    AppendReceipt, GENESIS_HASH, JournalError, JournalStore, MAX_PAYLOAD_LEN, NewRecord, Record,
    RecordHash, Snapshot, record_hash,
};

use crate::db::{column, unsigned};
use crate::{Db, PgError};

/// The channel a writer notifies after every write group, with `<currency>:<last seq>`,
/// so that followers wake at once instead of polling.
pub const JOURNAL_CHANNEL: &str = "maeul_journal";

/// Rows fetched per read of the journal: bounded memory, few round trips.
const READ_ROWS: i64 = 256;

/// One currency's journal and snapshots in a database; the writer's epoch when it
/// writes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PgStorage {
    db: Arc<Db>,
    currency: String,
    /// The lease epoch this node writes under; `None` for a reader (a follower, a
    /// verifier), which may not open a writer.
    epoch: Option<u64>,
}

impl PgStorage {
    /// A writer under a lease this node holds ([`crate::lease::try_acquire`]).
    pub fn writer(db: Arc<Db>, lease: &crate::Lease) -> PgStorage {
        PgStorage {
            db,
            currency: lease.currency.clone(),
            epoch: Some(lease.epoch),
        }
    }

    /// A reader: reads records and snapshots, writes nothing.
    pub fn reader(db: Arc<Db>, currency: &str) -> PgStorage {
        PgStorage {
            db,
            currency: currency.to_owned(),
            epoch: None,
        }
    }

    pub fn currency(&self) -> &str {
        &self.currency
    }

    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    fn at(&self) -> String {
        format!("{} currency {}", self.db.describe(), self.currency)
    }

    fn database_error(&self, e: PgError) -> JournalError {
        JournalError::Database {
            at: self.at(),
            op: e.op,
            message: e.message,
        }
    }

    /// The last record's seq and chain hash (0 and the genesis hash when empty).
    pub fn head(&self) -> Result<(u64, RecordHash), JournalError> {
        let conn = self.db.conn().map_err(|e| self.database_error(e))?;
        let row = conn
            .run(
                "read the journal's end",
                conn.query_opt(
                    "SELECT seq, hash FROM maeul_journal WHERE currency = $1
                      ORDER BY seq DESC LIMIT 1",
                    &[&self.currency],
                ),
            )
            .map_err(|e| self.database_error(e))?;
        match row {
            None => Ok((0, GENESIS_HASH)),
            Some(row) => {
                let op = "read the journal's end";
                let seq = unsigned(&row, 0, op).map_err(|e| self.database_error(e))?;
                let hash = column(&row, 1, op).map_err(|e| self.database_error(e))?;
                Ok((seq, self.hash_of(seq, hash)?))
            }
        }
    }

    fn hash_of(&self, seq: u64, bytes: &[u8]) -> Result<RecordHash, JournalError> {
        <[u8; 32]>::try_from(bytes)
            .map(RecordHash)
            .map_err(|_| JournalError::Corrupt {
                at: self.at(),
                seq,
                offset: 0,
                reason: format!("a chain hash of {} bytes", bytes.len()),
            })
    }

    /// The hash of record `seq` as stored (to start a read in the middle).
    fn stored_hash(&self, seq: u64) -> Result<RecordHash, JournalError> {
        if seq == 0 {
            return Ok(GENESIS_HASH);
        }
        let conn = self.db.conn().map_err(|e| self.database_error(e))?;
        let row = conn
            .run(
                "read a record's chain hash",
                conn.query_opt(
                    "SELECT hash FROM maeul_journal WHERE currency = $1 AND seq = $2",
                    &[&self.currency, &(seq as i64)],
                ),
            )
            .map_err(|e| self.database_error(e))?;
        match row {
            Some(row) => {
                let hash = column(&row, 0, "read a record's chain hash")
                    .map_err(|e| self.database_error(e))?;
                self.hash_of(seq, hash)
            }
            None => Err(JournalError::Corrupt {
                at: self.at(),
                seq,
                offset: 0,
                reason: "the record before the first one read is missing".into(),
            }),
        }
    }

    /// Tells standbys that the journal reached `last_seq`. After the commit and
    /// outside it, on purpose: a full notification queue (a standby frozen for hours
    /// holds it) must not fail a write; a standby that misses a wake-up reads on its
    /// next one, or after its wait's timeout.
    fn announce(&self, last_seq: u64) {
        let sent = self.db.conn().and_then(|conn| {
            conn.run(
                "notify standbys",
                conn.execute(
                    "SELECT pg_notify($1, $2)",
                    &[&JOURNAL_CHANNEL, &format!("{}:{last_seq}", self.currency)],
                ),
            )
        });
        if let Err(e) = sent {
            tracing::warn!(currency = %self.currency, "standbys were not told of new records: {e}");
        }
    }

    /// Who writes this currency now, for the words of a refusal.
    fn writer_now(&self) -> String {
        match crate::lease::holder(&self.db, &self.currency) {
            Ok(Some(h)) => format!("{} writes under epoch {}", h.holder, h.epoch),
            Ok(None) => "nobody holds the lease".into(),
            Err(e) => format!("the lease could not be read: {e}"),
        }
    }

    fn fenced(&self, epoch: u64) -> JournalError {
        JournalError::Fenced {
            at: self.at(),
            epoch,
            now: self.writer_now(),
        }
    }
}

impl Storage for PgStorage {
    /// Records the database committed are durable whatever the writer knew of them, so
    /// `trusted_through` cuts nothing here: a record after it was committed by a write
    /// whose answer was lost, and its commands, retried under their keys, find their
    /// first answers.
    fn open_writer(&self, _trusted_through: Option<u64>) -> Result<OpenedWriter, JournalError> {
        let Some(epoch) = self.epoch else {
            return Err(JournalError::Database {
                at: self.at(),
                op: "open the journal for writing",
                message: "this node holds no writer lease for the currency".into(),
            });
        };
        let holder =
            crate::lease::holder(&self.db, &self.currency).map_err(|e| self.database_error(e))?;
        if holder.as_ref().map(|h| h.epoch) != Some(epoch) {
            return Err(self.fenced(epoch));
        }
        let (last_seq, last_hash) = self.head()?;
        Ok(OpenedWriter {
            store: Box::new(PgJournal {
                storage: self.clone(),
                epoch,
                last_seq,
                last_hash,
                poisoned: false,
            }),
            last_seq,
            last_hash,
            torn_tail: None,
        })
    }

    fn read_records(
        &self,
        from_seq: u64,
        expected_prev_hash: Option<RecordHash>,
        visit: &mut dyn FnMut(Record) -> ControlFlow<()>,
    ) -> Result<ReadEnd, JournalError> {
        let from_seq = from_seq.max(1);
        let stored_prev = self.stored_hash(from_seq - 1)?;
        if let Some(expected) = expected_prev_hash
            && expected != stored_prev
        {
            return Err(JournalError::ChainMismatch {
                at: self.at(),
                seq: from_seq,
                offset: 0,
                expected: expected.to_string(),
                found: stored_prev.to_string(),
            });
        }
        let mut prev = stored_prev;
        let mut next = from_seq;
        loop {
            let conn = self.db.conn().map_err(|e| self.database_error(e))?;
            let rows = conn
                .run(
                    "read journal records",
                    conn.query(
                        "SELECT seq, timestamp_us, hash, payload FROM maeul_journal
                          WHERE currency = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
                        &[&self.currency, &(next as i64), &READ_ROWS],
                    ),
                )
                .map_err(|e| self.database_error(e))?;
            drop(conn);
            let fetched = rows.len();
            for row in rows {
                let damaged = |reason: String| JournalError::Corrupt {
                    at: self.at(),
                    seq: next,
                    offset: 0,
                    reason,
                };
                let op = "read journal records";
                let seq = unsigned(&row, 0, op).map_err(|e| damaged(e.message))?;
                if seq != next {
                    return Err(damaged(format!("record {next} is missing (next is {seq})")));
                }
                let timestamp_us = unsigned(&row, 1, op).map_err(|e| damaged(e.message))?;
                let payload: Vec<u8> = column(&row, 3, op).map_err(|e| damaged(e.message))?;
                let stored =
                    self.hash_of(seq, column(&row, 2, op).map_err(|e| damaged(e.message))?)?;
                let hash = record_hash(&prev, seq, timestamp_us, &payload);
                if hash != stored {
                    return Err(damaged(format!(
                        "the record does not hash to its stored chain hash ({hash} ≠ {stored})"
                    )));
                }
                let record = Record {
                    seq,
                    timestamp_us,
                    offset: 0,
                    payload,
                    prev_hash: prev,
                    hash,
                    synced_through_seq: seq - 1,
                };
                prev = hash;
                next += 1;
                if visit(record).is_break() {
                    return Ok(ReadEnd::default());
                }
            }
            if (fetched as i64) < READ_ROWS {
                return Ok(ReadEnd::default());
            }
        }
    }

    fn save_snapshot(
        &self,
        seq: u64,
        chain_hash: RecordHash,
        payload: &[u8],
    ) -> Result<(), JournalError> {
        let conn = self.db.conn().map_err(|e| self.database_error(e))?;
        conn.unbounded("save a snapshot", |conn| {
            conn.run(
                "save a snapshot",
                conn.execute(
                    // A deposed writer's snapshot is not saved over its successor's.
                    // The lease row is read, not locked: a save of hundreds of
                    // megabytes must not hold up the lease's renewal (a snapshot is a
                    // cache, checked against the journal's chain when loaded).
                    "INSERT INTO maeul_snapshots (currency, seq, chain_hash, payload)
                 SELECT $1, $2, $3, $4
                  WHERE $5::int8 IS NULL OR EXISTS (
                        SELECT 1 FROM maeul_writers WHERE currency = $1 AND epoch = $5)
                 ON CONFLICT (currency, seq) DO UPDATE
                    SET chain_hash = EXCLUDED.chain_hash, payload = EXCLUDED.payload,
                        saved_at = now()",
                    &[
                        &self.currency,
                        &(seq as i64),
                        &chain_hash.as_bytes().as_slice(),
                        &payload,
                        &self.epoch.map(|e| e as i64),
                    ],
                ),
            )
        })
        .map_err(|e| self.database_error(e))?;
        Ok(())
    }

    fn list_snapshots(&self) -> Result<Vec<u64>, JournalError> {
        let conn = self.db.conn().map_err(|e| self.database_error(e))?;
        let rows = conn
            .run(
                "list snapshots",
                conn.query(
                    "SELECT seq FROM maeul_snapshots WHERE currency = $1 ORDER BY seq",
                    &[&self.currency],
                ),
            )
            .map_err(|e| self.database_error(e))?;
        rows.iter()
            .map(|r| unsigned(r, 0, "list snapshots").map_err(|e| self.database_error(e)))
            .collect()
    }

    fn load_snapshot(&self, seq: u64) -> Result<Snapshot, JournalError> {
        let conn = self.db.conn().map_err(|e| self.database_error(e))?;
        let row = conn
            .unbounded("load a snapshot", |conn| {
                conn.run(
                    "load a snapshot",
                    conn.query_opt(
                        "SELECT chain_hash, payload FROM maeul_snapshots
                          WHERE currency = $1 AND seq = $2",
                        &[&self.currency, &(seq as i64)],
                    ),
                )
            })
            .map_err(|e| self.database_error(e))?;
        let Some(row) = row else {
            return Err(JournalError::SnapshotNotFound { at: self.at(), seq });
        };
        let corrupt = |reason: String| JournalError::SnapshotCorrupt {
            at: format!("{} snapshot {seq}", self.at()),
            reason,
        };
        let op = "load a snapshot";
        let bytes: &[u8] = column(&row, 0, op).map_err(|e| corrupt(e.message))?;
        let chain_hash =
            <[u8; 32]>::try_from(bytes).map_err(|_| JournalError::SnapshotCorrupt {
                at: format!("{} snapshot {seq}", self.at()),
                reason: format!("a chain hash of {} bytes", bytes.len()),
            })?;
        Ok(Snapshot {
            seq,
            chain_hash: RecordHash(chain_hash),
            payload: column(&row, 1, op).map_err(|e| corrupt(e.message))?,
        })
    }

    fn peek_snapshot(&self, seq: u64, len: usize) -> Result<Vec<u8>, JournalError> {
        let conn = self.db.conn().map_err(|e| self.database_error(e))?;
        let len = i32::try_from(len).unwrap_or(i32::MAX);
        let row = conn
            .run(
                "peek at a snapshot",
                conn.query_opt(
                    "SELECT substring(payload FROM 1 FOR $3) FROM maeul_snapshots
                      WHERE currency = $1 AND seq = $2",
                    &[&self.currency, &(seq as i64), &len],
                ),
            )
            .map_err(|e| self.database_error(e))?;
        match row {
            Some(row) => column(&row, 0, "peek at a snapshot").map_err(|e| self.database_error(e)),
            None => Err(JournalError::SnapshotNotFound { at: self.at(), seq }),
        }
    }

    fn retain_snapshots(&self, keep: &[u64]) -> Result<(), JournalError> {
        let keep: Vec<i64> = keep.iter().map(|s| *s as i64).collect();
        let conn = self.db.conn().map_err(|e| self.database_error(e))?;
        conn.run(
            "delete old snapshots",
            conn.execute(
                // A deposed writer must not prune its successor's snapshots (read, not
                // locked, like the save).
                "DELETE FROM maeul_snapshots WHERE currency = $1 AND NOT (seq = ANY($2))
                   AND ($3::int8 IS NULL OR EXISTS (
                        SELECT 1 FROM maeul_writers WHERE currency = $1 AND epoch = $3))",
                &[&self.currency, &keep, &self.epoch.map(|e| e as i64)],
            ),
        )
        .map_err(|e| self.database_error(e))?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.at()
    }
}

/// The journal open for writing under one lease epoch.
#[derive(Debug)]
pub struct PgJournal {
    storage: PgStorage,
    epoch: u64,
    last_seq: u64,
    last_hash: RecordHash,
    poisoned: bool,
}

impl PgJournal {
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

impl JournalStore for PgJournal {
    fn append_durable(&mut self, records: &[NewRecord<'_>]) -> Result<AppendReceipt, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned);
        }
        if records.is_empty() {
            return Ok(AppendReceipt {
                first_seq: self.last_seq + 1,
                last_seq: self.last_seq,
                last_hash: self.last_hash,
                bytes_written: 0,
            });
        }
        let mut seqs = Vec::with_capacity(records.len());
        let mut stamps = Vec::with_capacity(records.len());
        let mut hashes = Vec::with_capacity(records.len());
        let mut payloads = Vec::with_capacity(records.len());
        let mut prev = self.last_hash;
        let mut bytes = 0u64;
        for (i, r) in records.iter().enumerate() {
            let expected = self.last_seq + 1 + i as u64;
            if r.seq != expected {
                return Err(JournalError::InvalidAppend(format!(
                    "record seq {} where {expected} was expected",
                    r.seq
                )));
            }
            if r.payload.len() as u64 > MAX_PAYLOAD_LEN || i64::try_from(r.timestamp_us).is_err() {
                return Err(JournalError::InvalidAppend(format!(
                    "record {} is too large or too late",
                    r.seq
                )));
            }
            let hash = record_hash(&prev, r.seq, r.timestamp_us, r.payload);
            seqs.push(r.seq as i64);
            stamps.push(r.timestamp_us as i64);
            hashes.push(hash.as_bytes().to_vec());
            payloads.push(r.payload);
            bytes += r.payload.len() as u64 + 56;
            prev = hash;
        }
        let last_seq = self.last_seq + records.len() as u64;
        let storage = &self.storage;
        let inserted = storage
            .db
            .conn()
            .and_then(|conn| {
                conn.run(
                    "append to the journal",
                    conn.query_one(
                        "WITH lease AS (
                            SELECT 1 FROM maeul_writers
                             WHERE currency = $1 AND epoch = $2 FOR SHARE
                         ), ins AS (
                            INSERT INTO maeul_journal
                                   (currency, seq, epoch, timestamp_us, hash, payload)
                            SELECT $1, r.seq, $2, r.ts, r.hash, r.payload
                              FROM unnest($3::int8[], $4::int8[], $5::bytea[], $6::bytea[])
                                   AS r(seq, ts, hash, payload)
                             WHERE EXISTS (SELECT 1 FROM lease)
                            RETURNING seq
                         )
                         SELECT count(*)::int8 FROM ins",
                        &[
                            &storage.currency,
                            &(self.epoch as i64),
                            &seqs,
                            &stamps,
                            &hashes,
                            &payloads,
                        ],
                    ),
                )
            })
            .and_then(|row| column::<i64>(&row, 0, "append to the journal"));
        match inserted {
            Ok(n) if n == records.len() as i64 => {
                self.last_seq = last_seq;
                self.last_hash = prev;
                storage.announce(last_seq);
                Ok(AppendReceipt {
                    first_seq: records[0].seq,
                    last_seq,
                    last_hash: prev,
                    bytes_written: bytes,
                })
            }
            Ok(_) => {
                self.poisoned = true;
                Err(storage.fenced(self.epoch))
            }
            // Maybe committed (the answer may be what was lost), or a row at this seq
            // already there (an earlier statement of ours that committed after its
            // connection broke, or another writer's): the engine reopens, and
            // `open_writer` says whether this node still writes.
            Err(e) => {
                self.poisoned = true;
                Err(storage.database_error(e))
            }
        }
    }

    fn last_seq(&self) -> u64 {
        self.last_seq
    }

    fn last_hash(&self) -> RecordHash {
        self.last_hash
    }
}
