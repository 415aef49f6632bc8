//! Re-executing the journal with the current code: recovery, the start-up check, and
//! `maeul verify`.
//!
//! Every batch record carries its commands, the outcomes that were acknowledged, and
//! the state hash after it. Replay applies the commands at the recorded timestamp and
//! requires the same outcomes and the same state hash, record by record. A version that
//! would decide differently (the Buyeo failure: an update that flipped a rule) is
//! stopped at the first record where it differs, before it serves.
//!
//! Records are written by builds, and a build is known by its rules ([`RulesId`]): a
//! marker record names the rules that write the records after it. A replay knows which
//! build wrote each record, so a divergence names it, and it knows whether this build's
//! own rules were on the journal before (its own snapshot, or its own marker): that is
//! what tells a new build that disagrees with history (refuse) from the build that was
//! there first coming back after a bad one (start halted, read-only).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;

use journal::{GENESIS_HASH, Record, RecordHash};
use ledger::codec::{self, DecodeError, Put, Reader};
use ledger::scheme::SchemeApplied;
use ledger::{
    AccountKind, Applied, Command, Ledger, Outcome, Rules, RulesId, StateHash, TransferKind, Won,
};

use crate::currency::CurrencyCode;
use crate::record::{self, BatchRecord, RecordBody};
use crate::storage::Storage;

/// The build that wrote a stretch of the journal, as its marker record names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Writer {
    pub rules: RulesId,
    /// The program and version, for people.
    pub build: String,
}

impl fmt::Display for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.build.is_empty() {
            write!(f, "rules {}", self.rules.short())
        } else {
            f.write_str(&self.build)
        }
    }
}

/// A record where replay and journal disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    pub seq: u64,
    pub offset: u64,
    pub what: DivergenceKind,
    /// Who wrote the record: `None` for records written before builds were named in
    /// the journal.
    pub written_by: Option<Writer>,
}

