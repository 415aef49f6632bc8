//! A follower: a currency replayed, record by record and checked like `verify`, from
//! the journal another node writes. It serves reads from that state, tells its
//! subscribers (history, live payment streams) of every batch as the writer does, and
//! sends what it is asked to write to the writer ([`Forward`]). When its node takes the
//! writer lease, [`Engine::promote`] turns it into the writer in place: the state it
//! holds is the journal's, so nothing is loaded again.
//!
//! A forwarded write is answered once this follower has replayed the record it was
//! written in (or after [`HOLD_AT_MOST`]), so whoever wrote through this node reads
//! what they wrote from it.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use journal::Record;
use ledger::codec::{self, DecodeError, Put, Reader};
use ledger::{Envelope, Ledger, LedgerConfig, Outcome};
use tokio::sync::oneshot;

use crate::currency::CurrencyCode;
use crate::error::{CommitError, EngineError};
use crate::recovery::{Recovered, StartReport, TakenOver};
use crate::replay::Replayer;
use crate::sequencer::{
    CommittedBatch, Engine, EngineOptions, Health, Reply, Shared, Ticket, write_rules_marker,
};
use crate::storage::Storage;

/// How long a writer's answer waits for this follower to replay its record: past
/// that it is given anyway (it is true; only this node's reads lag behind it).
pub const HOLD_AT_MOST: Duration = Duration::from_secs(2);

/// Records read and applied under one hold of the ledger's write lock.
const RECORDS_PER_STEP: usize = 1_024;

/// How long a follower waits for word from the writer before looking anyway.
const LOOK_EVERY: Duration = Duration::from_millis(250);
/// How long a follower waits at a time (how soon it sees that it is to stop).
const WAIT_SLICE: Duration = Duration::from_millis(20);

/// Sends a follower's writes to its currency's writer (another node).
pub trait Forward: Send + Sync + fmt::Debug {
    /// Sends `commands` to the writer and answers through `reply`, at once or later,
    /// from any thread. Must not block. Dropping `reply` unanswered answers
    /// [`CommitError::NotDurable`] (the commands may have reached the writer).
    fn forward(&self, currency: &CurrencyCode, commands: Vec<Envelope>, reply: ForwardReply);
}

/// Word that the writer wrote more.
pub trait News: Send + fmt::Debug {
    /// Waits until the writer may have written more (true), or `timeout` (false).
    fn wait(&mut self, timeout: Duration) -> bool;
}

/// Where a forwarded write's answer goes.
#[derive(Debug)]
pub struct ForwardReply {
    /// Taken when answered.
    reply: Option<Reply>,
    shared: Arc<Shared>,
}

impl Drop for ForwardReply {
    /// Dropped unanswered (the forwarder stopped mid-way): the commands may have
    /// reached the writer, so the answer is "unknown", never "not applied".
    fn drop(&mut self) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(Err(CommitError::NotDurable {
                cause: "the write was on its way to the writer when this node stopped".into(),
            }));
        }
    }
}

impl ForwardReply {
    /// The writer's answer: the outcomes and the last record durable when it gave
    /// them (their batch's or later).
    pub fn answer(mut self, answer: Result<(u64, Vec<Outcome>), CommitError>) {
        let Some(reply) = self.reply.take() else {
            return;
        };
        match answer {
            Err(e) => {
                let _ = reply.send(Err(e));
            }
            Ok((seq, outcomes)) => {
                if self.shared.durable_seq.load(Ordering::Acquire) >= seq {
                    let _ = reply.send(Ok(outcomes));
                    return;
                }
                self.shared.forwarded.lock().push(Held {
                    seq,
                    since: Instant::now(),
                    reply,
                    outcomes,
                });
                // The follower may have replayed the record in between.
                deliver_ready(&self.shared, false);
            }
        }
    }
}

/// An answer from the writer, waiting for the follower to reach its record.
#[derive(Debug)]
pub(crate) struct Held {
    seq: u64,
    since: Instant,
    reply: Reply,
    outcomes: Vec<Outcome>,
}

