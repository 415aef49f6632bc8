//! Start-up: from what is on disk to a ledger ready to serve, or a refusal.
//!
//! **The upgrade gate.** A build decides money by its rules ([`ledger::Rules`]). It
//! trusts only what its own rules computed: it loads only a snapshot stamped with its
//! own rules, and re-decides every record after it. So a build that did not write the
//! recent records re-decides the whole journal (from genesis, or from its own last
//! snapshot: the last point where identical rules agreed with the journal) before it
//! serves, whatever command types the tail holds; a build that did write them re-checks
//! at least `verify_tail_records` records.
//!
//! When a record is decided differently, replay goes on to list every record that
//! differs (bounded), each with the build that wrote it, and then:
//! - if this build's rules never were on the journal before that record (a new build
//!   that disagrees with history), it **refuses to serve**, naming the records;
//! - if they were (its snapshot or its marker comes first: it is the build that was
//!   there before, come back after another build wrote records it decides differently,
//!   as when a bad update is rolled back), the currency starts **halted and read-only**
//!   on the state as of the last record it agrees with, with the list, so an operator
//!   can decide how to correct them with journaled corrections; the journal is never
//!   edited;
//! - a record written under this build's own rules that it now decides differently is
//!   a broken build or a broken machine: it refuses.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use journal::{JournalError, JournalStore, RecordHash};
use ledger::{Ledger, Rules};

use crate::currency::CurrencyCode;
use crate::error::{DivergenceReport, EngineError};
use crate::replay::{
    DIFFERENCES_LISTED_MAX, Divergence, ProgressSink, Replayer, SNAPSHOT_PEEK_BYTES, Ticker,
    Writer, read_ahead, snapshot_rules,
};
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
    /// Who wrote the last records, when another build did (this build then re-decided
    /// everything after its own last snapshot, and writes a marker before its first
    /// batch).
    pub taken_over_from: Option<TakenOver>,
    /// Set when the currency starts halted and read-only.
    pub quarantine: Option<Quarantine>,
    pub elapsed: Duration,
    /// Where the time went: opening (and scanning) the journal, loading the snapshot,
    /// replaying the tail, and the final full invariant check.
    pub journal_open: Duration,
    pub snapshot_load: Duration,
    pub replay: Duration,
    pub check: Duration,
}

/// The build whose records this one took over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TakenOver {
    /// Records written before builds were named in the journal.
    Unnamed,
    Build(Writer),
}

/// Why a currency serves read-only: the records another build wrote that this build
/// decides differently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantine {
    /// The records that differ, first first (at most `DIFFERENCES_LISTED_MAX`).
    pub differences: Vec<Divergence>,
    /// More differ than are listed.
    pub more: bool,
    /// The state served is as of this record (the last one before the first that
    /// differs).
    pub state_as_of_seq: u64,
}

impl Quarantine {
    /// One line for the operator.
    pub fn summary(&self) -> String {
        let first = self
            .differences
            .first()
            .map_or_else(String::new, ToString::to_string);
        format!(
            "{} record(s){} written by another build are decided differently by this one \
             (first: {first}); writes are stopped and balances are as of record {}",
            self.differences.len(),
            if self.more { " or more" } else { "" },
            self.state_as_of_seq
        )
    }
}

#[derive(Debug)]
pub(crate) struct Recovered {
    pub currency: CurrencyCode,
    pub ledger: Ledger,
    pub store: Box<dyn JournalStore>,
    pub last_seq: u64,
    pub last_hash: RecordHash,
    /// The writer of the last record (None: before builds were named).
    pub last_writer: Option<Writer>,
    /// Where the replay started (0: genesis), for the marker record.
    pub verified_from: u64,
    pub report: StartReport,
}

/// What recovery needs to know besides the storage.
#[derive(Clone)]
pub(crate) struct RecoverOptions<'a> {
    pub verify_tail_records: u64,
    pub trusted_through: Option<u64>,
    pub rules: &'a Rules,
    pub progress: Option<&'a ProgressSink>,
}

/// One pass over the journal from a starting point.
struct Pass {
    replayer: Replayer,
    differences: Vec<Divergence>,
    more: bool,
    /// Whether this build's rules were on the journal before the first difference.
    own_rules_before_first: bool,
    records: u64,
    commands: u64,
}

