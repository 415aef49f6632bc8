//! The Buyeo drill. In Buyeo (2020) a system update made about fifty payments credit
//! the payer instead of debiting them, for two hours. maeul has four layers against it:
//!
//! 1. the type system (a payment whose payer is a merchant does not compile: the
//!    `compile_fail` doctest on `TransferSpec` in `crates/ledger/src/command.rs`);
//! 2. the posting layer's direction check (`Violation::WrongDirection`);
//! 3. the batch invariants (here: a merchant driven below zero, `Violation::Negative`);
//! 4. replay, at start-up and in `verify`: a flipped payment that keeps every
//!    invariant is still decided differently by a correct version.
//!
//! Layers 2 and 3 are shown on a `Ledger` directly, layer 4 on a journal written the way
//! the buggy version would have written it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;
use engine::record::{self, RecordBody};
use engine::{DivergenceKind, Engine, EngineError, FileStorage};
use journal::{
    FileJournal, FileJournalConfig, JournalReader, JournalStore, NewRecord, ReadOptions,
};
use ledger::*;

const T0: u64 = 1_700_000_000 * SECOND_US;

fn at(second: u64) -> Timestamp {
    Timestamp::from_micros(T0 + second * SECOND_US)
}

fn operator() -> Text {
    Text::new("operator on duty").unwrap()
}

fn charge(w: u64, amount: i64) -> Envelope {
    env(Command::Transfer(Transfer::posted(TransferSpec::Charge {
        reserve: RESERVE,
        wallet: wallet(w),
        amount: Won::new(amount),
        lot: NEVER,
    })))
}

fn resume() -> Envelope {
    env(Command::Resume {
        operator: operator(),
    })
}

fn balance(ledger: &Ledger, id: AccountId) -> Won {
    ledger.account(id).unwrap().balance().unwrap()
}

/// The setup batches of the drill: a reserve, a budget, four wallets with 1,000,000 won
/// each, merchant 0 that has been paid 50,000 and merchant 1 that has been paid 3,000.
fn setup_batches() -> Vec<Vec<Envelope>> {
    let mut open_all = vec![
        open(RESERVE.account(), AccountKind::IssuerReserve),
        open(BUDGET.account(), AccountKind::SubsidyBudget),
    ];
    open_all.extend((0..4).map(|i| open(wallet(i).account(), AccountKind::CitizenWallet)));
    open_all.extend((0..2).map(|i| open(merchant(i).account(), AccountKind::Merchant)));
    vec![
        open_all,
        (0..4).map(|i| charge(i, 1_000_000)).collect(),
        vec![payment(0, 0, 50_000), payment(3, 1, 3_000)],
    ]
}

/// Applies a batch that must be applied in full.
fn apply_clean(ledger: &mut Ledger, batch: &[Envelope], now: Timestamp) -> Vec<Outcome> {
    let (outs, report) = ledger.apply(batch, now);
    assert_eq!(report.violation, None);
    assert!(outs.iter().all(Outcome::is_applied), "{outs:?}");
    outs
}

/// A ledger after the setup batches, and the second the next batch may use.
fn drill_ledger() -> (Ledger, u64) {
    let mut ledger = Ledger::new(LedgerConfig::default());
    let batches = setup_batches();
    for (i, batch) in batches.iter().enumerate() {
        apply_clean(&mut ledger, batch, at(i as u64));
    }
    assert_eq!(balance(&ledger, merchant(0).account()), Won::new(50_000));
    assert_eq!(balance(&ledger, merchant(1).account()), Won::new(3_000));
    (ledger, batches.len() as u64)
}

fn all_invariant_violations(outs: &[Outcome], n: usize) {
    assert_eq!(outs.len(), n);
    for o in outs {
        assert_eq!(o.result, Err(Rejection::InvariantViolation), "{outs:?}");
        assert!(!o.repeated);
    }
}

// ----- layer 2: the posting layer's direction check ------------------------------------

