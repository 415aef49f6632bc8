//! Torn tails (cut, quarantined, reported) versus damage to acknowledged
//! records (refused).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::path::Path;

use common::*;
use journal::{
    FileJournal, JournalError, JournalReader, JournalStore, OpenReport, ReadOptions, Record,
    record_len,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const LAST_PAYLOAD: usize = 100;

/// Builds a journal of 5 acknowledged records (one per append), the last one
/// with a 100-byte payload. Returns its bytes and records.
fn build_five(dir: &Path) -> (Vec<u8>, Vec<Record>) {
    let mut rng = StdRng::seed_from_u64(5);
    let (mut j, _) = FileJournal::open(dir, cfg()).unwrap();
    for len in [300, 0, 2000, 17] {
        append_group(&mut j, &[nz_payload(&mut rng, len)]);
    }
    append_group(&mut j, &[nz_payload(&mut rng, LAST_PAYLOAD)]);
    drop(j);
    let records = read_all(dir);
    assert_eq!(records.len(), 5);
    (std::fs::read(journal_path(dir)).unwrap(), records)
}

fn restore(dir: &Path, bytes: &[u8]) {
    remove_quarantine(dir);
    std::fs::write(journal_path(dir), bytes).unwrap();
}

/// Checks that exactly record 5 was cut (or was absent, `expect_torn = false`),
/// the quarantine holds the damaged bytes, the reader agrees, and appending
/// continues with seq 5 on the right chain.
fn check_cut_last(dir: &Path, records: &[Record], expect_torn: bool, case: &str) {
    let damaged = std::fs::read(journal_path(dir)).unwrap();
    let last = &records[4];
    let l = last.offset;

    // The read-only reader reports the same thing and changes nothing.
    let reader = JournalReader::open(dir).unwrap();
    let mut it = reader.records(ReadOptions::default());
    let got: Vec<Record> = it.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, records[..4].to_vec(), "{case}");
    let summary = it.summary().unwrap().clone();
    assert_eq!(summary.last_seq, 4, "{case}");
    assert_eq!(summary.torn_tail.is_some(), expect_torn, "{case}");
    drop(reader);
    assert_eq!(
        std::fs::read(journal_path(dir)).unwrap(),
        damaged,
        "reader modified the file"
    );

    let (mut j, report): (FileJournal, OpenReport) = FileJournal::open(dir, cfg()).unwrap();
    assert_eq!(report.last_seq, 4, "{case}");
    assert_eq!(report.last_hash, records[3].hash, "{case}");
    assert_eq!(report.end_offset, l, "{case}");
    match (&report.torn_tail, expect_torn) {
        (Some(t), true) => {
            assert_eq!((t.seq, t.offset), (5, l), "{case}");
            let q = std::fs::read(&t.quarantine_path).unwrap();
            assert_eq!(q.len() as u64, t.bytes, "{case}");
            assert_eq!(&q[..], &damaged[l as usize..l as usize + q.len()], "{case}");
            // Everything non-zero after the cut point was quarantined.
            assert!(
                damaged[l as usize + q.len()..].iter().all(|&b| b == 0),
                "{case}"
            );
            assert_eq!(
                t.quarantine_path.file_name().unwrap().to_str().unwrap(),
                format!("torn-tail-seq5-off{l}.bin")
            );
            let rt = summary.torn_tail.unwrap();
            assert_eq!(
                (rt.seq, rt.offset, rt.bytes),
                (t.seq, t.offset, t.bytes),
                "{case}"
            );
        }
        (None, false) => {}
        (t, _) => panic!("{case}: unexpected torn tail {t:?}"),
    }
    // The region after the cut is zero now.
    let after = std::fs::read(journal_path(dir)).unwrap();
    assert!(after[l as usize..].iter().all(|&b| b == 0), "{case}");

    append_group(&mut j, &[b"replacement".to_vec()]);
    assert_eq!(j.last_seq(), 5);
    drop(j);
    let again = read_all(dir);
    assert_eq!(again[..4], records[..4]);
    assert_eq!(again[4].payload, b"replacement");
    assert_eq!(again[4].prev_hash, records[3].hash);
}

