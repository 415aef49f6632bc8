//! The status lifecycle and registry bookkeeping, through the public API.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use directory::{
    Actor, Brn, DirectoryError, FieldError, FieldSet, GeoPoint, MerchantId, MerchantProfile,
    Registry, Status,
};

fn brn(n: u32) -> Brn {
    Brn::from_prefix(n).unwrap()
}

fn registry_with_one() -> Registry {
    let mut reg = Registry::new();
    let mut p = MerchantProfile::named("경동시장 행복상회");
    p.location = Some(GeoPoint::new(37_580_000, 127_040_000).unwrap());
    reg.register(MerchantId(1), brn(101_010_001), p, 1_000)
        .unwrap();
    reg
}

#[test]
fn register_starts_applied_with_a_reason_and_time() {
    let reg = registry_with_one();
    let m = reg.get(MerchantId(1)).unwrap();
    assert_eq!(m.status, Status::Applied);
    assert_eq!(m.last_change.from, None);
    assert_eq!(m.last_change.at_us, 1_000);
    assert_eq!(
        reg.get_by_brn(brn(101_010_001)).map(|m| m.id),
        Some(MerchantId(1))
    );
    reg.check_invariants().unwrap();
}

#[test]
fn the_whole_lifecycle() {
    let mut reg = registry_with_one();
    let id = MerchantId(1);
    let steps = [
        (Status::Approved, "documents checked", Actor::Operator),
        (
            Status::Suspended,
            "registry sync: 휴업",
            Actor::RegistrySync,
        ),
        (Status::Approved, "registry sync: 영업", Actor::RegistrySync),
        (Status::Suspended, "fraud review", Actor::Operator),
        (Status::Closed, "registry sync: 폐업", Actor::RegistrySync),
        (Status::Approved, "reopened by owner", Actor::Operator),
        (Status::Closed, "owner retired", Actor::Operator),
    ];
    let mut previous = Status::Applied;
    for (i, (to, reason, by)) in steps.into_iter().enumerate() {
        let now = 2_000 + i as u64;
        let m = reg.transition(id, to, reason, by, now).unwrap();
        assert_eq!(m.status, to);
        assert_eq!(m.last_change.from, Some(previous));
        assert_eq!(m.last_change.reason, reason);
        assert_eq!(m.last_change.at_us, now);
        assert_eq!(m.last_change.by, by);
        previous = to;
    }
    reg.check_invariants().unwrap();
}

#[test]
fn illegal_transitions_are_refused_and_change_nothing() {
    let mut reg = registry_with_one();
    let id = MerchantId(1);
    let check = |reg: &mut Registry, to: Status, from: Status| {
        let before = reg.get(id).cloned();
        let generation = reg.generation();
        assert_eq!(
            reg.transition(id, to, "try", Actor::Operator, 9)
                .map(|m| m.status),
            Err(DirectoryError::IllegalTransition { from, to })
        );
        assert_eq!(reg.get(id).cloned(), before);
        assert_eq!(reg.generation(), generation);
    };
    check(&mut reg, Status::Suspended, Status::Applied);
    check(&mut reg, Status::Applied, Status::Applied);
    reg.transition(id, Status::Approved, "ok", Actor::Operator, 3)
        .unwrap();
    check(&mut reg, Status::Approved, Status::Approved);
    check(&mut reg, Status::Applied, Status::Approved);
    reg.transition(id, Status::Closed, "gone", Actor::Operator, 4)
        .unwrap();
    check(&mut reg, Status::Suspended, Status::Closed);
    check(&mut reg, Status::Closed, Status::Closed);
    let err = reg
        .transition(id, Status::Suspended, "x", Actor::Operator, 5)
        .unwrap_err();
    assert_eq!(err.code(), "illegal_transition");
}

#[test]
fn unknown_merchant_bad_reason_duplicates() {
    let mut reg = registry_with_one();
    assert_eq!(
        reg.transition(MerchantId(9), Status::Approved, "x", Actor::Operator, 1)
            .unwrap_err()
            .code(),
        "unknown_merchant"
    );
    assert_eq!(
        reg.transition(MerchantId(1), Status::Approved, "  ", Actor::Operator, 1)
            .unwrap_err(),
        DirectoryError::BadReason
    );
    let err = reg
        .register(
            MerchantId(1),
            brn(101_010_002),
            MerchantProfile::named("a"),
            1,
        )
        .unwrap_err();
    assert_eq!(err, DirectoryError::IdTaken(MerchantId(1)));
    let err = reg
        .register(
            MerchantId(2),
            brn(101_010_001),
            MerchantProfile::named("a"),
            1,
        )
        .unwrap_err();
    assert_eq!(err.code(), "brn_taken");
    let err = reg
        .register(
            MerchantId(2),
            brn(101_010_002),
            MerchantProfile::named(" - "),
            1,
        )
        .unwrap_err();
    assert_eq!(err, DirectoryError::Field(FieldError::MissingName));
    assert_eq!(reg.len(), 1);
    reg.check_invariants().unwrap();
}

#[test]
fn update_profile_reports_fields_and_reindexes() {
    let mut reg = registry_with_one();
    let id = MerchantId(1);
    let mut p = reg.get(id).unwrap().profile.clone();
    assert_eq!(reg.update_profile(id, p.clone()), Ok(FieldSet::EMPTY));
    p.name = "경동시장 사랑상회".into();
    p.location = None;
    let changed = reg.update_profile(id, p).unwrap();
    assert_eq!(
        changed,
        FieldSet::of(&[directory::Field::Name, directory::Field::Location])
    );
    reg.check_invariants().unwrap();
}

#[test]
fn records_round_trip_through_serde_and_bulk_load() {
    let mut synth = directory::synth::Synth::new(11);
    let records = synth.merchants(500, 1, 42);
    let json = serde_json::to_string(&records).unwrap();
    let back: Vec<directory::Merchant> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, records);
    let reg = Registry::from_records(back).unwrap();
    assert_eq!(reg.len(), 500);
    reg.check_invariants().unwrap();
    let mut dup = records.clone();
    dup.push(records[0].clone());
    assert_eq!(
        Registry::from_records(dup).unwrap_err(),
        DirectoryError::IdTaken(records[0].id)
    );
}

#[test]
fn stored_records_with_broken_values_are_refused() {
    let mut synth = directory::synth::Synth::new(12);
    let records = synth.merchants(1, 1, 0);
    let json = serde_json::to_string(&records[0]).unwrap();
    let bad_brn = json.replace(&records[0].brn.to_string(), "220-81-62518");
    assert!(serde_json::from_str::<directory::Merchant>(&bad_brn).is_err());
    let loc = records[0].profile.location.unwrap();
    let bad_loc = json.replace(
        &format!("\"lat_e6\":{}", loc.lat_e6()),
        "\"lat_e6\":91000000",
    );
    assert_ne!(bad_loc, json);
    assert!(serde_json::from_str::<directory::Merchant>(&bad_loc).is_err());
}
