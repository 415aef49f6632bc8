//! The sequencer end to end on a real journal: answers only after durability, restart
//! and snapshot recovery, backpressure, and a failed fsync.

mod common;

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use engine::{
    CommitError, Engine, EngineError, EngineOptions, FileStorage, Health, OpenedWriter, ReadEnd,
    Storage, SubmitError,
};
use journal::{
    AppendReceipt, FaultInjection, FileJournalConfig, JournalError, JournalStore, NewRecord,
    Record, RecordHash, Snapshot,
};
use ledger::*;
use parking_lot::{Condvar, Mutex};

#[test]
fn outcomes_survive_restart_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::create(
        storage(dir.path()),
        currency(),
        LedgerConfig::default(),
        options(),
    )
    .unwrap();
    populate(&engine, 10, 3);
    let pay = payment(1, 2, 12_345);
    let first = engine.execute(vec![pay.clone()]).unwrap().remove(0);
    assert!(first.is_applied());
    let overdraft = engine
        .execute(vec![payment(2, 0, 1_000_001)])
        .unwrap()
        .remove(0);
    assert_eq!(
        overdraft.result.unwrap_err().code(),
        RejectionCode::InsufficientFunds
    );
    let hash = engine.state_hash();
    engine.shutdown();

    let (engine, report) = Engine::open(storage(dir.path()), options()).unwrap();
    assert_eq!(engine.state_hash(), hash);
    assert!(
        report.records_replayed > 0 && report.torn_tail.is_none(),
        "{report:?}"
    );
    // A retry after the restart gets the first outcome, and moves nothing.
    let again = engine.execute(vec![pay]).unwrap().remove(0);
    assert_eq!((again.result, again.repeated), (first.result, true));
    assert_eq!(
        engine.read(|l| l.account(merchant(2).account()).unwrap().balance()),
        Some(Won::new(12_345))
    );
    engine.shutdown();

    let report = engine::verify(storage(dir.path()).as_ref());
    assert!(report.ok(), "{report}");
    assert_eq!(report.transfers_by_kind["payment"].count, 1);
    assert_eq!(report.transfers_by_kind["payment"].won, 12_345);
    assert_eq!(report.rejected_by_code["insufficient_funds"], 1);
    let text = report.to_string();
    assert!(text.contains("result: OK"), "{text}");
}

#[test]
fn create_refuses_an_existing_currency_and_open_refuses_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Engine::open(storage(dir.path()), options()),
        Err(EngineError::NotInitialized(_))
    ));
    Engine::create(
        storage(dir.path()),
        currency(),
        LedgerConfig::default(),
        options(),
    )
    .unwrap()
    .shutdown();
    let again = Engine::create(
        storage(dir.path()),
        currency(),
        LedgerConfig::default(),
        options(),
    );
    assert!(matches!(again, Err(EngineError::AlreadyExists(_))));
}

#[test]
fn restart_from_a_snapshot_still_verifies_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        snapshot_every_commands: 50,
        verify_tail_records: 5,
        ..options()
    };
    let engine = Engine::create(
        storage(dir.path()),
        currency(),
        LedgerConfig::default(),
        opts.clone(),
    )
    .unwrap();
    populate(&engine, 20, 5);
    for i in 0..200u64 {
        let outs = engine.execute(vec![payment(i % 20, i % 5, 100)]).unwrap();
        assert!(outs[0].is_applied());
    }
    let hash = engine.state_hash();
    // Snapshots are taken in the background, by a copy that re-checks every record.
    wait_until("a background snapshot is written", || {
        engine.counters().snapshots.load(Ordering::Relaxed) >= 2
    });
    assert_eq!(engine.audit_failure(), None);
    engine.shutdown();
    let (engine, report) = Engine::open(storage(dir.path()), opts).unwrap();
    assert_eq!(engine.state_hash(), hash);
    let snap = report.snapshot_seq.expect("loaded from a snapshot");
    assert!(
        report.records_replayed >= 5,
        "the tail is replayed and checked: {report:?}"
    );
    assert_eq!(snap + report.records_replayed, report.last_seq);
}

