//! What a migrating operator's dump meets row by row: the file's own line numbers (LF,
//! CRLF, quoted line breaks), revenue band labels judged against a scheme's thresholds,
//! bad and missing locations, unverified business numbers, the status new merchants
//! start in, the previous operator's QR column, and the row report in two languages.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use directory::revenue::RevenueBands;
use directory::sync::FileEncoding;
use directory::synth::{Synth, registry_row};
use directory::{
    Brn, NewStatus, Registry, Revenue, RevenueRange, SequentialIds, Status, SyncOptions,
    SyncReport, report_csv,
};
use ledger::Won;

const NOW: u64 = 1_760_000_000_000_000;
const EOK: i64 = 100_000_000;
/// A Busan-like scheme's thresholds: cash-back ≤ 10억 10%, ≤ 30억 8%, above 0%.
const BUSAN: [Won; 2] = [Won::new(10 * EOK), Won::new(30 * EOK)];

fn brn(n: u32) -> String {
    Brn::from_prefix(220_810_000 + n).unwrap().to_string()
}

/// The same BRN with its check digit changed: a typo.
fn typo(n: u32) -> String {
    let good = brn(n);
    let last = good.chars().last().unwrap().to_digit(10).unwrap();
    format!("{}{}", &good[..good.len() - 1], (last + 1) % 10)
}

fn sync_with(reg: &mut Registry, text: &str, options: &SyncOptions<'_>) -> SyncReport {
    let next = reg.records().iter().map(|m| m.id.0 + 1).max().unwrap_or(1);
    reg.sync(
        text.as_bytes(),
        options,
        &mut SequentialIds::starting_at(next),
        NOW,
    )
    .unwrap()
}

fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

fn lines_of(report: &SyncReport) -> Vec<(u64, String)> {
    report
        .rows()
        .into_iter()
        .filter_map(|r| r.line.map(|l| (l, format!("{}:{}", r.outcome, r.code))))
        .collect()
}

#[test]
fn lf_and_crlf_files_report_the_same_lines() {
    // Line 1 header; 2 a merchant; 3–4 one with a line break inside its quoted address
    // (refused: an address is one line); 5 a typo in the BRN; 6 blank; 7 a row without
    // a name; 8 a good one.
    let text = format!(
        "사업자등록번호,상호명,도로명주소,위도,경도\n\
         {},첫째 가게,부산광역시 중구 중앙대로 1,35.1,129.0\n\
         {},둘째 가게,\"부산광역시 중구\n중앙대로 2\",35.1,129.0\n\
         {},셋째 가게,부산광역시 중구 중앙대로 3,35.1,129.0\n\
         \n\
         {},,부산광역시 중구 중앙대로 4,35.1,129.0\n\
         {},다섯째 가게,부산광역시 중구 중앙대로 5,35.1,129.0\n",
        brn(1),
        brn(2),
        typo(3),
        brn(4),
        brn(5)
    );
    let lf = sync_with(&mut Registry::new(), &text, &SyncOptions::default());
    let crlf_report = sync_with(&mut Registry::new(), &crlf(&text), &SyncOptions::default());
    let expected: Vec<(u64, String)> = vec![
        (2, "added:added".into()),
        (3, "rejected:bad_text".into()),
        (5, "rejected:bad_brn_checksum".into()),
        (7, "rejected:missing_name".into()),
        (8, "added:added".into()),
    ];
    assert_eq!(lines_of(&lf), expected);
    assert_eq!(lines_of(&crlf_report), expected);
    // A CP949 file with CRLF, as public data comes, counts the same way.
    let windows_text = crlf(&text);
    let (cp949, _, _) = encoding_rs::EUC_KR.encode(&windows_text);
    let report = Registry::new()
        .sync(
            &cp949,
            &SyncOptions::default(),
            &mut SequentialIds::starting_at(1),
            NOW,
        )
        .unwrap();
    assert_eq!(report.encoding, FileEncoding::EucKr);
    assert_eq!(lines_of(&report), expected);
}

