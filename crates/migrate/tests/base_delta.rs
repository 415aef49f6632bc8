//! A follower takes a base set while the old node serves, then at the cutover a delta
//! with only what changed since: afterwards its people and registry are the old
//! node's, row for row, sessions signed out in between included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use service::Role;
use service::store::sqlite::{SqliteRegistry, SqliteService};
use service::store::{BankLinkStore, LinkRecord, RegistryStore, SessionStore, UserStore};
use service::testing::{CURRENCY, MERCHANT, WALLET, merchant_with_money};

fn options(data_dir: &Path, out: &Path, recipient: &str) -> migrate::ExportOptions {
    migrate::ExportOptions {
        data_dir: data_dir.to_owned(),
        currency: CURRENCY.to_owned(),
        out: out.to_owned(),
        recipient: recipient.to_owned(),
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// What a data directory holds of the currency's people and registry, comparable.
fn people_and_registry(dir: &Path) -> (String, String, String, String) {
    let store = SqliteService::open_in(dir).unwrap();
    let mut users = store.users_of(CURRENCY).unwrap().users;
    users.sort_by_key(|u| u.id);
    let mut sessions = store.sessions_of(CURRENCY, 0).unwrap();
    sessions.sort_by_key(|s| s.token_hash);
    let links = store.verified_links().unwrap();
    let mut merchants = SqliteRegistry::open_in(dir)
        .unwrap()
        .merchants(CURRENCY)
        .unwrap();
    merchants.sort_by_key(|m| m.id.0);
    (
        format!("{users:?}"),
        format!("{sessions:?}"),
        format!("{links:?}"),
        serde_json::to_string(&merchants).unwrap(),
    )
}

#[tokio::test]
async fn a_delta_after_a_base_leaves_the_follower_equal_to_the_old_node() {
    let old = merchant_with_money(12_000).await;
    let (alice_token, _) = old.signed_in("alice", Role::Citizen, WALLET).await;
    let (_, shop) = old.merchant("shop").await;
    let now_us = 1_796_000_000_000_000;
    let registry = service::merchants::Merchants::open(&old.dir, CURRENCY, [7; 32]).unwrap();
    let record = directory::synth::Synth::new(1).merchant(directory::MerchantId(MERCHANT), now_us);
    registry.create_many(vec![record.clone()]).unwrap();
    let store = SqliteService::open_in(&old.dir).unwrap();
    store
        .restore_links(&[LinkRecord {
            account: WALLET,
            bank_account: "110-000001".to_owned(),
            verified_ms: 1_796_000_000_000,
        }])
        .unwrap();

    let (secret, public) = migrate::people::generate_key();
    let work = tempfile::tempdir().unwrap();
    let (base, delta, follower) = (
        work.path().join("base"),
        work.path().join("delta"),
        work.path().join("follower"),
    );
    let (base_manifest, id) =
        migrate::export_base(&options(&old.dir, &base, &public), &old.engine).unwrap();
    assert_eq!(
        migrate::base_id(&base).unwrap().as_deref(),
        Some(id.as_str())
    );
    assert_eq!(base_manifest.people.users, 2);
    assert!(base.join(migrate::base::POSITION).exists());

    // The follower holds the journal (it followed it) and takes the base.
    copy_tree(
        &old.dir.join("currencies").join(CURRENCY),
        &follower.join("currencies").join(CURRENCY),
    );
    let take = |set: &Path, taking: migrate::Taking| {
        migrate::import(
            &migrate::ImportOptions {
                set: set.to_owned(),
                data_dir: follower.clone(),
                identity: secret.clone(),
                journal_here: true,
                verified_cut: None,
                taking,
            },
            &|_, _, _| {},
        )
    };
    take(&base, migrate::Taking::Base).unwrap();
    assert_eq!(
        people_and_registry(&follower),
        people_and_registry(&old.dir)
    );

    // While the old node serves: a new citizen, alice signs out, the shop's link is
    // re-verified to another account, the merchant's record changes.
    old.signed_in("bob", Role::Citizen, WALLET + 1).await;
    old.service.auth.sign_out(&alice_token);
    store
        .replace_links(
            &[LinkRecord {
                account: shop.account.unwrap_or(MERCHANT),
                bank_account: "220-999999".to_owned(),
                verified_ms: 1_796_000_100_000,
            }],
            &[],
        )
        .unwrap();
    let mut changed = record;
    changed.profile.name = "바뀐 가게 이름".to_owned();
    SqliteRegistry::open_in(&old.dir)
        .unwrap()
        .write(
            CURRENCY,
            &service::store::RegistryWrite {
                records: &[&changed],
                ..Default::default()
            },
        )
        .unwrap();

    let manifest = migrate::export_live(
        &options(&old.dir, &delta, &public),
        &old.engine,
        Some((&base, &id)),
    )
    .unwrap();
    assert_eq!(manifest.base.as_deref(), Some(id.as_str()));
    let rows = |name: &str| {
        manifest
            .files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.rows)
            .unwrap()
    };
    // bob, bob's session, the changed link; the changed merchant; alice's session gone.
    let p = &manifest.people;
    assert_eq!(
        (p.users, p.sessions, p.bank_links),
        (1, 1, 1),
        "{manifest:?}"
    );
    assert_eq!(rows(migrate::format::files::MERCHANTS), 1);
    assert_eq!(rows(migrate::format::files::REMOVED), 1);

    // Only the follower that holds the base takes a delta.
    let fresh = tempfile::tempdir().unwrap();
    let refused = migrate::import(
        &migrate::ImportOptions {
            set: delta.clone(),
            data_dir: fresh.path().to_owned(),
            identity: secret.clone(),
            journal_here: false,
            verified_cut: None,
            taking: migrate::Taking::Fresh,
        },
        &|_, _, _| {},
    )
    .unwrap_err();
    assert!(refused.to_string().contains("only a follower"), "{refused}");

    let taking = migrate::Taking::Delta {
        base_id: id.clone(),
    };
    take(&delta, taking.clone()).unwrap();
    assert_eq!(
        people_and_registry(&follower),
        people_and_registry(&old.dir)
    );
    // Again (a rerun after a kill): the same.
    take(&delta, taking).unwrap();
    assert_eq!(
        people_and_registry(&follower),
        people_and_registry(&old.dir)
    );
    assert!(
        !SqliteService::open_in(&follower)
            .unwrap()
            .sessions_of(CURRENCY, 0)
            .unwrap()
            .iter()
            .any(|s| s.login == "alice"),
        "alice signed out at the old node: her session is not alive at the follower"
    );

    // A base the old node cannot read any more gives a whole set, which the follower
    // makes its copy equal to.
    let whole = work.path().join("whole");
    let manifest = migrate::export_live(
        &options(&old.dir, &whole, &public),
        &old.engine,
        Some((&base, "not the base held here")),
    )
    .unwrap();
    assert_eq!(manifest.base, None);
    assert_eq!(manifest.people.users, 3);
    take(
        &whole,
        migrate::Taking::Delta {
            base_id: id.clone(),
        },
    )
    .unwrap();
    assert_eq!(
        people_and_registry(&follower),
        people_and_registry(&old.dir)
    );

    // A base taken over an earlier one leaves nothing stale: bob signs out everywhere.
    let store_old = SqliteService::open_in(&old.dir).unwrap();
    let bob = store_old
        .users_of(CURRENCY)
        .unwrap()
        .users
        .into_iter()
        .find(|u| u.login == "bob")
        .unwrap();
    store_old.remove_user_sessions(bob.id).unwrap();
    let base2 = work.path().join("base2");
    migrate::export_base(&options(&old.dir, &base2, &public), &old.engine).unwrap();
    take(&base2, migrate::Taking::Base).unwrap();
    assert_eq!(
        people_and_registry(&follower),
        people_and_registry(&old.dir)
    );
}