/// Gives the held answers whose record is replayed (or that waited long enough; with
/// `all`, every one).
pub(crate) fn deliver_ready(shared: &Shared, all: bool) {
    let applied = shared.durable_seq.load(Ordering::Acquire);
    let ready: Vec<Held> = {
        let mut held = shared.forwarded.lock();
        if held.is_empty() {
            return;
        }
        let (ready, waiting) = std::mem::take(&mut *held)
            .into_iter()
            .partition(|h| all || h.seq <= applied || h.since.elapsed() >= HOLD_AT_MOST);
        *held = waiting;
        ready
    };
    for h in ready {
        let _ = h.reply.send(Ok(h.outcomes));
    }
}

pub(crate) fn forward(shared: &Arc<Shared>, to: &dyn Forward, commands: Vec<Envelope>) -> Ticket {
    let (reply, rx) = oneshot::channel();
    to.forward(
        &shared.currency,
        commands,
        ForwardReply {
            reply: Some(reply),
            shared: Arc::clone(shared),
        },
    );
    Ticket(rx)
}

/// What a follower thread works with, handed back when it stops.
#[derive(Debug)]
struct Follow {
    replayer: Replayer,
    reader: Arc<dyn Storage>,
    news: Box<dyn News>,
    /// The record the replay started after (a snapshot's, or 0).
    verified_from: u64,
}

/// A running follower thread.
#[derive(Debug)]
pub(crate) struct Following {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Follow>,
}

impl Following {
    fn start(shared: Arc<Shared>, follow: Follow) -> Result<Following, EngineError> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("follow-{}", shared.currency))
            .spawn(move || run(&shared, &thread_stop, follow))
            .map_err(|e| EngineError::Inconsistent(format!("cannot start a follower: {e}")))?;
        Ok(Following { stop, thread })
    }

    fn stop(self) -> Option<Follow> {
        self.stop.store(true, Ordering::Release);
        self.thread.join().ok()
    }
}

/// Stops an engine's follower, if it has one (the engine stops).
pub(crate) fn stop(engine: &mut Engine) {
    if let Some(following) = engine.follower.get_mut().take() {
        following.stop();
    }
    deliver_ready(&engine.shared, true);
}

fn run(shared: &Shared, stop: &AtomicBool, mut f: Follow) -> Follow {
    let mut warned: Option<Instant> = None;
    while !stop.load(Ordering::Acquire) {
        // In short waits, so that a promotion does not wait out a long one.
        let waiting = Instant::now();
        while !stop.load(Ordering::Acquire)
            && waiting.elapsed() < LOOK_EVERY
            && !f.news.wait(WAIT_SLICE)
        {}
        if stop.load(Ordering::Acquire) {
            break;
        }
        if !matches!(*shared.health.lock(), Health::Running) {
            // Diverged: this build must not go on with the journal; reads keep the
            // state reached, an operator decides. The writer's answers are true:
            // given at once.
            deliver_ready(shared, true);
            continue;
        }
        loop {
            match step(shared, &mut f) {
                Ok(0) => break,
                Ok(_) => deliver_ready(shared, false),
                Err(Step::Read(e)) => {
                    if warned.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        tracing::warn!(currency = %shared.currency, "following the journal failed, trying again: {e}");
                        warned = Some(Instant::now());
                    }
                    break;
                }
                Err(Step::Diverged(cause)) => {
                    tracing::error!(currency = %shared.currency, "a follower stops: {cause}");
                    *shared.health.lock() = Health::Failed { cause };
                    break;
                }
            }
        }
        deliver_ready(shared, false);
    }
    f
}

enum Step {
    Read(String),
    Diverged(String),
}

