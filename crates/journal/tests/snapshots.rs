#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
mod common;

use common::flip;
use journal::{GENESIS_HASH, JournalError, RecordHash, SnapshotStore};

#[test]
fn save_list_load_prune() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert!(store.list().unwrap().is_empty());
    assert!(matches!(store.load_newest_valid().unwrap(), (None, ref e) if e.is_empty()));

    let payload =
        |seq: u64| -> Vec<u8> { (0..(seq as usize * 10)).map(|i| (i as u8) ^ 0xa5).collect() };
    for seq in [0u64, 100, 20, 3000] {
        store
            .save(seq, RecordHash([seq as u8; 32]), &payload(seq))
            .unwrap();
    }
    assert_eq!(store.list().unwrap(), vec![0, 20, 100, 3000]);
    for seq in [0u64, 20, 100, 3000] {
        let s = store.load(seq).unwrap();
        assert_eq!((s.seq, s.chain_hash), (seq, RecordHash([seq as u8; 32])));
        assert_eq!(s.payload, payload(seq));
    }
    assert!(matches!(
        store.load(7),
        Err(JournalError::SnapshotNotFound { seq: 7, .. })
    ));
    // Overwrite is atomic and replaces.
    store.save(20, GENESIS_HASH, b"new").unwrap();
    assert_eq!(store.load(20).unwrap().payload, b"new");

    // Leftover temporary file: ignored by list, removed by prune.
    let tmp = store.dir().join("snapshot-00000000000000000050.bin.tmp");
    std::fs::write(&tmp, b"partial").unwrap();
    std::fs::write(store.dir().join("unrelated.txt"), b"x").unwrap();
    assert_eq!(store.list().unwrap(), vec![0, 20, 100, 3000]);

    assert_eq!(store.prune(2).unwrap(), vec![0, 20]);
    assert_eq!(store.list().unwrap(), vec![100, 3000]);
    assert!(!tmp.exists());
    assert_eq!(store.prune(5).unwrap(), Vec::<u64>::new());

    // Reopening sees the same.
    let store = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(store.list().unwrap(), vec![100, 3000]);
}

#[test]
fn damaged_snapshots_fail_to_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    let payload: Vec<u8> = (0..500u32).map(|i| i as u8).collect();
    let path = store.save(42, RecordHash([9; 32]), &payload).unwrap();
    let original = std::fs::read(&path).unwrap();
    for off in (0..original.len() as u64)
        .step_by(7)
        .chain([0, 103, 104, original.len() as u64 - 1])
    {
        std::fs::write(&path, &original).unwrap();
        flip(&path, off);
        let err = store.load(42).unwrap_err();
        assert!(
            matches!(err, JournalError::SnapshotCorrupt { .. }),
            "flip at {off}: {err}"
        );
        assert!(
            err.to_string()
                .contains("snapshot-00000000000000000042.bin"),
            "{err}"
        );
    }
    // Truncated and extended.
    std::fs::write(&path, &original[..original.len() - 1]).unwrap();
    assert!(matches!(
        store.load(42),
        Err(JournalError::SnapshotCorrupt { .. })
    ));
    std::fs::write(&path, &original[..50]).unwrap();
    assert!(matches!(
        store.load(42),
        Err(JournalError::SnapshotCorrupt { .. })
    ));
    let mut longer = original.clone();
    longer.push(0);
    std::fs::write(&path, &longer).unwrap();
    assert!(matches!(
        store.load(42),
        Err(JournalError::SnapshotCorrupt { .. })
    ));

    // A damaged newest snapshot falls back to an older one.
    std::fs::write(&path, &original).unwrap();
    store.save(10, GENESIS_HASH, b"older").unwrap();
    flip(&path, 200);
    let (snap, skipped) = store.load_newest_valid().unwrap();
    let snap = snap.unwrap();
    assert_eq!((snap.seq, &snap.payload[..]), (10, &b"older"[..]));
    assert_eq!(skipped.len(), 1);
}
