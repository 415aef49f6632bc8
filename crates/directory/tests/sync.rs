//! Registry-file sync: idempotence, exact diffs, encodings, bad rows, stable ids.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use directory::model::Field;
use directory::sync::{FileEncoding, RegistryStatus};
use directory::synth::{CsvEncoding, HeaderStyle, Synth, registry_row, write_registry_csv};
use directory::{
    Actor, Brn, DirectoryError, FieldSet, MerchantId, Registry, SequentialIds, Status, SyncError,
    SyncOptions, SyncReport,
};
use proptest::prelude::*;

const NOW: u64 = 1_760_000_000_000_000;

/// Synthetic merchants without closed ones (a closed row is not imported into an empty
/// registry) and with only approved/suspended statuses, as a registry file states them.
fn open_merchants(seed: u64, n: usize) -> Vec<directory::Merchant> {
    Synth::new(seed)
        .merchants(n, 1, NOW)
        .into_iter()
        .filter(|m| m.status != Status::Closed)
        .collect()
}

fn csv_of(rows: &[Vec<String>], header: &[&str]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.into_inner().unwrap()
}

fn korean_header() -> Vec<&'static str> {
    let text = String::from_utf8(write_registry_csv(
        &[],
        CsvEncoding::Utf8,
        HeaderStyle::Korean,
    ))
    .unwrap();
    text.trim_end()
        .split(',')
        .map(|h| &*Box::leak(h.to_string().into_boxed_str()))
        .collect()
}

fn import(reg: &mut Registry, bytes: &[u8], ids: &mut SequentialIds) -> SyncReport {
    reg.sync(bytes, &SyncOptions::default(), ids, NOW).unwrap()
}

#[test]
fn first_import_adds_everything_and_reimport_changes_nothing() {
    let merchants = Synth::new(5).merchants(400, 1, NOW);
    let bytes = write_registry_csv(&merchants, CsvEncoding::Utf8, HeaderStyle::Korean);
    let mut reg = Registry::new();
    let mut ids = SequentialIds::starting_at(1_000);
    let report = import(&mut reg, &bytes, &mut ids);
    let closed = merchants
        .iter()
        .filter(|m| m.status == Status::Closed)
        .count() as u64;
    assert_eq!(report.encoding, FileEncoding::Utf8);
    assert_eq!(report.rows, 400);
    assert_eq!(report.added.len() as u64, 400 - closed);
    assert_eq!(report.skipped_closed, closed);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.ignored_columns, vec!["전화번호".to_string()]);
    // Every imported profile equals the one written.
    for m in merchants.iter().filter(|m| m.status != Status::Closed) {
        let got = reg.get_by_brn(m.brn).unwrap();
        assert_eq!(got.profile, m.profile, "{}", m.brn);
        let expected = if m.status == Status::Suspended {
            Status::Suspended
        } else {
            Status::Approved
        };
        assert_eq!(got.status, expected);
        assert_eq!(got.last_change.by, Actor::RegistrySync);
    }
    reg.check_invariants().unwrap();

    let ids_before: Vec<_> = reg.records().iter().map(|m| (m.brn, m.id)).collect();
    let generation = reg.generation();
    let again = import(&mut reg, &bytes, &mut ids);
    assert!(again.is_noop(), "{again:?}");
    assert_eq!(again.unchanged, 400 - closed);
    assert_eq!(again.skipped_closed, closed);
    assert!(again.absent.is_empty());
    assert!(again.held.is_empty());
    assert_eq!(reg.generation(), generation);
    let ids_after: Vec<_> = reg.records().iter().map(|m| (m.brn, m.id)).collect();
    assert_eq!(ids_before, ids_after);
}