/// Reads and applies up to [`RECORDS_PER_STEP`] records; answers how many.
fn step(shared: &Shared, f: &mut Follow) -> Result<usize, Step> {
    let mut records: Vec<Record> = Vec::new();
    f.reader
        .read_records(
            f.replayer.last_seq() + 1,
            Some(f.replayer.last_hash()),
            &mut |rec| {
                records.push(rec);
                if records.len() >= RECORDS_PER_STEP {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .map_err(|e| Step::Read(e.to_string()))?;
    if records.is_empty() {
        return Ok(0);
    }
    let mut batches = Vec::new();
    let mut diverged = None;
    {
        let mut ledger = shared.ledger.write();
        let Some(held) = f.replayer.ledger_mut() else {
            return Err(Step::Diverged("the follower's state has no genesis".into()));
        };
        // The replayer works on the shared state, in place: swapping is a move.
        std::mem::swap(&mut *ledger, held);
        for rec in &records {
            match f.replayer.apply(rec) {
                Ok(Some(batch)) => batches.push(CommittedBatch {
                    seq: rec.seq,
                    timestamp: batch.timestamp,
                    commands: batch.commands,
                    outcomes: batch.outcomes,
                }),
                Ok(None) => {}
                Err(d) => {
                    diverged = Some(format!("record {} does not replay as written: {d}", d.seq));
                    break;
                }
            }
        }
        if let Some(held) = f.replayer.ledger_mut() {
            std::mem::swap(&mut *ledger, held);
        }
        // Together, as the sequencer's writer does: `durable_head` reads them so.
        let mut head = shared.last_durable_hash.lock();
        *head = f.replayer.last_hash();
        shared
            .durable_seq
            .store(f.replayer.last_seq(), Ordering::Release);
    }
    let counters = &shared.counters;
    counters
        .records_durable
        .fetch_add(records.len() as u64, Ordering::Relaxed);
    for batch in batches {
        counters
            .commands
            .fetch_add(batch.commands.len() as u64, Ordering::Relaxed);
        let _ = shared.committed.send(Arc::new(batch));
    }
    match diverged {
        Some(cause) => Err(Step::Diverged(cause)),
        None => Ok(records.len()),
    }
}

impl Engine {
    /// A follower of the journal `reader` reads, starting from the state `replayer`
    /// reached (after the genesis record), woken by `news`; what it is asked to
    /// write goes through `forward`. `verified_from` is the record the replay
    /// started after (0: genesis).
    pub fn follow(
        reader: Arc<dyn Storage>,
        news: Box<dyn News>,
        mut replayer: Replayer,
        verified_from: u64,
        forward: Arc<dyn Forward>,
        options: &EngineOptions,
    ) -> Result<Engine, EngineError> {
        if replayer.rules().id() != options.rules.id() {
            return Err(EngineError::Inconsistent(
                "the follower's state was replayed under other rules than the engine's".into(),
            ));
        }
        let (Some(currency), Some(ledger)) = (replayer.currency().cloned(), replayer.ledger_mut())
        else {
            return Err(EngineError::NotInitialized(
                "a follower starts after the genesis record".into(),
            ));
        };
        let ledger = std::mem::replace(ledger, placeholder());
        let shared = Shared::new(
            currency,
            ledger,
            Health::Running,
            replayer.last_seq(),
            replayer.last_hash(),
            None,
        );
        let engine = Engine::with_shared(Arc::clone(&shared), options, Some(forward));
        let following = Following::start(
            shared,
            Follow {
                replayer,
                reader,
                news,
                verified_from,
            },
        )?;
        *engine.follower.lock() = Some(following);
        Ok(engine)
    }

    /// Makes this follower the currency's writer, through `storage`, opened under the
    /// writer lease this node has just taken (so nobody else can add to the journal):
    /// reads the records written since its last look, checks the state, and starts the
    /// sequencer on it. Reads go on throughout. If it fails the engine goes on
    /// following.
    pub fn promote(
        &self,
        storage: Arc<dyn Storage>,
        options: EngineOptions,
    ) -> Result<StartReport, EngineError> {
        let started = Instant::now();
        let Some(following) = self.follower.lock().take() else {
            return Err(EngineError::Inconsistent(
                "only a follower can be promoted".into(),
            ));
        };
        let mut f = following
            .stop()
            .ok_or_else(|| EngineError::Inconsistent("the follower thread panicked".into()))?;
        match self.take_writing(&storage, &mut f, &options) {
            Ok((recovered, mut report)) => {
                report.elapsed = started.elapsed();
                tracing::info!(
                    currency = %self.shared.currency,
                    last_seq = recovered.last_seq,
                    ms = report.elapsed.as_millis() as u64,
                    "follower promoted: writing this currency"
                );
                self.start_sequencer(storage, recovered.store, recovered.last_seq, options);
                deliver_ready(&self.shared, true);
                Ok(report)
            }
            Err(e) => {
                *self.follower.lock() = Some(Following::start(Arc::clone(&self.shared), f)?);
                Err(e)
            }
        }
    }

    fn take_writing(
        &self,
        storage: &Arc<dyn Storage>,
        f: &mut Follow,
        options: &EngineOptions,
    ) -> Result<(Recovered, StartReport), EngineError> {
        if let Health::Failed { cause } = &*self.shared.health.lock() {
            return Err(EngineError::Inconsistent(cause.clone()));
        }
        let opened = storage.open_writer(None)?;
        let (last_seq, last_hash) = (opened.store.last_seq(), opened.store.last_hash());
        while f.replayer.last_seq() < last_seq {
            match step(&self.shared, f) {
                Ok(0) => break,
                Ok(_) => {}
                Err(Step::Read(e)) => return Err(EngineError::Inconsistent(e)),
                Err(Step::Diverged(cause)) => {
                    *self.shared.health.lock() = Health::Failed {
                        cause: cause.clone(),
                    };
                    return Err(EngineError::Inconsistent(cause));
                }
            }
        }
        if f.replayer.last_seq() != last_seq || f.replayer.last_hash() != last_hash {
            return Err(EngineError::Inconsistent(format!(
                "the journal ends at record {last_seq} ({last_hash}) but the follower read to \
                 record {} ({})",
                f.replayer.last_seq(),
                f.replayer.last_hash()
            )));
        }
        let checking = Instant::now();
        self.shared
            .ledger
            .read()
            .check_all()
            .map_err(EngineError::Invariant)?;
        let last_writer = f.replayer.writer().cloned();
        let mut report = StartReport {
            last_seq,
            check: checking.elapsed(),
            ..StartReport::default()
        };
        if last_writer
            .as_ref()
            .is_none_or(|w| w.rules != options.rules.id())
        {
            report.taken_over_from = Some(match &last_writer {
                None => TakenOver::Unnamed,
                Some(w) => TakenOver::Build(w.clone()),
            });
        }
        let mut recovered = Recovered {
            currency: self.shared.currency.clone(),
            // The state stays where reads find it; the sequencer takes it from there.
            ledger: placeholder(),
            store: opened.store,
            last_seq,
            last_hash,
            last_writer,
            verified_from: f.verified_from,
            report: report.clone(),
        };
        if report.taken_over_from.is_some() {
            write_rules_marker(&mut recovered, options)?;
            let mut head = self.shared.last_durable_hash.lock();
            *head = recovered.last_hash;
            self.shared
                .durable_seq
                .store(recovered.last_seq, Ordering::Release);
            drop(head);
            report.last_seq = recovered.last_seq;
        }
        Ok((recovered, report))
    }

    /// Hands the writing over (another node is to take this currency): stops taking
    /// submissions, finishes and answers what is queued, then follows the journal
    /// through `reader` from where it ends, sending writes through `forward`. The
    /// caller gives the lease up after this returns. Refused unless it writes and is
    /// healthy (a writer whose journal failed is not known to hold the journal's state).
    pub fn demote(
        &self,
        reader: Arc<dyn Storage>,
        news: Box<dyn News>,
        forward: Arc<dyn Forward>,
        options: &EngineOptions,
    ) -> Result<(), EngineError> {
        if !self.writes_here() || !matches!(self.health(), Health::Running) {
            return Err(EngineError::Inconsistent(
                "only a healthy writer hands its currency over".into(),
            ));
        }
        // Writes that come in from here on go to the next writer.
        *self.forward.write() = Some(forward);
        self.stop_sequencer();
        if !matches!(self.health(), Health::Running) {
            return Err(EngineError::Inconsistent(format!(
                "the last batches before the handover failed: {:?}",
                self.health()
            )));
        }
        let (last_seq, last_hash) = self.durable_head();
        let replayer = Replayer::resume(
            &options.rules,
            self.shared.currency.clone(),
            placeholder(),
            last_seq,
            last_hash,
        );
        let following = Following::start(
            Arc::clone(&self.shared),
            Follow {
                replayer,
                reader,
                news,
                verified_from: last_seq,
            },
        )?;
        *self.follower.lock() = Some(following);
        tracing::info!(currency = %self.shared.currency, last_seq, "handed the writing over: following");
        Ok(())
    }

    /// Whether this engine follows a writer elsewhere.
    pub fn follows(&self) -> bool {
        self.follower.lock().is_some()
    }
}

/// An empty ledger standing where the real one is not (swapped out for a moment).
fn placeholder() -> Ledger {
    Ledger::new(LedgerConfig::default())
}

/// The wire form of a forwarded write: the commands, in the journal's own encoding.
pub fn encode_commands(commands: &[Envelope]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u32(commands.len() as u32);
    for c in commands {
        codec::put_envelope(&mut out, c);
    }
    out
}

/// Reads [`encode_commands`]'s bytes; at most `max` commands.
pub fn decode_commands(bytes: &[u8], max: usize) -> Result<Vec<Envelope>, DecodeError> {
    let mut r = Reader::new(bytes);
    let n = r.u32("command count")? as usize;
    if n > max {
        return Err(r.error("too many commands"));
    }
    let mut commands = Vec::with_capacity(n);
    for _ in 0..n {
        commands.push(codec::get_envelope(&mut r)?);
    }
    if !r.is_empty() {
        return Err(r.error("bytes after the commands"));
    }
    Ok(commands)
}

/// The wire form of the writer's answer: the last durable record and the outcomes.
pub fn encode_answer(seq: u64, outcomes: &[Outcome]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_u64(seq);
    out.put_u32(outcomes.len() as u32);
    for o in outcomes {
        codec::put_outcome(&mut out, o);
    }
    out
}

/// Reads [`encode_answer`]'s bytes; exactly `expected` outcomes.
pub fn decode_answer(bytes: &[u8], expected: usize) -> Result<(u64, Vec<Outcome>), DecodeError> {
    let mut r = Reader::new(bytes);
    let seq = r.u64("durable record")?;
    let n = r.u32("outcome count")? as usize;
    if n != expected {
        return Err(r.error("not one outcome per command"));
    }
    let mut outcomes = Vec::with_capacity(n);
    for _ in 0..n {
        outcomes.push(codec::get_outcome(&mut r)?);
    }
    if !r.is_empty() {
        return Err(r.error("bytes after the outcomes"));
    }
    Ok((seq, outcomes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::{AccountId, AccountState, Applied, ClientId, Command, IdempotencyKey, Rejection};

    fn commands(n: u64) -> Vec<Envelope> {
        (0..n)
            .map(|i| Envelope {
                client: ClientId(7),
                key: IdempotencyKey(u128::from(i)),
                command: Command::SetAccountState {
                    account: AccountId(100 + i),
                    state: AccountState::Frozen,
                },
            })
            .collect()
    }

    #[test]
    fn forwarded_commands_and_answers_travel_whole() {
        let sent = commands(3);
        let bytes = encode_commands(&sent);
        assert_eq!(decode_commands(&bytes, 3).expect("decodes"), sent);
        assert!(decode_commands(&bytes, 2).is_err(), "more than allowed");
        assert!(
            decode_commands(&bytes[..bytes.len() - 1], 3).is_err(),
            "cut short"
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_commands(&longer, 3).is_err(), "bytes after");

        let outcomes = vec![
            Outcome {
                result: Ok(Applied::Halted),
                repeated: false,
            },
            Outcome {
                result: Err(Rejection::CurrencyHalted),
                repeated: true,
            },
            Outcome {
                result: Ok(Applied::Resumed),
                repeated: false,
            },
        ];
        let bytes = encode_answer(42, &outcomes);
        assert_eq!(decode_answer(&bytes, 3).expect("decodes"), (42, outcomes));
        assert!(decode_answer(&bytes, 2).is_err(), "one outcome per command");
    }
}
