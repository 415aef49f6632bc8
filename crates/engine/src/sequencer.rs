//! The sequencer: one per currency. It owns the ledger, takes submissions from a
//! bounded queue, applies them in batches, journals each batch with group commit, and
//! answers only once the batch is durable.
//!
//! Two threads per currency, a pipeline of two stages:
//! - the **sequencer thread** takes whatever has arrived (up to `batch_commands_max`,
//!   never waiting for a batch to fill), applies it to the ledger, encodes the record
//!   and hands it to the writer;
//! - the **writer thread** appends every record it has been handed with one durable
//!   write (one fdatasync), then answers the submitters.
//!
//! While the writer waits for the disk, the sequencer applies the next batch, so batches
//! grow by themselves under load and shrink to one command when idle. The hand-over
//! channel is bounded (`writer_queue_batches`), which is what pushes back on the
//! sequencer when the disk is slower than the ledger; the submission queue is bounded
//! too, and a full queue is answered `Busy` at once.
//!
//! A failed write or fsync poisons the journal: the in-memory state may now be ahead of
//! the disk, so the sequencer answers everything in flight "not durable", stops taking
//! writes, throws its state away and rebuilds it from what is on disk (snapshot +
//! verified replay), then resumes. It never retries the failed fsync.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};
use journal::{JournalError, JournalStore, NewRecord, RecordHash};
use ledger::{Command, Envelope, Ledger, LedgerConfig, Outcome, Rules, StateHash, Timestamp};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{broadcast, oneshot};

use crate::currency::CurrencyCode;
use crate::error::{CommitError, EngineError, SubmitError};
use crate::record;
use crate::record::RulesRecord;
use crate::recovery::{self, Quarantine, RecoverOptions, Recovered, StartReport};
use crate::replay::{ProgressSink, Replayer};
use crate::snapshotter::{AuditSink, Snapshotter};
use crate::storage::Storage;

/// Where batch timestamps come from. The ledger never reads a clock; the sequencer
/// does, here, so that tests can drive time.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        let us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        Timestamp::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
    })
}

#[derive(Clone)]
pub struct EngineOptions {
    /// Submissions waiting for the sequencer; one more is answered `Busy`.
    pub queue_submissions_max: usize,
    /// Commands in one submission.
    pub submission_commands_max: usize,
    /// Commands in one batch (one journal record).
    pub batch_commands_max: usize,
    /// Batches applied and waiting for the disk. Two keep the disk busy while the next
    /// batch forms; more only add latency.
    pub writer_queue_batches: usize,
    /// Records the writer may join into one durable write.
    pub write_records_max: usize,
    /// Ask the background snapshotter for a snapshot after this many commands since
    /// the last request.
    pub snapshot_every_commands: u64,
    pub snapshots_kept: usize,
    /// At start, replay (and so re-check) at least this many records at the end of
    /// the journal, even when a newer snapshot exists.
    pub verify_tail_records: u64,
    /// Told to a submitter whose submission found the queue full.
    pub busy_retry_after: Duration,
    /// With nothing to do, look this often for pending transfers that are due and
    /// expire them with an empty batch.
    pub idle_tick: Duration,
    pub clock: Clock,
    /// The rules money is decided by (this build's; a drill's changed ones in tests).
    pub rules: Rules,
    /// Told how a long start-up replay progresses.
    pub progress: Option<ProgressSink>,
}

impl std::fmt::Debug for EngineOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineOptions")
            .field("queue_submissions_max", &self.queue_submissions_max)
            .field("submission_commands_max", &self.submission_commands_max)
            .field("batch_commands_max", &self.batch_commands_max)
            .field("writer_queue_batches", &self.writer_queue_batches)
            .field("snapshot_every_commands", &self.snapshot_every_commands)
            .field("verify_tail_records", &self.verify_tail_records)
            .field("rules", &self.rules.id())
            .finish_non_exhaustive()
    }
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            queue_submissions_max: 16_384,
            submission_commands_max: 8_192,
            batch_commands_max: 16_384,
            writer_queue_batches: 2,
            write_records_max: 16,
            snapshot_every_commands: 5_000_000,
            snapshots_kept: 3,
            verify_tail_records: 64,
            busy_retry_after: Duration::from_millis(50),
            idle_tick: Duration::from_millis(500),
            clock: system_clock(),
            rules: Rules::this_build(),
            progress: None,
        }
    }
}

/// Whether the currency takes writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Running,
    /// The journal failed; the sequencer is rebuilding from disk. Writes are refused.
    Recovering {
        cause: String,
    },
    /// Rebuilding failed; writes stay refused until it succeeds (retried).
    Failed {
        cause: String,
    },
    /// Started halted and read-only: this build decides records that another build
    /// wrote differently (see [`Quarantine`]). Reads go on; an operator decides.
    ReadOnly {
        cause: String,
    },
    Stopped,
}