#[test]
fn revenue_labels_are_ranges_judged_against_the_scheme() {
    let text = format!(
        "사업자등록번호,상호명,연매출,매출구간\n\
         {},큰 가게,,30억 초과\n\
         {},중간 가게,,10억~30억\n\
         {},작은 가게,,1억 미만\n\
         {},모를 가게,,대박\n\
         {},걸친 가게,,5억~20억\n\
         {},빈 가게,,\n\
         {},카드 가게,,중소3\n\
         {},금액 가게,\"1,234,000,000원\",일반\n",
        brn(11),
        brn(12),
        brn(13),
        brn(14),
        brn(15),
        brn(16),
        brn(17),
        brn(18)
    );
    let mut reg = Registry::new();
    let options = SyncOptions {
        revenue_thresholds: &BUSAN,
        ..SyncOptions::default()
    };
    let report = sync_with(&mut reg, &text, &options);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.added.len(), 8);
    let revenue = |n: u32| {
        reg.get_by_brn(brn(n).parse().unwrap())
            .unwrap()
            .profile
            .revenue
    };
    let range = |n: u32| revenue(n).unwrap().range();
    assert_eq!(range(11), RevenueRange::over(Won::new(30 * EOK)));
    assert_eq!(
        range(12),
        RevenueRange::over_up_to(Won::new(10 * EOK), Won::new(30 * EOK))
    );
    assert_eq!(range(13).max_won(), Some(Won::new(EOK - 1)));
    assert_eq!(revenue(14), None, "unreadable: unknown, never a default");
    assert_eq!(revenue(16), None);
    assert_eq!(
        revenue(18),
        Some(Revenue::AnnualWon(Won::new(1_234_000_000)))
    );
    // Inside one band: decided. Across 10억: not.
    assert_eq!(range(11).decide(&BUSAN), Ok(Won::new(30 * EOK + 1)));
    assert_eq!(range(12).decide(&BUSAN), Ok(Won::new(10 * EOK + 1)));
    assert_eq!(range(13).decide(&BUSAN), Ok(Won::ZERO));
    assert_eq!(range(15).decide(&BUSAN), Err(Won::new(10 * EOK)));
    assert_eq!(range(17).decide(&BUSAN), Ok(Won::new(10 * EOK + 1)));

    let notes: Vec<(u64, &str)> = report
        .warnings
        .iter()
        .filter(|w| w.code.starts_with("revenue"))
        .map(|w| (w.line, w.code.as_str()))
        .collect();
    assert_eq!(
        notes,
        vec![
            (5, "revenue_unreadable"),
            (6, "revenue_straddles"),
            (7, "revenue_missing")
        ]
    );
    let unreadable = report.warnings.iter().find(|w| w.line == 5).unwrap();
    assert!(unreadable.message_ko.contains("대박"), "{unreadable:?}");
    assert!(unreadable.message_en.contains("lowest cash-back rate"));
    let straddles = report.warnings.iter().find(|w| w.line == 6).unwrap();
    assert!(straddles.message_ko.contains("10억"), "{straddles:?}");
    assert!(straddles.message_en.contains("1000000000"), "{straddles:?}");
    assert_eq!(straddles.id, report.added[4].id);

    // Without a scheme nothing is judged; with the operator's table, its labels read.
    let table = RevenueBands::from_csv("label,min_won,max_won\n대박,0,3억\n".as_bytes()).unwrap();
    let with_table = SyncOptions {
        revenue_bands: Some(&table),
        revenue_thresholds: &BUSAN,
        ..SyncOptions::default()
    };
    let mut reg = Registry::new();
    let report = sync_with(&mut reg, &text, &with_table);
    assert!(
        !report
            .warnings
            .iter()
            .any(|w| w.line == 5 && w.code.starts_with("revenue")),
        "{:?}",
        report.warnings
    );
    assert_eq!(revenue_of(&reg, 14).max_won(), Some(Won::new(3 * EOK)));
}