/// Opens the journal for writing (cutting a torn tail), loads this build's newest
/// usable snapshot that leaves at least `verify_tail_records` records to replay, and
/// replays the rest with every outcome and state hash checked.
pub(crate) fn recover(
    storage: &dyn Storage,
    options: &RecoverOptions<'_>,
) -> Result<Recovered, EngineError> {
    let started = Instant::now();
    let rules = options.rules;
    let opened = storage.open_writer(options.trusted_through)?;
    let journal_open = started.elapsed();
    if opened.last_seq == 0 {
        return Err(EngineError::NotInitialized(storage.describe()));
    }
    let mut report = StartReport {
        torn_tail: opened.torn_tail.clone(),
        last_seq: opened.last_seq,
        ..StartReport::default()
    };

    let newest_allowed = opened.last_seq.saturating_sub(options.verify_tail_records);
    let mut candidates = Vec::new();
    for seq in storage.list_snapshots()?.into_iter().rev() {
        if seq < 1 || seq > newest_allowed {
            continue;
        }
        // Only this build's own snapshots: another build's state is not trusted
        // without re-deciding the journal that led to it.
        match storage.peek_snapshot(seq, SNAPSHOT_PEEK_BYTES) {
            Ok(prefix) if snapshot_rules(&prefix) == Some(rules.id()) => candidates.push(seq),
            Ok(prefix) => report.snapshots_skipped.push(format!(
                "snapshot {seq}: computed by another build ({}), not trusted",
                snapshot_rules(&prefix).map_or("rules not recorded".to_owned(), |r| format!(
                    "rules {}",
                    r.short()
                ))
            )),
            Err(e) => report
                .snapshots_skipped
                .push(format!("snapshot {seq}: {e}")),
        }
    }

    let mut attempts = candidates
        .into_iter()
        .map(Some)
        .chain(std::iter::once(None));
    let (start, pass) = loop {
        let Some(start) = attempts.next() else {
            return Err(EngineError::Inconsistent(
                "no way to rebuild the state".into(),
            ));
        };
        let loading = Instant::now();
        let replayer = match start_at(storage, start, opened.last_seq, opened.last_hash, rules) {
            Ok(r) => r,
            Err(why) => {
                report
                    .snapshots_skipped
                    .push(format!("snapshot {}: {why}", start.unwrap_or(0)));
                continue;
            }
        };
        report.snapshot_load = loading.elapsed();
        let replaying = Instant::now();
        match replay(storage, replayer, None, opened.last_seq, options.progress) {
            // The snapshot does not belong to this journal's chain: try an older one.
            Err(JournalError::ChainMismatch { .. }) if start.is_some() => {
                report.snapshots_skipped.push(format!(
                    "snapshot {}: its chain hash does not match the journal",
                    start.unwrap_or(0)
                ));
                continue;
            }
            Err(e) => return Err(e.into()),
            Ok(pass) => {
                report.replay = replaying.elapsed();
                break (start, pass);
            }
        }
    };
    report.snapshot_seq = start;
    report.records_replayed = pass.records;
    report.commands_replayed = pass.commands;

    let replayer = match pass.differences.first() {
        None => pass.replayer,
        Some(first) => {
            let own_records = first
                .written_by
                .as_ref()
                .is_some_and(|w| w.rules == rules.id());
            if own_records || !pass.own_rules_before_first || !first.can_continue() {
                return Err(EngineError::Divergence(Box::new(DivergenceReport {
                    rules: rules.id(),
                    own_records,
                    differences: pass.differences,
                    more: pass.more,
                })));
            }
            // This build was here before the build that wrote these records: serve
            // read-only, on the state as of the last record both agree on.
            let until = first.seq - 1;
            let replayer = start_at(storage, start, opened.last_seq, opened.last_hash, rules)
                .map_err(|why| {
                    EngineError::Inconsistent(format!("cannot load the start again: {why}"))
                })?;
            let prefix = replay(storage, replayer, Some(until), opened.last_seq, None)?;
            if !prefix.differences.is_empty() || prefix.replayer.last_seq() != until {
                return Err(EngineError::Inconsistent(format!(
                    "replaying to record {until} again did not give the same answers"
                )));
            }
            let quarantine = Quarantine {
                differences: pass.differences,
                more: pass.more,
                state_as_of_seq: until,
            };
            tracing::error!(
                currency = ?prefix.replayer.currency().map(ToString::to_string),
                "{}; see `maeul verify` for the full list",
                quarantine.summary()
            );
            report.quarantine = Some(quarantine);
            prefix.replayer
        }
    };

    let quarantined = report.quarantine.is_some();
    if !quarantined
        && (replayer.last_seq() != opened.last_seq || replayer.last_hash() != opened.last_hash)
    {
        return Err(EngineError::Inconsistent(format!(
            "replay ended at record {} but the journal ends at {}",
            replayer.last_seq(),
            opened.last_seq
        )));
    }
    let last_writer = replayer.writer().cloned();
    if !quarantined && last_writer.as_ref().is_none_or(|w| w.rules != rules.id()) {
        report.taken_over_from = Some(match &last_writer {
            None => TakenOver::Unnamed,
            Some(w) => TakenOver::Build(w.clone()),
        });
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
        taken_over = report.taken_over_from.is_some(),
        quarantined,
        ms = report.elapsed.as_millis() as u64,
        "currency recovered and verified"
    );
    Ok(Recovered {
        currency,
        ledger,
        store: opened.store,
        last_seq: opened.last_seq,
        last_hash: opened.last_hash,
        last_writer,
        verified_from: start.unwrap_or(0),
        report,
    })
}