impl Divergence {
    /// Whether replay can go on past it (the record was applied, only its answers or
    /// state differ) to find what else differs.
    pub fn can_continue(&self) -> bool {
        matches!(
            self.what,
            DivergenceKind::Outcome { .. }
                | DivergenceKind::StateHash { .. }
                | DivergenceKind::Violation(_)
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DivergenceKind {
    /// The record's payload does not decode.
    Undecodable(DecodeError),
    /// The first record is not a genesis, or a genesis appears later.
    Genesis(String),
    /// Command `index` was answered differently.
    Outcome {
        index: usize,
        recorded: Box<Outcome>,
        replayed: Box<Outcome>,
    },
    /// Same answers, different resulting state.
    StateHash {
        recorded: StateHash,
        replayed: StateHash,
    },
    /// The batch broke a ledger invariant when replayed.
    Violation(String),
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {} (offset {}", self.seq, self.offset)?;
        match &self.written_by {
            Some(w) => write!(f, ", written by {w}): ")?,
            None => f.write_str(", written before builds were named in the journal): ")?,
        }
        match &self.what {
            DivergenceKind::Undecodable(e) => write!(f, "payload does not decode: {e}"),
            DivergenceKind::Genesis(why) => f.write_str(why),
            DivergenceKind::Outcome {
                index,
                recorded,
                replayed,
            } => write!(
                f,
                "command #{index} was answered {} but this version answers {}",
                describe_outcome(recorded),
                describe_outcome(replayed)
            ),
            DivergenceKind::StateHash { recorded, replayed } => write!(
                f,
                "state hash after the batch was {recorded} but this version computes {replayed}"
            ),
            DivergenceKind::Violation(v) => {
                write!(f, "replaying it breaks a ledger invariant: {v}")
            }
        }
    }
}

fn describe_outcome(o: &Outcome) -> String {
    match &o.result {
        Ok(a) => format!("{a:?}"),
        Err(r) => format!("{} ({r:?})", r.code().as_str()),
    }
}

/// Replays records one by one onto a ledger, under given rules.
#[derive(Debug)]
pub struct Replayer {
    rules: Rules,
    currency: Option<CurrencyCode>,
    ledger: Option<Ledger>,
    last_seq: u64,
    last_hash: RecordHash,
    outcomes: Vec<Outcome>,
    /// Who wrote the records being read now (the last marker's build).
    writer: Option<Writer>,
    /// The first record at which these rules were on the journal (their own snapshot
    /// or marker).
    own_rules_at: Option<u64>,
}

/// Why a snapshot was not used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotRefused {
    #[error("it does not decode: {0}")]
    Undecodable(DecodeError),
    #[error("it was computed by another build ({})", describe_rules(.0.as_ref()))]
    OtherRules(Option<RulesId>),
}

fn describe_rules(r: Option<&RulesId>) -> String {
    r.map_or_else(
        || "one that did not record its rules".to_owned(),
        |r| format!("rules {}", r.short()),
    )
}

impl Replayer {
    /// Starts before the first record.
    pub fn from_genesis(rules: &Rules) -> Replayer {
        Replayer {
            rules: rules.clone(),
            currency: None,
            ledger: None,
            last_seq: 0,
            last_hash: GENESIS_HASH,
            outcomes: Vec::new(),
            writer: None,
            own_rules_at: None,
        }
    }

    /// Starts after the record a snapshot was taken at. Only a snapshot these rules
    /// computed is taken: another build's state is not trusted without replaying the
    /// journal that led to it.
    pub fn from_snapshot(
        seq: u64,
        chain_hash: RecordHash,
        payload: &[u8],
        rules: &Rules,
    ) -> Result<Replayer, SnapshotRefused> {
        let s = decode_snapshot(payload).map_err(SnapshotRefused::Undecodable)?;
        if s.rules != Some(rules.id()) {
            return Err(SnapshotRefused::OtherRules(s.rules));
        }
        let mut ledger = s.ledger;
        ledger.adopt_rules(rules);
        Ok(Replayer {
            rules: rules.clone(),
            currency: Some(s.currency),
            ledger: Some(ledger),
            last_seq: seq,
            last_hash: chain_hash,
            outcomes: Vec::new(),
            writer: s.writer,
            own_rules_at: Some(seq),
        })
    }

    /// Goes on after record `last_seq` of a journal this build wrote, whose state is
    /// held elsewhere (a writer turning follower: [`Replayer::ledger_mut`] swaps it in).
    pub(crate) fn resume(
        rules: &Rules,
        currency: CurrencyCode,
        placeholder: Ledger,
        last_seq: u64,
        last_hash: RecordHash,
    ) -> Replayer {
        Replayer {
            rules: rules.clone(),
            currency: Some(currency),
            ledger: Some(placeholder),
            last_seq,
            last_hash,
            outcomes: Vec::new(),
            writer: Some(Writer {
                rules: rules.id(),
                build: rules.describe(),
            }),
            own_rules_at: Some(last_seq),
        }
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn last_hash(&self) -> RecordHash {
        self.last_hash
    }

    pub fn currency(&self) -> Option<&CurrencyCode> {
        self.currency.as_ref()
    }

    pub fn ledger(&self) -> Option<&Ledger> {
        self.ledger.as_ref()
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Who wrote the last record read (`None`: before builds were named).
    pub fn writer(&self) -> Option<&Writer> {
        self.writer.as_ref()
    }

    /// Whether these rules were on this journal at or before the last record read.
    pub fn own_rules_seen(&self) -> bool {
        self.own_rules_at.is_some()
    }

    /// The state being replayed, to swap with a ledger held elsewhere (a follower's
    /// shared one) around [`Replayer::apply`].
    pub(crate) fn ledger_mut(&mut self) -> Option<&mut Ledger> {
        self.ledger.as_mut()
    }

    pub fn into_parts(self) -> Option<(CurrencyCode, Ledger)> {
        Some((self.currency?, self.ledger?))
    }

    /// The snapshot of the state reached, stamped with these rules and the current
    /// writer (None before the genesis).
    pub fn encode_snapshot(&self, out: &mut Vec<u8>) -> bool {
        let (Some(currency), Some(ledger)) = (&self.currency, &self.ledger) else {
            return false;
        };
        encode_snapshot(out, self.rules.id(), self.writer.as_ref(), currency, ledger);
        true
    }

    /// Applies one record, checking it against what was recorded. On success returns the
    /// decoded batch (None for a genesis or rules record).
    ///
    /// A record whose answers or resulting state differ is still applied (the ledger
    /// then holds this build's decision of it) and counted as read, so a caller may go
    /// on to find what else differs ([`Divergence::can_continue`]); the state is then
    /// no longer the journal's.
    pub fn apply(&mut self, rec: &Record) -> Result<Option<BatchRecord>, Divergence> {
        self.apply_decoded(DecodedRecord::of(rec))
    }

    /// [`Replayer::apply`] of a record decoded already (by [`read_ahead`]'s reader).
    pub fn apply_decoded(&mut self, rec: DecodedRecord) -> Result<Option<BatchRecord>, Divergence> {
        let written_by = self.writer.clone();
        let diverged = |what| Divergence {
            seq: rec.seq,
            offset: rec.offset,
            what,
            written_by: written_by.clone(),
        };
        let body = rec
            .body
            .map_err(|e| diverged(DivergenceKind::Undecodable(e)))?;
        let result = match (body, self.ledger.as_mut()) {
            (RecordBody::Genesis { currency, config }, None) if rec.seq == 1 => {
                self.currency = Some(currency);
                let mut ledger = Ledger::new(config);
                ledger.adopt_rules(&self.rules);
                self.ledger = Some(ledger);
                Ok(None)
            }
            (RecordBody::Genesis { .. }, _) => {
                return Err(diverged(DivergenceKind::Genesis(
                    "a genesis record after the first record".into(),
                )));
            }
            (RecordBody::Batch(_) | RecordBody::Rules(_), None) => {
                return Err(diverged(DivergenceKind::Genesis(
                    "the first record is not a genesis record".into(),
                )));
            }
            (RecordBody::Rules(r), Some(_)) => {
                if r.rules == self.rules.id() && self.own_rules_at.is_none() {
                    self.own_rules_at = Some(rec.seq);
                }
                self.writer = Some(Writer {
                    rules: r.rules,
                    build: r.build,
                });
                Ok(None)
            }
            (RecordBody::Batch(batch), Some(ledger)) => {
                let report =
                    ledger.apply_into(&batch.commands, batch.timestamp, &mut self.outcomes);
                let first_difference = batch
                    .outcomes
                    .iter()
                    .zip(&self.outcomes)
                    .position(|(recorded, replayed)| recorded != replayed);
                let replayed = ledger.state_hash();
                if let Some(index) = first_difference {
                    Err(diverged(DivergenceKind::Outcome {
                        index,
                        recorded: Box::new(batch.outcomes[index].clone()),
                        replayed: Box::new(self.outcomes[index].clone()),
                    }))
                } else if replayed != batch.state_hash {
                    // A violation during replay rolls the batch back and halts, which
                    // changes the hash: say which invariant, it is the useful part.
                    Err(diverged(match report.violation {
                        Some(v) => DivergenceKind::Violation(v.to_string()),
                        None => DivergenceKind::StateHash {
                            recorded: batch.state_hash,
                            replayed,
                        },
                    }))
                } else {
                    Ok(Some(batch))
                }
            }
        };
        self.last_seq = rec.seq;
        self.last_hash = rec.hash;
        result
    }
}

/// A journal record with its payload decoded.
#[derive(Debug)]
pub struct DecodedRecord {
    pub seq: u64,
    pub offset: u64,
    pub hash: RecordHash,
    pub body: Result<RecordBody, DecodeError>,
}

impl DecodedRecord {
    pub fn of(rec: &Record) -> DecodedRecord {
        DecodedRecord {
            seq: rec.seq,
            offset: rec.offset,
            hash: rec.hash,
            body: record::decode(&rec.payload),
        }
    }
}

/// Records read and decoded ahead on a second thread, at most this many waiting.
const READ_AHEAD_RECORDS: usize = 256;

/// Reads records from `from` (checking the chain like [`Storage::read_records`]) on a
/// second thread that also checksums and decodes them, and hands them in order to
/// `visit` on this one: a long replay (a new build re-deciding a whole journal, an
/// audit) spends this thread on the ledger alone. Stops when `visit` breaks.
pub fn read_ahead(
    storage: &dyn Storage,
    from: u64,
    expected_prev_hash: Option<RecordHash>,
    visit: &mut dyn FnMut(DecodedRecord) -> ControlFlow<()>,
) -> Result<crate::storage::ReadEnd, journal::JournalError> {
    let (tx, rx) = crossbeam_channel::bounded::<DecodedRecord>(READ_AHEAD_RECORDS);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            storage.read_records(from, expected_prev_hash, &mut |rec| {
                match tx.send(DecodedRecord::of(&rec)) {
                    Ok(()) => ControlFlow::Continue(()),
                    // The visitor stopped.
                    Err(_) => ControlFlow::Break(()),
                }
            })
        });
        for rec in rx.iter() {
            if visit(rec).is_break() {
                break;
            }
        }
        // Dropping the receiver stops the reader at its next record.
        drop(rx);
        // A panic on the reader is a bug: it goes on here as one.
        reader
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Snapshot payloads written before builds were named (no rules id).
pub const SNAPSHOT_FORMAT_UNNAMED: u8 = 1;
/// Snapshot payloads stamped with the rules that computed them.
pub const SNAPSHOT_FORMAT: u8 = 2;
/// Enough of a payload to read whose rules computed it ([`snapshot_rules`]).
pub const SNAPSHOT_PEEK_BYTES: usize = 17;

/// A snapshot's payload (format 2): the format, the rules that computed it, who wrote
/// the record it was taken at, the currency code and the whole ledger.
pub fn encode_snapshot(
    out: &mut Vec<u8>,
    rules: RulesId,
    writer: Option<&Writer>,
    currency: &CurrencyCode,
    ledger: &Ledger,
) {
    out.put_u8(SNAPSHOT_FORMAT);
    out.extend_from_slice(&rules.0);
    match writer {
        None => out.put_u8(0),
        Some(w) => {
            out.put_u8(1);
            out.extend_from_slice(&w.rules.0);
            let mut end = w.build.len().min(record::BUILD_DESCRIPTION_MAX);
            while !w.build.is_char_boundary(end) {
                end -= 1;
            }
            out.put_u8(end as u8);
            out.extend_from_slice(&w.build.as_bytes()[..end]);
        }
    }
    currency.put(out);
    codec::put_ledger(out, ledger);
}

/// The rules that computed a snapshot, from the first [`SNAPSHOT_PEEK_BYTES`] of its
/// payload (`None`: written before builds were named, or not a snapshot).
pub fn snapshot_rules(prefix: &[u8]) -> Option<RulesId> {
    match prefix {
        [SNAPSHOT_FORMAT, rest @ ..] if rest.len() >= 16 => {
            let mut id = [0u8; 16];
            id.copy_from_slice(&rest[..16]);
            Some(RulesId(id))
        }
        _ => None,
    }
}

/// What a snapshot holds.
#[derive(Debug)]
pub struct DecodedSnapshot {
    /// The rules that computed it (`None` for format 1).
    pub rules: Option<RulesId>,
    pub writer: Option<Writer>,
    pub currency: CurrencyCode,
    pub ledger: Ledger,
}

pub fn decode_snapshot(payload: &[u8]) -> Result<DecodedSnapshot, DecodeError> {
    let mut r = Reader::new(payload);
    let (rules, writer) = match r.u8("snapshot format")? {
        SNAPSHOT_FORMAT_UNNAMED => (None, None),
        SNAPSHOT_FORMAT => {
            let mut id = [0u8; 16];
            id.copy_from_slice(r.bytes(16, "snapshot rules")?);
            let writer = match r.u8("snapshot writer flag")? {
                0 => None,
                1 => {
                    let mut w = [0u8; 16];
                    w.copy_from_slice(r.bytes(16, "snapshot writer rules")?);
                    let len = usize::from(r.u8("snapshot writer build length")?);
                    let build = std::str::from_utf8(r.bytes(len, "snapshot writer build")?)
                        .map_err(|_| r.error("snapshot writer build (not UTF-8)"))?
                        .to_owned();
                    Some(Writer {
                        rules: RulesId(w),
                        build,
                    })
                }
                _ => return Err(r.error("snapshot writer flag")),
            };
            (Some(RulesId(id)), writer)
        }
        _ => return Err(r.error("snapshot format")),
    };
    let currency = CurrencyCode::get(&mut r)?;
    let ledger = codec::get_ledger(&mut r)?;
    if !r.is_empty() {
        return Err(r.error("end of snapshot (trailing bytes)"));
    }
    Ok(DecodedSnapshot {
        rules,
        writer,
        currency,
        ledger,
    })
}

// ----- verification report ------------------------------------------------------------

/// Count and total of one kind of movement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub won: i128,
}

impl Tally {
    fn add(&mut self, won: i64) {
        self.count += 1;
        self.won += i128::from(won);
    }
}

/// What `maeul verify` prints for one currency.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub currency: Option<String>,
    pub storage: String,
    pub records: u64,
    pub batches: u64,
    pub commands: u64,
    pub repeats: u64,
    pub rejected_by_code: BTreeMap<&'static str, u64>,
    /// Transfers created (posted at once, or pending), by kind.
    pub transfers_by_kind: BTreeMap<&'static str, Tally>,
    pub pendings_posted: Tally,
    pub pendings_voided: u64,
    /// Final balances summed by account kind.
    pub totals_by_account_kind: BTreeMap<&'static str, Tally>,
    pub last_seq: u64,
    pub chain_hash: Option<RecordHash>,
    pub state_hash: Option<StateHash>,
    pub halted: Option<String>,
    pub torn_tail: Option<String>,
    /// Damage to the journal itself (checksum, chain), naming the record and offset.
    pub journal_error: Option<String>,
    /// The first record this build decides differently.
    pub divergence: Option<Divergence>,
    /// Every record this build decides differently (at most [`DIFFERENCES_LISTED_MAX`];
    /// after the first, the state is this build's and later differences may follow
    /// from the first).
    pub differences: Vec<Divergence>,
    /// More records differ than are listed.
    pub more_differences: bool,
    /// Who wrote which records: the first record of each build's stretch.
    pub writers: Vec<(u64, Option<Writer>)>,
    /// The rules this verification decided by.
    pub rules: Option<RulesId>,
    /// The full invariant check over the final state.
    pub invariants: Option<Result<(), String>>,
}

/// Records that differ, listed at most (a bad build can make every later record
/// differ; the first ones say what went wrong).
pub const DIFFERENCES_LISTED_MAX: usize = 1_000;

impl VerifyReport {
    /// True when the journal is intact, replays to the same outcomes and hashes, and the
    /// final state satisfies every invariant. A torn tail (never acknowledged) does not
    /// make a journal bad.
    pub fn ok(&self) -> bool {
        self.journal_error.is_none()
            && self.divergence.is_none()
            && matches!(self.invariants, Some(Ok(())))
    }

