//! The PostgreSQL journal: records and snapshots as rows, the chain checked on every
//! read, and the fence: a writer whose lease was taken writes nothing more.
#![allow(clippy::unwrap_used)]

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use engine::Storage;
use journal::{GENESIS_HASH, JournalError, NewRecord, Record, record_hash};
use pgstore::scratch::ScratchDb;
use pgstore::{PgStorage, lease};

const LONG: Duration = Duration::from_secs(60);

fn read_all(storage: &PgStorage) -> Vec<Record> {
    let mut out = Vec::new();
    storage
        .read_records(1, None, &mut |r| {
            out.push(r);
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

fn append(
    journal: &mut dyn journal::JournalStore,
    payloads: &[&[u8]],
) -> Result<u64, JournalError> {
    let first = journal.last_seq() + 1;
    let records: Vec<NewRecord<'_>> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| NewRecord {
            seq: first + i as u64,
            timestamp_us: 1_000 + first + i as u64,
            payload: p,
        })
        .collect();
    journal.append_durable(&records).map(|r| r.last_seq)
}

#[test]
fn records_go_in_as_rows_and_come_back_chained() {
    let t = ScratchDb::new();
    let db = t.db();
    let lease = lease::try_acquire(&db, "town", "node-a", LONG)
        .unwrap()
        .unwrap();
    assert_eq!(lease.epoch, 1);
    let storage = PgStorage::writer(Arc::clone(&db), &lease);
    let opened = storage.open_writer(None).unwrap();
    assert_eq!((opened.last_seq, opened.last_hash), (0, GENESIS_HASH));
    let mut journal = opened.store;
    assert_eq!(append(journal.as_mut(), &[b"one", b"two"]).unwrap(), 2);
    assert_eq!(append(journal.as_mut(), &[b"", b"four"]).unwrap(), 4);
    // A wrong seq is refused before anything is written, and the journal goes on.
    let bad = journal.append_durable(&[NewRecord {
        seq: 9,
        timestamp_us: 1,
        payload: b"x",
    }]);
    assert!(
        matches!(bad, Err(JournalError::InvalidAppend(_))),
        "{bad:?}"
    );
    assert_eq!(append(journal.as_mut(), &[b"five"]).unwrap(), 5);

    let records = read_all(&PgStorage::reader(Arc::clone(&db), "town"));
    assert_eq!(records.len(), 5);
    let mut prev = GENESIS_HASH;
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1);
        assert_eq!(
            r.hash,
            record_hash(&prev, r.seq, r.timestamp_us, &r.payload)
        );
        prev = r.hash;
    }
    assert_eq!(records[3].payload, b"four");
    assert_eq!(journal.last_hash(), prev);

    // A read from the middle checks the caller's idea of the chain.
    let mut seen = Vec::new();
    storage
        .read_records(3, Some(records[1].hash), &mut |r| {
            seen.push(r.seq);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(seen, [3, 4, 5]);
    let wrong = storage.read_records(3, Some(records[0].hash), &mut |_| ControlFlow::Continue(()));
    assert!(
        matches!(wrong, Err(JournalError::ChainMismatch { seq: 3, .. })),
        "{wrong:?}"
    );

    // Another currency in the same tables is another journal.
    assert!(read_all(&PgStorage::reader(db, "village")).is_empty());
}

#[test]
fn a_changed_or_missing_row_is_damage_not_a_short_journal() {
    let t = ScratchDb::new();
    let db = t.db();
    let lease = lease::try_acquire(&db, "town", "node-a", LONG)
        .unwrap()
        .unwrap();
    let storage = PgStorage::writer(Arc::clone(&db), &lease);
    let mut journal = storage.open_writer(None).unwrap().store;
    append(journal.as_mut(), &[b"a", b"b", b"c", b"d"]).unwrap();

    let conn = db.conn().unwrap();
    conn.run(
        "edit",
        conn.batch_execute("UPDATE maeul_journal SET payload = '\\x62ff' WHERE seq = 2"),
    )
    .unwrap();
    let err = storage
        .read_records(1, None, &mut |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert!(matches!(err, JournalError::Corrupt { seq: 2, .. }), "{err}");

    conn.run(
        "remove",
        conn.batch_execute("DELETE FROM maeul_journal WHERE seq IN (2, 3)"),
    )
    .unwrap();
    let err = storage
        .read_records(1, None, &mut |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert!(matches!(err, JournalError::Corrupt { seq: 2, .. }), "{err}");
}

#[test]
fn a_deposed_writer_writes_nothing_and_says_who_writes_now() {
    let t = ScratchDb::new();
    let db = t.db();
    let short = Duration::from_millis(200);
    let a = lease::try_acquire(&db, "town", "node-a", short)
        .unwrap()
        .unwrap();
    // Live: nobody else may take it.
    assert_eq!(
        lease::try_acquire(&db, "town", "node-b", short).unwrap(),
        None
    );
    let storage_a = PgStorage::writer(Arc::clone(&db), &a);
    let mut journal_a = storage_a.open_writer(None).unwrap().store;
    append(journal_a.as_mut(), &[b"a1", b"a2"]).unwrap();

    // Node A is paused past its lease; B takes it and writes.
    std::thread::sleep(Duration::from_millis(300));
    let b = lease::try_acquire(&db, "town", "node-b", LONG)
        .unwrap()
        .unwrap();
    assert_eq!(b.epoch, 2);
    assert!(
        !lease::renew(&db, &a, short).unwrap(),
        "a lost lease is not renewed"
    );
    let storage_b = PgStorage::writer(Arc::clone(&db), &b);
    let opened = storage_b.open_writer(None).unwrap();
    assert_eq!(
        opened.last_seq, 2,
        "B starts where A's last acknowledged write ended"
    );
    let mut journal_b = opened.store;

    // A wakes up and writes seq 3, which nobody has written yet: refused all the same,
    // because its epoch is no longer the lease's.
    let err = append(journal_a.as_mut(), &[b"a3"]).unwrap_err();
    match &err {
        JournalError::Fenced { epoch, now, .. } => {
            assert_eq!(*epoch, 1);
            assert!(now.contains("node-b") && now.contains("epoch 2"), "{now}");
        }
        other => panic!("expected a fence, got {other}"),
    }
    assert!(matches!(
        append(journal_a.as_mut(), &[b"a4"]),
        Err(JournalError::Poisoned)
    ));
    append(journal_b.as_mut(), &[b"b3"]).unwrap();
    assert!(matches!(
        storage_a.open_writer(None),
        Err(JournalError::Fenced { epoch: 1, .. })
    ));
    let reopened_as_a = PgStorage::writer(Arc::clone(&db), &a);
    assert!(reopened_as_a.open_writer(None).is_err());

    append(journal_b.as_mut(), &[b"b4"]).unwrap();
    // Nor does it save or prune snapshots over its successor's.
    let h = journal::RecordHash([9; 32]);
    storage_b.save_snapshot(3, h, b"B's state").unwrap();
    storage_a.save_snapshot(2, h, b"A's late state").unwrap();
    storage_a.retain_snapshots(&[]).unwrap();
    assert_eq!(storage_b.list_snapshots().unwrap(), [3]);
    let payloads: Vec<Vec<u8>> = read_all(&storage_b)
        .into_iter()
        .map(|r| r.payload)
        .collect();
    assert_eq!(
        payloads,
        [
            b"a1".to_vec(),
            b"a2".to_vec(),
            b"b3".to_vec(),
            b"b4".to_vec()
        ]
    );
}

#[test]
fn the_same_holder_takes_its_lease_again_under_a_new_epoch() {
    let t = ScratchDb::new();
    let db = t.db();
    let first = lease::try_acquire(&db, "town", "node-a", LONG)
        .unwrap()
        .unwrap();
    let again = lease::try_acquire(&db, "town", "node-a", LONG)
        .unwrap()
        .unwrap();
    assert_eq!((first.epoch, again.epoch), (1, 2));
    let old = PgStorage::writer(Arc::clone(&db), &first);
    assert!(matches!(
        old.open_writer(None),
        Err(JournalError::Fenced { .. })
    ));
    // A release lets another node take it at once.
    lease::release(&db, &again).unwrap();
    let other = lease::try_acquire(&db, "town", "node-b", LONG)
        .unwrap()
        .unwrap();
    assert_eq!(other.epoch, 3);
    let holder = lease::holder(&db, "town").unwrap().unwrap();
    assert_eq!((holder.holder.as_str(), holder.epoch), ("node-b", 3));
    assert!(holder.expires_in_ms > 50_000);
    // A reader never writes.
    assert!(PgStorage::reader(db, "town").open_writer(None).is_err());
}

#[test]
fn snapshots_are_kept_listed_peeked_and_pruned() {
    let t = ScratchDb::new();
    let db = t.db();
    let storage = PgStorage::reader(db, "town");
    let h = |b: u8| journal::RecordHash([b; 32]);
    storage.save_snapshot(10, h(1), b"state at ten").unwrap();
    storage.save_snapshot(20, h(2), b"state at twenty").unwrap();
    storage.save_snapshot(30, h(3), b"state at thirty").unwrap();
    assert_eq!(storage.list_snapshots().unwrap(), [10, 20, 30]);
    assert_eq!(storage.peek_snapshot(20, 5).unwrap(), b"state");
    let s = storage.load_snapshot(20).unwrap();
    assert_eq!(
        (s.seq, s.chain_hash, s.payload.as_slice()),
        (20, h(2), &b"state at twenty"[..])
    );
    storage.retain_snapshots(&[20, 30]).unwrap();
    assert_eq!(storage.list_snapshots().unwrap(), [20, 30]);
    assert!(matches!(
        storage.load_snapshot(10),
        Err(JournalError::SnapshotNotFound { seq: 10, .. })
    ));
}

#[test]
fn a_newer_schema_is_refused() {
    let t = ScratchDb::new();
    let db = t.db();
    let conn = db.conn().unwrap();
    conn.run(
        "pretend a newer build ran",
        conn.batch_execute("INSERT INTO maeul_schema (version, name) VALUES (999, 'future')"),
    )
    .unwrap();
    let err = pgstore::migrate(&db).unwrap_err();
    assert!(err.message.contains("999"), "{err}");
}

/// Three writers race for one currency with leases of 30 ms, taking it over from each
/// other at random moments mid-write. Whatever any of them was told was written is in
/// the journal, at its seq, exactly once; the journal is one unbroken chain.
#[test]
fn racing_writers_never_both_have_a_record_acknowledged() {
    use rand::Rng;
    let t = ScratchDb::new();
    let ttl = Duration::from_millis(30);
    let until = std::time::Instant::now() + Duration::from_secs(3);
    let acknowledged: Vec<Vec<(u64, Vec<u8>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|w| {
                let db = t.db();
                s.spawn(move || {
                    let mut rng = rand::rng();
                    let mut acked = Vec::new();
                    let name = format!("node-{w}");
                    while std::time::Instant::now() < until {
                        let Some(lease) = lease::try_acquire(&db, "town", &name, ttl).unwrap()
                        else {
                            std::thread::sleep(Duration::from_millis(rng.random_range(1..10)));
                            continue;
                        };
                        let storage = PgStorage::writer(Arc::clone(&db), &lease);
                        let Ok(opened) = storage.open_writer(None) else {
                            continue;
                        };
                        let mut journal = opened.store;
                        loop {
                            let n = rng.random_range(1..4);
                            let payloads: Vec<Vec<u8>> = (0..n)
                                .map(|i| format!("{name} epoch {} #{i}", lease.epoch).into_bytes())
                                .collect();
                            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
                            let first = journal.last_seq() + 1;
                            match append(journal.as_mut(), &refs) {
                                Ok(_) => acked.extend(
                                    payloads
                                        .into_iter()
                                        .enumerate()
                                        .map(|(i, p)| (first + i as u64, p)),
                                ),
                                Err(JournalError::Fenced { .. }) => break,
                                Err(e) => panic!("{e}"),
                            }
                            // Sometimes outlive the lease, as a paused writer would.
                            if rng.random_range(0..10) == 0 {
                                std::thread::sleep(Duration::from_millis(40));
                            } else if !lease::renew(&db, &lease, ttl).unwrap() {
                                // Deposed; the next append must be refused.
                            }
                            if std::time::Instant::now() >= until {
                                break;
                            }
                        }
                    }
                    acked
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let records = read_all(&PgStorage::reader(t.db(), "town"));
    let mut prev = GENESIS_HASH;
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1);
        assert_eq!(r.prev_hash, prev);
        prev = r.hash;
    }
    let takeovers: std::collections::BTreeSet<&[u8]> = records
        .iter()
        .map(|r| &r.payload[..r.payload.len() - 3])
        .collect();
    assert!(
        takeovers.len() > 3,
        "the leases changed hands too rarely to test anything"
    );
    let mut total = 0;
    for (seq, payload) in acknowledged.iter().flatten() {
        let at = &records[usize::try_from(*seq).unwrap() - 1];
        assert_eq!(
            &at.payload, payload,
            "record {seq} was acknowledged to two writers"
        );
        total += 1;
    }
    assert_eq!(
        total,
        records.len(),
        "every record was acknowledged to exactly one writer"
    );
}

/// A node's connections are bounded: a caller finding them all lent waits, then is
/// told, and a connection given back is lent again.
#[test]
fn connections_are_bounded_and_a_caller_waits_then_is_told() {
    let t = ScratchDb::new();
    let db = pgstore::Db::connect(&t.url())
        .unwrap()
        .with_connections_at_most(2, Duration::from_millis(200));
    let a = db.conn().unwrap();
    let b = db.conn().unwrap();
    let started = std::time::Instant::now();
    let err = db.conn().unwrap_err();
    assert!(err.message.contains("all 2 connections"), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    drop(a);
    let c = db.conn().unwrap();
    drop((b, c));
}