#[test]
fn layer2_direction_check_rolls_back_the_batch_halts_and_an_operator_resumes() {
    let (mut ledger, mut sec) = drill_ledger();
    let accounts_before = ledger.accounts().to_vec();
    let next_id_before = ledger.next_transfer_id();
    let hash_before = ledger.state_hash();

    // The faulty update is deployed. Merchant 0 holds enough for the available-funds
    // check to pass, so the flipped payment reaches `post`, which checks the direction.
    ledger.inject_fault(Some(Fault::FlipPaymentDirection { skip_checks: false }));
    let batch = vec![
        charge(2, 10_000),    // fine on its own, applied before the fault
        payment(1, 0, 7_000), // the first flipped payment
        payment(2, 0, 8_000), // never reached
        charge(3, 1_000),     // never reached
    ];
    let (outs, report) = ledger.apply(&batch, at(sec));
    let wrong_direction = Violation::WrongDirection {
        kind: TransferKind::Payment,
        debit: AccountKind::Merchant,
        credit: AccountKind::CitizenWallet,
    };
    assert_eq!(report.violation, Some(wrong_direction.clone()));
    // The whole batch is rolled back, including the charge that came before the fault.
    all_invariant_violations(&outs, batch.len());
    assert_eq!(ledger.accounts(), accounts_before.as_slice());
    assert_eq!(ledger.next_transfer_id(), next_id_before);
    assert!(ledger.check_all().is_ok());
    // ... and the currency is halted, saying why.
    let halt = ledger.halted().expect("the ledger halts itself").clone();
    assert_eq!(halt.at, at(sec));
    assert_eq!(halt.cause, HaltCause::Violation(wrong_direction));
    // The halt is part of the state hash, nothing else changed.
    assert_ne!(ledger.state_hash(), hash_before);
    sec += 1;

    // Writes are refused while halted, and the refusal is not remembered under the key.
    let (outs, report) = ledger.apply(&[charge(0, 1), payment(1, 0, 7_000)], at(sec));
    assert_eq!(report.violation, None);
    assert!(
        outs.iter()
            .all(|o| o.result == Err(Rejection::CurrencyHalted)),
        "{outs:?}"
    );
    assert_eq!(ledger.accounts(), accounts_before.as_slice());
    sec += 1;

    // Reads go on.
    assert_eq!(balance(&ledger, wallet(1).account()), Won::new(1_000_000));
    assert_eq!(balance(&ledger, merchant(0).account()), Won::new(50_000));

    // The operator rolls the update back and resumes: the state is exactly the one
    // before the faulty batch.
    ledger.inject_fault(None);
    let outs = apply_clean(&mut ledger, &[resume()], at(sec));
    assert_eq!(outs[0].result, Ok(Applied::Resumed));
    assert!(ledger.halted().is_none());
    assert_eq!(ledger.state_hash(), hash_before);
    sec += 1;

    // The clients retry the very same envelopes: judged afresh, the payments go the
    // right way.
    apply_clean(&mut ledger, &batch, at(sec));
    assert_eq!(balance(&ledger, wallet(1).account()), Won::new(993_000));
    assert_eq!(balance(&ledger, wallet(2).account()), Won::new(1_002_000));
    assert_eq!(balance(&ledger, merchant(0).account()), Won::new(65_000));
    assert!(ledger.check_all().is_ok());
}

#[test]
fn layer2_resume_is_refused_when_not_halted_and_halted_writes_never_move_money() {
    let (mut ledger, sec) = drill_ledger();
    let (outs, _) = ledger.apply(&[resume()], at(sec));
    assert_eq!(outs[0].result, Err(Rejection::NotHalted));

    // Halted by the fault, a batch that holds a Resume and then a flipped payment: the
    // fault is still there, so the batch is rolled back again and the halt stays.
    ledger.inject_fault(Some(Fault::FlipPaymentDirection { skip_checks: false }));
    let before = ledger.accounts().to_vec();
    let (_, report) = ledger.apply(&[payment(1, 0, 7_000)], at(sec + 1));
    assert!(report.violation.is_some());
    let (outs, report) = ledger.apply(&[resume(), payment(2, 0, 7_000)], at(sec + 2));
    assert!(matches!(
        report.violation,
        Some(Violation::WrongDirection { .. })
    ));
    all_invariant_violations(&outs, 2);
    assert!(ledger.halted().is_some());
    assert_eq!(ledger.accounts(), before.as_slice());
}

// ----- layer 3: the batch invariants ---------------------------------------------------