fn revenue_of(reg: &Registry, n: u32) -> RevenueRange {
    reg.get_by_brn(brn(n).parse().unwrap())
        .unwrap()
        .profile
        .revenue
        .unwrap()
        .range()
}

#[test]
fn bad_and_missing_locations_import_without_one_and_say_so() {
    let text = format!(
        "사업자등록번호,상호명,위도,경도\n\
         {},좋은 가게,35.1577,129.0592\n\
         {},엉뚱한 가게,위도모름,129.0592\n\
         {},바뀐 가게,129.0592,35.1577\n\
         {},반쪽 가게,35.1577,\n\
         {},없는 가게,,\n",
        brn(21),
        brn(22),
        brn(23),
        brn(24),
        brn(25)
    );
    let mut reg = Registry::new();
    let report = sync_with(&mut reg, &text, &SyncOptions::default());
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.added.len(), 5);
    let notes: Vec<(u64, &str)> = report
        .warnings
        .iter()
        .map(|w| (w.line, w.code.as_str()))
        .collect();
    assert_eq!(
        notes,
        vec![
            (3, "location_invalid"),
            (4, "location_invalid"),
            (5, "location_invalid"),
            (6, "location_missing")
        ]
    );
    for n in 22..=25 {
        let m = reg.get_by_brn(brn(n).parse().unwrap()).unwrap();
        assert_eq!(m.profile.location, None);
        assert_eq!(m.status, Status::Approved, "payable without a location");
    }
    assert!(report.warnings[0].message_ko.contains("위도모름"));
    assert!(
        report.warnings[0]
            .message_en
            .contains("not found by distance")
    );
    // A known merchant keeps its location when a later file has garbage there.
    let later = text.replace("35.1577,129.0592\n", "??,129.0592\n");
    let again = sync_with(&mut reg, &later, &SyncOptions::default());
    assert!(again.changed.is_empty(), "{:?}", again.changed);
    let kept = reg.get_by_brn(brn(21).parse().unwrap()).unwrap();
    assert!(kept.profile.location.is_some());
    let note = again.warnings.iter().find(|w| w.line == 2).unwrap();
    assert_eq!(note.code, "location_invalid");
    assert!(note.message_en.contains("kept"), "{note:?}");
}

#[test]
fn a_check_digit_typo_is_rejected_unless_the_operator_takes_it_unverified() {
    let text = format!(
        "사업자등록번호,상호명,영업상태\n\
         {},맞는 가게,영업\n\
         {},오타 가게,영업\n",
        brn(31),
        typo(32)
    );
    let report = sync_with(&mut Registry::new(), &text, &SyncOptions::default());
    assert_eq!(report.added.len(), 1);
    let rejected = &report.rejected[0];
    assert_eq!(
        (rejected.line, rejected.code.as_str()),
        (3, "bad_brn_checksum")
    );
    assert!(rejected.message_ko.contains("검증번호"), "{rejected:?}");
    assert!(rejected.message_en.contains("check digit"), "{rejected:?}");

    let options = SyncOptions {
        unverified_brn: true,
        ..SyncOptions::default()
    };
    let mut reg = Registry::new();
    let report = sync_with(&mut reg, &text, &options);
    assert!(report.rejected.is_empty());
    assert_eq!(report.added.len(), 2);
    let added = &report.added[1];
    assert!(added.brn_unverified);
    assert_eq!(added.brn.to_string(), typo(32), "the digits as written");
    assert_eq!(added.status, Status::Applied, "awaiting review");
    let m = reg.get_by_brn(added.brn).unwrap();
    assert!(m.brn_unverified);
    assert_eq!(m.status, Status::Applied);
    let note = report
        .warnings
        .iter()
        .find(|w| w.line == 3 && w.code == "brn_unverified")
        .unwrap();
    assert!(note.message_ko.contains("미확인"));
    // Stored and read back (the record says it is unverified, so its check digit is not
    // held against it); a verified record with a bad check digit is still refused.
    let json = serde_json::to_string(m).unwrap();
    assert!(json.contains("\"brn_unverified\":true"));
    assert_eq!(
        &serde_json::from_str::<directory::Merchant>(&json).unwrap(),
        m
    );
    let forged = json.replace(",\"brn_unverified\":true", "");
    assert!(serde_json::from_str::<directory::Merchant>(&forged).is_err());
    let good = serde_json::to_string(reg.get_by_brn(brn(31).parse().unwrap()).unwrap()).unwrap();
    assert!(
        !good.contains("brn_unverified"),
        "unchanged JSON for others"
    );
    // The same file again finds it by the same digits.
    let again = sync_with(&mut reg, &text, &options);
    assert!(again.is_noop(), "{again:?}");
    assert_eq!(again.unchanged, 2);
}