#[test]
fn a_changed_file_yields_exactly_the_expected_diff() {
    let merchants = open_merchants(6, 60);
    let header = korean_header();
    let mut rows: Vec<Vec<String>> = merchants.iter().map(|m| registry_row(m).to_vec()).collect();
    let mut reg = Registry::new();
    let mut ids = SequentialIds::starting_at(1);
    import(&mut reg, &csv_of(&rows, &header), &mut ids);
    let id_of = |reg: &Registry, b: Brn| reg.get_by_brn(b).unwrap().id;
    let approved: Vec<usize> = (0..rows.len())
        .filter(|&i| merchants[i].status != Status::Suspended)
        .collect();
    let suspended: Vec<usize> = (0..rows.len())
        .filter(|&i| merchants[i].status == Status::Suspended)
        .collect();
    assert!(approved.len() > 10 && !suspended.is_empty());
    let [rename, moved, pause, gone, dropped, both] = [
        approved[0],
        approved[1],
        approved[2],
        approved[3],
        approved[4],
        approved[5],
    ];
    let resume = suspended[0];

    // Column indexes of the Korean header.
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    rows[rename][col("상호명")] = "새이름 분식".into();
    rows[moved][col("위도")] = "37.500001".into();
    rows[moved][col("경도")] = "127.000001".into();
    rows[pause][col("영업상태")] = "휴업".into();
    rows[gone][col("영업상태")] = "폐업".into();
    rows[both][col("영업시간")] = "매일 09:00-18:00".into();
    rows[both][col("영업상태")] = "휴업".into();
    rows[resume][col("영업상태")] = "영업".into();
    let dropped_brn = merchants[dropped].brn;
    rows.remove(dropped);
    // Line numbers: the header is line 1, row i (after the removal) is line i + 2.
    let line_of = |brn: Brn, rows: &[Vec<String>]| {
        rows.iter()
            .position(|r| Brn::parse(&r[0]) == Ok(brn))
            .unwrap() as u64
            + 2
    };

    let mut new_row = registry_row(&Synth::new(99).merchants(1, 1, NOW)[0]).to_vec();
    new_row[col("영업상태")] = "영업".into();
    let new_brn = Brn::parse(&new_row[0]).unwrap();
    rows.push(new_row);
    let new_line = rows.len() as u64 + 1;

    let bad_rows: Vec<(Vec<String>, &str)> = {
        let base = registry_row(&Synth::new(98).merchants(1, 1, NOW)[0]).to_vec();
        let mut checksum = base.clone();
        checksum[0] = "220-81-62518".into();
        let mut no_name = registry_row(&Synth::new(97).merchants(1, 1, NOW)[0]).to_vec();
        no_name[col("상호명")] = "".into();
        let mut status = registry_row(&Synth::new(95).merchants(1, 1, NOW)[0]).to_vec();
        status[col("영업상태")] = "영업정지?".into();
        let mut short = registry_row(&Synth::new(94).merchants(1, 1, NOW)[0]).to_vec();
        short.pop();
        let mut hours = registry_row(&Synth::new(93).merchants(1, 1, NOW)[0]).to_vec();
        hours[col("영업시간")] = "아침부터 저녁까지".into();
        let dup = rows[0].clone();
        vec![
            (checksum, "bad_brn_checksum"),
            (no_name, "missing_name"),
            (status, "unknown_status"),
            (short, "wrong_column_count"),
            (hours, "hours_syntax"),
            (dup, "duplicate_brn"),
        ]
    };
    let first_bad_line = rows.len() as u64 + 2;
    let expected_rejects: Vec<(u64, String)> = bad_rows
        .iter()
        .enumerate()
        .map(|(i, (_, code))| (first_bad_line + i as u64, code.to_string()))
        .collect();
    for (r, _) in bad_rows {
        rows.push(r);
    }
    // Swapped coordinates no longer reject a merchant: it is imported without a
    // location, and the row says so.
    let mut coords = registry_row(&Synth::new(96).merchants(1, 1, NOW)[0]).to_vec();
    coords[col("위도")] = "127.1".into();
    coords[col("경도")] = "37.5".into();
    coords[col("영업상태")] = "영업".into();
    let coords_brn = Brn::parse(&coords[0]).unwrap();
    rows.push(coords);
    let coords_line = rows.len() as u64 + 1;
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    w.write_record(&header).unwrap();
    for r in &rows {
        w.write_record(r).unwrap();
    }
    let bytes = w.into_inner().unwrap();

    let ids_before: Vec<_> = reg.records().iter().map(|m| (m.brn, m.id)).collect();
    let plan = reg.plan_sync(&bytes, &SyncOptions::default()).unwrap();
    let report = plan.report().clone();
    assert!(report.added[0].id.is_none(), "a plan has no ids yet");
    let applied = reg.apply_sync(plan, &mut ids, NOW + 1).unwrap();

    let mut changed: Vec<(MerchantId, FieldSet, u64)> = applied
        .changed
        .iter()
        .map(|c| (c.id, c.fields, c.line))
        .collect();
    changed.sort_by_key(|c| c.0);
    let b = |i: usize| merchants[i].brn;
    let mut expected_changed = vec![
        (
            id_of(&reg, b(rename)),
            FieldSet::of(&[Field::Name]),
            line_of(b(rename), &rows),
        ),
        (
            id_of(&reg, b(moved)),
            FieldSet::of(&[Field::Location]),
            line_of(b(moved), &rows),
        ),
        (
            id_of(&reg, b(both)),
            FieldSet::of(&[Field::Hours]),
            line_of(b(both), &rows),
        ),
    ];
    expected_changed.sort_by_key(|c| c.0);
    assert_eq!(changed, expected_changed);
    let ids = |rows: &[directory::sync::StatusRow]| -> Vec<MerchantId> {
        let mut v: Vec<_> = rows.iter().map(|r| r.id).collect();
        v.sort();
        v
    };
    let mut exp_susp = vec![id_of(&reg, b(pause)), id_of(&reg, b(both))];
    exp_susp.sort();
    assert_eq!(ids(&applied.suspended), exp_susp);
    assert_eq!(ids(&applied.closed), vec![id_of(&reg, b(gone))]);
    assert_eq!(ids(&applied.resumed), vec![id_of(&reg, b(resume))]);
    assert!(applied.reopened.is_empty());
    assert_eq!(
        applied.absent.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![id_of(&reg, dropped_brn)]
    );
    assert_eq!(applied.added.len(), 2);
    assert_eq!(applied.added[0].brn, new_brn);
    assert_eq!(applied.added[0].line, new_line);
    assert_eq!(
        (applied.added[1].brn, applied.added[1].line),
        (coords_brn, coords_line)
    );
    assert_eq!(reg.get_by_brn(coords_brn).unwrap().profile.location, None);
    let coords_note = applied
        .warnings
        .iter()
        .find(|w| w.line == coords_line)
        .unwrap();
    assert_eq!(coords_note.code, "location_invalid");
    assert_eq!(coords_note.id, applied.added[1].id);
    let new_id = applied.added[0].id.unwrap();
    assert!(
        new_id.0 > merchants.len() as u64,
        "fresh id from the allocator"
    );
    let rejects: Vec<(u64, String)> = applied
        .rejected
        .iter()
        .map(|r| (r.line, r.code.clone()))
        .collect();
    assert_eq!(rejects, expected_rejects);
    // Known merchants in the file, less the six touched ones.
    assert_eq!(applied.unchanged, merchants.len() as u64 - 1 - 6);

    // Ids never move; the dropped merchant is still there and still approved.
    for (brn, id) in ids_before {
        assert_eq!(reg.get_by_brn(brn).unwrap().id, id);
    }
    assert_eq!(
        reg.get_by_brn(dropped_brn).unwrap().status,
        Status::Approved
    );
    assert_eq!(
        reg.get_by_brn(b(rename)).unwrap().profile.name,
        "새이름 분식"
    );
    let paused = reg.get_by_brn(b(pause)).unwrap();
    assert_eq!(paused.last_change.reason, "registry sync: 휴업");
    assert_eq!(paused.last_change.at_us, NOW + 1);
    reg.check_invariants().unwrap();

    // The same changed file again: nothing more to do.
    let mut more_ids = SequentialIds::starting_at(10_000);
    let again = reg
        .sync(&bytes, &SyncOptions::default(), &mut more_ids, NOW + 2)
        .unwrap();
    assert!(again.is_noop(), "{again:?}");
    assert_eq!(again.rejected.len(), 6);
}