#[test]
fn torn_last_record_truncated_at_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (original, records) = build_five(dir.path());
    let l = records[4].offset;
    let len = record_len(LAST_PAYLOAD as u64);
    for cut in 0..len {
        restore(dir.path(), &original);
        truncate(&journal_path(dir.path()), l + cut);
        check_cut_last(
            dir.path(),
            &records,
            cut > 0,
            &format!("truncate at +{cut}"),
        );
    }
}

#[test]
fn torn_last_record_zeroed_from_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (original, records) = build_five(dir.path());
    let l = records[4].offset;
    let payload_end = 80 + LAST_PAYLOAD as u64;
    for z in 0..record_len(LAST_PAYLOAD as u64) {
        restore(dir.path(), &original);
        zero_from(&journal_path(dir.path()), l + z);
        if z >= payload_end {
            // Only the (already zero) padding was zeroed: the record is intact.
            let (_j, report) = FileJournal::open(dir.path(), cfg()).unwrap();
            assert_eq!(report.last_seq, 5, "zero from +{z}");
            assert!(report.torn_tail.is_none());
        } else {
            check_cut_last(dir.path(), &records, z > 0, &format!("zero from +{z}"));
        }
    }
}

#[test]
fn torn_last_record_byte_flipped_at_every_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (original, records) = build_five(dir.path());
    let l = records[4].offset;
    for off in 0..record_len(LAST_PAYLOAD as u64) {
        restore(dir.path(), &original);
        flip(&journal_path(dir.path()), l + off);
        check_cut_last(dir.path(), &records, true, &format!("flip at +{off}"));
    }
}

#[test]
fn garbage_after_the_end_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (original, records) = build_five(dir.path());
    let end = records[4].offset + record_len(LAST_PAYLOAD as u64);
    restore(dir.path(), &original);
    flip(&journal_path(dir.path()), end + 1000);
    let (_j, report) = FileJournal::open(dir.path(), cfg()).unwrap();
    assert_eq!(report.last_seq, 5);
    let t = report.torn_tail.unwrap();
    assert_eq!((t.seq, t.offset, t.bytes), (6, end, 1001));
}

