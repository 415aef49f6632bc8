//! Re-executing the journal with the current code: recovery, the start-up check, and
//! `maeul verify`.
//!
//! Every batch record carries its commands, the outcomes that were acknowledged, and
//! the state hash after it. Replay applies the commands at the recorded timestamp and
//! requires the same outcomes and the same state hash, record by record. A version that
//! would decide differently (the Buyeo failure: an update that flipped a rule) is
//! stopped at the first record where it differs, before it serves.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;

use journal::{GENESIS_HASH, Record, RecordHash};
use ledger::codec::{self, DecodeError, Put, Reader};
use ledger::scheme::SchemeApplied;
use ledger::{AccountKind, Applied, Command, Ledger, Outcome, StateHash, TransferKind, Won};

use crate::currency::CurrencyCode;
use crate::record::{self, BatchRecord, RecordBody};
use crate::storage::Storage;

/// The first record where replay and journal disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    pub seq: u64,
    pub offset: u64,
    pub what: DivergenceKind,
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
        write!(f, "record {} (offset {}): ", self.seq, self.offset)?;
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

/// Replays records one by one onto a ledger.
#[derive(Debug)]
pub struct Replayer {
    currency: Option<CurrencyCode>,
    ledger: Option<Ledger>,
    last_seq: u64,
    last_hash: RecordHash,
    outcomes: Vec<Outcome>,
}

impl Replayer {
    /// Starts before the first record.
    pub fn from_genesis() -> Replayer {
        Replayer {
            currency: None,
            ledger: None,
            last_seq: 0,
            last_hash: GENESIS_HASH,
            outcomes: Vec::new(),
        }
    }

    /// Starts after the record a snapshot was taken at.
    pub fn from_snapshot(
        seq: u64,
        chain_hash: RecordHash,
        payload: &[u8],
    ) -> Result<Replayer, DecodeError> {
        let (currency, ledger) = decode_snapshot(payload)?;
        Ok(Replayer {
            currency: Some(currency),
            ledger: Some(ledger),
            last_seq: seq,
            last_hash: chain_hash,
            outcomes: Vec::new(),
        })
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

    pub fn into_parts(self) -> Option<(CurrencyCode, Ledger)> {
        Some((self.currency?, self.ledger?))
    }

    /// Applies one record, checking it against what was recorded. On success returns the
    /// decoded batch (None for the genesis record).
    pub fn apply(&mut self, rec: &Record) -> Result<Option<BatchRecord>, Divergence> {
        let diverged = |what| Divergence {
            seq: rec.seq,
            offset: rec.offset,
            what,
        };
        let body =
            record::decode(&rec.payload).map_err(|e| diverged(DivergenceKind::Undecodable(e)))?;
        let batch = match (body, self.ledger.as_mut()) {
            (RecordBody::Genesis { currency, config }, None) if rec.seq == 1 => {
                self.currency = Some(currency);
                self.ledger = Some(Ledger::new(config));
                None
            }
            (RecordBody::Genesis { .. }, _) => {
                return Err(diverged(DivergenceKind::Genesis(
                    "a genesis record after the first record".into(),
                )));
            }
            (RecordBody::Batch(_), None) => {
                return Err(diverged(DivergenceKind::Genesis(
                    "the first record is not a genesis record".into(),
                )));
            }
            (RecordBody::Batch(batch), Some(ledger)) => {
                let report =
                    ledger.apply_into(&batch.commands, batch.timestamp, &mut self.outcomes);
                let first_difference = batch
                    .outcomes
                    .iter()
                    .zip(&self.outcomes)
                    .position(|(recorded, replayed)| recorded != replayed);
                if let Some(index) = first_difference {
                    return Err(diverged(DivergenceKind::Outcome {
                        index,
                        recorded: Box::new(batch.outcomes[index].clone()),
                        replayed: Box::new(self.outcomes[index].clone()),
                    }));
                }
                let replayed = ledger.state_hash();
                if replayed != batch.state_hash {
                    // A violation during replay rolls the batch back and halts, which
                    // changes the hash: say which invariant, it is the useful part.
                    if let Some(v) = report.violation {
                        return Err(diverged(DivergenceKind::Violation(v.to_string())));
                    }
                    return Err(diverged(DivergenceKind::StateHash {
                        recorded: batch.state_hash,
                        replayed,
                    }));
                }
                Some(batch)
            }
        };
        self.last_seq = rec.seq;
        self.last_hash = rec.hash;
        Ok(batch)
    }
}

pub const SNAPSHOT_FORMAT: u8 = 1;

/// A snapshot's payload: the currency code and the whole ledger.
pub fn encode_snapshot(out: &mut Vec<u8>, currency: &CurrencyCode, ledger: &Ledger) {
    out.put_u8(SNAPSHOT_FORMAT);
    currency.put(out);
    codec::put_ledger(out, ledger);
}

pub fn decode_snapshot(payload: &[u8]) -> Result<(CurrencyCode, Ledger), DecodeError> {
    let mut r = Reader::new(payload);
    if r.u8("snapshot format")? != SNAPSHOT_FORMAT {
        return Err(r.error("snapshot format"));
    }
    let currency = CurrencyCode::get(&mut r)?;
    let ledger = codec::get_ledger(&mut r)?;
    if !r.is_empty() {
        return Err(r.error("end of snapshot (trailing bytes)"));
    }
    Ok((currency, ledger))
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
    pub divergence: Option<Divergence>,
    /// The full invariant check over the final state.
    pub invariants: Option<Result<(), String>>,
}

impl VerifyReport {
    /// True when the journal is intact, replays to the same outcomes and hashes, and the
    /// final state satisfies every invariant. A torn tail (never acknowledged) does not
    /// make a journal bad.
    pub fn ok(&self) -> bool {
        self.journal_error.is_none()
            && self.divergence.is_none()
            && matches!(self.invariants, Some(Ok(())))
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
                (Command::Linked(ts), Applied::Linked { .. }) => {
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

/// Re-executes a currency's whole journal from genesis with this version of the code.
/// Never modifies anything.
pub fn verify(storage: &dyn Storage) -> VerifyReport {
    let mut report = VerifyReport {
        storage: storage.describe(),
        ..VerifyReport::default()
    };
    let mut replayer = Replayer::from_genesis();
    let mut divergence = None;
    let read = storage.read_records(1, None, &mut |rec| {
        report.records += 1;
        match replayer.apply(&rec) {
            Ok(Some(batch)) => report.count_batch(&batch),
            Ok(None) => {}
            Err(d) => {
                divergence = Some(d);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    match read {
        Ok(end) => report.torn_tail = end.torn_tail,
        Err(e) => report.journal_error = Some(e.to_string()),
    }
    report.divergence = divergence;
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
        if let Some(d) = &self.divergence {
            writeln!(f, "  FIRST DIVERGENCE: {d}")?;
        }
        match &self.invariants {
            Some(Err(e)) => writeln!(f, "  INVARIANT BROKEN: {e}")?,
            None if self.journal_error.is_none() => writeln!(f, "  no ledger state to check")?,
            _ => {}
        }
        writeln!(f, "  result: {}", if self.ok() { "OK" } else { "FAILED" })
    }
}
