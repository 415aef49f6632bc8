//! What every implementation of the store traits must do, as functions over `&dyn`
//! stores: the SQLite stores run them (`sqlite`'s tests), and so must any other
//! implementation (enable the `conformance` feature to reach them from outside).
//!
//! Each function panics with what differs. They name their own users, currencies and
//! keys, so they can share one store, but each expects that store not to hold those
//! names already (start from an empty database).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use directory::{Actor, Brn, Merchant, MerchantId, MerchantProfile, Status, StatusChange};

use super::{
    AnswerStore, BankLinkStore, CarriedSession, ChangeLogStore, Created, ExportedUser,
    InsertedVerification, LinkRecord, NewUserRecord, NewVerification, NoticeStore, Person,
    RegistryStore, RegistryWrite, SeedUser, SessionStore, UserStore, VerifiedLink,
};
use crate::auth::{Notice, Role};
use crate::bank_link::Stage;
use crate::idempotency::StoredAnswer;

fn new_user(login: &str, role: Role, setup: Option<&str>) -> NewUserRecord {
    NewUserRecord {
        login: login.to_owned(),
        login_key: crate::auth::login_key(login),
        role,
        password_hash: format!("hash-of-{login}"),
        pin_hash: Some(format!("pin-of-{login}")),
        currency: "busan".to_owned(),
        currencies: match role {
            Role::Operator | Role::Auditor => vec!["busan".to_owned(), "seoul".to_owned()],
            _ => Vec::new(),
        },
        created_s: 1_760_000_000,
        setup: setup.map(str::to_owned),
    }
}

fn created(users: &dyn UserStore, user: &NewUserRecord) -> i64 {
    match users.create_user(user).expect("create a user") {
        Created::Id(id) => id,
        Created::LoginTaken => panic!("{} was taken", user.login),
    }
}