    fn diverged(&mut self, d: Divergence) {
        if self.divergence.is_none() {
            self.divergence = Some(d.clone());
        }
        if self.differences.len() < DIFFERENCES_LISTED_MAX {
            self.differences.push(d);
        } else {
            self.more_differences = true;
        }
    }

    fn count_batch(&mut self, batch: &BatchRecord) {
        self.batches += 1;
        for (envelope, outcome) in batch.commands.iter().zip(&batch.outcomes) {
            self.commands += 1;
            if outcome.repeated {
                self.repeats += 1;
                continue;
            }
            let applied = match &outcome.result {
                Err(r) => {
                    *self.rejected_by_code.entry(r.code().as_str()).or_default() += 1;
                    continue;
                }
                Ok(a) => a,
            };
            match (&envelope.command, applied) {
                (Command::Transfer(t), Applied::Transfer { amount, .. }) => {
                    self.transfers_by_kind
                        .entry(t.spec.kind().as_str())
                        .or_default()
                        .add(amount.get());
                }
                (
                    Command::Linked(ts) | Command::Migrated { transfers: ts, .. },
                    Applied::Linked { .. },
                ) => {
                    for t in ts {
                        self.transfers_by_kind
                            .entry(t.spec.kind().as_str())
                            .or_default()
                            // An expiry inside a linked group is not reported separately.
                            .add(t.spec.amount().map_or(0, |a| a.get()));
                    }
                }
                (Command::PostPending { .. }, Applied::PendingPosted { amount, .. }) => {
                    self.pendings_posted.add(amount.get());
                }
                (Command::VoidPending { .. }, Applied::PendingVoided { .. }) => {
                    self.pendings_voided += 1
                }
                (Command::Scheme(_), Applied::Scheme(a)) => self.count_scheme(a),
                _ => {}
            }
        }
    }

