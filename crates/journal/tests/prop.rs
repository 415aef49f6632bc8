//! Property: whatever prefix of the file survives a crash (truncation, or
//! zeroing from some point), opening never panics, keeps exactly the
//! records that were completely written, and appending continues.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use common::*;
use journal::{FileJournal, record_len};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Crash {
    Truncate,
    ZeroFrom,
}

fn groups() -> impl Strategy<Value = Vec<Vec<Vec<u8>>>> {
    let payload = prop::collection::vec(1u8..=255, 0..300);
    prop::collection::vec(prop::collection::vec(payload, 1..4), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn crash_keeps_exactly_the_complete_records(
        groups in groups(),
        cut_frac in 0.0f64..=1.0,
        crash in prop_oneof![Just(Crash::Truncate), Just(Crash::ZeroFrom)],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = FileJournal::open(dir.path(), cfg()).unwrap();
        let mut payloads = Vec::new();
        for g in &groups {
            append_group(&mut j, g);
            payloads.extend(g.iter().cloned());
        }
        let end = j.end_offset();
        drop(j);
        let cut = ((end as f64) * cut_frac) as u64;
        let path = journal_path(dir.path());
        match crash {
            Crash::Truncate => truncate(&path, cut),
            Crash::ZeroFrom => zero_from(&path, cut),
        }
        // Records whose bytes all survived (with zeroing, the zero padding
        // survives by definition; payload bytes are never zero).
        let mut kept = 0usize;
        let mut off = 0u64;
        for p in &payloads {
            let needed = match crash {
                Crash::Truncate => record_len(p.len() as u64),
                Crash::ZeroFrom => 80 + p.len() as u64,
            };
            if off + needed > cut {
                break;
            }
            kept += 1;
            off += record_len(p.len() as u64);
        }

        let (mut j, report) = FileJournal::open(dir.path(), cfg()).unwrap();
        prop_assert_eq!(report.last_seq, kept as u64);
        prop_assert_eq!(report.torn_tail.is_some(), cut > off && kept < payloads.len());
        append_group(&mut j, &[b"after".to_vec()]);
        drop(j);
        let got = read_all(dir.path());
        prop_assert_eq!(got.len(), kept + 1);
        for (r, p) in got.iter().zip(&payloads[..kept]) {
            prop_assert_eq!(&r.payload, p);
        }
        prop_assert_eq!(&got[kept].payload, b"after");
    }
}
