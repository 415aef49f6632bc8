//! The service's stores on PostgreSQL: every function of `service::store::conformance`,
//! each in a scratch schema of its own, then what only this implementation has to show
//! (ids after carried users, the change logs, shared keys, values beyond int8).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use pgstore::scratch::ScratchDb;
use pgstore::{PgRegistry, PgService, PgServiceStores, keys};
use service::Role;
use service::store::{
    BankLinkStore, ChangeLogStore, Created, ExportedUser, NewUserRecord, RegistryStore,
    SessionStore, StoreError, UserStore, conformance,
};

fn service(t: &ScratchDb) -> PgService {
    PgService::new(t.db())
}

#[test]
fn users_conform() {
    let t = ScratchDb::new();
    conformance::users(&service(&t));
}

#[test]
fn sessions_conform() {
    let t = ScratchDb::new();
    let store = service(&t);
    conformance::sessions(&store, &store);
}

#[test]
fn bank_links_conform() {
    let t = ScratchDb::new();
    conformance::bank_links(&service(&t));
}

#[test]
fn notices_conform() {
    let t = ScratchDb::new();
    conformance::notices(&service(&t));
}

#[test]
fn answers_conform() {
    let t = ScratchDb::new();
    conformance::answers(&service(&t));
}

#[test]
fn users_are_carried_to_another_store() {
    let (t_from, t_to) = (ScratchDb::new(), ScratchDb::new());
    let (from, to) = (service(&t_from), service(&t_to));
    conformance::users_carried(&from, &from, &to, &to);
}

#[test]
fn links_are_carried_to_another_store() {
    let (t_from, t_to) = (ScratchDb::new(), ScratchDb::new());
    conformance::links_carried(&service(&t_from), &service(&t_to));
}

#[test]
fn the_registry_conforms() {
    let t = ScratchDb::new();
    conformance::registry(&PgRegistry::new(t.db()));
}

/// Another node (new connections to the same database) finds what was written.
#[test]
fn users_survive_on_other_connections() {
    let t = ScratchDb::new();
    conformance::users_survive(&service(&t), || Box::new(service(&t)));
}

#[test]
fn the_registry_survives_on_other_connections() {
    let t = ScratchDb::new();
    conformance::registry_survives(&PgRegistry::new(t.db()), || {
        Box::new(PgRegistry::new(t.db()))
    });
}

/// The shape the service takes: every concern behind `ServiceStores`, and the registry.
#[test]
fn one_database_gives_both_stores() {
    let t = ScratchDb::new();
    let stores = PgServiceStores::new(t.db());
    let service = stores.service_stores();
    conformance::sessions(&*service.users, &*service.sessions);
    conformance::notices(&*service.notices);
    let registry: Arc<dyn RegistryStore> = stores.registry();
    conformance::registry(&*registry);
}

fn new_user(login: &str) -> NewUserRecord {
    NewUserRecord {
        login: login.to_owned(),
        login_key: login.to_lowercase(),
        role: Role::Citizen,
        password_hash: "hash".to_owned(),
        pin_hash: None,
        currency: "busan".to_owned(),
        currencies: Vec::new(),
        created_s: 1,
        setup: Some("{}".to_owned()),
    }
}

fn carried(id: i64, login: &str) -> ExportedUser {
    ExportedUser {
        id,
        role: Role::Citizen,
        login: login.to_owned(),
        login_key: Some(login.to_owned()),
        password_hash: "hash".to_owned(),
        pin_hash: None,
        account: 1_000_000_000 + id as u64,
        created_s: 1,
        person: None,
    }
}

/// Carried users keep their ids, and a sign-up after them takes a new one (as SQLite's
/// AUTOINCREMENT goes on after the largest id).
#[test]
fn sign_ups_after_carried_users_take_new_ids() {
    let t = ScratchDb::new();
    let store = service(&t);
    let Created::Id(first) = store.create_user(&new_user("first")).unwrap() else {
        panic!("taken")
    };
    assert_eq!(
        store
            .restore_users("busan", &[carried(50_000, "carried-a")])
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .upsert_users("busan", &[carried(60_000, "carried-b")])
            .unwrap(),
        1
    );
    let Created::Id(next) = store.create_user(&new_user("next")).unwrap() else {
        panic!("taken")
    };
    assert!(first < 50_000 && next > 60_000, "{first} {next}");
    // An id below the sequence's position does not move it back.
    store
        .restore_users("busan", &[carried(10, "carried-c")])
        .unwrap();
    let Created::Id(after) = store.create_user(&new_user("after")).unwrap() else {
        panic!("taken")
    };
    assert_eq!(after, next + 1);
    let ids: Vec<i64> = store
        .users_of("busan")
        .unwrap()
        .users
        .iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(ids, vec![10, 50_000, 60_000]);
}