#[test]
fn the_operator_chooses_how_new_merchants_start() {
    let text = format!(
        "사업자등록번호,상호명,영업상태\n{},영업 가게,영업\n{},휴업 가게,휴업\n{},폐업 가게,폐업\n",
        brn(41),
        brn(42),
        brn(43)
    );
    let statuses =
        |report: &SyncReport| -> Vec<Status> { report.added.iter().map(|a| a.status).collect() };
    let as_file = sync_with(&mut Registry::new(), &text, &SyncOptions::default());
    assert_eq!(
        statuses(&as_file),
        vec![Status::Approved, Status::Suspended]
    );
    let mut reg = Registry::new();
    let review = SyncOptions {
        new_status: NewStatus::Applied,
        ..SyncOptions::default()
    };
    let report = sync_with(&mut reg, &text, &review);
    assert_eq!(statuses(&report), vec![Status::Applied, Status::Applied]);
    assert_eq!(report.skipped_closed, 1);
    // A later file saying 영업 does not approve them: that is the operator's review.
    let again = sync_with(&mut reg, &text, &SyncOptions::default());
    assert!(again.is_noop(), "{again:?}");
    assert!(
        reg.records().iter().all(|m| m.status == Status::Applied),
        "{:?}",
        reg.records()
    );
}

#[test]
fn the_previous_operators_qr_column_is_carried_to_each_merchant() {
    for header in [
        "기존QR",
        "기존 QR코드",
        "이전QR",
        "qr_payload",
        "previous_qr",
        "legacy_qr",
    ] {
        let text = format!(
            "사업자등록번호,상호명,{header}\n\
             {},가게 하나,https://old.example/pay?shop=1\n\
             {},가게 둘,\n\
             {},가게 셋, 0012345678 \n",
            brn(51),
            brn(52),
            brn(53)
        );
        let mut reg = Registry::new();
        let plan = reg
            .plan_sync(text.as_bytes(), &SyncOptions::default())
            .unwrap();
        assert!(plan.report().ignored_columns.is_empty(), "{header}");
        let planned: Vec<(u64, &str, bool)> = plan
            .report()
            .legacy_qr
            .iter()
            .map(|q| (q.line, q.payload.as_str(), q.id.is_some()))
            .collect();
        assert_eq!(
            planned,
            vec![
                (2, "https://old.example/pay?shop=1", false),
                (4, "0012345678", false)
            ],
            "{header}"
        );
        let report = reg
            .apply_sync(plan, &mut SequentialIds::starting_at(100), NOW)
            .unwrap();
        let ids: Vec<_> = report.legacy_qr.iter().map(|q| q.id).collect();
        assert_eq!(ids, vec![report.added[0].id, report.added[2].id]);
        // A known merchant's payload carries its id in the plan already.
        let again = reg
            .plan_sync(text.as_bytes(), &SyncOptions::default())
            .unwrap();
        assert_eq!(again.report().legacy_qr[0].id, report.added[0].id);
    }
}

