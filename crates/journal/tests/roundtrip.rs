#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
mod common;

use common::*;
use journal::{
    FileJournal, GENESIS_HASH, JournalError, JournalReader, JournalStore, ReadOptions, Record,
    record_hash,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[test]
fn round_trip_with_growth_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let sizes = [0usize, 1, 7, 8, 9, 100, 1000, 4096, 10_000, 70_000];
    let mut expected: Vec<Vec<u8>> = Vec::new();
    let (mut j, report) = FileJournal::open(dir.path(), cfg()).unwrap();
    assert_eq!((report.records, report.last_seq), (0, 0));
    assert_eq!(report.last_hash, GENESIS_HASH);
    assert_eq!(j.last_hash(), GENESIS_HASH);
    for _ in 0..40 {
        let n = rng.random_range(1..=5);
        let group: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                let len = sizes[rng.random_range(0..sizes.len())];
                (0..len).map(|_| rng.random::<u8>()).collect()
            })
            .collect();
        append_group(&mut j, &group);
        expected.extend(group);
    }
    // One record larger than many chunks.
    let big: Vec<u8> = (0..300_000).map(|i| (i % 251) as u8).collect();
    append_group(&mut j, std::slice::from_ref(&big));
    expected.push(big);

    let last_seq = j.last_seq();
    let last_hash = j.last_hash();
    let end = j.end_offset();
    assert_eq!(last_seq, expected.len() as u64);
    drop(j);

    let (j, report) = FileJournal::open(dir.path(), cfg()).unwrap();
    assert!(report.torn_tail.is_none());
    assert_eq!(report.last_seq, last_seq);
    assert_eq!(report.records, last_seq);
    assert_eq!(report.last_hash, last_hash);
    assert_eq!(report.end_offset, end);
    assert_eq!(j.last_hash(), last_hash);
    drop(j);

    let records = read_all(dir.path());
    assert_eq!(records.len(), expected.len());
    let mut prev = GENESIS_HASH;
    let mut offset = 0;
    for (i, (r, want)) in records.iter().zip(&expected).enumerate() {
        assert_eq!(r.seq, i as u64 + 1);
        assert_eq!(r.timestamp_us, ts(r.seq));
        assert_eq!(&r.payload, want);
        assert_eq!(r.prev_hash, prev);
        assert_eq!(r.hash, record_hash(&prev, r.seq, r.timestamp_us, want));
        assert_eq!(r.offset, offset);
        offset += journal::record_len(want.len() as u64);
        prev = r.hash;
    }
    assert_eq!(prev, last_hash);

    let reader = JournalReader::open(dir.path()).unwrap();
    let summary = reader.verify().unwrap();
    assert_eq!(summary.last_seq, last_seq);
    assert_eq!(summary.last_hash, Some(last_hash));
    assert_eq!(summary.end_offset, end);
    assert!(summary.torn_tail.is_none());

    // Start in the middle, checking against the expected chain hash.
    let from = 17;
    let mut it = reader.records(ReadOptions {
        expected_prev_hash: Some(records[from as usize - 2].hash),
        ..ReadOptions::from_seq(from)
    });
    let tail: Vec<_> = it.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(tail, records[from as usize - 1..].to_vec());
    let s = it.summary().unwrap();
    assert_eq!((s.records_read, s.last_seq), (tail.len() as u64, last_seq));

    // A wrong expected hash is reported.
    let err = reader
        .records(ReadOptions {
            expected_prev_hash: Some(GENESIS_HASH),
            ..ReadOptions::from_seq(from)
        })
        .next()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(err, JournalError::ChainMismatch { seq: 17, .. }),
        "{err}"
    );

    // Past the end: nothing.
    assert_eq!(
        reader.records(ReadOptions::from_seq(last_seq + 1)).count(),
        0
    );
}

#[test]
fn appends_continue_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    let mut all = Vec::new();
    for round in 0..4 {
        let (mut j, report) = FileJournal::open(dir.path(), cfg()).unwrap();
        assert_eq!(report.last_seq, all.len() as u64, "round {round}");
        for _ in 0..3 {
            let g = vec![nz_payload(&mut rng, 3000), nz_payload(&mut rng, 5)];
            append_group(&mut j, &g);
            all.extend(g);
        }
    }
    let got: Vec<Vec<u8>> = read_all(dir.path())
        .into_iter()
        .map(|r| r.payload)
        .collect();
    assert_eq!(got, all);
}

#[test]
fn empty_and_missing_journals() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        JournalReader::open(dir.path()),
        Err(JournalError::Io { .. })
    ));
    let sub = dir.path().join("a/b");
    let (_j, report) = FileJournal::open(&sub, cfg()).unwrap();
    assert_eq!(report.last_seq, 0);
    let summary = JournalReader::open(&sub).unwrap().verify().unwrap();
    assert_eq!(summary.last_seq, 0);
    assert_eq!(summary.last_hash, Some(GENESIS_HASH));
}

/// A follower resumes reading where it stopped, from the position its last read
/// gave, and reads the same records as a read from the start; a wrong position or a
/// wrong previous hash is refused, never read as records.
#[test]
fn reading_from_a_known_position_gives_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let (mut j, _) = FileJournal::open(dir.path(), cfg()).unwrap();
    for len in [10, 0, 300, 7, 64, 1000] {
        append_group(&mut j, &[nz_payload(&mut rng, len)]);
    }
    drop(j);
    let all = read_all(dir.path());
    let reader = JournalReader::open(dir.path()).unwrap();
    for i in 1..all.len() {
        let before = &all[i - 1];
        let at = before.offset + journal::record_len(before.payload.len() as u64);
        let tail: Vec<Record> = reader
            .records_at(at, before.seq + 1, before.hash)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(tail, all[i..].to_vec(), "from record {}", before.seq + 1);
    }
    let second = &all[1];
    let wrong_hash: Result<Vec<Record>, _> = reader
        .records_at(second.offset, second.seq, all[1].hash)
        .collect();
    assert!(wrong_hash.is_err(), "a wrong previous hash is refused");
    let wrong_offset: Vec<_> = reader
        .records_at(second.offset + 8, second.seq, all[0].hash)
        .collect();
    assert!(
        wrong_offset.iter().all(Result::is_err) || wrong_offset.is_empty(),
        "a wrong offset reads no record"
    );
}