#[test]
fn cp949_file_imports_with_correct_hangul() {
    let mut merchants = open_merchants(7, 100);
    // 똠 and 햏 are outside the 2,350 syllables of KS X 1001: only CP949 (UHC) has them.
    merchants[0].profile.name = "똠방각하 햏복분식".into();
    let bytes = write_registry_csv(&merchants, CsvEncoding::Cp949, HeaderStyle::Korean);
    assert!(std::str::from_utf8(&bytes).is_err(), "really not UTF-8");
    let mut reg = Registry::new();
    let report = import(&mut reg, &bytes, &mut SequentialIds::starting_at(1));
    assert_eq!(report.encoding, FileEncoding::EucKr);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    for m in &merchants {
        assert_eq!(reg.get_by_brn(m.brn).unwrap().profile, m.profile);
    }
    assert_eq!(
        reg.get_by_brn(merchants[0].brn).unwrap().profile.name,
        "똠방각하 햏복분식"
    );
}

#[test]
fn english_headers_and_bom_import_the_same() {
    let merchants = open_merchants(8, 80);
    let mut a = Registry::new();
    let mut b = Registry::new();
    let ra = import(
        &mut a,
        &write_registry_csv(&merchants, CsvEncoding::Utf8Bom, HeaderStyle::English),
        &mut SequentialIds::starting_at(1),
    );
    let rb = import(
        &mut b,
        &write_registry_csv(&merchants, CsvEncoding::Utf8, HeaderStyle::Korean),
        &mut SequentialIds::starting_at(1),
    );
    assert_eq!(ra.encoding, FileEncoding::Utf8Bom);
    assert_eq!(a.records(), b.records());
    assert_eq!(ra.added.len(), rb.added.len());
}