/// A histogram with fixed upper bounds, counted lock-free (for Prometheus).
#[derive(Debug)]
pub struct Buckets<const N: usize> {
    /// Inclusive upper bounds, increasing; a value above the last counts only in `count`.
    pub bounds: [u64; N],
    /// Values at or below each bound (not cumulative).
    pub counts: [AtomicU64; N],
    pub count: AtomicU64,
    pub sum: AtomicU64,
}

impl<const N: usize> Buckets<N> {
    pub fn new(bounds: [u64; N]) -> Self {
        Buckets {
            bounds,
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
        }
    }

    pub fn record(&self, v: u64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
    }

    /// Values recorded above `bound`, which should be one of the bounds (otherwise the
    /// bucket holding `bound` is left out). Values above the last bound count too.
    pub fn count_above(&self, bound: u64) -> u64 {
        // The total first: `record` adds to a bucket before the total, so a value
        // recorded meanwhile cannot make the buckets exceed the total read.
        let total = self.count.load(Ordering::Relaxed);
        let bucketed: u64 = self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        let beyond_last = total.saturating_sub(bucketed);
        let above: u64 = self
            .bounds
            .iter()
            .zip(&self.counts)
            .filter(|(b, _)| **b > bound)
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .sum();
        above + beyond_last
    }
}

/// Durable-write (commit) latency, microseconds.
pub type CommitLatency = Buckets<12>;
/// Commands per batch.
pub type BatchSizes = Buckets<10>;

impl Default for Buckets<12> {
    fn default() -> Self {
        Buckets::new([
            50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 1_000_000,
        ])
    }
}

impl Default for Buckets<10> {
    fn default() -> Self {
        Buckets::new([1, 2, 4, 8, 16, 32, 64, 128, 256, 1_024])
    }
}

/// Counters for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct Counters {
    /// Each durable write's latency.
    pub commit_latency: CommitLatency,
    /// Each batch's size.
    pub batch_sizes: BatchSizes,
    pub batches: AtomicU64,
    pub commands: AtomicU64,
    /// Time spent in durable writes (write + fdatasync), microseconds: with
    /// `durable_writes`, the mean commit latency.
    pub write_us: AtomicU64,
    pub records_durable: AtomicU64,
    pub durable_writes: AtomicU64,
    pub busy_rejections: AtomicU64,
    pub write_failures: AtomicU64,
    pub recoveries: AtomicU64,
    pub snapshots: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) currency: CurrencyCode,
    pub(crate) ledger: RwLock<Ledger>,
    pub(crate) health: Mutex<Health>,
    /// Why the engine takes nothing more, once sealed: a recovery after a failed
    /// write comes back to this, not to running.
    pub(crate) sealed: Mutex<Option<String>>,
    pub(crate) durable_seq: AtomicU64,
    pub(crate) last_durable_hash: Mutex<RecordHash>,
    pub(crate) counters: Arc<Counters>,
    /// Set when the background audit (see `snapshotter`) finds a divergence.
    pub(crate) audit: AuditSink,
    /// Every durable batch, for projections and live streams. Bounded: a subscriber
    /// that falls behind by more than `COMMITTED_BACKLOG` batches is told it lagged.
    pub(crate) committed: broadcast::Sender<Arc<CommittedBatch>>,
    /// Why the currency serves read-only, if it does.
    pub(crate) quarantine: Option<Quarantine>,
    /// A follower's answers from the writer, held until the follower has replayed the
    /// batch they were written in (so the asker then reads what it wrote).
    pub(crate) forwarded: Mutex<Vec<crate::follower::Held>>,
}

impl Shared {
    pub(crate) fn new(
        currency: CurrencyCode,
        ledger: Ledger,
        health: Health,
        last_seq: u64,
        last_hash: RecordHash,
        quarantine: Option<Quarantine>,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            currency,
            ledger: RwLock::new(ledger),
            health: Mutex::new(health),
            durable_seq: AtomicU64::new(last_seq),
            last_durable_hash: Mutex::new(last_hash),
            counters: Arc::new(Counters::default()),
            audit: AuditSink::default(),
            committed: broadcast::channel(COMMITTED_BACKLOG).0,
            quarantine,
            sealed: Mutex::new(None),
            forwarded: Mutex::new(Vec::new()),
        })
    }
}

/// Batches kept for subscribers that are behind.
pub const COMMITTED_BACKLOG: usize = 4_096;

/// A batch, once durable: what projections (history, live payment streams) follow.
#[derive(Debug)]
pub struct CommittedBatch {
    pub seq: u64,
    pub timestamp: Timestamp,
    pub commands: Vec<Envelope>,
    pub outcomes: Vec<Outcome>,
}

pub(crate) type Reply = oneshot::Sender<Result<Vec<Outcome>, CommitError>>;

struct Submission {
    commands: Vec<Envelope>,
    reply: Reply,
}

/// A batch applied and encoded, on its way to the disk.
///
/// The writer encodes it: encoding is much of the per-command work outside the ledger,
/// and the writer thread is otherwise idle while the disk syncs, so the sequencer's
/// core is left to `apply`.
struct WriteJob {
    seq: u64,
    timestamp: Timestamp,
    state_hash: StateHash,
    commands: Vec<Envelope>,
    outcomes: Vec<Outcome>,
    /// Each submitter and how many of the outcomes, in order, are theirs.
    replies: Vec<(Reply, usize)>,
}