    /// The transfers a scheme command created (a purchase is a charge and a subsidy, a
    /// payment may earn cash-back...).
    fn count_scheme(&mut self, applied: &SchemeApplied) {
        let mut add = |kind: TransferKind, won: Won| {
            if won.is_positive() {
                self.transfers_by_kind
                    .entry(kind.as_str())
                    .or_default()
                    .add(won.get());
            }
        };
        match applied {
            SchemeApplied::Purchased { paid, discount, .. } => {
                add(TransferKind::Charge, *paid);
                add(TransferKind::Subsidy, *discount);
            }
            SchemeApplied::Paid {
                amount, cashback, ..
            } => {
                add(TransferKind::Payment, *amount);
                add(TransferKind::Cashback, *cashback);
            }
            SchemeApplied::Gifted { amount, .. } => add(TransferKind::Gift, *amount),
            SchemeApplied::RedemptionConfirmed { amount, .. } => {
                add(TransferKind::Settlement, *amount);
                self.pendings_posted.add(amount.get());
            }
            SchemeApplied::PaymentRefunded {
                amount,
                cashback_returned,
                ..
            } => {
                add(TransferKind::PaymentRefund, *amount);
                add(TransferKind::SubsidyReturn, *cashback_returned);
            }
            SchemeApplied::PurchaseCancelled { cash, subsidy, .. }
            | SchemeApplied::BalanceRefunded { cash, subsidy, .. } => {
                add(TransferKind::CashRefund, *cash);
                add(TransferKind::SubsidyReturn, *subsidy);
            }
            _ => {}
        }
    }