#[test]
fn a_minimal_public_data_file_derives_region_and_keeps_missing_columns() {
    let text = "사업자등록번호,가맹점명,도로명주소,위도,경도,전화번호\n\
                220-81-62517,경동시장 행복상회,서울특별시 동대문구 왕산로 147,37.580012,127.039876,02-123-4567\n\
                2208162517,중복,서울특별시 동대문구 왕산로 1,,,\n\
                1018100002,위치없음,부산광역시 해운대구 해운대로 123,,,\n";
    let mut reg = Registry::new();
    let report = import(
        &mut reg,
        text.as_bytes(),
        &mut SequentialIds::starting_at(1),
    );
    assert_eq!(report.rejected.len(), 2, "{:?}", report.rejected);
    assert_eq!(report.rejected[0].code, "duplicate_brn");
    assert_eq!(report.rejected[0].line, 3);
    let m = reg.get_by_brn(Brn::parse("220-81-62517").unwrap()).unwrap();
    assert_eq!(m.profile.sido.as_deref(), Some("서울특별시"));
    assert_eq!(m.profile.sigungu.as_deref(), Some("동대문구"));
    assert_eq!(m.status, Status::Approved);
    // 1018100002 has a wrong check digit (…0001 would be right).
    assert_eq!(report.rejected[1].code, "bad_brn_checksum");

    // An operator sets hours; a file without an hours column leaves them alone.
    let id = m.id;
    let mut p = m.profile.clone();
    p.hours = Some(directory::OpeningHours::parse("월-금 09:00-18:00").unwrap());
    reg.update_profile(id, p).unwrap();
    let again = import(
        &mut reg,
        text.as_bytes(),
        &mut SequentialIds::starting_at(100),
    );
    assert!(again.is_noop(), "{again:?}");
    assert!(reg.get(id).unwrap().profile.hours.is_some());
}

#[test]
fn operator_decisions_are_held_against_the_file() {
    let merchants = open_merchants(9, 30);
    let bytes = write_registry_csv(&merchants, CsvEncoding::Utf8, HeaderStyle::Korean);
    let mut reg = Registry::new();
    import(&mut reg, &bytes, &mut SequentialIds::starting_at(1));
    let target = merchants
        .iter()
        .find(|m| m.status == Status::Approved)
        .unwrap();
    let id = reg.get_by_brn(target.brn).unwrap().id;
    reg.transition(id, Status::Suspended, "fraud review", Actor::Operator, NOW)
        .unwrap();
    let report = import(&mut reg, &bytes, &mut SequentialIds::starting_at(1_000));
    assert!(report.is_noop());
    assert_eq!(report.held.len(), 1);
    assert_eq!(report.held[0].id, id);
    assert_eq!(report.held[0].registry_status, RegistryStatus::Open);
    assert_eq!(reg.get(id).unwrap().status, Status::Suspended);
}