/// The answer to a submission, once its batch is durable.
#[derive(Debug)]
pub struct Ticket(pub(crate) oneshot::Receiver<Result<Vec<Outcome>, CommitError>>);

impl Ticket {
    /// The answer if it has come, without waiting.
    pub fn try_take(&mut self) -> Option<Result<Vec<Outcome>, CommitError>> {
        self.0.try_recv().ok()
    }

    /// Waits on this thread (not from inside an async runtime).
    pub fn wait(self) -> Result<Vec<Outcome>, CommitError> {
        self.0.blocking_recv().unwrap_or(Err(CommitError::Stopped))
    }

    pub async fn outcome(self) -> Result<Vec<Outcome>, CommitError> {
        self.0.await.unwrap_or(Err(CommitError::Stopped))
    }
}

/// A running currency.
#[derive(Debug)]
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
    /// Set while this engine writes: from the start, or once a follower is promoted
    /// (until it is demoted).
    submissions: RwLock<Option<Sender<Submission>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// A follower's: replays what the writer journals (see `follower`).
    pub(crate) follower: Mutex<Option<crate::follower::Following>>,
    /// A follower sends what it is asked to write to the writer through this.
    pub(crate) forward: RwLock<Option<Arc<dyn crate::follower::Forward>>>,
    options_summary: (usize, Duration),
}

impl Engine {
    /// Creates a new currency: writes its genesis record, then starts.
    pub fn create(
        storage: Arc<dyn Storage>,
        currency: CurrencyCode,
        config: LedgerConfig,
        options: EngineOptions,
    ) -> Result<Engine, EngineError> {
        if !config.is_valid() {
            return Err(EngineError::InvalidConfig(
                "the spend order must name every source once".into(),
            ));
        }
        let mut opened = storage.open_writer(None)?;
        if opened.last_seq != 0 {
            return Err(EngineError::AlreadyExists(storage.describe()));
        }
        let mut payload = Vec::new();
        record::encode_genesis(&mut payload, &currency, &config);
        let timestamp = (options.clock)();
        let receipt = opened.store.append_durable(&[NewRecord {
            seq: 1,
            timestamp_us: timestamp.as_micros(),
            payload: &payload,
        }])?;
        let mut ledger = Ledger::new(config);
        ledger.adopt_rules(&options.rules);
        let mut recovered = Recovered {
            currency,
            ledger,
            store: opened.store,
            last_seq: receipt.last_seq,
            last_hash: receipt.last_hash,
            last_writer: None,
            verified_from: 0,
            report: StartReport::default(),
        };
        write_rules_marker(&mut recovered, &options)?;
        Ok(Engine::start(storage, recovered, options))
    }

    /// Opens an existing currency: cuts a torn tail, loads a snapshot, replays and
    /// re-checks the journal after it (at least `verify_tail_records` records), and
    /// refuses to start if this version decides any of them differently.
    ///
    /// A build whose rules did not write the last records re-decides every record after
    /// its own last snapshot (the whole journal if it has none) and writes a marker
    /// naming its rules before its first batch. If it decides records of another build
    /// differently it refuses, unless it was on the journal before them: then the
    /// currency starts halted and read-only ([`Health::ReadOnly`], [`Engine::quarantine`]).
    pub fn open(
        storage: Arc<dyn Storage>,
        options: EngineOptions,
    ) -> Result<(Engine, StartReport), EngineError> {
        let mut recovered = recovery::recover(
            storage.as_ref(),
            &RecoverOptions {
                verify_tail_records: options.verify_tail_records,
                trusted_through: None,
                rules: &options.rules,
                progress: options.progress.as_ref(),
            },
        )?;
        if recovered.report.quarantine.is_none() && recovered.report.taken_over_from.is_some() {
            write_rules_marker(&mut recovered, &options)?;
        }
        let report = recovered.report.clone();
        Ok((Engine::start(storage, recovered, options), report))
    }

    /// Starts serving a state a [`Replayer`] built and checked from this storage's own
    /// journal, every record of it (a follower taking over at an operator change),
    /// with that journal still open for appending (`store`, from this storage): like
    /// [`Engine::open`] without scanning the journal, loading a snapshot or replaying
    /// again. The journal must end at the replayer's last record. `verified_from` is
    /// the record the replayer started after (0: genesis).
    pub fn open_replayed(
        storage: Arc<dyn Storage>,
        store: Box<dyn JournalStore>,
        replayer: Replayer,
        verified_from: u64,
        options: EngineOptions,
    ) -> Result<(Engine, StartReport), EngineError> {
        let mut recovered = recovery::adopt(store, replayer, verified_from, &options.rules)?;
        if recovered.report.taken_over_from.is_some() {
            write_rules_marker(&mut recovered, &options)?;
        }
        let report = recovered.report.clone();
        Ok((Engine::start(storage, recovered, options), report))
    }

