//! Start-up: from what is on disk to a ledger ready to serve.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use journal::{JournalError, JournalStore, RecordHash};
use ledger::Ledger;

use crate::currency::CurrencyCode;
use crate::error::EngineError;
use crate::replay::{Divergence, Replayer};
use crate::storage::Storage;

/// What a start found and did, for the operator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartReport {
    pub torn_tail: Option<String>,
    /// The snapshot the state was loaded from (None: replayed from genesis).
    pub snapshot_seq: Option<u64>,
    /// Snapshots that could not be used, and why.
    pub snapshots_skipped: Vec<String>,
    pub records_replayed: u64,
    pub commands_replayed: u64,
    pub last_seq: u64,
    pub elapsed: Duration,
    /// Where the time went: opening (and scanning) the journal, loading the snapshot,
    /// replaying the tail, and the final full invariant check.
    pub journal_open: Duration,
    pub snapshot_load: Duration,
    pub replay: Duration,
    pub check: Duration,
}

#[derive(Debug)]
pub(crate) struct Recovered {
    pub currency: CurrencyCode,
    pub ledger: Ledger,
    pub store: Box<dyn JournalStore>,
    pub last_seq: u64,
    pub last_hash: RecordHash,
    pub report: StartReport,
}

/// Opens the journal for writing (cutting a torn tail), loads the newest usable
/// snapshot that leaves at least `verify_tail_records` records to replay, and replays
/// the rest with every outcome and state hash checked.
pub(crate) fn recover(
    storage: &dyn Storage,
    verify_tail_records: u64,
    trusted_through: Option<u64>,
) -> Result<Recovered, EngineError> {
    let started = Instant::now();
    let opened = storage.open_writer(trusted_through)?;
    let journal_open = started.elapsed();
    if opened.last_seq == 0 {
        return Err(EngineError::NotInitialized(storage.describe()));
    }
    let mut report = StartReport {
        torn_tail: opened.torn_tail.clone(),
        last_seq: opened.last_seq,
        ..StartReport::default()
    };

    let newest_allowed = opened.last_seq.saturating_sub(verify_tail_records);
    let mut candidates: Vec<u64> = storage
        .list_snapshots()?
        .into_iter()
        .filter(|&s| s >= 1 && s <= newest_allowed)
        .collect();
    candidates.reverse();

    let mut attempts = candidates
        .into_iter()
        .map(Some)
        .chain(std::iter::once(None));
    let replayer = loop {
        let Some(start) = attempts.next() else {
            return Err(EngineError::Inconsistent(
                "no way to rebuild the state".into(),
            ));
        };
        let loading = Instant::now();
        let mut replayer = match start {
            None => Replayer::from_genesis(),
            Some(seq) => match storage
                .load_snapshot(seq)
                .map_err(|e| e.to_string())
                .and_then(|s| {
                    // With no record after it, the chain check cannot reject a snapshot
                    // of a record that was cut and written anew: compare directly.
                    if s.seq == opened.last_seq && s.chain_hash != opened.last_hash {
                        return Err("taken at a record that has since been replaced".to_owned());
                    }
                    Ok(s)
                })
                .and_then(|s| {
                    Replayer::from_snapshot(s.seq, s.chain_hash, &s.payload)
                        .map_err(|e| e.to_string())
                }) {
                Ok(r) => r,
                Err(why) => {
                    report
                        .snapshots_skipped
                        .push(format!("snapshot {seq}: {why}"));
                    continue;
                }
            },
        };
        report.snapshot_load = loading.elapsed();
        let replaying = Instant::now();
        let from = replayer.last_seq() + 1;
        let expected_prev = (from > 1).then(|| replayer.last_hash());
        let mut divergence: Option<Divergence> = None;
        let mut records = 0u64;
        let mut commands = 0u64;
        let read =
            storage.read_records(from, expected_prev, &mut |rec| match replayer.apply(&rec) {
                Ok(batch) => {
                    records += 1;
                    commands += batch.map_or(0, |b| b.commands.len() as u64);
                    ControlFlow::Continue(())
                }
                Err(d) => {
                    divergence = Some(d);
                    ControlFlow::Break(())
                }
            });
        match read {
            // The snapshot does not belong to this journal's chain: try an older one.
            Err(JournalError::ChainMismatch { .. }) if start.is_some() => {
                report.snapshots_skipped.push(format!(
                    "snapshot {}: its chain hash does not match the journal",
                    start.unwrap_or(0)
                ));
                continue;
            }
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        if let Some(d) = divergence {
            return Err(EngineError::Divergence(d));
        }
        report.snapshot_seq = start;
        report.replay = replaying.elapsed();
        report.records_replayed = records;
        report.commands_replayed = commands;
        break replayer;
    };

    if replayer.last_seq() != opened.last_seq || replayer.last_hash() != opened.last_hash {
        return Err(EngineError::Inconsistent(format!(
            "replay ended at record {} but the journal ends at {}",
            replayer.last_seq(),
            opened.last_seq
        )));
    }
    let (currency, ledger) = replayer
        .into_parts()
        .ok_or_else(|| EngineError::Inconsistent("the journal has no genesis record".into()))?;
    let checking = Instant::now();
    ledger.check_all().map_err(EngineError::Invariant)?;
    report.check = checking.elapsed();
    report.journal_open = journal_open;
    report.elapsed = started.elapsed();
    tracing::info!(
        currency = %currency,
        last_seq = report.last_seq,
        snapshot = ?report.snapshot_seq,
        records_replayed = report.records_replayed,
        ms = report.elapsed.as_millis() as u64,
        "currency recovered and verified"
    );
    Ok(Recovered {
        currency,
        ledger,
        store: opened.store,
        last_seq: opened.last_seq,
        last_hash: opened.last_hash,
        report,
    })
}