#[test]
fn a_stale_plan_or_a_bad_allocator_changes_nothing() {
    let merchants = open_merchants(10, 50);
    let bytes = write_registry_csv(&merchants, CsvEncoding::Utf8, HeaderStyle::Korean);
    let mut reg = Registry::new();
    let plan = reg.plan_sync(&bytes, &SyncOptions::default()).unwrap();
    reg.register(
        MerchantId(7),
        Brn::from_prefix(999_999_999).unwrap(),
        directory::MerchantProfile::named("먼저 온 가게"),
        NOW,
    )
    .unwrap();
    assert_eq!(
        reg.apply_sync(plan, &mut SequentialIds::starting_at(1), NOW)
            .unwrap_err(),
        DirectoryError::StalePlan
    );
    assert_eq!(reg.len(), 1);

    // An allocator that hands out an id already in use.
    let plan = reg.plan_sync(&bytes, &SyncOptions::default()).unwrap();
    let err = reg
        .apply_sync(plan, &mut SequentialIds::starting_at(5), NOW)
        .unwrap_err();
    assert_eq!(err, DirectoryError::IdTaken(MerchantId(7)));
    assert_eq!(reg.len(), 1);
    // One that runs dry.
    let plan = reg.plan_sync(&bytes, &SyncOptions::default()).unwrap();
    let mut three = (100..103u64).map(MerchantId);
    let mut alloc = move || three.next();
    let err = reg.apply_sync(plan, &mut alloc, NOW).unwrap_err();
    assert_eq!(err.code(), "id_allocator_exhausted");
    assert_eq!(reg.len(), 1);
    reg.check_invariants().unwrap();
}

#[test]
fn ids_survive_reordered_files_and_reopen() {
    let merchants = open_merchants(12, 120);
    let mut reg = Registry::new();
    let mut ids = SequentialIds::starting_at(1);
    import(
        &mut reg,
        &write_registry_csv(&merchants, CsvEncoding::Utf8, HeaderStyle::Korean),
        &mut ids,
    );
    let before: Vec<_> = reg.records().iter().map(|m| (m.brn, m.id)).collect();
    // Reverse the file, close everyone, then reopen everyone.
    let mut reversed = merchants.clone();
    reversed.reverse();
    for m in reversed.iter_mut() {
        m.status = Status::Closed;
    }
    let r = import(
        &mut reg,
        &write_registry_csv(&reversed, CsvEncoding::Cp949, HeaderStyle::English),
        &mut ids,
    );
    assert_eq!(r.closed.len(), merchants.len());
    for m in reversed.iter_mut() {
        m.status = Status::Approved;
    }
    let r = import(
        &mut reg,
        &write_registry_csv(&reversed, CsvEncoding::Utf8, HeaderStyle::Korean),
        &mut ids,
    );
    assert_eq!(r.reopened.len(), merchants.len());
    assert!(r.added.is_empty());
    let after: Vec<_> = reg.records().iter().map(|m| (m.brn, m.id)).collect();
    assert_eq!(before, after);
    reg.check_invariants().unwrap();
}

#[test]
fn file_level_errors() {
    let reg = Registry::new();
    let check = |bytes: &[u8], code: &str| {
        assert_eq!(
            reg.plan_sync(bytes, &SyncOptions::default())
                .unwrap_err()
                .code(),
            code
        );
    };
    check(b"", "empty_file");
    check("상호명,주소\n가게,서울\n".as_bytes(), "missing_column");
    check(
        "사업자등록번호,상호명,상호\n".as_bytes(),
        "duplicate_column",
    );
    check("사업자등록번호,상호명,위도\n".as_bytes(), "missing_column");
    assert_eq!(
        reg.plan_sync("brn\n".as_bytes(), &SyncOptions::default())
            .unwrap_err(),
        SyncError::MissingColumn("상호명")
    );
    // A header alone is a file with no rows, not an error.
    let plan = reg
        .plan_sync(b"brn,name\n", &SyncOptions::default())
        .unwrap();
    assert_eq!(plan.report().rows, 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any bytes: no panic, and a plan never changes the registry.
    #[test]
    fn arbitrary_files_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        korean in ".{0,80}",
    ) {
        let reg = Registry::new();
        let _ = reg.plan_sync(&body, &SyncOptions::default());
        let mut file = b"brn,name,latitude,longitude,status,hours,accepts,mcc\n".to_vec();
        file.extend_from_slice(korean.as_bytes());
        file.extend_from_slice(&body);
        let _ = reg.plan_sync(&file, &SyncOptions::default());
        prop_assert_eq!(reg.len(), 0);
    }
}