    fn finish(&mut self, currency: Option<&CurrencyCode>, ledger: Option<&Ledger>) {
        self.currency = currency.map(|c| c.to_string());
        let Some(ledger) = ledger else { return };
        for kind in AccountKind::ALL {
            self.totals_by_account_kind
                .insert(kind.as_str(), Tally::default());
        }
        for a in ledger.accounts() {
            let balance = a.balance().map_or(0, |b| b.get());
            self.totals_by_account_kind
                .entry(a.kind.as_str())
                .or_default()
                .add(balance);
        }
        self.state_hash = Some(ledger.state_hash());
        self.halted = ledger.halted().map(|h| format!("{:?}", h.cause));
        self.invariants = Some(ledger.check_all());
    }
}

/// How far a long replay has come, for people watching a start or a verification.
#[derive(Clone, Debug)]
pub struct Progress {
    pub currency: String,
    /// The last record read.
    pub seq: u64,
    /// The journal's last record, when known.
    pub last_seq: Option<u64>,
    pub elapsed: std::time::Duration,
    pub done: bool,
}

impl Progress {
    /// Seconds left at the rate so far, when it can be told.
    pub fn eta_s(&self) -> Option<u64> {
        let last = self.last_seq?;
        let rate = self.seq as f64 / self.elapsed.as_secs_f64().max(1e-3);
        (rate > 0.0).then(|| (last.saturating_sub(self.seq) as f64 / rate) as u64)
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.last_seq {
            Some(last) if last > 0 => write!(
                f,
                "{}: record {} of {} ({}%)",
                self.currency,
                self.seq,
                last,
                self.seq.saturating_mul(100) / last
            )?,
            _ => write!(f, "{}: record {}", self.currency, self.seq)?,
        }
        if let Some(eta) = self.eta_s().filter(|_| !self.done) {
            write!(f, ", about {eta} s left")?;
        }
        Ok(())
    }
}

/// Told how a replay progresses: at most about once a second, and once at the end.
pub type ProgressSink = std::sync::Arc<dyn Fn(&Progress) + Send + Sync>;

/// Calls a progress sink now and then while records are read.
pub(crate) struct Ticker<'a> {
    sink: Option<&'a ProgressSink>,
    currency: String,
    last_seq: Option<u64>,
    started: std::time::Instant,
    next: std::time::Instant,
}