#[test]
fn layer3_batch_invariants_catch_a_flipped_payment_that_drives_the_merchant_negative() {
    let (mut ledger, sec) = drill_ledger();
    let accounts_before = ledger.accounts().to_vec();
    let next_id_before = ledger.next_transfer_id();

    // The fault also bypasses the direction and available-funds checks: the payment is
    // posted merchant -> wallet, and merchant 1 only holds 3,000.
    ledger.inject_fault(Some(Fault::FlipPaymentDirection { skip_checks: true }));
    let batch = vec![
        charge(2, 10_000),
        payment(0, 1, 10_000), // flipped: merchant 1 would hold -7,000
        charge(3, 1_000),      // applied after it, rolled back with it
    ];
    let (outs, report) = ledger.apply(&batch, at(sec));
    let negative = Violation::Negative {
        account: merchant(1).account(),
        kind: AccountKind::Merchant,
        available: -7_000,
    };
    assert_eq!(report.violation, Some(negative.clone()));
    all_invariant_violations(&outs, batch.len());
    assert_eq!(ledger.accounts(), accounts_before.as_slice());
    assert_eq!(ledger.next_transfer_id(), next_id_before);
    assert_eq!(
        ledger.halted().map(|h| &h.cause),
        Some(&HaltCause::Violation(negative))
    );
    assert!(ledger.check_all().is_ok());

    // Nothing is written while halted; after the fix and a resume the retry is right.
    let (outs, _) = ledger.apply(&batch, at(sec + 1));
    assert!(
        outs.iter()
            .all(|o| o.result == Err(Rejection::CurrencyHalted))
    );
    ledger.inject_fault(None);
    apply_clean(&mut ledger, &[resume()], at(sec + 2));
    apply_clean(&mut ledger, &batch, at(sec + 3));
    assert_eq!(balance(&ledger, merchant(1).account()), Won::new(13_000));
    assert_eq!(balance(&ledger, wallet(0).account()), Won::new(940_000));
}

// ----- layer 4: replay -----------------------------------------------------------------

fn journal_config() -> FileJournalConfig {
    FileJournalConfig::default().with_chunk_size(1 << 20)
}

/// Writes records into a fresh journal the way the sequencer does, one durable write
/// per record, and remembers where each one went.
struct HandWriter {
    journal: FileJournal,
    payload: Vec<u8>,
}

impl HandWriter {
    fn create(dir: &Path) -> HandWriter {
        let (journal, report) = FileJournal::open(dir, journal_config()).unwrap();
        assert_eq!(report.last_seq, 0);
        HandWriter {
            journal,
            payload: Vec::new(),
        }
    }

    /// Appends the payload in `self.payload`; returns (seq, offset).
    fn append(&mut self, timestamp: Timestamp) -> (u64, u64) {
        let seq = self.journal.last_seq() + 1;
        let offset = self.journal.end_offset();
        self.journal
            .append_durable(&[NewRecord {
                seq,
                timestamp_us: timestamp.as_micros(),
                payload: &self.payload,
            }])
            .unwrap();
        (seq, offset)
    }

    fn genesis(&mut self, config: &LedgerConfig, timestamp: Timestamp) -> (u64, u64) {
        self.payload.clear();
        record::encode_genesis(&mut self.payload, &currency(), config);
        self.append(timestamp)
    }

    fn batch(
        &mut self,
        timestamp: Timestamp,
        hash: StateHash,
        commands: &[Envelope],
        outcomes: &[Outcome],
    ) -> (u64, u64) {
        self.payload.clear();
        record::encode_batch(&mut self.payload, timestamp, hash, commands, outcomes);
        self.append(timestamp)
    }

    /// Applies a batch on `ledger` and journals it as the sequencer would.
    fn apply(&mut self, ledger: &mut Ledger, commands: &[Envelope], now: Timestamp) -> BatchInfo {
        let (outcomes, report) = ledger.apply(commands, now);
        let (seq, offset) = self.batch(report.timestamp, ledger.state_hash(), commands, &outcomes);
        BatchInfo {
            seq,
            offset,
            outcomes,
            report,
        }
    }
}

struct BatchInfo {
    seq: u64,
    offset: u64,
    outcomes: Vec<Outcome>,
    report: BatchReport,
}

/// Where the buggy version wrote its flipped payment.
struct BuggyJournal {
    seq: u64,
    offset: u64,
    last_seq: u64,
}