/// Regression (the service wrote a sync's records after applying it, so a failed write
/// left memory ahead of disk): a prepared sync changes nothing, names every record it
/// will write exactly as committing leaves it, and committing applies just that.
#[test]
fn a_prepared_sync_changes_nothing_and_its_records_are_what_commit_makes() {
    let mut merchants = open_merchants(21, 80);
    let mut reg = Registry::new();
    let mut ids = SequentialIds::starting_at(1);
    import(
        &mut reg,
        &write_registry_csv(&merchants, CsvEncoding::Utf8, HeaderStyle::Korean),
        &mut ids,
    );
    // A renamed shop, one suspended, one closed, and five new ones.
    merchants[0].profile.name = "새이름 국밥".into();
    let approved = merchants
        .iter()
        .position(|m| m.status == Status::Approved)
        .unwrap();
    merchants[approved].status = Status::Suspended;
    merchants[3].status = Status::Closed;
    merchants.extend(open_merchants(22, 5));
    let bytes = write_registry_csv(&merchants, CsvEncoding::Utf8, HeaderStyle::Korean);
    let before: Vec<_> = reg.records().to_vec();
    let generation = reg.generation();

    let plan = reg.plan_sync(&bytes, &SyncOptions::default()).unwrap();
    let prepared = reg.prepare_sync(plan, &mut ids, NOW + 1).unwrap();
    assert_eq!(reg.records(), &before[..], "preparing changes nothing");
    assert_eq!(reg.generation(), generation);
    assert_eq!(prepared.added(), 5);
    assert!(prepared.report().added.iter().all(|a| a.id.is_some()));
    let expected: Vec<_> = prepared.records().to_vec();
    assert!(expected.len() >= 7, "{}", expected.len());

    let report = reg.commit_sync(prepared).unwrap();
    assert_eq!(report.added.len(), 5);
    for m in &expected {
        assert_eq!(reg.get(m.id), Some(m), "merchant {}", m.id);
    }
    // Nothing else changed.
    let touched: Vec<MerchantId> = expected.iter().map(|m| m.id).collect();
    for m in before.iter().filter(|m| !touched.contains(&m.id)) {
        assert_eq!(reg.get(m.id), Some(m));
    }
    reg.check_invariants().unwrap();
    // A prepared sync of a generation that has moved on is refused whole.
    let plan = reg.plan_sync(&bytes, &SyncOptions::default()).unwrap();
    let prepared = reg.prepare_sync(plan, &mut ids, NOW + 2).unwrap();
    reg.register(
        MerchantId(900_000),
        Brn::from_prefix(999_999_999).unwrap(),
        directory::MerchantProfile::named("먼저 온 가게"),
        NOW + 2,
    )
    .unwrap();
    assert_eq!(
        reg.commit_sync(prepared).unwrap_err(),
        DirectoryError::StalePlan
    );
}

#[test]
fn transitioned_is_what_transition_makes_and_changes_nothing() {
    let mut reg = Registry::new();
    let id = MerchantId(7);
    reg.register(
        id,
        Brn::from_prefix(999_999_999).unwrap(),
        directory::MerchantProfile::named("가게"),
        NOW,
    )
    .unwrap();
    let before = reg.get(id).cloned();
    let generation = reg.generation();
    let next = reg
        .transitioned(id, Status::Approved, "checked", Actor::Operator, NOW + 1)
        .unwrap();
    assert_eq!(reg.get(id).cloned(), before);
    assert_eq!(reg.generation(), generation);
    let made = reg
        .transition(id, Status::Approved, "checked", Actor::Operator, NOW + 1)
        .unwrap()
        .clone();
    assert_eq!(made, next);
    assert_eq!(
        reg.transitioned(id, Status::Approved, "again", Actor::Operator, NOW + 2),
        Err(DirectoryError::IllegalTransition {
            from: Status::Approved,
            to: Status::Approved
        })
    );
    // `check_create` refuses what `create` would.
    assert_eq!(
        reg.check_create(
            id,
            Brn::from_prefix(123_456_789).unwrap(),
            &directory::MerchantProfile::named("다른 가게"),
            "x"
        ),
        Err(DirectoryError::IdTaken(id))
    );
}