#[test]
fn pendings_expire_on_an_idle_currency() {
    let dir = tempfile::tempdir().unwrap();
    let (now, clock) = manual_clock(1_000_000);
    let opts = EngineOptions {
        clock,
        idle_tick: Duration::from_millis(10),
        ..options()
    };
    let engine = Engine::create(
        storage(dir.path()),
        currency(),
        LedgerConfig::default(),
        opts,
    )
    .unwrap();
    populate(&engine, 1, 1);
    let hold = env(Command::Transfer(Transfer::pending(
        TransferSpec::Payment {
            payer: wallet(0),
            merchant: merchant(0),
            amount: Won::new(500),
        },
        1_000,
    )));
    let Ok(Applied::Transfer { id, .. }) = engine.execute(vec![hold]).unwrap().remove(0).result
    else {
        panic!()
    };
    now.fetch_add(1_000, Ordering::SeqCst);
    wait_until("the idle sequencer expires the hold", || {
        engine.read(|l| l.pending(id).is_none())
    });
    assert_eq!(
        engine.read(|l| l.account(wallet(0).account()).unwrap().available()),
        Some(Won::new(1_000_000))
    );
}

/// A storage whose writes wait at a gate, so the test can hold the disk "busy".
#[derive(Debug)]
struct Gated {
    inner: FileStorage,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

#[derive(Debug)]
struct GatedStore {
    inner: Box<dyn JournalStore>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl JournalStore for GatedStore {
    fn append_durable(&mut self, records: &[NewRecord<'_>]) -> Result<AppendReceipt, JournalError> {
        let (open, cv) = &*self.gate;
        let mut open = open.lock();
        while !*open {
            cv.wait(&mut open);
        }
        drop(open);
        self.inner.append_durable(records)
    }
    fn last_seq(&self) -> u64 {
        self.inner.last_seq()
    }
    fn last_hash(&self) -> RecordHash {
        self.inner.last_hash()
    }
}

impl Storage for Gated {
    fn open_writer(&self, trusted_through: Option<u64>) -> Result<OpenedWriter, JournalError> {
        let mut w = self.inner.open_writer(trusted_through)?;
        w.store = Box::new(GatedStore {
            inner: w.store,
            gate: Arc::clone(&self.gate),
        });
        Ok(w)
    }
    fn read_records(
        &self,
        from: u64,
        prev: Option<RecordHash>,
        visit: &mut dyn FnMut(Record) -> ControlFlow<()>,
    ) -> Result<ReadEnd, JournalError> {
        self.inner.read_records(from, prev, visit)
    }
    fn save_snapshot(
        &self,
        seq: u64,
        chain_hash: RecordHash,
        payload: &[u8],
    ) -> Result<(), JournalError> {
        self.inner.save_snapshot(seq, chain_hash, payload)
    }
    fn list_snapshots(&self) -> Result<Vec<u64>, JournalError> {
        self.inner.list_snapshots()
    }
    fn load_snapshot(&self, seq: u64) -> Result<Snapshot, JournalError> {
        self.inner.load_snapshot(seq)
    }
    fn peek_snapshot(&self, seq: u64, len: usize) -> Result<Vec<u8>, JournalError> {
        self.inner.peek_snapshot(seq, len)
    }
    fn retain_snapshots(&self, keep: &[u64]) -> Result<(), JournalError> {
        self.inner.retain_snapshots(keep)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[test]
fn a_full_queue_answers_busy_at_once_and_nothing_is_acknowledged_before_durable() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new((Mutex::new(true), Condvar::new()));
    let gated: Arc<dyn Storage> = Arc::new(Gated {
        inner: FileStorage::new(dir.path(), FileJournalConfig::default()),
        gate: Arc::clone(&gate),
    });
    let opts = EngineOptions {
        queue_submissions_max: 4,
        writer_queue_batches: 1,
        ..options()
    };
    let engine = Engine::create(
        Arc::clone(&gated),
        currency(),
        LedgerConfig::default(),
        opts,
    )
    .unwrap();
    populate(&engine, 50, 2);

    *gate.0.lock() = false; // the disk stops answering
    let mut tickets = Vec::new();
    let mut busy = None;
    for i in 0..50 {
        match engine.submit(vec![payment(i, 0, 10)]) {
            Ok(t) => tickets.push(t),
            Err(e) => {
                busy = Some(e);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let Some(SubmitError::Busy { retry_after }) = busy else {
        panic!("expected Busy, got {busy:?}")
    };
    assert!(retry_after > Duration::ZERO);
    // Applied in memory perhaps, but not durable: nobody has an answer yet.
    std::thread::sleep(Duration::from_millis(50));
    let durable_before = engine.durable_seq();
    assert!(tickets.len() >= 4);
    for t in &mut tickets {
        assert!(
            t.try_take().is_none(),
            "answered before its batch was durable"
        );
    }
    *gate.0.lock() = true;
    gate.1.notify_all();
    for t in tickets {
        assert!(t.wait().unwrap()[0].is_applied());
    }
    assert!(engine.durable_seq() > durable_before);
}

#[test]
fn a_failed_fsync_is_never_retried_and_the_state_is_rebuilt_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    Engine::create(
        file_storage(dir.path()),
        currency(),
        LedgerConfig::default(),
        options(),
    )
    .unwrap()
    .shutdown();
    // The second durable write after the reopen fails its fsync.
    let fault = FaultInjection {
        fail_sync_on_append: Some(2),
        ..FaultInjection::default()
    };
    let faulty: Arc<dyn Storage> = Arc::new(FileStorage::new(
        dir.path(),
        FileJournalConfig::default().with_fault(fault),
    ));
    let (engine, _) = Engine::open(faulty, options()).unwrap();
    populate(&engine, 5, 1); // one durable write
    let pay = payment(0, 0, 777);
    let err = engine.execute(vec![pay.clone()]).unwrap_err();
    assert!(
        matches!(err, EngineError::Commit(CommitError::NotDurable { .. })),
        "{err:?}"
    );
    // The sequencer rebuilds from disk and takes writes again.
    wait_until("the engine runs again", || {
        engine.health() == Health::Running
    });
    assert_eq!(engine.counters().recoveries.load(Ordering::Relaxed), 1);
    // The write reached the page cache before its fsync failed, but nothing says it
    // reached the disk: the rebuild cuts it (keeping the bytes aside), and the retry with
    // the same key is applied afresh — once.
    let retry = engine.execute(vec![pay]).unwrap().remove(0);
    assert!(retry.is_applied() && !retry.repeated, "{retry:?}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("torn-tail-")),
        "the unacknowledged record was quarantined"
    );
    assert_eq!(
        engine.read(|l| l.account(merchant(0).account()).unwrap().balance()),
        Some(Won::new(777))
    );
    let hash = engine.state_hash();
    engine.shutdown();
    let (engine, _) = Engine::open(file_storage(dir.path()), options()).unwrap();
    assert_eq!(engine.state_hash(), hash);
    assert!(engine::verify(file_storage(dir.path()).as_ref()).ok());
}

#[test]
fn submissions_over_the_limit_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        submission_commands_max: 3,
        ..options()
    };
    let engine = Engine::create(
        storage(dir.path()),
        currency(),
        LedgerConfig::default(),
        opts,
    )
    .unwrap();
    let err = engine
        .submit((0..4).map(|i| payment(i, 0, 1)).collect())
        .unwrap_err();
    assert_eq!(err, SubmitError::TooLarge { max: 3 });
}

#[test]
fn the_background_audit_reports_a_record_damaged_after_it_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EngineOptions {
        snapshot_every_commands: 200,
        // The background copy stays this many records behind the end.
        verify_tail_records: 1,
        ..options()
    };
    let engine = Engine::create(
        file_storage(dir.path()),
        currency(),
        LedgerConfig::default(),
        opts,
    )
    .unwrap();
    populate(&engine, 10, 2); // one batch, below the snapshot threshold
    for i in 0..5 {
        engine.execute(vec![payment(i, 0, 100)]).unwrap();
    }
    // Someone (a disk, a person) changes a journaled record under the running node.
    let reader = journal::JournalReader::open(dir.path()).unwrap();
    let rec = reader
        .records(journal::ReadOptions::from_seq(3))
        .next()
        .unwrap()
        .unwrap();
    let path = dir.path().join(journal::JOURNAL_FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = rec.offset as usize + journal::HEADER_LEN + 3;
    bytes[at] ^= 0x40;
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(at as u64)).unwrap();
        f.write_all(&bytes[at..=at]).unwrap();
    }
    // Enough traffic to ask for a snapshot: the background copy re-reads the journal.
    for chunk in (0..300u64).collect::<Vec<_>>().chunks(50) {
        engine
            .execute(chunk.iter().map(|&i| payment(i % 10, 1, 1)).collect())
            .unwrap();
    }
    wait_until("the damage is reported", || {
        engine.audit_failure().is_some()
    });
    let failure = engine.audit_failure().unwrap_or_default();
    assert!(
        failure.contains("seq 3") || failure.contains("record 3"),
        "{failure}"
    );
    assert_eq!(
        engine.counters().snapshots.load(Ordering::Relaxed),
        0,
        "no snapshot from a copy in doubt"
    );
}

/// An operator change: the handover's halt is the last command taken. Submissions
/// racing it are either before it in the journal or refused, never written after it,
/// and the engine stays sealed (read-only, reads go on) and writes nothing more.
#[test]
fn submit_last_makes_its_batch_the_last_record_and_refuses_what_comes_after() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(
        Engine::create(
            storage(dir.path()),
            currency(),
            LedgerConfig::default(),
            options(),
        )
        .unwrap(),
    );
    populate(&engine, 10, 3);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let racers: Vec<_> = (0..2)
        .map(|t| {
            let (engine, stop) = (Arc::clone(&engine), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut answered_after_seal = 0u32;
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    match engine.submit(vec![payment(1 + t, 2, 1)]) {
                        Ok(ticket) => {
                            let _ = ticket.wait();
                        }
                        Err(SubmitError::ReadOnly { .. }) => answered_after_seal += 1,
                        Err(SubmitError::Busy { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                    if i % 64 == 0 {
                        std::thread::yield_now();
                    }
                }
                answered_after_seal
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let halt = env(Command::Halt {
        operator: Text::new("handover").unwrap(),
        reason: Text::new("operator change to https://new.example").unwrap(),
    });
    let outcome = engine
        .submit_last(vec![halt], "moved to https://new.example")
        .unwrap()
        .wait()
        .unwrap();
    assert!(outcome[0].is_applied());
    let (last_seq, last_hash) = engine.durable_head();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let refused: u32 = racers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(refused > 0, "submissions after the seal are refused");
    assert_eq!(
        engine.durable_head(),
        (last_seq, last_hash),
        "nothing written after it"
    );
    assert!(matches!(engine.health(), Health::ReadOnly { .. }));
    assert!(matches!(
        engine.submit(vec![payment(1, 2, 1)]),
        Err(SubmitError::ReadOnly { .. })
    ));
    assert!(engine.read(|l| l.halted().is_some()));
    // The halt is the journal's last record.
    let mut last_read = 0;
    storage(dir.path())
        .read_records(1, None, &mut |rec| {
            last_read = rec.seq;
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(last_read, last_seq);
}