    fn start(storage: Arc<dyn Storage>, recovered: Recovered, options: EngineOptions) -> Engine {
        let Recovered {
            currency,
            ledger,
            store,
            last_seq,
            last_hash,
            report,
            ..
        } = recovered;
        let quarantine = report.quarantine;
        let health = match &quarantine {
            Some(q) => Health::ReadOnly { cause: q.summary() },
            None => Health::Running,
        };
        let shared = Shared::new(currency, ledger, health, last_seq, last_hash, quarantine);
        let engine = Engine::with_shared(shared, &options, None);
        if engine.shared.quarantine.is_some() {
            // Read-only: no sequencer, no writer, no snapshots; nothing is written to
            // the journal until an operator has decided.
            drop(store);
            return engine;
        }
        engine.start_sequencer(storage, store, last_seq, options);
        engine
    }

    pub(crate) fn with_shared(
        shared: Arc<Shared>,
        options: &EngineOptions,
        forward: Option<Arc<dyn crate::follower::Forward>>,
    ) -> Engine {
        Engine {
            shared,
            submissions: RwLock::new(None),
            thread: Mutex::new(None),
            follower: Mutex::new(None),
            forward: RwLock::new(forward),
            options_summary: (options.submission_commands_max, options.busy_retry_after),
        }
    }

    /// Starts writing: the sequencer takes submissions from here on.
    pub(crate) fn start_sequencer(
        &self,
        storage: Arc<dyn Storage>,
        store: Box<dyn JournalStore>,
        last_seq: u64,
        options: EngineOptions,
    ) {
        let currency = self.shared.currency.clone();
        let (tx, rx) = bounded(options.queue_submissions_max.max(1));
        let thread_shared = Arc::clone(&self.shared);
        let thread = std::thread::Builder::new()
            .name(format!("seq-{currency}"))
            .spawn(move || {
                let mut sequencer = Sequencer::new(thread_shared, storage, options, rx);
                sequencer.run(store, last_seq);
            });
        match thread {
            Ok(t) => *self.thread.lock() = Some(t),
            Err(e) => {
                *self.shared.health.lock() = Health::Failed {
                    cause: format!("cannot start the sequencer thread: {e}"),
                };
                return;
            }
        }
        *self.submissions.write() = Some(tx);
    }

    pub fn currency(&self) -> &CurrencyCode {
        &self.shared.currency
    }

    /// Queues commands; they are applied in order, in one batch. Never blocks: a full
    /// queue is `Busy` with a hint of when to retry.
    pub fn submit(&self, commands: Vec<Envelope>) -> Result<Ticket, SubmitError> {
        let (max, retry_after) = self.options_summary;
        if commands.len() > max {
            return Err(SubmitError::TooLarge { max });
        }
        // The ledger refuses a longer group anyway; refusing it here also keeps one
        // submission from growing a journal record without bound.
        let linked_max = usize::from(ledger::LINKED_TRANSFERS_MAX);
        if commands.iter().any(|e| match &e.command {
            Command::Linked(ts) | Command::Migrated { transfers: ts, .. } => ts.len() > linked_max,
            _ => false,
        }) {
            return Err(SubmitError::LinkedTooLong { max: linked_max });
        }
        // Held while queueing, so that `submit_last` has nothing queued after it.
        let health = self.shared.health.lock();
        refusal(&health).map_or(Ok(()), Err)?;
        let submissions = self.submissions.read();
        if let Some(tx) = submissions.as_ref() {
            return self.enqueue(tx, commands, retry_after);
        }
        drop(submissions);
        // A follower: the writer is another node.
        match self.forward.read().as_ref() {
            Some(forward) => Ok(crate::follower::forward(
                &self.shared,
                forward.as_ref(),
                commands,
            )),
            None => Err(SubmitError::Stopped),
        }
    }

    /// Queues `commands` as the last this engine ever takes (an operator change: the
    /// halt that hands the currency over): nothing submitted after them is queued, and
    /// from then on the currency is read-only with `cause`. Their batch is the last
    /// record written.
    pub fn submit_last(&self, commands: Vec<Envelope>, cause: &str) -> Result<Ticket, SubmitError> {
        let (max, retry_after) = self.options_summary;
        if commands.len() > max {
            return Err(SubmitError::TooLarge { max });
        }
        let mut health = self.shared.health.lock();
        refusal(&health).map_or(Ok(()), Err)?;
        let submissions = self.submissions.read();
        let Some(tx) = submissions.as_ref() else {
            return Err(SubmitError::Stopped);
        };
        let ticket = self.enqueue(tx, commands, retry_after)?;
        *health = Health::ReadOnly {
            cause: cause.to_owned(),
        };
        *self.shared.sealed.lock() = Some(cause.to_owned());
        Ok(ticket)
    }

    /// Takes no more commands, for good (a currency that moved to another operator,
    /// found so at start): read-only with `cause`; reads go on.
    pub fn seal(&self, cause: &str) {
        let mut health = self.shared.health.lock();
        *health = Health::ReadOnly {
            cause: cause.to_owned(),
        };
        *self.shared.sealed.lock() = Some(cause.to_owned());
    }