/// The journal a buggy version writes: clean batches, one batch in which the flipped
/// payment passes every invariant (merchant 0 holds more than the payment), then clean
/// batches again (the update was rolled back). Journal integrity is perfect throughout.
fn write_buggy_journal(dir: &Path) -> BuggyJournal {
    let config = LedgerConfig::default();
    let mut ledger = Ledger::new(config.clone());
    let mut w = HandWriter::create(dir);
    w.genesis(&config, at(0));
    let mut sec = 1;
    for batch in setup_batches() {
        let b = w.apply(&mut ledger, &batch, at(sec));
        assert!(b.outcomes.iter().all(Outcome::is_applied));
        sec += 1;
    }
    for i in 0..3 {
        let b = w.apply(&mut ledger, &[payment(i % 4, 0, 1_000)], at(sec));
        assert!(b.outcomes[0].is_applied());
        sec += 1;
    }

    // The update: payments flip, and the posting checks are bypassed.
    ledger.inject_fault(Some(Fault::FlipPaymentDirection { skip_checks: true }));
    let merchant_before = balance(&ledger, merchant(0).account());
    let wallet_before = balance(&ledger, wallet(2).account());
    let faulty = w.apply(
        &mut ledger,
        &[charge(1, 500), payment(2, 0, 20_000), charge(3, 700)],
        at(sec),
    );
    sec += 1;
    // Every invariant holds: money is conserved, nobody is negative, lots add up. The
    // ledger has no way to tell; the payer is 20,000 richer instead of poorer.
    assert_eq!(faulty.report.violation, None);
    assert!(faulty.outcomes.iter().all(Outcome::is_applied));
    assert!(ledger.halted().is_none());
    ledger
        .check_all()
        .expect("the flipped payment keeps every invariant");
    assert_eq!(
        balance(&ledger, merchant(0).account()),
        Won::new(merchant_before.get() - 20_000)
    );
    assert_eq!(
        balance(&ledger, wallet(2).account()),
        Won::new(wallet_before.get() + 20_000)
    );

    // Rolled back; business as usual.
    ledger.inject_fault(None);
    let mut last_seq = faulty.seq;
    for i in 0..4 {
        let b = w.apply(&mut ledger, &[payment(i, 1, 100), charge(i, 1)], at(sec));
        assert!(b.outcomes.iter().all(Outcome::is_applied));
        last_seq = b.seq;
        sec += 1;
    }
    ledger.check_all().unwrap();
    drop(w);

    // The journal itself is intact: checksums and hash chain all verify.
    let summary = JournalReader::open(dir).unwrap().verify().unwrap();
    assert_eq!(summary.last_seq, last_seq);
    assert!(summary.torn_tail.is_none());
    BuggyJournal {
        seq: faulty.seq,
        offset: faulty.offset,
        last_seq,
    }
}

#[test]
fn layer4_verify_names_the_record_of_a_flipped_payment_that_kept_every_invariant() {
    let dir = tempfile::tempdir().unwrap();
    let buggy = write_buggy_journal(dir.path());
    assert!(buggy.seq > 2 && buggy.seq < buggy.last_seq);

    let report = engine::verify(&FileStorage::new(dir.path(), journal_config()));
    assert!(!report.ok(), "{report}");
    assert!(report.journal_error.is_none(), "{report}");
    let d = report.divergence.clone().expect("a divergence");
    assert_eq!((d.seq, d.offset), (buggy.seq, buggy.offset), "{report}");
    // Same answers (the payment was "applied" either way), different money.
    assert!(
        matches!(d.what, DivergenceKind::StateHash { recorded, replayed } if recorded != replayed),
        "{d:?}"
    );
    // Replay goes on to list what else differs: the first record is the buggy one.
    assert_eq!(report.last_seq, buggy.last_seq);
    assert_eq!(report.differences.first(), Some(&d));
    let text = report.to_string();
    assert!(text.contains("FIRST DIVERGENCE"), "{text}");
    assert!(
        text.contains(&format!("record {} (offset {},", buggy.seq, buggy.offset)),
        "{text}"
    );
    assert!(text.contains("result: FAILED"), "{text}");
}

