//! Snapshots without stopping the sequencer.
//!
//! Encoding a ledger that remembers millions of keys takes long enough (hundreds of
//! milliseconds) that doing it on the sequencer thread would stall every payment. So a
//! background thread keeps its own copy of the ledger, built the way recovery builds
//! one: the last snapshot, then the durable journal records after it, each re-executed
//! and checked (outcomes and state hash) exactly as at start-up. When asked, it catches
//! up to the durable end and writes a snapshot from its copy.
//!
//! This costs a second copy of the ledger in memory and a second `apply` of every batch
//! (on the other core, off the payment path), and buys two things: snapshots that never
//! pause the sequencer, and a continuous audit: a batch this version would decide
//! differently, or a journal record damaged after it was written, is reported within
//! one snapshot interval rather than at the next restart.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use ledger::{Rules, RulesId};

use crate::replay::{Replayer, SNAPSHOT_PEEK_BYTES, snapshot_rules};
use crate::sequencer::Counters;
use crate::storage::Storage;

/// What went wrong in the background, for the operator.
pub(crate) type AuditSink = Arc<parking_lot::Mutex<Option<String>>>;

#[derive(Debug)]
pub(crate) struct Snapshotter {
    requests: Option<Sender<u64>>,
    thread: Option<JoinHandle<()>>,
}

impl Snapshotter {
    pub fn start(
        storage: Arc<dyn Storage>,
        currency: String,
        keep: usize,
        rules: Rules,
        counters: Arc<Counters>,
        audit: AuditSink,
    ) -> Snapshotter {
        // One request waiting is enough: a later one supersedes it.
        let (tx, rx) = bounded::<u64>(1);
        let thread = std::thread::Builder::new()
            .name(format!("snap-{currency}"))
            .spawn(move || {
                let job = Job {
                    storage: storage.as_ref(),
                    currency: &currency,
                    keep,
                    rules: &rules,
                    counters: &counters,
                    audit: &audit,
                };
                run(&job, &rx);
            })
            .ok();
        Snapshotter {
            requests: Some(tx),
            thread,
        }
    }

    /// Asks for a snapshot at durable record `seq` (or later). Never blocks: if one is
    /// already being taken, this request is dropped and the next one will cover it.
    pub fn request(&self, seq: u64) {
        if let Some(tx) = &self.requests {
            match tx.try_send(seq) {
                Ok(()) | Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {}
            }
        }
    }

    /// Asks for a snapshot at `seq` and waits until it is written (at a clean stop).
    pub fn request_and_wait(&mut self, seq: u64) {
        if let Some(tx) = &self.requests {
            let _ = tx.send(seq);
        }
        self.stop();
    }

    pub fn stop(&mut self) {
        self.requests = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Snapshotter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the snapshot thread works with.
struct Job<'a> {
    storage: &'a dyn Storage,
    currency: &'a str,
    keep: usize,
    rules: &'a Rules,
    counters: &'a Counters,
    audit: &'a AuditSink,
}

fn run(job: &Job<'_>, requests: &Receiver<u64>) {
    let Job {
        storage,
        currency,
        keep,
        rules,
        counters,
        audit,
    } = *job;
    let mut copy: Option<Replayer> = None;
    // After a failure, snapshots from this seq on are not used again (a snapshot that
    // does not chain onto the journal would otherwise be reloaded for ever).
    let mut distrust_from = u64::MAX;
    let mut last_len = 0usize;
    while let Ok(target) = requests.recv() {
        let started = Instant::now();
        let mut replayer = match copy.take() {
            Some(r) => r,
            None => newest_snapshot(storage, distrust_from, rules)
                .unwrap_or_else(|| Replayer::from_genesis(rules)),
        };
        let started_at = replayer.last_seq();
        let from = replayer.last_seq() + 1;
        let expected_prev = (from > 1).then(|| replayer.last_hash());
        let mut failure = None;
        let read = storage.read_records(from, expected_prev, &mut |rec| {
            if rec.seq > target {
                return ControlFlow::Break(());
            }
            match replayer.apply(&rec) {
                Ok(_) => ControlFlow::Continue(()),
                Err(d) => {
                    failure = Some(format!("the background audit diverges at {d}"));
                    ControlFlow::Break(())
                }
            }
        });
        if let Err(e) = read {
            failure = Some(format!("the background audit cannot read the journal: {e}"));
        }
        if let Some(why) = failure {
            tracing::error!(currency, "{why}");
            *audit.lock() = Some(why);
            // Start again from disk next time rather than from a copy in doubt, and from
            // an older snapshot than this one.
            distrust_from = distrust_from.min(started_at.max(1));
            continue;
        }
        // Sized from the last snapshot (they grow slowly), so that hundreds of MiB are
        // not copied from one doubling to the next, each copy faulting in fresh pages.
        let mut payload = Vec::with_capacity(last_len.saturating_add(last_len / 8));
        if !replayer.encode_snapshot(&mut payload) {
            copy = Some(replayer);
            continue;
        }
        last_len = payload.len();
        let seq = replayer.last_seq();
        match storage.save_snapshot(seq, replayer.last_hash(), &payload) {
            Ok(()) => {
                counters.snapshots.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    currency,
                    seq,
                    bytes = payload.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "snapshot written in the background"
                );
                if let Err(e) = prune(storage, rules.id(), keep.max(1)) {
                    tracing::warn!(currency, "could not prune old snapshots: {e}");
                }
            }
            Err(e) => tracing::warn!(currency, "snapshot failed: {e}"),
        }
        copy = Some(replayer);
    }
}

/// The newest snapshot these rules computed, below `below`.
fn newest_snapshot(storage: &dyn Storage, below: u64, rules: &Rules) -> Option<Replayer> {
    let seqs = storage.list_snapshots().ok()?;
    seqs.iter()
        .rev()
        .filter(|&&seq| seq < below)
        .find_map(|&seq| {
            let prefix = storage.peek_snapshot(seq, SNAPSHOT_PEEK_BYTES).ok()?;
            if snapshot_rules(&prefix) != Some(rules.id()) {
                return None;
            }
            let s = storage.load_snapshot(seq).ok()?;
            Replayer::from_snapshot(s.seq, s.chain_hash, &s.payload, rules).ok()
        })
}

/// Other builds whose newest snapshot is kept (a rollback to one of them starts from
/// its own snapshot instead of re-deciding the whole journal).
const OTHER_BUILDS_KEPT: usize = 3;

/// Keeps the `keep` newest snapshots of these rules and the newest of each of the last
/// few other builds; deletes the rest.
fn prune(storage: &dyn Storage, mine: RulesId, keep: usize) -> Result<(), journal::JournalError> {
    let mut own = 0;
    let mut others: Vec<Option<RulesId>> = Vec::new();
    let mut kept = Vec::new();
    for seq in storage.list_snapshots()?.into_iter().rev() {
        let rules = storage
            .peek_snapshot(seq, SNAPSHOT_PEEK_BYTES)
            .ok()
            .and_then(|p| snapshot_rules(&p));
        if rules == Some(mine) {
            if own < keep {
                own += 1;
                kept.push(seq);
            }
        } else if others.len() < OTHER_BUILDS_KEPT && !others.contains(&rules) {
            others.push(rules);
            kept.push(seq);
        }
    }
    storage.retain_snapshots(&kept)
}
