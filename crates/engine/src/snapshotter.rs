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

use crate::replay::{Replayer, encode_snapshot};
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
        counters: Arc<Counters>,
        audit: AuditSink,
    ) -> Snapshotter {
        // One request waiting is enough: a later one supersedes it.
        let (tx, rx) = bounded::<u64>(1);
        let thread = std::thread::Builder::new()
            .name(format!("snap-{currency}"))
            .spawn(move || run(storage.as_ref(), &currency, keep, &counters, &audit, &rx))
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

fn run(
    storage: &dyn Storage,
    currency: &str,
    keep: usize,
    counters: &Counters,
    audit: &AuditSink,
    requests: &Receiver<u64>,
) {
    let mut copy: Option<Replayer> = None;
    // After a failure, snapshots from this seq on are not used again (a snapshot that
    // does not chain onto the journal would otherwise be reloaded for ever).
    let mut distrust_from = u64::MAX;
    while let Ok(target) = requests.recv() {
        let started = Instant::now();
        let mut replayer = match copy.take() {
            Some(r) => r,
            None => newest_snapshot(storage, distrust_from).unwrap_or_else(Replayer::from_genesis),
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
        let (Some(ledger), Some(code)) = (replayer.ledger(), replayer.currency()) else {
            copy = Some(replayer);
            continue;
        };
        let mut payload = Vec::new();
        encode_snapshot(&mut payload, code, ledger);
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
                if let Err(e) = storage.prune_snapshots(keep.max(1)) {
                    tracing::warn!(currency, "could not prune old snapshots: {e}");
                }
            }
            Err(e) => tracing::warn!(currency, "snapshot failed: {e}"),
        }
        copy = Some(replayer);
    }
}

fn newest_snapshot(storage: &dyn Storage, below: u64) -> Option<Replayer> {
    let seqs = storage.list_snapshots().ok()?;
    seqs.iter()
        .rev()
        .filter(|&&seq| seq < below)
        .find_map(|&seq| {
            let s = storage.load_snapshot(seq).ok()?;
            Replayer::from_snapshot(s.seq, s.chain_hash, &s.payload).ok()
        })
}