#[test]
fn every_row_is_reported_in_korean_and_english_and_as_csv() {
    let mut reg = Registry::new();
    let first = format!(
        "사업자등록번호,상호명,위도,경도,영업상태\n{},남을 가게,35.1,129.0,영업\n{},빠질 가게,35.1,129.0,영업\n",
        brn(61),
        brn(62)
    );
    sync_with(&mut reg, &first, &SyncOptions::default());
    let text = format!(
        "사업자등록번호,상호명,위도,경도,영업상태\n\
         {},남을 가게,35.1,129.0,휴업\n\
         =HYPERLINK(\"x\"),나쁜 줄,35.1,129.0,영업\n\
         {},새 가게,,,영업\n",
        brn(61),
        brn(63)
    );
    let report = sync_with(&mut reg, &text, &SyncOptions::default());
    let rows = report.rows();
    for r in &rows {
        assert!(
            !r.message_ko.is_empty() && !r.message_en.is_empty(),
            "{r:?}"
        );
        assert!(
            r.message_ko.chars().any(|c| ('가'..='힣').contains(&c)),
            "{r:?}"
        );
    }
    let summary: Vec<(Option<u64>, &str, &str)> = rows
        .iter()
        .map(|r| (r.line, r.outcome.as_str(), r.code.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Some(2), "suspended", "suspended"),
            (Some(3), "rejected", "bad_brn_format"),
            (Some(4), "added", "added"),
            (Some(4), "warning", "location_missing"),
            (None, "absent", "absent"),
        ]
    );
    let csv = report_csv(&rows);
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "a BOM for Excel");
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("line,brn,outcome,code,message_ko,message_en,merchant_id")
    );
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), rows.len());
    // A cell a spreadsheet would run as a formula is shown as text.
    assert!(records[1][1].starts_with("'="), "{:?}", records[1]);
    assert_eq!(&records[4][0], "", "absent merchants have no line");
    let absent_id = report.absent[0].id.0.to_string();
    assert_eq!(&records[4][6], absent_id.as_str());
}

/// A dump like the one checked independently: 2,000 rows of CP949 with CRLF and Korean
/// headers (band labels, the previous operator's QR), a few awkward rows.
#[test]
fn a_two_thousand_row_cp949_crlf_dump_imports_row_by_row() {
    let merchants: Vec<directory::Merchant> = Synth::new(77)
        .only_in("부산광역시")
        .merchants(2_000, 1, NOW);
    let labels = ["1억 미만", "1억~3억", "3억~10억", "10억~30억", "30억 초과"];
    let mut text = String::from(
        "사업자등록번호,상호명,도로명주소,위도,경도,매출구간,영업상태,기존QR코드,전화번호\r\n",
    );
    let mut line_of_awkward = Vec::new();
    for (i, m) in merchants.iter().enumerate() {
        let row = registry_row(m);
        let line = i as u64 + 2;
        let (mut lat, mut lon) = (row[11].clone(), row[12].clone());
        let mut label = labels[i % labels.len()].to_owned();
        let mut brn_cell = row[0].clone();
        match i {
            10 => lat = "N/A".into(),
            11 => {
                lat.clear();
                lon.clear();
            }
            12 => label = "확인중".into(),
            13 => label = "5억~20억".into(),
            14 => {
                let last = brn_cell.pop().and_then(|c| c.to_digit(10)).unwrap();
                brn_cell.push(char::from_digit((last + 1) % 10, 10).unwrap());
            }
            _ => {}
        }
        if (10..=14).contains(&i) {
            line_of_awkward.push(line);
        }
        let status = if m.status == Status::Closed && !(10..=14).contains(&i) {
            "폐업"
        } else {
            "영업"
        };
        text.push_str(&format!(
            "{brn_cell},\"{}\",\"{}\",{lat},{lon},{label},{status},https://old-op.example/q/{i:05},051-000-0000\r\n",
            row[1], row[7]
        ));
    }
    let (bytes, _, bad) = encoding_rs::EUC_KR.encode(&text);
    assert!(!bad);
    let mut reg = Registry::new();
    let report = reg
        .sync(
            &bytes,
            &SyncOptions {
                revenue_thresholds: &BUSAN,
                ..SyncOptions::default()
            },
            &mut SequentialIds::starting_at(1),
            NOW,
        )
        .unwrap();
    assert_eq!(report.encoding, FileEncoding::EucKr);
    assert_eq!(report.rows, 2_000);
    let closed = merchants
        .iter()
        .enumerate()
        .filter(|(i, m)| m.status == Status::Closed && !(10..=14).contains(i))
        .count() as u64;
    assert_eq!(report.rejected.len(), 1, "{:?}", report.rejected);
    assert_eq!(
        (report.rejected[0].line, report.rejected[0].code.as_str()),
        (line_of_awkward[4], "bad_brn_checksum")
    );
    assert_eq!(report.added.len() as u64, 2_000 - 1 - closed);
    let code_at = |line: u64| -> Vec<&str> {
        report
            .warnings
            .iter()
            .filter(|w| w.line == line)
            .map(|w| w.code.as_str())
            .collect()
    };
    assert!(code_at(line_of_awkward[0]).contains(&"location_invalid"));
    assert!(code_at(line_of_awkward[1]).contains(&"location_missing"));
    assert!(code_at(line_of_awkward[2]).contains(&"revenue_unreadable"));
    assert!(code_at(line_of_awkward[3]).contains(&"revenue_straddles"));
    // Every taken row carries its QR payload, with the line it is on.
    assert_eq!(report.legacy_qr.len(), report.added.len());
    for q in &report.legacy_qr {
        let i = q.line - 2;
        assert_eq!(q.payload, format!("https://old-op.example/q/{i:05}"));
        assert!(q.id.is_some());
    }
    assert_eq!(
        reg.len() as u64,
        2_000 - 1 - closed,
        "every good row is a merchant"
    );
}

