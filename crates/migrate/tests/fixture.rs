//! A set written by an earlier maeul is read by this one. `fixtures/interchange-v1/`
//! was written once (by `write_the_v1_fixture`, below) and is never rewritten: a later
//! format version adds its own fixture beside it. The key that opens its people's data
//! is a test key, committed with it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/interchange-v1")
}

fn key() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/successor.key"),
    )
    .unwrap()
}

#[test]
fn a_version_1_set_written_earlier_is_read_and_imported() {
    let target = tempfile::tempdir().unwrap();
    let options = migrate::ImportOptions {
        set: fixture(),
        data_dir: target.path().to_owned(),
        identity: key(),
        journal_here: false,
        verified_cut: None,
        taking: migrate::Taking::Fresh,
    };
    let report = migrate::import(&options, &|_, _, _| {}).unwrap();
    let manifest = report.manifest.clone().unwrap();
    assert_eq!(manifest.version, 1);
    assert_eq!(report.journal, migrate::JournalStep::Copied);
    assert_eq!(report.users_added, 2, "{report:?}");
    assert_eq!(report.links_added, manifest.people.bank_links as usize);
    assert_eq!(report.merchants, 1, "{report:?}");
    assert_eq!(
        (report.alias_files_added, report.notices_added),
        (1, 1),
        "{report:?}"
    );
    let storage = engine::FileStorage::new(
        target.path().join("currencies").join(&manifest.currency),
        journal::FileJournalConfig::default(),
    );
    let verified = engine::verify(&storage);
    assert!(verified.ok(), "{verified}");
    assert_eq!(
        verified.state_hash.unwrap().to_string(),
        manifest.state_hash
    );
    assert_eq!(
        verified.chain_hash.unwrap().to_string(),
        manifest.cut.head_hash
    );
    // Again: nothing more is written.
    let again = migrate::import(&options, &|_, _, _| {}).unwrap();
    assert_eq!(again.journal, migrate::JournalStep::AlreadyThere);
    assert_eq!(
        (
            again.users_added,
            again.links_added,
            again.alias_files_added
        ),
        (0, 0, 0)
    );
}

#[test]
fn a_set_from_a_newer_maeul_is_refused_by_name() {
    let copy = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(fixture()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.path().join(e.file_name())).unwrap();
    }
    let path = copy.path().join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["version"] = 2.into();
    manifest["something_new"] = "a field version 1 does not have".into();
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let target = tempfile::tempdir().unwrap();
    let err = migrate::import(
        &migrate::ImportOptions {
            set: copy.path().to_owned(),
            data_dir: target.path().to_owned(),
            identity: key(),
            journal_here: false,
            verified_cut: None,
            taking: migrate::Taking::Fresh,
        },
        &|_, _, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            migrate::MigrateError::NewerFormat { found: 2, reads: 1 }
        ),
        "{err}"
    );
}

/// Writes the fixture (run once, by hand, when a format version is born):
/// `cargo test -p migrate --test fixture -- --ignored`.
#[tokio::test]
#[ignore = "writes the committed fixture; run by hand for a new format version"]
async fn write_the_v1_fixture() {
    use ledger::scheme::{AnnualRevenue, SchemeCommand};
    use ledger::{ClientId, Command, Envelope, IdempotencyKey, MerchantId, WalletId, Won};
    use service::Role;
    use service::store::{BankLinkStore, LinkRecord, NoticeStore};
    use service::testing::{MERCHANT, WALLET, merchant_with_money};
    let currency = merchant_with_money(12_000).await;
    currency
        .signed_in("fixture-citizen", Role::Citizen, WALLET)
        .await;
    currency.merchant("fixture-shop").await;
    // Something in every file: a citizen's counters, a purchase, a scheme payment with
    // cash-back, a pending charge, a registry record with an earlier operator's QR, a notice, a link.
    let scheme = |c| Command::Scheme(Box::new(c));
    let commands = [
        scheme(SchemeCommand::RegisterCitizen {
            wallet: WalletId::new(WALLET),
            birth_year: 1990,
        }),
        scheme(SchemeCommand::SetMerchantProfile {
            merchant: MerchantId::new(MERCHANT),
            category: 5812,
            annual_revenue: AnnualRevenue::Known(Won::new(120_000_000)),
        }),
        scheme(SchemeCommand::Purchase {
            wallet: WalletId::new(WALLET),
            face: Won::new(50_000),
            channel: 1,
            full_price_ok: true,
            pending_timeout_us: None,
        }),
        // A charge still waiting for its bank at the cut.
        scheme(SchemeCommand::Purchase {
            wallet: WalletId::new(WALLET),
            face: Won::new(20_000),
            channel: 1,
            full_price_ok: true,
            pending_timeout_us: Some(3_600_000_000),
        }),
        scheme(SchemeCommand::Pay {
            payer: WalletId::new(WALLET),
            merchant: MerchantId::new(MERCHANT),
            amount: Won::new(10_000),
        }),
    ];
    for (i, command) in commands.into_iter().enumerate() {
        let outcomes = currency
            .engine
            .submit(vec![Envelope {
                client: ClientId(77),
                key: IdempotencyKey(i as u128 + 1),
                command,
            }])
            .unwrap()
            .outcome()
            .await
            .unwrap();
        assert!(
            outcomes.iter().all(ledger::Outcome::is_applied),
            "{outcomes:?}"
        );
    }
    let now_us = 1_796_000_000_000_000;
    let registry =
        service::merchants::Merchants::open(&currency.dir, service::testing::CURRENCY, [7; 32])
            .unwrap();
    let record = directory::synth::Synth::new(1).merchant(directory::MerchantId(MERCHANT), now_us);
    registry.create_many(vec![record]).unwrap();
    let aliases = format!("LEGACY-STICKER-0001,{MERCHANT},the previous operator's sticker\n");
    assert_eq!(
        registry
            .import_aliases(aliases.as_bytes(), now_us)
            .unwrap()
            .added,
        1
    );
    let store = service::store::sqlite::SqliteService::open_in(&currency.dir).unwrap();
    store
        .publish_notice(
            &service::auth::Notice {
                id: 0,
                currency: service::testing::CURRENCY.to_owned(),
                title_ko: "운영사 변경 안내".to_owned(),
                title_en: "Our operator is changing".to_owned(),
                body_ko: "결제는 그대로 됩니다.".to_owned(),
                body_en: "Payments carry on as before.".to_owned(),
                at: 1_796_000_000,
            },
            1_796_000_000,
        )
        .unwrap();
    store
        .restore_links(&[LinkRecord {
            account: WALLET,
            bank_account: "110-000001".to_owned(),
            verified_ms: 1_796_000_000_000,
        }])
        .unwrap();
    let out = fixture();
    assert!(
        !out.exists(),
        "the v1 fixture exists: it is never rewritten"
    );
    let public = key()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    let manifest = migrate::export(
        &migrate::ExportOptions {
            data_dir: currency.dir.clone(),
            currency: service::testing::CURRENCY.to_owned(),
            out,
            recipient: public,
        },
        &|_, _, _| {},
    )
    .unwrap();
    assert_eq!((manifest.people.users, manifest.people.bank_links), (2, 1));
}