fn assert_corrupt(dir: &Path, seq: u64, offset: u64, case: &str) {
    let before = std::fs::read(journal_path(dir)).unwrap();
    let err = FileJournal::open(dir, cfg()).unwrap_err();
    assert_eq!(
        std::fs::read(journal_path(dir)).unwrap(),
        before,
        "{case}: refused open modified the file"
    );
    match &err {
        JournalError::Corrupt {
            seq: s, offset: o, ..
        } => assert_eq!((*s, *o), (seq, offset), "{case}: {err}"),
        other => panic!("{case}: expected Corrupt, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&format!("record seq {seq}")), "{msg}");
    assert!(msg.contains(&format!("byte offset {offset}")), "{msg}");
    assert!(msg.contains("journal.dat"), "{msg}");

    let reader = JournalReader::open(dir).unwrap();
    let items: Vec<_> = reader.records(ReadOptions::default()).collect();
    assert_eq!(
        items.len() as u64,
        seq,
        "{case}: {} good records then the error",
        seq - 1
    );
    assert!(items[..seq as usize - 1].iter().all(|r| r.is_ok()));
    match items.last() {
        Some(Err(JournalError::Corrupt {
            seq: s, offset: o, ..
        })) => assert_eq!((*s, *o), (seq, offset), "{case}"),
        other => panic!("{case}: reader gave {other:?}"),
    }
}

#[test]
fn damage_to_acknowledged_records_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let (mut j, _) = FileJournal::open(dir.path(), cfg()).unwrap();
    for len in [50, 0, 1000, 3000, 8, 200, 64] {
        append_group(&mut j, &[nz_payload(&mut rng, len)]);
    }
    drop(j);
    let records = read_all(dir.path());
    let original = std::fs::read(journal_path(dir.path())).unwrap();
    let path = journal_path(dir.path());
    for rec in &records[..records.len() - 1] {
        let k = rec.seq;
        let o = rec.offset;
        let mut targets = vec![0, 8, 30, 45, 76];
        if !rec.payload.is_empty() {
            targets.push(80);
            targets.push(80 + rec.payload.len() as u64 - 1);
        }
        for t in targets {
            restore(dir.path(), &original);
            flip(&path, o + t);
            assert_corrupt(dir.path(), k, o, &format!("flip record {k} at +{t}"));
        }
        // A lost (zeroed) header.
        restore(dir.path(), &original);
        zero_range(&path, o, 80);
        assert_corrupt(dir.path(), k, o, &format!("zeroed header of record {k}"));
    }
    // A flip inside the padding of record 1 (payload 50 -> 6 padding bytes).
    restore(dir.path(), &original);
    flip(&path, records[0].offset + 80 + 52);
    assert_corrupt(dir.path(), 1, 0, "padding of record 1");
}

#[test]
fn damaged_head_of_an_unacknowledged_group_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let (mut j, _) = FileJournal::open(dir.path(), cfg()).unwrap();
    for _ in 0..3 {
        append_group(&mut j, &[nz_payload(&mut rng, 120)]);
    }
    // Records 4 and 5 in ONE durable write.
    append_group(
        &mut j,
        &[nz_payload(&mut rng, 500), nz_payload(&mut rng, 700)],
    );
    drop(j);
    let records = read_all(dir.path());
    assert_eq!(records[4].synced_through_seq, 3);
    let original = std::fs::read(journal_path(dir.path())).unwrap();
    let path = journal_path(dir.path());
    let r4 = records[3].offset;

    for (case, damage) in [
        (
            "payload flip",
            Box::new(|| flip(&path, r4 + 300)) as Box<dyn Fn()>,
        ),
        ("header flip", Box::new(|| flip(&path, r4 + 10))),
        ("header lost", Box::new(|| zero_range(&path, r4, 80))),
    ] {
        restore(dir.path(), &original);
        damage();
        let damaged = std::fs::read(&path).unwrap();
        let (mut j, report) = FileJournal::open(dir.path(), cfg()).unwrap();
        assert_eq!(report.last_seq, 3, "{case}");
        let t = report.torn_tail.unwrap();
        assert_eq!((t.seq, t.offset), (4, r4), "{case}");
        // Up to the last non-zero byte: the end of record 5's payload.
        let end5 = records[4].offset + 80 + 700;
        assert_eq!(t.offset + t.bytes, end5, "{case}: both records quarantined");
        let q = std::fs::read(&t.quarantine_path).unwrap();
        assert_eq!(q, damaged[r4 as usize..end5 as usize], "{case}");
        append_group(&mut j, &[b"four".to_vec()]);
        drop(j);
        assert_eq!(read_all(dir.path()).len(), 4);
    }

    // But once a later group was acknowledged on top, the same damage is
    // damage to acknowledged data.
    restore(dir.path(), &original);
    let (mut j, _) = FileJournal::open(dir.path(), cfg()).unwrap();
    append_group(&mut j, &[nz_payload(&mut rng, 10)]);
    drop(j);
    flip(&path, r4 + 300);
    assert_corrupt(dir.path(), 4, r4, "group 4-5 acknowledged by record 6");

    // Damage to the second record of an acknowledged group, too.
    restore(dir.path(), &original);
    let (mut j, _) = FileJournal::open(dir.path(), cfg()).unwrap();
    append_group(&mut j, &[nz_payload(&mut rng, 10)]);
    drop(j);
    flip(&path, records[4].offset + 100);
    assert_corrupt(dir.path(), 5, records[4].offset, "record 5 acknowledged");
}