#[test]
fn public_data_headers_units_statuses_and_trailing_commas() {
    let text = format!(
        "사업자 등록번호,업체명,주소,위도(WGS84),경도(WGS84),연매출(천원),영업상태명\r\n\
         {},천원 가게,부산광역시 남구 수영로 1,35.13,129.1,\"1,234,567\",영업/정상\r\n\
         {},휴업 가게,부산광역시 남구 수영로 2,35.13,129.1,12억,휴업,\r\n\
         {},말소 가게,부산광역시 남구 수영로 3,35.13,129.1,,취소/말소/만료/정지/중지,,\r\n\
         {},넘친 가게,부산광역시 남구 수영로 4,35.13,129.1,,영업,넘침\r\n",
        brn(71),
        brn(72),
        brn(73),
        brn(74)
    );
    let mut reg = Registry::new();
    let report = sync_with(&mut reg, &text, &SyncOptions::default());
    assert!(
        report.ignored_columns.is_empty(),
        "{:?}",
        report.ignored_columns
    );
    let m = |n: u32| reg.get_by_brn(brn(n).parse().unwrap()).unwrap().clone();
    assert_eq!(
        m(71).profile.revenue,
        Some(Revenue::AnnualWon(Won::new(1_234_567_000))),
        "thousands of won"
    );
    assert_eq!(
        m(72).profile.revenue,
        Some(Revenue::AnnualWon(Won::new(12 * EOK))),
        "a unit written in the cell wins"
    );
    assert_eq!(m(71).status, Status::Approved);
    assert_eq!(m(72).status, Status::Suspended);
    assert_eq!(m(73).status, Status::Suspended, "suspended, not closed");
    assert!(m(71).profile.location.is_some());
    assert_eq!(m(71).profile.sigungu.as_deref(), Some("남구"));
    // Extra cells are fine when empty, not when they hold something.
    assert_eq!(report.rejected.len(), 1, "{:?}", report.rejected);
    assert_eq!(
        (report.rejected[0].line, report.rejected[0].code.as_str()),
        (5, "wrong_column_count")
    );
}