#[test]
fn layer4_open_refuses_to_serve_a_journal_written_by_the_buggy_version() {
    let dir = tempfile::tempdir().unwrap();
    let buggy = write_buggy_journal(dir.path());
    let before = std::fs::read(dir.path().join(journal::JOURNAL_FILE_NAME)).unwrap();

    let err = Engine::open(file_storage(dir.path()), options()).unwrap_err();
    let EngineError::Divergence(report) = &err else {
        panic!("expected a divergence, got {err:?}")
    };
    let d = report.first().expect("a first difference");
    assert_eq!((d.seq, d.offset), (buggy.seq, buggy.offset));
    let message = err.to_string();
    assert!(message.contains("refusing to serve"), "{message}");
    assert!(
        message.contains(&format!("record {}", buggy.seq)),
        "{message}"
    );
    // Refusing leaves the journal as it was.
    let after = std::fs::read(dir.path().join(journal::JOURNAL_FILE_NAME)).unwrap();
    assert!(before == after);
}

#[test]
fn layer4_verify_catches_an_outcome_edited_in_the_journal() {
    // A clean journal written by the engine.
    let clean = tempfile::tempdir().unwrap();
    let engine = Engine::create(
        file_storage(clean.path()),
        currency(),
        LedgerConfig::default(),
        options(),
    )
    .unwrap();
    populate(&engine, 4, 2);
    for i in 0..6 {
        let outs = engine.execute(vec![payment(i % 4, i % 2, 1_000)]).unwrap();
        assert!(outs[0].is_applied());
    }
    engine.shutdown();
    assert!(engine::verify(file_storage(clean.path()).as_ref()).ok());

    // Someone rewrites the journal with one outcome changed: the 4th payment "moved"
    // 100,000 instead of 1,000. Checksums and chain are recomputed, so the journal
    // itself is perfectly valid.
    let records: Vec<_> = JournalReader::open(clean.path())
        .unwrap()
        .records(ReadOptions::default())
        .collect::<Result<_, _>>()
        .unwrap();
    let target = records[records.len() - 3].seq;
    let edited = tempfile::tempdir().unwrap();
    let mut w = HandWriter::create(edited.path());
    let mut target_offset = None;
    for rec in &records {
        w.payload = rec.payload.clone();
        if rec.seq == target {
            let RecordBody::Batch(mut batch) = record::decode(&rec.payload).unwrap() else {
                panic!("record {target} is not a batch")
            };
            let Ok(Applied::Transfer { amount, .. }) = &mut batch.outcomes[0].result else {
                panic!("{:?}", batch.outcomes[0])
            };
            *amount = Won::new(100_000);
            w.payload.clear();
            record::encode_batch(
                &mut w.payload,
                batch.timestamp,
                batch.state_hash,
                &batch.commands,
                &batch.outcomes,
            );
        }
        let (seq, offset) = w.append(Timestamp::from_micros(rec.timestamp_us));
        assert_eq!(seq, rec.seq);
        if seq == target {
            target_offset = Some(offset);
        }
    }
    drop(w);
    JournalReader::open(edited.path())
        .unwrap()
        .verify()
        .unwrap();

    let report = engine::verify(&FileStorage::new(edited.path(), journal_config()));
    assert!(!report.ok(), "{report}");
    let d = report.divergence.clone().expect("a divergence");
    assert_eq!((d.seq, Some(d.offset)), (target, target_offset));
    let DivergenceKind::Outcome {
        index,
        recorded,
        replayed,
    } = &d.what
    else {
        panic!("{d:?}")
    };
    assert_eq!(*index, 0);
    assert!(matches!(
        recorded.result,
        Ok(Applied::Transfer { amount, .. }) if amount == Won::new(100_000)
    ));
    assert!(matches!(
        replayed.result,
        Ok(Applied::Transfer { amount, .. }) if amount == Won::new(1_000)
    ));
    let text = report.to_string();
    assert!(text.contains("FIRST DIVERGENCE"), "{text}");
    assert!(text.contains(&format!("record {target} ")), "{text}");

    // And the engine will not serve it either.
    let err = Engine::open(file_storage(edited.path()), options()).unwrap_err();
    assert!(
        matches!(&err, EngineError::Divergence(d) if d.first().map(|d| d.seq) == Some(target)),
        "{err:?}"
    );
}