/// Changes are noted only once started, and a later start keeps the old.
#[test]
fn changes_are_noted_only_once_started_and_a_later_start_keeps_the_old() {
    let t = ScratchDb::new();
    conformance::change_logs(&service(&t), &PgRegistry::new(t.db()));
}

/// Every kind of row the triggers watch is noted under the key SQLite's triggers give it.
#[test]
fn the_change_log_names_users_people_and_sessions_as_sqlite_does() {
    let t = ScratchDb::new();
    let store = service(&t);
    let at = store.start_change_log().unwrap();
    let mut user = carried(42, "logged");
    user.person = Some(service::store::Person {
        name: "이름".to_owned(),
        address: "부산".to_owned(),
    });
    store.restore_users("busan", &[user]).unwrap();
    store.insert_session(&[0xAB; 32], 42, 10).unwrap();
    let mut keys = store.changed_since("busan", at).unwrap();
    keys.sort();
    assert_eq!(
        keys,
        vec![format!("session:{}", "ab".repeat(32)), "user:42".to_owned()]
    );
    let at = store.start_change_log().unwrap();
    store.remove_users("busan", &[42]).unwrap();
    let mut keys = store.changed_since("busan", at).unwrap();
    keys.sort();
    assert_eq!(
        keys,
        vec![format!("session:{}", "ab".repeat(32)), "user:42".to_owned()]
    );
}

/// Nodes asking for the same key at once all get the one that was made first.
#[test]
fn a_shared_key_is_made_once_for_every_node() {
    let t = ScratchDb::new();
    let nodes: Vec<_> = (0..6).map(|_| t.db()).collect();
    let got: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .iter()
            .map(|db| s.spawn(|| keys::load_or_create(db, "pin", 32).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(got[0].len(), 32);
    assert!(got.iter().all(|k| *k == got[0]), "one key for all");
    assert_eq!(
        keys::load_or_create_32(&t.db(), "pin").unwrap().to_vec(),
        got[0]
    );
    assert_ne!(keys::load_or_create(&t.db(), "other", 32).unwrap(), got[0]);
    assert!(
        keys::load_or_create(&t.db(), "pin", 16).is_err(),
        "a key of another length is refused"
    );
}

/// A value the service's u64 holds but int8 does not is refused, never wrapped.
#[test]
fn values_beyond_int8_are_refused_not_wrapped() {
    let t = ScratchDb::new();
    let store = service(&t);
    let Created::Id(id) = store.create_user(&new_user("big")).unwrap() else {
        panic!("taken")
    };
    assert!(matches!(
        store.set_account(id, u64::MAX),
        Err(StoreError::Failed(_))
    ));
    assert_eq!(store.pending_setup(id).unwrap().as_deref(), Some("{}"));
    assert!(store.insert_session(&[1; 32], id, u64::MAX).is_err());
    store.insert_session(&[2; 32], id, 100).unwrap();
    assert_eq!(
        store.live_sessions(u64::MAX).unwrap().len(),
        0,
        "all expired"
    );
    assert_eq!(store.verified_link(u64::MAX).unwrap(), None);
}

/// A start waits for writers in flight: a change that saw the log off is committed
/// (so a base read after the start has it), and one that took a seq is not left below
/// the position to commit later.
#[test]
fn a_start_of_the_change_log_waits_for_writers_in_flight() {
    let t = ScratchDb::new();
    let store = Arc::new(service(&t));
    let db = t.db();
    let writer = db.conn().unwrap();
    // A bank link written and not yet committed while the log starts: the start waits
    // for it; its seq.
    let start_while_writing = |account: i64| {
        writer
            .run(
                "write without committing",
                writer.batch_execute(&format!(
                    "BEGIN; INSERT INTO maeul_bank_links (account, bank_account, verified_ms)
                     VALUES ({account}, '110-{account}', 1)"
                )),
            )
            .unwrap();
        let starting = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || store.start_change_log().unwrap())
        };
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!starting.is_finished(), "the start waits for the writer");
        writer
            .run("commit", writer.batch_execute("COMMIT"))
            .unwrap();
        starting.join().unwrap()
    };
    let at = start_while_writing(99);
    assert!(store.changed_since("x", at).unwrap().is_empty());
    assert!(
        store.verified_link(99).unwrap().is_some(),
        "committed first"
    );

    // Now on: a writer holding a seq is waited for too, and its seq is within the start.
    let again = start_while_writing(100);
    assert_eq!(store.changed_since("x", at).unwrap(), vec!["bank_link:100"]);
    assert!(store.changed_since("x", again).unwrap().is_empty());
}
