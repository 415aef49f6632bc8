#![allow(dead_code)]

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use journal::{
    FileJournal, FileJournalConfig, JOURNAL_FILE_NAME, JournalReader, JournalStore, NewRecord,
    ReadOptions, Record,
};
use rand::Rng;

/// Small chunks so tests exercise file growth.
pub fn cfg() -> FileJournalConfig {
    FileJournalConfig::default().with_chunk_size(4096)
}

/// Random payload without zero bytes (so that zeroing any of it is visible).
pub fn nz_payload(rng: &mut impl Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.random_range(1..=255u8)).collect()
}

pub fn ts(seq: u64) -> u64 {
    1_700_000_000_000_000 + seq * 7
}

/// Appends one write group (one durable write) with the given payloads.
pub fn append_group(j: &mut FileJournal, payloads: &[Vec<u8>]) {
    let first = j.last_seq() + 1;
    let recs: Vec<NewRecord<'_>> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| NewRecord {
            seq: first + i as u64,
            timestamp_us: ts(first + i as u64),
            payload: p,
        })
        .collect();
    let r = j.append_durable(&recs).unwrap();
    assert_eq!(r.first_seq, first);
    assert_eq!(r.last_seq, first + payloads.len() as u64 - 1);
}

pub fn journal_path(dir: &Path) -> PathBuf {
    dir.join(JOURNAL_FILE_NAME)
}

pub fn read_all(dir: &Path) -> Vec<Record> {
    let reader = JournalReader::open(dir).unwrap();
    reader
        .records(ReadOptions::default())
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

pub fn flip(path: &Path, offset: u64) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= 0x5a;
    f.write_all_at(&b, offset).unwrap();
}

pub fn zero_from(path: &Path, offset: u64) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let len = f.metadata().unwrap().len();
    let zeros = vec![0u8; (len - offset) as usize];
    f.write_all_at(&zeros, offset).unwrap();
}

pub fn zero_range(path: &Path, offset: u64, len: u64) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    f.write_all_at(&vec![0u8; len as usize], offset).unwrap();
}

pub fn truncate(path: &Path, len: u64) {
    let f = OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len).unwrap();
}

/// Removes quarantine files so that each damage case starts clean.
pub fn remove_quarantine(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("torn-tail-") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
}