/// Users: created and read back, logins unique by their folded key, set-ups owed and
/// done, PIN failures, seeded users with their people, deletion.
pub fn users(users: &dyn UserStore) {
    let minji = new_user("Conf-Minji", Role::Citizen, Some(r#"{"kind":"citizen"}"#));
    let id = created(users, &minji);
    let op = created(users, &new_user("conf-operator", Role::Operator, None));
    assert_ne!(id, op, "ids are distinct");

    // Read back by the exact login and by any variant's folded key.
    for (login, key) in [
        ("Conf-Minji", "conf-minji"),
        ("CONF-MINJI", "conf-minji"),
        ("nobody", "conf-minji"),
    ] {
        let found = users
            .sign_in_candidate(login, key)
            .expect("read")
            .unwrap_or_else(|| panic!("{login} finds the user"));
        assert_eq!(found.user.id, id);
        assert_eq!(found.user.role, Role::Citizen);
        assert_eq!(found.user.account, None);
        assert_eq!(found.user.currency, "busan");
        assert!(found.user.currencies.is_empty());
        assert_eq!(found.password_hash, "hash-of-Conf-Minji");
    }
    assert!(
        users
            .sign_in_candidate("conf-nobody", "conf-nobody")
            .expect("read")
            .is_none()
    );
    let found = users
        .sign_in_candidate("conf-operator", "conf-operator")
        .expect("read")
        .expect("the operator");
    assert_eq!(found.user.role, Role::Operator);
    assert_eq!(found.user.currencies, ["busan", "seoul"]);
    assert_eq!(
        users.password_hash(id).expect("read").as_deref(),
        Some("hash-of-Conf-Minji")
    );
    assert_eq!(users.password_hash(i64::MAX).expect("read"), None);

    // Login keys are unique: the same login, or one folding alike, is taken.
    for taken in ["Conf-Minji", "conf-minji", "CONF-MINJI"] {
        assert_eq!(
            users
                .create_user(&new_user(taken, Role::Citizen, None))
                .expect("create"),
            Created::LoginTaken,
            "{taken}"
        );
    }

    // A set-up is owed until the account is recorded.
    assert_eq!(
        users.pending_setup(id).expect("read").as_deref(),
        Some(r#"{"kind":"citizen"}"#)
    );
    let owed = users.pending_setups().expect("read");
    assert!(
        owed.iter()
            .any(|p| p.user_id == id && p.currency == "busan")
    );
    assert!(owed.iter().all(|p| p.user_id != op), "no set-up, none owed");
    users.set_account(id, 1_000_000_001).expect("set account");
    assert_eq!(users.pending_setup(id).expect("read"), None);
    assert!(
        users
            .pending_setups()
            .expect("read")
            .iter()
            .all(|p| p.user_id != id)
    );
    let found = users
        .sign_in_candidate("Conf-Minji", "conf-minji")
        .expect("read")
        .expect("found");
    assert_eq!(found.user.account, Some(1_000_000_001));

    // PIN failures and locks.
    let pin = users.pin_state(id).expect("read").expect("a PIN state");
    assert_eq!(pin.login, "Conf-Minji");
    assert_eq!(pin.pin_hash.as_deref(), Some("pin-of-Conf-Minji"));
    assert_eq!((pin.failures, pin.locked_until_s), (0, 0));
    users.set_pin_failures(id, 3, 0).expect("count");
    // Each read after a write sees the write (a store may remember what it read).
    let pin = users.pin_state(id).expect("read").expect("a PIN state");
    assert_eq!((pin.failures, pin.locked_until_s), (3, 0));
    users.set_pin_failures(id, 0, 1_760_001_800).expect("lock");
    let pin = users.pin_state(id).expect("read").expect("a PIN state");
    assert_eq!((pin.failures, pin.locked_until_s), (0, 1_760_001_800));
    users.set_pin_failures(id, 2, 1_760_001_800).expect("count");
    users.reset_pin_failures(id).expect("reset");
    let pin = users.pin_state(id).expect("read").expect("a PIN state");
    assert_eq!(
        (pin.failures, pin.locked_until_s),
        (0, 1_760_001_800),
        "a reset leaves the lock time"
    );
    assert_eq!(users.pin_state(i64::MAX).expect("read"), None);

    // Every user has a key: folding finds nothing to do.
    assert!(
        users
            .fold_login_keys(&crate::auth::login_key)
            .expect("fold")
            .is_empty()
    );

    // Seeded users: added once, with their people; logins already there are kept.
    let seed = |login: &str, account: u64, person: bool| SeedUser {
        login: login.to_owned(),
        login_key: crate::auth::login_key(login),
        password_hash: "seeded".to_owned(),
        pin_hash: person.then(|| "seeded-pin".to_owned()),
        account,
        person: person.then(|| Person {
            name: format!("이름 {login}"),
            address: "부산 중구".to_owned(),
        }),
    };
    let citizens = [seed("conf-seed-1", 11, true), seed("conf-seed-2", 12, true)];
    assert_eq!(
        users
            .seed_users(Role::Citizen, "busan", 1_760_000_000, &citizens)
            .expect("seed"),
        2
    );
    assert_eq!(
        users
            .seed_users(Role::Citizen, "busan", 1_760_000_000, &citizens)
            .expect("seed again"),
        0
    );
    let shops = [
        seed("conf-shop-1", 21, false),
        seed("Conf-Minji", 22, false),
    ];
    assert_eq!(
        users
            .seed_users(Role::Merchant, "busan", 1_760_000_000, &shops)
            .expect("seed"),
        1,
        "a login already there is left as it is"
    );
    let seeded = users
        .sign_in_candidate("conf-seed-1", "conf-seed-1")
        .expect("read")
        .expect("seeded");
    assert_eq!(seeded.user.account, Some(11));
    assert_eq!(seeded.user.role, Role::Citizen);
    assert_eq!(
        users.person(seeded.user.id).expect("read"),
        Some(Person {
            name: "이름 conf-seed-1".to_owned(),
            address: "부산 중구".to_owned()
        })
    );
    let shop = users
        .sign_in_candidate("conf-shop-1", "conf-shop-1")
        .expect("read")
        .expect("seeded");
    assert_eq!(shop.user.role, Role::Merchant);
    assert_eq!(users.person(shop.user.id).expect("read"), None);
    assert_eq!(
        users
            .pin_state(shop.user.id)
            .expect("read")
            .expect("state")
            .pin_hash,
        None
    );
    assert_eq!(users.person(id).expect("read"), None);

    // Deleted users are gone, and their login is free again.
    users.delete_user(op).expect("delete");
    assert!(
        users
            .sign_in_candidate("conf-operator", "conf-operator")
            .expect("read")
            .is_none()
    );
    created(users, &new_user("conf-operator", Role::Operator, None));
}

/// An operator change: a currency's citizens and merchants read out with their hashes,
/// people and times, and put into another store exactly, once however often it runs.
pub fn users_carried(
    from: &dyn UserStore,
    from_sessions: &dyn SessionStore,
    to: &dyn UserStore,
    to_sessions: &dyn SessionStore,
) {
    let person = Person {
        name: "김하나".to_owned(),
        address: "부산 동구".to_owned(),
    };
    let carried = [
        ExportedUser {
            id: 7_001,
            role: Role::Citizen,
            login: "Carry-Hana".to_owned(),
            login_key: Some(crate::auth::login_key("Carry-Hana")),
            password_hash: "hash-hana".to_owned(),
            pin_hash: Some("pin-hana".to_owned()),
            account: 1_000_777_001,
            created_s: 1_700_000_123,
            person: Some(person.clone()),
        },
        ExportedUser {
            id: 7_002,
            role: Role::Merchant,
            login: "carry-shop".to_owned(),
            login_key: Some("carry-shop".to_owned()),
            password_hash: "hash-shop".to_owned(),
            pin_hash: None,
            account: 20_777,
            created_s: 1_700_000_456,
            person: None,
        },
    ];
    let carried_hana = carried[0].clone();
    assert_eq!(from.restore_users("carry", &carried).expect("restore"), 2);
    assert_eq!(from.restore_users("carry", &carried).expect("again"), 0);
    // Staff, sign-ups not yet in the ledger and other currencies are not carried.
    created(
        from,
        &NewUserRecord {
            currency: "carry".to_owned(),
            ..new_user("carry-operator", Role::Operator, None)
        },
    );
    created(
        from,
        &NewUserRecord {
            currency: "carry".to_owned(),
            ..new_user(
                "carry-unfinished",
                Role::Citizen,
                Some(r#"{"kind":"citizen"}"#),
            )
        },
    );
    created(from, &new_user("carry-elsewhere", Role::Citizen, None));
    let read = from.users_of("carry").expect("read");
    assert_eq!(read.users, carried.to_vec());
    assert_eq!(read.unfinished_sign_ups, 1);

    assert_eq!(to.restore_users("carry", &read.users).expect("restore"), 2);
    assert_eq!(to.users_of("carry").expect("read").users, carried.to_vec());
    let hana = to
        .sign_in_candidate("carry-hana", "carry-hana")
        .expect("read")
        .expect("carried");
    assert_eq!(hana.password_hash, "hash-hana");
    assert_eq!(
        hana.user.id, 7_001,
        "ids are kept: they are the ledger's client ids"
    );
    // An id or a login that is another user's is refused, and nothing is added.
    let clash = ExportedUser {
        id: hana.user.id,
        login: "someone-else".to_owned(),
        login_key: Some("someone-else".to_owned()),
        ..carried[1].clone()
    };
    let fresh = ExportedUser {
        id: 7_009,
        login: "carry-fresh".to_owned(),
        login_key: Some("carry-fresh".to_owned()),
        ..carried[1].clone()
    };
    assert!(to.restore_users("carry", &[fresh.clone(), clash]).is_err());
    assert!(
        to.sign_in_candidate("carry-fresh", "carry-fresh")
            .expect("read")
            .is_none(),
        "all or nothing"
    );
    assert_eq!(hana.user.account, Some(1_000_777_001));
    assert_eq!(to.person(hana.user.id).expect("read"), Some(person));

    // Their live sessions go with them (staff's and expired ones do not).
    let from_hana = from
        .sign_in_candidate("carry-hana", "carry-hana")
        .expect("read")
        .expect("there");
    let operator = from
        .sign_in_candidate("carry-operator", "carry-operator")
        .expect("read")
        .expect("there");
    let now = 1_760_000_000;
    from_sessions
        .insert_session(&[31; 32], from_hana.user.id, now + 3_600)
        .expect("session");
    from_sessions
        .insert_session(&[32; 32], from_hana.user.id, now - 1)
        .expect("expired");
    from_sessions
        .insert_session(&[33; 32], operator.user.id, now + 3_600)
        .expect("staff");
    let carried = from_sessions.sessions_of("carry", now).expect("read");
    assert_eq!(
        carried,
        vec![CarriedSession {
            login: "Carry-Hana".to_owned(),
            token_hash: [31; 32],
            expires_at_s: now + 3_600,
        }]
    );
    let unknown = CarriedSession {
        login: "nobody-here".to_owned(),
        token_hash: [34; 32],
        expires_at_s: now + 3_600,
    };
    let both = [carried[0].clone(), unknown];
    assert_eq!(to_sessions.restore_sessions(&both).expect("restore"), 1);
    assert_eq!(to_sessions.restore_sessions(&both).expect("again"), 0);
    let live = to_sessions.live_sessions(now).expect("live");
    let session = live
        .iter()
        .find(|s| s.token_hash == [31; 32])
        .expect("carried session");
    assert_eq!(
        session.user.id, hana.user.id,
        "the successor's own id for the user"
    );

    // A follower takes a user's new PIN and its removal at once, even right after a
    // payment read the old state.
    let pin_of = |id| to.pin_state(id).expect("read").and_then(|p| p.pin_hash);
    assert_eq!(pin_of(hana.user.id).as_deref(), Some("pin-hana"));
    let new_pin = ExportedUser {
        pin_hash: Some("pin-hana-2".to_owned()),
        ..carried_hana
    };
    assert_eq!(to.upsert_users("carry", &[new_pin]).expect("upsert"), 1);
    assert_eq!(pin_of(hana.user.id).as_deref(), Some("pin-hana-2"));
    assert_eq!(
        to.remove_users("carry", &[hana.user.id]).expect("remove"),
        1
    );
    assert_eq!(to.pin_state(hana.user.id).expect("read"), None);
}

/// Verified links read out and put back, once.
pub fn links_carried(from: &dyn BankLinkStore, to: &dyn BankLinkStore) {
    let links = [
        LinkRecord {
            account: 1_000_778_001,
            bank_account: "110-778001".to_owned(),
            verified_ms: 1_700_000_000_123,
        },
        LinkRecord {
            account: 20_778,
            bank_account: "220-778".to_owned(),
            verified_ms: 1_700_000_000_456,
        },
    ];
    assert_eq!(from.restore_links(&links).expect("restore"), 2);
    assert_eq!(from.restore_links(&links).expect("again"), 0);
    let read: Vec<_> = from
        .verified_links()
        .expect("read")
        .into_iter()
        .filter(|l| links.iter().any(|x| x.account == l.account))
        .collect();
    assert_eq!(
        read,
        vec![links[1].clone(), links[0].clone()],
        "account order"
    );
    assert_eq!(to.restore_links(&read).expect("restore"), 2);
    let mut back: Vec<_> = to
        .verified_links()
        .expect("read")
        .into_iter()
        .filter(|l| links.iter().any(|x| x.account == l.account))
        .collect();
    back.sort_by_key(|l| l.account);
    assert_eq!(back, read);
    // A restored link is a link like any other.
    assert!(
        to.bank_links()
            .expect("links")
            .contains(&(20_778, "220-778".to_owned()))
    );
}

/// Sessions: stored with their users, expired ones swept, removed one by one or by user.
pub fn sessions(users: &dyn UserStore, sessions: &dyn SessionStore) {
    let now = 1_760_000_000;
    let jun = created(users, &new_user("conf-session-jun", Role::Citizen, None));
    let ara = created(users, &new_user("conf-session-ara", Role::Auditor, None));
    users.set_account(jun, 1_000_000_777).expect("account");
    let (a, b, c, old) = ([1u8; 32], [2u8; 32], [3u8; 32], [4u8; 32]);
    sessions.insert_session(&a, jun, now + 3600).expect("a");
    sessions.insert_session(&b, jun, now + 7200).expect("b");
    sessions.insert_session(&c, ara, now + 3600).expect("c");
    sessions.insert_session(&old, jun, now).expect("old");

    let live = |at: u64| {
        let mut found: Vec<([u8; 32], i64, u64)> = sessions
            .live_sessions(at)
            .expect("live sessions")
            .into_iter()
            .filter(|s| [a, b, c, old].contains(&s.token_hash))
            .map(|s| (s.token_hash, s.user.id, s.expires_at_s))
            .collect();
        found.sort();
        found
    };
    assert_eq!(
        live(now),
        vec![
            (a, jun, now + 3600),
            (b, jun, now + 7200),
            (c, ara, now + 3600)
        ],
        "expired at or before now: left out"
    );
    let stored = sessions
        .live_sessions(now)
        .expect("live sessions")
        .into_iter()
        .find(|s| s.token_hash == a)
        .expect("a");
    assert_eq!(stored.user.role, Role::Citizen);
    assert_eq!(stored.user.account, Some(1_000_000_777));
    assert_eq!(stored.user.currency, "busan");
    let auditor = sessions
        .live_sessions(now)
        .expect("live sessions")
        .into_iter()
        .find(|s| s.token_hash == c)
        .expect("c");
    assert_eq!(auditor.user.currencies, ["busan", "seoul"]);

    sessions.remove_session(&a).expect("sign out");
    assert_eq!(live(now), vec![(b, jun, now + 7200), (c, ara, now + 3600)]);
    sessions.remove_expired_sessions(now + 3600).expect("sweep");
    assert_eq!(live(now), vec![(b, jun, now + 7200)]);
    sessions.remove_user_sessions(jun).expect("a user's");
    assert_eq!(live(now), vec![]);
}

/// Bank-account verifications: written once per request key, superseded, moved on only
/// from where they were, wrong codes counted to a lock, linked with their consent.
pub fn bank_links(links: &dyn BankLinkStore) {
    let user = 9_001;
    let t = 1_760_000_000_000;
    let new = |id: &'static str, key: &'static [u8], stage: Stage, code: Option<&'static str>| {
        NewVerification {
            id,
            user_id: user,
            account: 1_000_009_001,
            currency: "busan",
            request_key: key,
            fingerprint: b"fingerprint",
            bank_account: "110-000005",
            code,
            code_hash: code.map(|_| &b"code-hash"[..]),
            created_ms: t,
            expires_ms: t + 600_000,
            stage,
        }
    };
    assert_eq!(links.verification_starts(user, 0).expect("starts"), (0, 0));
    let first = new("confv1", b"key-1", Stage::Sending, Some("1234"));
    assert!(matches!(
        links.insert_verification(&first).expect("insert"),
        InsertedVerification::Done
    ));
    let v = links.verification("confv1").expect("read").expect("found");
    assert_eq!(v.user_id, user);
    assert_eq!(v.account, 1_000_009_001);
    assert_eq!(v.currency, "busan");
    assert_eq!(v.fingerprint, b"fingerprint");
    assert_eq!(v.bank_account, "110-000005");
    assert_eq!(v.code.as_deref(), Some("1234"));
    assert_eq!(v.code_hash.as_deref(), Some(&b"code-hash"[..]));
    assert_eq!((v.created_ms, v.expires_ms), (t, t + 600_000));
    assert_eq!((v.stage, v.failures), (Stage::Sending, 0));
    assert_eq!(
        (v.detail.as_deref(), v.last_try_key.as_deref()),
        (None, None)
    );
    assert_eq!(
        links.verification_by_key(user, b"key-1").expect("read"),
        Some(v.clone())
    );
    assert_eq!(
        links.verification_by_key(user, b"key-9").expect("read"),
        None
    );
    assert_eq!(links.verification("nope").expect("read"), None);

    // The same request key again writes nothing and answers the first.
    let twin = new("confv1b", b"key-1", Stage::Sending, Some("9999"));
    match links.insert_verification(&twin).expect("insert") {
        InsertedVerification::Repeat(found) => assert_eq!(*found, v),
        InsertedVerification::Done => panic!("a repeated key wrote a second verification"),
    }
    assert_eq!(links.verification("confv1b").expect("read"), None);

    // A newer one with a code supersedes the open one; one without a code does not.
    let mismatch = new("confv0", b"key-0", Stage::HolderMismatch, None);
    links.insert_verification(&mismatch).expect("insert");
    assert_eq!(
        links
            .verification("confv1")
            .expect("read")
            .expect("v1")
            .stage,
        Stage::Sending
    );
    let second = new("confv2", b"key-2", Stage::Sending, Some("5678"));
    links.insert_verification(&second).expect("insert");
    let v1 = links.verification("confv1").expect("read").expect("v1");
    assert_eq!((v1.stage, v1.code), (Stage::Superseded, None));
    assert_eq!(
        links.verification_starts(user, t - 1).expect("starts"),
        (3, t)
    );
    assert_eq!(links.verification_starts(user, t).expect("starts"), (0, 0));

    // Moved on only from the stage it is at; the plain code goes when it leaves
    // `Sending`.
    assert!(
        !links
            .advance_verification("confv2", Stage::CodeSent, Stage::Locked, None)
            .expect("advance")
    );
    assert!(
        links
            .advance_verification("confv2", Stage::Sending, Stage::CodeSent, None)
            .expect("advance")
    );
    let v2 = links.verification("confv2").expect("read").expect("v2");
    assert_eq!((v2.stage, v2.code), (Stage::CodeSent, None));

    // Wrong codes count to a lock; a locked one counts no more.
    assert_eq!(
        links
            .count_wrong_code("confv2", b"try-1", 3)
            .expect("count"),
        Some(1)
    );
    assert_eq!(
        links
            .count_wrong_code("confv2", b"try-2", 3)
            .expect("count"),
        Some(2)
    );
    let v2 = links.verification("confv2").expect("read").expect("v2");
    assert_eq!(
        (v2.stage, v2.failures, v2.last_try_key.as_deref()),
        (Stage::CodeSent, 2, Some(&b"try-2"[..]))
    );
    assert_eq!(
        links
            .count_wrong_code("confv2", b"try-3", 3)
            .expect("count"),
        Some(3)
    );
    assert_eq!(
        links
            .verification("confv2")
            .expect("read")
            .expect("v2")
            .stage,
        Stage::Locked
    );
    assert_eq!(
        links
            .count_wrong_code("confv2", b"try-4", 3)
            .expect("count"),
        None
    );
    assert!(
        links
            .advance_verification(
                "confv0",
                Stage::HolderMismatch,
                Stage::DepositFailed,
                Some("E1: refused")
            )
            .expect("advance")
    );
    assert_eq!(
        links
            .verification("confv0")
            .expect("read")
            .expect("v0")
            .detail
            .as_deref(),
        Some("E1: refused")
    );

    // Linked with its consent, once.
    let third = new("confv3", b"key-3", Stage::Sending, Some("4321"));
    links.insert_verification(&third).expect("insert");
    let link = VerifiedLink {
        verification: "confv3",
        user_id: user,
        account: 1_000_009_001,
        currency: "busan",
        bank_account: "110-000005",
        bank_account_hash: "abc123",
        bank_account_masked: "***-**0005",
        purpose: "charge_withdrawals_and_refunds",
        text_version: "2026-01",
        at_ms: t + 5_000,
    };
    assert!(
        !links.link_verified(&link).expect("link"),
        "not waiting for a code: nothing linked"
    );
    assert!(
        links
            .bank_links()
            .expect("links")
            .iter()
            .all(|(a, _)| *a != 1_000_009_001)
    );
    links
        .advance_verification("confv3", Stage::Sending, Stage::CodeSent, None)
        .expect("advance");
    assert!(links.link_verified(&link).expect("link"));
    assert!(!links.link_verified(&link).expect("again"), "linked once");
    assert_eq!(
        links
            .verification("confv3")
            .expect("read")
            .expect("v3")
            .stage,
        Stage::Linked
    );
    assert!(
        links
            .bank_links()
            .expect("links")
            .contains(&(1_000_009_001, "110-000005".to_owned()))
    );
    let consent = links.consent_of("confv3").expect("read").expect("consent");
    assert_eq!(
        (
            consent.text_version.as_str(),
            consent.bank_account_masked.as_str(),
            consent.at_ms
        ),
        ("2026-01", "***-**0005", t + 5_000)
    );
    assert_eq!(links.consent_of("confv2").expect("read"), None);

    // A second link of the same account replaces the first; consents are all kept,
    // newest first.
    let fourth = new("confv4", b"key-4", Stage::CodeSent, Some("1111"));
    links.insert_verification(&fourth).expect("insert");
    links
        .link_verified(&VerifiedLink {
            verification: "confv4",
            bank_account: "110-000006",
            bank_account_masked: "***-**0006",
            at_ms: t + 9_000,
            ..link
        })
        .expect("link");
    let linked: Vec<_> = links
        .bank_links()
        .expect("links")
        .into_iter()
        .filter(|(a, _)| *a == 1_000_009_001)
        .collect();
    assert_eq!(linked, vec![(1_000_009_001, "110-000006".to_owned())]);
    let consents = links.bank_consents(user).expect("consents");
    assert_eq!(
        consents
            .iter()
            .map(|c| (c.bank_account_masked.as_str(), c.at_ms))
            .collect::<Vec<_>>(),
        vec![("***-**0006", t + 9_000), ("***-**0005", t + 5_000)]
    );
    assert!(links.bank_consents(user + 1).expect("consents").is_empty());
}

/// Notices: kept with the store's id and time, listed newest first per currency.
pub fn notices(notices: &dyn NoticeStore) {
    let notice = |currency: &str, title: &str| Notice {
        id: 0,
        currency: currency.to_owned(),
        title_ko: format!("{title} 공지"),
        title_en: format!("{title} notice"),
        body_ko: "본문".to_owned(),
        body_en: "Body".to_owned(),
        at: 0,
    };
    let first = notices
        .publish_notice(&notice("conf-a", "first"), 1_760_000_000)
        .expect("publish");
    let other = notices
        .publish_notice(&notice("conf-b", "other"), 1_760_000_001)
        .expect("publish");
    let second = notices
        .publish_notice(&notice("conf-a", "second"), 1_760_000_002)
        .expect("publish");
    assert!(first != other && other != second && first != second);
    let listed = notices.notices("conf-a", 10).expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|n| (n.id, n.title_en.as_str(), n.at))
            .collect::<Vec<_>>(),
        vec![
            (second, "second notice", 1_760_000_002),
            (first, "first notice", 1_760_000_000)
        ]
    );
    let n = &listed[0];
    assert_eq!(
        (
            n.currency.as_str(),
            n.title_ko.as_str(),
            n.body_ko.as_str(),
            n.body_en.as_str()
        ),
        ("conf-a", "second 공지", "본문", "Body")
    );
    assert_eq!(notices.notices("conf-a", 1).expect("list").len(), 1);
    assert!(notices.notices("conf-none", 10).expect("list").is_empty());
}

/// Stored answers: kept under (user, key), read back as they were, old ones forgotten.
pub fn answers(answers: &dyn AnswerStore) {
    let answer = |body: &str| StoredAnswer {
        fingerprint: [7; 16],
        status: 200,
        content_type: "application/json".to_owned(),
        body: body.as_bytes().to_vec(),
    };
    let (user, other) = (70_001, 70_002);
    let t = 1_760_000_000;
    answers
        .store_answer(user, b"key-1", &answer(r#"{"id":1}"#), t)
        .expect("store");
    answers
        .store_answer(user, b"key-2", &answer(""), t + 10)
        .expect("store");
    let got = answers
        .stored_answer(user, b"key-1", t)
        .expect("read")
        .expect("stored");
    assert_eq!(got.fingerprint, [7; 16]);
    assert_eq!(got.status, 200);
    assert_eq!(got.content_type, "application/json");
    assert_eq!(got.body, br#"{"id":1}"#);
    assert_eq!(
        answers
            .stored_answer(user, b"key-2", t)
            .expect("read")
            .expect("an empty body is kept")
            .body,
        b""
    );
    assert!(
        answers
            .stored_answer(other, b"key-1", t)
            .expect("read")
            .is_none()
    );
    assert!(
        answers
            .stored_answer(user, b"key-3", t)
            .expect("read")
            .is_none()
    );
    assert!(
        answers
            .stored_answer(user, b"key-1", t + 1)
            .expect("read")
            .is_none(),
        "stored before the cut-off: not answered"
    );
    // Replaced under the same key.
    answers
        .store_answer(user, b"key-1", &answer(r#"{"id":2}"#), t + 20)
        .expect("replace");
    assert_eq!(
        answers
            .stored_answer(user, b"key-1", t)
            .expect("read")
            .expect("stored")
            .body,
        br#"{"id":2}"#
    );
    answers.forget_answers_before(t + 15).expect("forget");
    assert!(
        answers
            .stored_answer(user, b"key-2", 0)
            .expect("read")
            .is_none()
    );
    assert!(
        answers
            .stored_answer(user, b"key-1", 0)
            .expect("read")
            .is_some()
    );
}

fn merchant(id: u64, brn: u32, name: &str, status: Status, by: Actor) -> Merchant {
    Merchant {
        id: MerchantId(id),
        brn: Brn::from_prefix(brn).expect("a BRN"),
        profile: MerchantProfile::named(name),
        status,
        last_change: StatusChange {
            from: None,
            reason: "conformance".to_owned(),
            at_us: 1_760_000_000_000_000,
            by,
        },
        brn_unverified: false,
    }
}

fn sorted(mut records: Vec<Merchant>) -> Vec<Merchant> {
    records.sort_by_key(|m| m.id);
    records
}

/// The registry: records per currency put and replaced, alias files kept in order,
/// revenue-band tables, removal.
pub fn registry(store: &dyn RegistryStore) {
    let a = merchant(1, 100_000_001, "가 분식", Status::Approved, Actor::Operator);
    let b = merchant(
        2,
        100_000_002,
        "나 국밥",
        Status::Applied,
        Actor::RegistrySync,
    );
    assert!(store.merchants("conf-busan").expect("read").is_empty());
    assert!(store.alias_files("conf-busan").expect("read").is_empty());
    assert_eq!(store.revenue_bands("conf-busan").expect("read"), None);
    store
        .write(
            "conf-busan",
            &RegistryWrite {
                records: &[&a, &b],
                log_status: true,
                alias_file: Some(b"payload,merchant_id\nX,1\n"),
                at_us: 1,
            },
        )
        .expect("write");
    assert_eq!(
        sorted(store.merchants("conf-busan").expect("read")),
        vec![a.clone(), b.clone()]
    );
    assert!(
        store.merchants("conf-seoul").expect("read").is_empty(),
        "currencies are apart"
    );
    // A record written again replaces the first; alias files come back in order.
    let mut a2 = a.clone();
    a2.status = Status::Suspended;
    a2.last_change.from = Some(Status::Approved);
    a2.profile.name = "가 분식 본점".to_owned();
    store
        .write(
            "conf-busan",
            &RegistryWrite {
                records: &[&a2],
                log_status: false,
                alias_file: Some(b"payload,merchant_id\nY,2\n"),
                at_us: 2,
            },
        )
        .expect("write");
    store
        .write(
            "conf-busan",
            &RegistryWrite {
                alias_file: Some(b"payload,merchant_id\nZ,1\n"),
                at_us: 3,
                ..RegistryWrite::default()
            },
        )
        .expect("write");
    assert_eq!(
        sorted(store.merchants("conf-busan").expect("read")),
        vec![a2.clone(), b.clone()]
    );
    assert_eq!(
        store.alias_files("conf-busan").expect("read"),
        vec![
            b"payload,merchant_id\nX,1\n".to_vec(),
            b"payload,merchant_id\nY,2\n".to_vec(),
            b"payload,merchant_id\nZ,1\n".to_vec(),
        ]
    );
    assert!(store.alias_files("conf-seoul").expect("read").is_empty());
    // The same id in another currency is another merchant.
    let seoul = merchant(1, 100_000_003, "다 빵집", Status::Approved, Actor::Operator);
    store
        .write(
            "conf-seoul",
            &RegistryWrite {
                records: &[&seoul],
                ..RegistryWrite::default()
            },
        )
        .expect("write");
    assert_eq!(store.merchants("conf-seoul").expect("read"), vec![seoul]);
    assert_eq!(store.merchants("conf-busan").expect("read").len(), 2);
    // Revenue bands: set, replaced.
    store
        .set_revenue_bands("conf-busan", b"label,min_won,max_won\n", 4)
        .expect("set");
    store
        .set_revenue_bands("conf-busan", b"label,min_won,max_won\nA,0,10\n", 5)
        .expect("set");
    assert_eq!(
        store.revenue_bands("conf-busan").expect("read").as_deref(),
        Some(&b"label,min_won,max_won\nA,0,10\n"[..])
    );
    assert_eq!(store.revenue_bands("conf-seoul").expect("read"), None);
    // Removal.
    store.remove_merchant("conf-busan", 2).expect("remove");
    assert_eq!(store.merchants("conf-busan").expect("read"), vec![a2]);
    assert_eq!(store.merchants("conf-seoul").expect("read").len(), 1);
}

/// What `users` and `sessions` wrote is there after the store is opened again
/// (`reopen` opens a second handle on the same data).
pub fn users_survive<S>(store: &S, reopen: impl Fn() -> Box<S>)
where
    S: UserStore + SessionStore,
{
    let id = created(store, &new_user("conf-kept", Role::Merchant, Some("{}")));
    store.set_account(id, 2_000_000_001).expect("account");
    store
        .insert_session(&[9; 32], id, u64::MAX / 4)
        .expect("session");
    let again = reopen();
    let found = again
        .sign_in_candidate("conf-kept", "conf-kept")
        .expect("read")
        .expect("kept");
    assert_eq!(
        (found.user.id, found.user.role, found.user.account),
        (id, Role::Merchant, Some(2_000_000_001))
    );
    assert!(
        again
            .live_sessions(0)
            .expect("sessions")
            .iter()
            .any(|s| s.token_hash == [9; 32] && s.user.id == id)
    );
}

/// What `registry` wrote is there after the store is opened again.
pub fn registry_survives(store: &dyn RegistryStore, reopen: impl Fn() -> Box<dyn RegistryStore>) {
    let m = merchant(
        77,
        100_000_077,
        "라 식당",
        Status::Approved,
        Actor::Operator,
    );
    store
        .write(
            "conf-kept",
            &RegistryWrite {
                records: &[&m],
                log_status: true,
                alias_file: Some(b"payload,merchant_id\nK,77\n"),
                at_us: 7,
            },
        )
        .expect("write");
    store
        .set_revenue_bands("conf-kept", b"label,min_won,max_won\n", 8)
        .expect("bands");
    let again = reopen();
    assert_eq!(again.merchants("conf-kept").expect("read"), vec![m]);
    assert_eq!(
        again.alias_files("conf-kept").expect("read"),
        vec![b"payload,merchant_id\nK,77\n".to_vec()]
    );
    assert!(again.revenue_bands("conf-kept").expect("read").is_some());
}

/// Change logs: changes are noted only once started, a later start keeps what was
/// noted before (another currency's base still reads it), and the registry's log names
/// merchants by currency.
pub fn change_logs(
    service: &(impl BankLinkStore + SessionStore + ChangeLogStore),
    registry: &(impl RegistryStore + ChangeLogStore),
) {
    let link = |account, bank: &str| LinkRecord {
        account,
        bank_account: bank.to_owned(),
        verified_ms: 1,
    };
    service.restore_links(&[link(7, "110-1")]).unwrap();
    let at = service.start_change_log().unwrap();
    assert!(
        service.changed_since("x", at).unwrap().is_empty(),
        "before the start"
    );
    service.replace_links(&[link(8, "110-2")], &[7]).unwrap();
    service.remove_sessions(&[[0xab; 32]]).unwrap();
    let mut keys = service.changed_since("x", at).unwrap();
    keys.sort();
    assert_eq!(keys, vec!["bank_link:7", "bank_link:8"]);
    let again = service.start_change_log().unwrap();
    assert!(again >= at + 2);
    assert!(service.changed_since("x", again).unwrap().is_empty());
    assert_eq!(
        service.changed_since("x", at).unwrap().len(),
        2,
        "another currency's base still reads what was noted before"
    );

    let at = registry.start_change_log().unwrap();
    let m = directory::synth::Synth::new(1).merchant(MerchantId(5), 1);
    registry
        .write(
            "busan",
            &RegistryWrite {
                records: &[&m],
                ..RegistryWrite::default()
            },
        )
        .unwrap();
    assert_eq!(
        registry.changed_since("busan", at).unwrap(),
        vec!["merchant:5"]
    );
    assert!(registry.changed_since("seoul", at).unwrap().is_empty());
    assert_eq!(registry.merchant("busan", 5).unwrap(), Some(m));
}
