//! Nothing is dropped silently: whatever a dump holds (duplicates, orphans, garbage
//! amounts and dates, unknown words), every data row of every file is either imported
//! or has a report line naming its file and line, and the value read is the value of
//! the rows imported.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashSet};

use ledger::Timestamp;
use migrate::legacy::Mapping;
use migrate::legacy::parse::read_dump;
use proptest::prelude::*;

const NOW_US: u64 = 1_796_500_000_000_000;

fn mapping() -> Mapping {
    Mapping::parse(migrate::legacy::synth::MAPPING).unwrap()
}

fn member_row() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["M1", "M2", "M3", "M4", ""]),
        prop::sample::select(vec!["김민수", "\"이, 영희\"", "박\"\"철\"\"수", ""]),
        prop::sample::select(vec!["1980", "19x0", ""]),
        prop::sample::select(vec!["정상", "정지", "탈퇴", "휴면", ""]),
        any::<bool>(),
    )
        .prop_map(|(id, name, birth, status, short)| {
            if short {
                format!("{id},{name}")
            } else {
                format!("{id},{name},부산 해운대구,{birth},{status}")
            }
        })
}

fn wallet_row() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["W1", "W2", "W3", "W4", "W5", ""]),
        prop::sample::select(vec!["M1", "M2", "M3", "M9"]),
        prop::sample::select(vec!["일반충전", "정책수당", "캐시백", "포인트", "이벤트"]),
        prop::sample::select(vec![
            "1000",
            "\"1,500원\"",
            "0",
            "-5",
            "1.5",
            "x",
            "",
            "20.00",
        ]),
        prop::sample::select(vec!["", "2030-01-31", "20200101", "2027-02-30", "soon"]),
    )
        .prop_map(|(id, m, kind, amount, exp)| format!("{id},{m},{kind},{amount},{exp}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_row_is_imported_or_reported(
        members in prop::collection::vec(member_row(), 0..12),
        wallets in prop::collection::vec(wallet_row(), 0..16),
        crlf in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let eol = if crlf { "\r\n" } else { "\n" };
        let write = |name: &str, header: &str, rows: &[String]| {
            let mut text = format!("{header}{eol}");
            for r in rows {
                text.push_str(r);
                text.push_str(eol);
            }
            std::fs::write(dir.path().join(name), text).unwrap();
        };
        write("members.csv", "회원번호,성명,주소,출생연도,회원상태", &members);
        write("wallets.csv", "지갑번호,회원번호,지갑구분,잔액,유효기간", &wallets);
        write(
            "merchants.csv",
            "가맹점번호,사업자등록번호,상호,상태,매출구간,미정산금액,QR,주소",
            &[],
        );
        let dump = read_dump(dir.path(), &mapping(), Timestamp::from_micros(NOW_US)).unwrap();
        let reported = |file: &str| -> HashSet<u64> {
            dump.report.iter().filter(|r| r.file == file).map(|r| r.line).collect()
        };
        let member_lines: BTreeSet<u64> = dump.members.iter().map(|m| m.line).collect();
        let lot_lines: BTreeSet<u64> =
            dump.members.iter().flat_map(|m| m.lots.iter().map(|l| l.line)).collect();
        let (rm, rw) = (reported("members.csv"), reported("wallets.csv"));
        for (i, row) in members.iter().enumerate() {
            let line = i as u64 + 2;
            // A row of empty fields is a blank line (spreadsheets leave them).
            if row.split(',').all(|f| f.trim().is_empty()) {
                continue;
            }
            prop_assert!(
                member_lines.contains(&line) || rm.contains(&line),
                "members.csv:{line} {row:?} neither imported nor reported: {:#?}", dump.report
            );
        }
        for (i, row) in wallets.iter().enumerate() {
            let line = i as u64 + 2;
            // A zero balance is read and holds nothing: the only row with no lot and no
            // report line.
            let zero = row.split(',').nth(3) == Some("0");
            prop_assert!(
                lot_lines.contains(&line) || rw.contains(&line) || zero,
                "wallets.csv:{line} {row:?} neither imported nor reported: {:#?}", dump.report
            );
        }
        // Each imported lot is a row whose amount is what the row says, counted once.
        let lots: Vec<_> = dump.members.iter().flat_map(|m| m.lots.iter()).collect();
        prop_assert_eq!(lots.len(), lot_lines.len());
        for l in lots {
            prop_assert!(l.amount.get() > 0);
        }
    }
}