/// Takes over a state that a replayer has already built and checked record by record
/// from this very journal (a follower's), with the journal the replayer's records were
/// appended to, still open: it must end where the replayer does. Then the full
/// invariant check runs. No snapshot is loaded, nothing is replayed and the journal is
/// not scanned again: that is what makes a follower's switch to serving take seconds
/// at a million citizens, not a minute. `verified_from` is where the replayer started
/// (0: genesis), for the marker record.
pub(crate) fn adopt(
    store: Box<dyn JournalStore>,
    replayer: Replayer,
    verified_from: u64,
    rules: &Rules,
) -> Result<Recovered, EngineError> {
    if replayer.rules().id() != rules.id() {
        return Err(EngineError::Inconsistent(
            "the state handed over was replayed under other rules than the engine's".into(),
        ));
    }
    let started = Instant::now();
    let (last_seq, last_hash) = (store.last_seq(), store.last_hash());
    if last_seq != replayer.last_seq() || last_hash != replayer.last_hash() {
        return Err(EngineError::Inconsistent(format!(
            "the journal ends at record {last_seq} ({last_hash}) but the state handed over is \
             of record {} ({})",
            replayer.last_seq(),
            replayer.last_hash()
        )));
    }
    let last_writer = replayer.writer().cloned();
    let mut report = StartReport {
        last_seq,
        ..StartReport::default()
    };
    if last_writer.as_ref().is_none_or(|w| w.rules != rules.id()) {
        report.taken_over_from = Some(match &last_writer {
            None => TakenOver::Unnamed,
            Some(w) => TakenOver::Build(w.clone()),
        });
    }
    let (currency, ledger) = replayer
        .into_parts()
        .ok_or_else(|| EngineError::Inconsistent("the state handed over has no genesis".into()))?;
    let checking = Instant::now();
    ledger.check_all().map_err(EngineError::Invariant)?;
    report.check = checking.elapsed();
    report.elapsed = started.elapsed();
    tracing::info!(
        currency = %currency,
        last_seq,
        ms = report.elapsed.as_millis() as u64,
        "currency taken over from a verified replay"
    );
    Ok(Recovered {
        currency,
        ledger,
        store,
        last_seq,
        last_hash,
        last_writer,
        verified_from,
        report,
    })
}

/// A replayer at `start` (a snapshot of this build's, or genesis).
fn start_at(
    storage: &dyn Storage,
    start: Option<u64>,
    last_seq: u64,
    last_hash: RecordHash,
    rules: &Rules,
) -> Result<Replayer, String> {
    let Some(seq) = start else {
        return Ok(Replayer::from_genesis(rules));
    };
    let s = storage.load_snapshot(seq).map_err(|e| e.to_string())?;
    // With no record after it, the chain check cannot reject a snapshot of a record
    // that was cut and written anew: compare directly.
    if s.seq == last_seq && s.chain_hash != last_hash {
        return Err("taken at a record that has since been replaced".to_owned());
    }
    Replayer::from_snapshot(s.seq, s.chain_hash, &s.payload, rules).map_err(|e| e.to_string())
}

/// Replays from where `replayer` stands to `until` (or the end), collecting what
/// differs: past a record that differs it goes on (bounded) to list the others.
fn replay(
    storage: &dyn Storage,
    mut replayer: Replayer,
    until: Option<u64>,
    last_seq: u64,
    progress: Option<&ProgressSink>,
) -> Result<Pass, JournalError> {
    let from = replayer.last_seq() + 1;
    let expected_prev = (from > 1).then(|| replayer.last_hash());
    let mut differences: Vec<Divergence> = Vec::new();
    let mut more = false;
    let mut own_rules_before_first = false;
    let mut records = 0u64;
    let mut commands = 0u64;
    let mut ticker = Ticker::new(progress, Some(last_seq));
    if until.is_some_and(|u| u < from) {
        return Ok(Pass {
            replayer,
            differences,
            more,
            own_rules_before_first,
            records,
            commands,
        });
    }
    read_ahead(storage, from, expected_prev, &mut |rec| {
        let seq = rec.seq;
        let seen_before = replayer.own_rules_seen();
        let applied = replayer.apply_decoded(rec);
        records += 1;
        ticker.tick(seq, replayer.currency(), false);
        match applied {
            Ok(batch) => commands += batch.map_or(0, |b| b.commands.len() as u64),
            Err(d) => {
                if differences.is_empty() {
                    own_rules_before_first = seen_before;
                }
                let go_on = d.can_continue();
                if differences.len() < DIFFERENCES_LISTED_MAX {
                    differences.push(d);
                } else {
                    more = true;
                }
                if !go_on || more {
                    return ControlFlow::Break(());
                }
            }
        }
        if until.is_some_and(|u| seq >= u) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    ticker.tick(replayer.last_seq(), replayer.currency(), true);
    Ok(Pass {
        replayer,
        differences,
        more,
        own_rules_before_first,
        records,
        commands,
    })
}