    fn enqueue(
        &self,
        tx: &Sender<Submission>,
        commands: Vec<Envelope>,
        retry_after: Duration,
    ) -> Result<Ticket, SubmitError> {
        let (reply, rx) = oneshot::channel();
        match tx.try_send(Submission { commands, reply }) {
            Ok(()) => Ok(Ticket(rx)),
            Err(TrySendError::Full(_)) => {
                self.shared
                    .counters
                    .busy_rejections
                    .fetch_add(1, Ordering::Relaxed);
                Err(SubmitError::Busy { retry_after })
            }
            Err(TrySendError::Disconnected(_)) => Err(SubmitError::Stopped),
        }
    }

    /// Submits and waits on this thread.
    pub fn execute(&self, commands: Vec<Envelope>) -> Result<Vec<Outcome>, EngineError> {
        Ok(self.submit(commands)?.wait()?)
    }

    /// Follows every batch from now on, once durable (in journal order).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CommittedBatch>> {
        self.shared.committed.subscribe()
    }

    /// Reads the ledger. Reads go on while writes are halted or the journal recovers.
    /// They see every applied batch, which may include one whose durable write is still
    /// in flight (its submitters have not been answered yet).
    pub fn read<R>(&self, f: impl FnOnce(&Ledger) -> R) -> R {
        f(&self.shared.ledger.read())
    }

    pub fn state_hash(&self) -> StateHash {
        self.shared.ledger.read().state_hash()
    }

    pub fn health(&self) -> Health {
        self.shared.health.lock().clone()
    }

    /// The last journal record known durable.
    pub fn durable_seq(&self) -> u64 {
        self.shared.durable_seq.load(Ordering::Acquire)
    }

    /// The journal's head: the last durable record and its chain hash, read together
    /// (what an auditor compares with a copy of the journal).
    pub fn durable_head(&self) -> (u64, RecordHash) {
        let head = self.shared.last_durable_hash.lock();
        (self.shared.durable_seq.load(Ordering::Acquire), *head)
    }

    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// What the background audit found wrong, if anything: a journal record this
    /// version decides differently, or one damaged after it was written.
    pub fn audit_failure(&self) -> Option<String> {
        self.shared.audit.lock().clone()
    }

    /// Why the currency serves read-only, if it does: the records another build wrote
    /// that this build decides differently.
    pub fn quarantine(&self) -> Option<&Quarantine> {
        self.shared.quarantine.as_ref()
    }

    /// Submissions waiting for the sequencer.
    pub fn queue_depth(&self) -> usize {
        self.submissions.read().as_ref().map_or(0, Sender::len)
    }

    /// Takes no more submissions, lets the sequencer finish (and answer) every batch
    /// already queued, and waits for it to stop.
    pub(crate) fn stop_sequencer(&self) {
        drop(self.submissions.write().take());
        let thread = self.thread.lock().take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    /// Whether this engine writes its currency's journal (a follower forwards what it
    /// is asked to write, until it is promoted).
    pub fn writes_here(&self) -> bool {
        self.submissions.read().is_some()
    }

    /// Stops taking submissions, finishes every batch already queued (each answered
    /// once durable), writes a snapshot, and stops.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.stop_sequencer();
        crate::follower::stop(self);
        let mut health = self.shared.health.lock();
        if !matches!(*health, Health::ReadOnly { .. }) {
            *health = Health::Stopped;
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Why a submission is refused in this health, if it is.
fn refusal(health: &Health) -> Option<SubmitError> {
    match health {
        Health::Running => None,
        Health::Recovering { cause } | Health::Failed { cause } => Some(SubmitError::Unavailable {
            cause: cause.clone(),
        }),
        Health::ReadOnly { cause } => Some(SubmitError::ReadOnly {
            cause: cause.clone(),
        }),
        Health::Stopped => Some(SubmitError::Stopped),
    }
}

struct Sequencer {
    shared: Arc<Shared>,
    storage: Arc<dyn Storage>,
    options: EngineOptions,
    submissions: Receiver<Submission>,
    /// A submission that did not fit in the last batch.
    carry: Option<Submission>,
    next_seq: u64,
    commands_since_snapshot: u64,
    /// Whether this run applied anything (else a stop need not snapshot).
    applied_any: bool,
    /// Another node took the currency's writer lease: nothing more is written here.
    deposed: bool,
}

struct Writer {
    jobs: Option<Sender<WriteJob>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    fn start(shared: Arc<Shared>, store: Box<dyn JournalStore>, options: &EngineOptions) -> Writer {
        let (tx, rx) = bounded::<WriteJob>(options.writer_queue_batches.max(1));
        let max = options.write_records_max.max(1);
        let thread = std::thread::Builder::new()
            .name(format!("wal-{}", shared.currency))
            .spawn(move || write_loop(&shared, store, &rx, max));
        match thread {
            Ok(t) => Writer {
                jobs: Some(tx),
                thread: Some(t),
            },
            // Without a writer every job is answered "not durable" when the channel
            // closes; the sequencer sees the failed health and recovers.
            Err(_) => Writer {
                jobs: None,
                thread: None,
            },
        }
    }

    /// Waits until everything handed over is durable (or failed), and stops the thread.
    fn finish(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Sequencer {
    fn new(
        shared: Arc<Shared>,
        storage: Arc<dyn Storage>,
        options: EngineOptions,
        submissions: Receiver<Submission>,
    ) -> Sequencer {
        Sequencer {
            shared,
            storage,
            options,
            submissions,
            carry: None,
            next_seq: 0,
            commands_since_snapshot: 0,
            applied_any: false,
            deposed: false,
        }
    }

    fn run(&mut self, store: Box<dyn JournalStore>, last_seq: u64) {
        let mut snapshotter = Snapshotter::start(
            Arc::clone(&self.storage),
            self.shared.currency.to_string(),
            self.options.snapshots_kept,
            self.options.rules.clone(),
            Arc::clone(&self.shared.counters),
            Arc::clone(&self.shared.audit),
        );
        self.next_seq = last_seq + 1;
        let mut writer = Writer::start(Arc::clone(&self.shared), store, &self.options);
        loop {
            // Read-only here means sealed (`submit_last`, `seal`): what was queued before
            // is still applied and written; nothing new comes in.
            let healthy = matches!(
                *self.shared.health.lock(),
                Health::Running | Health::ReadOnly { .. }
            );
            if !healthy && self.deposed {
                // Refuses what comes in until the engine is dropped.
                if self.refuse_waiting() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            if !healthy {
                writer.finish();
                match self.rebuild() {
                    Some(w) => writer = w,
                    None => {
                        // Answer what waits, then try again shortly, unless the engine
                        // is being stopped: then there is nothing left to serve.
                        if self.refuse_waiting() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(200));
                        continue;
                    }
                }
            }
            let batch = match self.collect() {
                Collected::Batch(b) => b,
                Collected::Idle => {
                    if self.pendings_due() {
                        Vec::new()
                    } else {
                        continue;
                    }
                }
                Collected::Closed => break,
            };
            self.apply_and_hand_over(batch, &writer);
            if self.commands_since_snapshot >= self.options.snapshot_every_commands {
                // Always `verify_tail_records` behind the durable end: the copy never
                // runs ahead of where the next start must begin re-checking.
                let durable = self.shared.durable_seq.load(Ordering::Acquire);
                snapshotter.request(durable.saturating_sub(self.options.verify_tail_records));
                self.commands_since_snapshot = 0;
            }
        }
        writer.finish();
        // A clean stop leaves a snapshot `verify_tail_records` behind the end, so that
        // the next start loads it and re-checks just that tail.
        if self.applied_any
            && matches!(
                *self.shared.health.lock(),
                Health::Running | Health::ReadOnly { .. }
            )
        {
            let durable = self.shared.durable_seq.load(Ordering::Acquire);
            snapshotter.request_and_wait(durable.saturating_sub(self.options.verify_tail_records));
        }
        snapshotter.stop();
    }

    /// Takes over a recovered state: the ledger, the journal's end, a writer.
    fn install(&mut self, recovered: Recovered) -> Writer {
        *self.shared.ledger.write() = recovered.ledger;
        let mut head = self.shared.last_durable_hash.lock();
        *head = recovered.last_hash;
        self.shared
            .durable_seq
            .store(recovered.last_seq, Ordering::Release);
        drop(head);
        self.next_seq = recovered.last_seq + 1;
        Writer::start(Arc::clone(&self.shared), recovered.store, &self.options)
    }

    fn fail(&self, cause: String) {
        tracing::error!(currency = %self.shared.currency, "{cause}");
        *self.shared.health.lock() = Health::Recovering { cause };
    }

    /// After a failed write: rebuild everything from the disk.
    fn rebuild(&mut self) -> Option<Writer> {
        let _ = self.refuse_waiting();
        self.shared
            .counters
            .recoveries
            .fetch_add(1, Ordering::Relaxed);
        // Only what was acknowledged is trusted: records of the failed write group may
        // be in the page cache without being on disk, so they are cut, and their
        // commands (answered "not durable") are applied afresh when retried.
        let acknowledged = self.shared.durable_seq.load(Ordering::Acquire);
        let recovered = recovery::recover(
            self.storage.as_ref(),
            &RecoverOptions {
                verify_tail_records: self.options.verify_tail_records,
                trusted_through: Some(acknowledged),
                rules: &self.options.rules,
                progress: None,
            },
        )
        .and_then(|r| match &r.report.quarantine {
            // This build wrote what it reads back: a difference now is not another
            // build's, and nothing may be served.
            Some(q) => Err(EngineError::Inconsistent(q.summary())),
            None => Ok(r),
        });
        match recovered {
            Ok(recovered) => {
                tracing::warn!(
                    currency = %self.shared.currency,
                    last_seq = recovered.last_seq,
                    "rebuilt the ledger from disk after a journal failure"
                );
                let writer = self.install(recovered);
                self.commands_since_snapshot = 0;
                *self.shared.health.lock() = match self.shared.sealed.lock().clone() {
                    Some(cause) => Health::ReadOnly { cause },
                    None => Health::Running,
                };
                Some(writer)
            }
            Err(EngineError::Journal(e @ JournalError::Fenced { .. })) => {
                // Another node writes the currency now: trying again cannot help.
                let cause = format!("this node no longer writes the currency: {e}");
                tracing::error!(currency = %self.shared.currency, "{cause}");
                *self.shared.health.lock() = Health::Failed { cause };
                self.deposed = true;
                None
            }
            Err(e) => {
                let cause = format!("recovery from disk failed: {e}");
                tracing::error!(currency = %self.shared.currency, "{cause}");
                *self.shared.health.lock() = Health::Failed { cause };
                None
            }
        }
    }

    /// Answers every queued submission: writes are not being taken.
    /// Returns true once the engine has been dropped (no more submissions can come).
    fn refuse_waiting(&mut self) -> bool {
        let cause = match &*self.shared.health.lock() {
            Health::Recovering { cause } | Health::Failed { cause } => cause.clone(),
            _ => "the currency is recovering".into(),
        };
        let refuse = |s: Submission| {
            let _ = s.reply.send(Err(CommitError::NotApplied {
                cause: cause.clone(),
            }));
        };
        if let Some(s) = self.carry.take() {
            refuse(s);
        }
        loop {
            match self.submissions.try_recv() {
                Ok(s) => refuse(s),
                Err(crossbeam_channel::TryRecvError::Empty) => return false,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return true,
            }
        }
    }

    fn collect(&mut self) -> Collected {
        let first = match self.carry.take() {
            Some(s) => s,
            None => match self.submissions.recv_timeout(self.options.idle_tick) {
                Ok(s) => s,
                Err(RecvTimeoutError::Timeout) => return Collected::Idle,
                Err(RecvTimeoutError::Disconnected) => return Collected::Closed,
            },
        };
        let max = self.options.batch_commands_max;
        let mut commands = first.commands.len();
        let mut batch = vec![first];
        // Whatever has arrived, without waiting for more.
        while commands < max {
            let Ok(next) = self.submissions.try_recv() else {
                break;
            };
            if commands + next.commands.len() > max {
                self.carry = Some(next);
                break;
            }
            commands += next.commands.len();
            batch.push(next);
        }
        Collected::Batch(batch)
    }

    /// Pending transfers are due and the currency takes writes (a halted ledger expires
    /// nothing, so an empty batch would only write an empty record every tick).
    fn pendings_due(&self) -> bool {
        let now = (self.options.clock)();
        let ledger = self.shared.ledger.read();
        ledger.halted().is_none() && ledger.next_pending_deadline().is_some_and(|d| d <= now)
    }

    fn apply_and_hand_over(&mut self, batch: Vec<Submission>, writer: &Writer) {
        let mut commands = Vec::with_capacity(batch.iter().map(|s| s.commands.len()).sum());
        let mut replies = Vec::with_capacity(batch.len());
        for s in batch {
            replies.push((s.reply, s.commands.len()));
            commands.extend(s.commands);
        }
        let mut outcomes = Vec::with_capacity(commands.len());
        let now = (self.options.clock)();
        let (timestamp, state_hash) = {
            let mut ledger = self.shared.ledger.write();
            let report = ledger.apply_into(&commands, now, &mut outcomes);
            if let Some(v) = &report.violation {
                tracing::error!(
                    currency = %self.shared.currency,
                    "ledger invariant violated; batch rolled back and writes halted: {v}"
                );
            }
            (report.timestamp, ledger.state_hash())
        };
        let count = commands.len() as u64;
        let job = WriteJob {
            seq: self.next_seq,
            timestamp,
            state_hash,
            commands,
            outcomes,
            replies,
        };
        self.next_seq += 1;
        self.commands_since_snapshot += count;
        self.applied_any = true;
        self.shared.counters.batches.fetch_add(1, Ordering::Relaxed);
        self.shared.counters.batch_sizes.record(count);
        self.shared
            .counters
            .commands
            .fetch_add(count, Ordering::Relaxed);
        let failed = match &writer.jobs {
            Some(jobs) => jobs.send(job).err().map(|e| e.into_inner()),
            None => Some(job),
        };
        if let Some(job) = failed {
            answer_not_durable(job, "the journal writer has stopped");
            if matches!(
                *self.shared.health.lock(),
                Health::Running | Health::ReadOnly { .. }
            ) {
                self.fail("the journal writer has stopped".into());
            }
        }
    }
}

/// Appends the record that says these rules write from here on (after a new genesis,
/// or when this build takes over a journal other rules wrote).
pub(crate) fn write_rules_marker(
    r: &mut Recovered,
    options: &EngineOptions,
) -> Result<(), EngineError> {
    let mut payload = Vec::new();
    let rules = &options.rules;
    record::encode_rules(
        &mut payload,
        &RulesRecord {
            rules: rules.id(),
            build: rules.describe(),
            verified_from: r.verified_from,
            verified_through: r.last_seq,
        },
    );
    let receipt = r.store.append_durable(&[NewRecord {
        seq: r.last_seq + 1,
        timestamp_us: (options.clock)().as_micros(),
        payload: &payload,
    }])?;
    tracing::info!(
        currency = %r.currency,
        seq = receipt.last_seq,
        rules = %rules.id(),
        from = ?r.report.taken_over_from,
        "this build's rules write this journal from here on"
    );
    r.last_seq = receipt.last_seq;
    r.last_hash = receipt.last_hash;
    r.report.last_seq = receipt.last_seq;
    r.last_writer = Some(crate::replay::Writer {
        rules: rules.id(),
        build: rules.describe(),
    });
    Ok(())
}

enum Collected {
    Batch(Vec<Submission>),
    Idle,
    Closed,
}

fn answer_not_durable(job: WriteJob, cause: &str) {
    for (reply, _) in job.replies {
        let _ = reply.send(Err(CommitError::NotDurable {
            cause: cause.to_owned(),
        }));
    }
}

/// The writer thread: appends whatever has been handed over with one durable write,
/// then answers. After a failure it answers everything "not durable" and stops.
fn write_loop(
    shared: &Shared,
    mut store: Box<dyn JournalStore>,
    jobs: &Receiver<WriteJob>,
    max: usize,
) {
    let mut group: Vec<WriteJob> = Vec::with_capacity(max);
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    while let Ok(first) = jobs.recv() {
        group.push(first);
        while group.len() < max {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if payloads.len() < group.len() {
            payloads.resize_with(group.len(), Vec::new);
        }
        for (job, payload) in group.iter().zip(payloads.iter_mut()) {
            payload.clear();
            record::encode_batch(
                payload,
                job.timestamp,
                job.state_hash,
                &job.commands,
                &job.outcomes,
            );
        }
        let records: Vec<NewRecord<'_>> = group
            .iter()
            .zip(&payloads)
            .map(|(j, payload)| NewRecord {
                seq: j.seq,
                timestamp_us: j.timestamp.as_micros(),
                payload,
            })
            .collect();
        let write_started = std::time::Instant::now();
        match store.append_durable(&records) {
            Ok(receipt) => {
                let took_us = write_started.elapsed().as_micros() as u64;
                shared
                    .counters
                    .write_us
                    .fetch_add(took_us, Ordering::Relaxed);
                shared.counters.commit_latency.record(took_us);
                drop(records);
                // Both under the hash's lock, so `durable_head` reads a matching pair.
                let mut head = shared.last_durable_hash.lock();
                *head = receipt.last_hash;
                shared
                    .durable_seq
                    .store(receipt.last_seq, Ordering::Release);
                drop(head);
                shared
                    .counters
                    .durable_writes
                    .fetch_add(1, Ordering::Relaxed);
                shared
                    .counters
                    .records_durable
                    .fetch_add(group.len() as u64, Ordering::Relaxed);
                for job in group.drain(..) {
                    if shared.committed.receiver_count() == 0 {
                        let mut outcomes = job.outcomes.into_iter();
                        for (reply, n) in job.replies {
                            let _ = reply.send(Ok(outcomes.by_ref().take(n).collect()));
                        }
                        continue;
                    }
                    // Someone follows the stream: it gets the batch, the submitters
                    // their slices of it (no extra copy of the whole batch).
                    let batch = Arc::new(CommittedBatch {
                        seq: job.seq,
                        timestamp: job.timestamp,
                        commands: job.commands,
                        outcomes: job.outcomes,
                    });
                    let _ = shared.committed.send(Arc::clone(&batch));
                    let mut from = 0;
                    for (reply, n) in job.replies {
                        let to = (from + n).min(batch.outcomes.len());
                        let _ = reply.send(Ok(batch.outcomes[from..to].to_vec()));
                        from = to;
                    }
                }
            }
            Err(e) => {
                drop(records);
                let cause = format!("journal write failed: {e}");
                tracing::error!(currency = %shared.currency, "{cause}; stopping writes and recovering from disk");
                shared
                    .counters
                    .write_failures
                    .fetch_add(1, Ordering::Relaxed);
                *shared.health.lock() = Health::Recovering {
                    cause: cause.clone(),
                };
                for job in group.drain(..) {
                    answer_not_durable(job, &cause);
                }
                while let Ok(job) = jobs.recv() {
                    answer_not_durable(job, &cause);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_above_takes_the_buckets_past_a_bound_and_values_past_the_last() {
        let b = Buckets::new([10, 100, 1_000]);
        for v in [5, 10, 11, 100, 101, 1_000, 1_001, 50_000] {
            b.record(v);
        }
        assert_eq!(b.count_above(10), 6);
        assert_eq!(b.count_above(100), 4);
        assert_eq!(b.count_above(1_000), 2);
        assert_eq!(b.count_above(0), 8);
    }
}
