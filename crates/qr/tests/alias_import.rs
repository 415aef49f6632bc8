//! Importing legacy aliases: good rows load, bad rows are reported with line and reason.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use qr::alias::{AccountConflict, Inserted};
use qr::{AliasMatch, AliasTable, RejectedRow, RowProblem};

fn problems(report: &qr::ImportReport) -> Vec<(u64, &'static str)> {
    report
        .rejected
        .iter()
        .map(|RejectedRow { line, problem }| (*line, problem.code()))
        .collect()
}

#[test]
fn bad_rows_are_reported_and_good_rows_load() {
    let csv = "\u{FEFF}payload,merchant_id,note\n\
               https://pay.example.kr/m?id=1,100,first\n\
               ,101\n\
               https://pay.example.kr/m?id=2,abc\n\
               https://pay.example.kr/m?id=3\n\
               0012345678,102,a,b\n\
               0012345678,103\n\
               \"quoted, with comma\",104,\"note, quoted\"\n\
               \n\
               https://pay.example.kr/m?id=4,18446744073709551616\n";
    let mut table = AliasTable::new();
    let report = table.import_csv(csv.as_bytes());
    assert!(report.header_skipped);
    assert_eq!(report.added, 3, "{report:?}");
    assert_eq!(
        problems(&report),
        vec![
            (3, "empty_payload"),
            (4, "bad_merchant_id"),
            (5, "missing_merchant_id"),
            (6, "too_many_columns"),
            (10, "bad_merchant_id"),
        ]
    );
    assert_eq!(
        table.lookup_scan("quoted, with comma").map(|h| h.merchant),
        Some(104)
    );
    assert_eq!(table.note("quoted, with comma"), Some("note, quoted"));
    assert_eq!(table.lookup_scan("0012345678").map(|h| h.line), Some(7));
}

#[test]
fn duplicates_identical_are_fine_conflicting_are_refused_on_both_rows() {
    let csv = "a,1\n\
               a,1\n\
               b,2\n\
               b,3\n\
               b,2\n\
               c,4\n";
    let mut table = AliasTable::new();
    let report = table.import_csv(csv.as_bytes());
    assert!(!report.header_skipped);
    assert_eq!(report.identical_duplicates, 1);
    assert_eq!(report.added, 2, "a and c");
    assert_eq!(
        report.rejected,
        vec![
            RejectedRow {
                line: 3,
                problem: RowProblem::ConflictingDuplicate { other_line: 4 }
            },
            RejectedRow {
                line: 4,
                problem: RowProblem::ConflictingDuplicate { other_line: 3 }
            },
            RejectedRow {
                line: 5,
                problem: RowProblem::ConflictingDuplicate { other_line: 3 }
            },
        ]
    );
    assert!(table.lookup_scan("b").is_none());
    assert_eq!(table.lookup_scan("a").map(|h| h.merchant), Some(1));
    assert_eq!(table.len(), 2);
}

#[test]
fn invalid_utf8_and_broken_quotes_are_reported() {
    let mut table = AliasTable::new();
    // An unterminated quote swallows the rest of the file into one field, which then has
    // no merchant id: reported at the line where it starts.
    let report =
        table.import_csv(b"good,1\r\n\xff\xfe,2\r\nalso good,3\r\n\"unterminated,4\nx,5\n");
    assert_eq!(report.added, 2);
    assert_eq!(
        problems(&report),
        vec![(2, "not_utf8"), (4, "missing_merchant_id")]
    );
}

#[test]
fn emv_payloads_match_by_merchant_account_across_reprints() {
    let mut table = AliasTable::new();
    // The BCB Pix manual's example sticker, imported for merchant 7.
    let original = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";
    assert!(matches!(
        table.insert(original, 7, None, 1),
        Ok(Inserted::Added { .. })
    ));
    // A re-print: GUID in upper case, another name and city, new checksum.
    let body = "00020126580014BR.GOV.BCB.PIX0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5910Outro Nome6009SAO PAULO62070503***6304";
    let reprint = format!("{body}{:04X}", qr::crc::crc16(body.as_bytes()));
    let hit = table.lookup_scan(&reprint).unwrap();
    assert_eq!((hit.merchant, hit.matched), (7, AliasMatch::Account));
    // Another key on the same scheme does not match.
    let body = "00020126580014br.gov.bcb.pix0136ffffffff-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***6304";
    let other = format!("{body}{:04X}", qr::crc::crc16(body.as_bytes()));
    assert!(table.lookup_scan(&other).is_none());
    // A damaged copy of the re-print is not guessed at.
    let damaged = reprint.replacen("SAO", "SAU", 1);
    assert!(table.lookup_scan(&damaged).is_none());
}

#[test]
fn an_account_claimed_by_two_merchants_matches_nothing() {
    let mut table = AliasTable::new();
    let a = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";
    let body = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5905Other6008BRASILIA6304";
    let b = format!("{body}{:04X}", qr::crc::crc16(body.as_bytes()));
    let csv = format!("{a},7\n{b},8\n");
    let report = table.import_csv(csv.as_bytes());
    assert_eq!(report.added, 2);
    assert_eq!(
        report.account_conflicts,
        vec![AccountConflict {
            line: 2,
            other_line: 1
        }]
    );
    // Exact payloads still match their own rows; a third print of the account does not.
    assert_eq!(table.lookup_scan(a).map(|h| h.merchant), Some(7));
    assert_eq!(table.lookup_scan(&b).map(|h| h.merchant), Some(8));
    let body = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5905Third6008BRASILIA6304";
    let c = format!("{body}{:04X}", qr::crc::crc16(body.as_bytes()));
    assert!(table.lookup_scan(&c).is_none());
}

#[test]
fn ten_thousand_rows_import_quickly() {
    let mut csv = String::from("payload,merchant_id\n");
    for i in 0..10_000u64 {
        csv.push_str(&format!(
            "https://old.example.kr/pay?shop={i},{}\n",
            1_000 + i
        ));
    }
    let mut table = AliasTable::new();
    let report = table.import_csv(csv.as_bytes());
    assert_eq!(report.added, 10_000);
    assert_eq!(
        table
            .lookup_scan("HTTPS://OLD.EXAMPLE.KR/pay?shop=9999")
            .map(|h| h.merchant),
        Some(10_999)
    );
}