impl<'a> Ticker<'a> {
    pub(crate) fn new(sink: Option<&'a ProgressSink>, last_seq: Option<u64>) -> Ticker<'a> {
        let now = std::time::Instant::now();
        Ticker {
            sink,
            currency: String::new(),
            last_seq,
            started: now,
            next: now + std::time::Duration::from_secs(1),
        }
    }

    pub(crate) fn tick(&mut self, seq: u64, currency: Option<&CurrencyCode>, done: bool) {
        let Some(sink) = self.sink else { return };
        // Looking at the clock every record would cost more than the replay of a small
        // batch: every 1,024 records is often enough.
        if !done && (!seq.is_multiple_of(1_024) || std::time::Instant::now() < self.next) {
            return;
        }
        if self.currency.is_empty()
            && let Some(c) = currency
        {
            self.currency = c.to_string();
        }
        self.next = std::time::Instant::now() + std::time::Duration::from_secs(1);
        sink(&Progress {
            currency: self.currency.clone(),
            seq,
            last_seq: self.last_seq,
            elapsed: self.started.elapsed(),
            done,
        });
    }
}

/// Re-executes a currency's whole journal from genesis with this build's rules.
/// Never modifies anything.
pub fn verify(storage: &dyn Storage) -> VerifyReport {
    verify_with(storage, &Rules::this_build(), None)
}

/// [`verify`] under given rules, telling `progress` how far it has come. Goes on past a
/// record that differs, to list what else differs (bounded).
pub fn verify_with(
    storage: &dyn Storage,
    rules: &Rules,
    progress: Option<&ProgressSink>,
) -> VerifyReport {
    let mut report = VerifyReport {
        storage: storage.describe(),
        rules: Some(rules.id()),
        ..VerifyReport::default()
    };
    let mut replayer = Replayer::from_genesis(rules);
    let mut ticker = Ticker::new(progress, None);
    let read = read_ahead(storage, 1, None, &mut |rec| {
        report.records += 1;
        let writer_before = replayer.writer().cloned();
        let seq = rec.seq;
        let applied = replayer.apply_decoded(rec);
        if seq == 1 || replayer.writer() != writer_before.as_ref() {
            report.writers.push((seq, replayer.writer().cloned()));
        }
        ticker.tick(seq, replayer.currency(), false);
        match applied {
            Ok(Some(batch)) => report.count_batch(&batch),
            Ok(None) => {}
            Err(d) => {
                let go_on = d.can_continue();
                report.diverged(d);
                if !go_on || report.more_differences {
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    });
    ticker.tick(replayer.last_seq(), replayer.currency(), true);
    match read {
        Ok(end) => report.torn_tail = end.torn_tail,
        Err(e) => report.journal_error = Some(e.to_string()),
    }
    report.last_seq = replayer.last_seq();
    report.chain_hash = (replayer.last_seq() > 0).then(|| replayer.last_hash());
    report.finish(replayer.currency(), replayer.ledger());
    if report.records == 0 && report.journal_error.is_none() {
        report.journal_error = Some("the journal is empty: no genesis record".into());
    }
    report
}

fn tally_line(f: &mut fmt::Formatter<'_>, name: &str, t: &Tally) -> fmt::Result {
    writeln!(
        f,
        "    {name:<22} {:>12}  {:>24} won",
        t.count,
        group(t.won)
    )
}

/// `1234567` → `1,234,567`.
pub fn group(n: i128) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.currency.as_deref().unwrap_or("(unknown currency)");
        writeln!(f, "currency {name}  ({})", self.storage)?;
        writeln!(
            f,
            "  records {}  batches {}  commands {}  repeats {}",
            self.records, self.batches, self.commands, self.repeats
        )?;
        writeln!(f, "  transfers by kind:")?;
        for kind in TransferKind::ALL {
            if let Some(t) = self.transfers_by_kind.get(kind.as_str()) {
                tally_line(f, kind.as_str(), t)?;
            }
        }
        if self.pendings_posted.count > 0 || self.pendings_voided > 0 {
            tally_line(f, "pending posted", &self.pendings_posted)?;
            writeln!(
                f,
                "    {:<22} {:>12}",
                "pending voided", self.pendings_voided
            )?;
        }
        if !self.rejected_by_code.is_empty() {
            writeln!(f, "  rejections by code:")?;
            for (code, n) in &self.rejected_by_code {
                writeln!(f, "    {code:<30} {n:>12}")?;
            }
        }
        writeln!(f, "  balances by account kind (accounts, sum):")?;
        let mut sum = 0i128;
        for (kind, t) in &self.totals_by_account_kind {
            tally_line(f, kind, t)?;
            sum += t.won;
        }
        writeln!(
            f,
            "    {:<22} {:>12}  {:>24} won",
            "sum (must be 0)",
            "",
            group(sum)
        )?;
        writeln!(f, "  last record {}", self.last_seq)?;
        if let Some(h) = &self.chain_hash {
            writeln!(f, "  chain hash  {h}")?;
        }
        if let Some(h) = &self.state_hash {
            writeln!(f, "  state hash  {h}")?;
        }
        if let Some(h) = &self.halted {
            writeln!(f, "  HALTED: {h}")?;
        }
        if let Some(t) = &self.torn_tail {
            writeln!(f, "  note: {t} (never acknowledged; a writer would cut it)")?;
        }
        if let Some(e) = &self.journal_error {
            writeln!(f, "  JOURNAL DAMAGED: {e}")?;
        }
        if self.writers.iter().any(|(_, w)| w.is_some()) {
            writeln!(f, "  written by:")?;
            let ends = self
                .writers
                .iter()
                .skip(1)
                .map(|(seq, _)| seq - 1)
                .chain(std::iter::once(self.last_seq));
            for ((from, w), to) in self.writers.iter().zip(ends) {
                match w {
                    Some(w) => writeln!(f, "    records {from}..={to}: {w}")?,
                    None => writeln!(f, "    records {from}..={to}: (before builds were named)")?,
                }
            }
        }
        if let Some(d) = &self.divergence {
            writeln!(f, "  FIRST DIVERGENCE: {d}")?;
        }
        if self.differences.len() > 1 {
            writeln!(
                f,
                "  RECORDS THIS BUILD DECIDES DIFFERENTLY ({}{}; after the first, balances are this build's re-decision):",
                self.differences.len(),
                if self.more_differences {
                    " and more"
                } else {
                    ""
                }
            )?;
            for d in self.differences.iter().take(50) {
                writeln!(f, "    {d}")?;
            }
            if self.differences.len() > 50 {
                writeln!(
                    f,
                    "    … {} more listed in the JSON report",
                    self.differences.len() - 50
                )?;
            }
        }
        match &self.invariants {
            Some(Err(e)) => writeln!(f, "  INVARIANT BROKEN: {e}")?,
            None if self.journal_error.is_none() => writeln!(f, "  no ledger state to check")?,
            _ => {}
        }
        writeln!(f, "  result: {}", if self.ok() { "OK" } else { "FAILED" })
    }
}
