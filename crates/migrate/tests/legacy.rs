//! Legacy import from another vendor's dumps: every defect reported as expected, the
//! value journaled with its provenance, deltas idempotent, a 1-won difference caught
//! and going live refused until it is signed off.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::{CurrencyCode, Engine, EngineOptions, FileStorage, Storage};
use ledger::scheme::{SchemeCommand, SchemeConfig};
use ledger::{
    AccountId, AccountKind, AccountState, ClientId, Command, Envelope, IdempotencyKey,
    LedgerConfig, SourceSet, Text, Timestamp,
};
use migrate::legacy::synth::{SynthOptions, write_dump};
use migrate::legacy::{self, ControlTotals, LegacyAccounts, LegacyImport, Mapping, Stage};
use service::merchants::Merchants;
use service::store::UserStore;
use service::store::sqlite::SqliteService;

const CURRENCY: &str = "town";
/// 2026-12-05, the dumps' reference day.
const NOW_US: u64 = 1_796_500_000_000_000;

struct Town {
    _dir: tempfile::TempDir,
    data: PathBuf,
    engine: Engine,
    merchants: Merchants,
    users: SqliteService,
}

fn storage(data: &Path) -> Arc<dyn Storage> {
    Arc::new(FileStorage::new(
        data.join("currencies").join(CURRENCY),
        journal::FileJournalConfig::default(),
    ))
}

fn town() -> Town {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let engine = Engine::create(
        storage(&data),
        CurrencyCode::new(CURRENCY).unwrap(),
        LedgerConfig::default(),
        EngineOptions::default(),
    )
    .unwrap();
    let scheme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemes/busan-like.toml"),
    )
    .unwrap();
    let open = |id: u64, kind| Command::OpenAccount {
        account: AccountId(id),
        kind,
        accepts: SourceSet::ALL,
    };
    let commands = vec![
        open(1, AccountKind::IssuerReserve),
        open(2, AccountKind::SubsidyBudget),
        open(3, AccountKind::SettlementClearing),
        open(4, AccountKind::SubsidyBudget),
        Command::Scheme(Box::new(SchemeCommand::SetScheme {
            config: Box::new(SchemeConfig::from_toml(&scheme).unwrap()),
            effective_at: Timestamp::ZERO,
            operator: Text::new("test").unwrap(),
        })),
    ];
    let envs = commands
        .into_iter()
        .enumerate()
        .map(|(i, command)| Envelope {
            client: ClientId(1),
            key: IdempotencyKey(i as u128 + 1),
            command,
        })
        .collect();
    for o in engine.execute(envs).unwrap() {
        o.result.unwrap();
    }
    let merchants = Merchants::open(&data, CURRENCY, [7; 32]).unwrap();
    let users = SqliteService::open_in(&data).unwrap();
    Town {
        _dir: dir,
        data,
        engine,
        merchants,
        users,
    }
}

impl Town {
    fn currency_dir(&self) -> PathBuf {
        self.data.join("currencies").join(CURRENCY)
    }

    fn import(&self, dumps: &Path) -> legacy::LegacyOutcome {
        self.try_import(dumps).expect("the import runs")
    }

    fn try_import(&self, dumps: &Path) -> Result<legacy::LegacyOutcome, migrate::MigrateError> {
        let read = |f: &str| std::fs::read_to_string(dumps.join(f)).unwrap();
        let options = LegacyImport {
            dumps: dumps.to_owned(),
            mapping: Mapping::parse(&read("mapping.toml")).unwrap(),
            totals: ControlTotals::parse(&read("totals.toml")).unwrap(),
            currency: CURRENCY.into(),
            currency_dir: self.currency_dir(),
            accounts: LegacyAccounts {
                reserve: 1,
                allowance_budget: 2,
                cashback_budget: 4,
            },
            now_us: NOW_US,
        };
        legacy::run(
            &options,
            &self.engine,
            &self.merchants,
            &self.users,
            &|_, _, _| {},
        )
    }
}

fn dump(dir: &Path, name: &str, day: u32, skew: i64) -> (PathBuf, legacy::synth::SynthDump) {
    let path = dir.join(name);
    let d = write_dump(
        &path,
        &SynthOptions {
            members: 300,
            merchants: 40,
            defects: true,
            seed: 11,
            day,
            now_us: NOW_US,
        },
        skew,
    )
    .unwrap();
    (path, d)
}

fn codes(o: &legacy::LegacyOutcome) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for r in &o.report {
        *m.entry(r.code).or_default() += 1;
    }
    m
}

#[test]
fn every_defect_is_reported_and_everything_else_imported() {
    let t = town();
    let (dumps, expected) = dump(t._dir.path(), "day0", 0, 0);
    let o = t.import(&dumps);
    assert_eq!(codes(&o), expected.expected_codes, "{:#?}", o.report);
    assert_eq!(
        o.imported, expected.expected,
        "what the ledger holds of the import"
    );
    assert!(
        o.status.totals.iter().all(|c| !c.differs()),
        "{:?}",
        o.status.totals
    );
    assert_eq!(o.status.stage, Stage::Waiting);
    // Every report row names its file and line (the file-level ones line 0 only).
    for r in &o.report {
        assert!(
            r.line > 0 && !r.message_ko.is_empty() && !r.message_en.is_empty(),
            "{r:?}"
        );
    }
    // Halted until go-live: a payment is refused.
    let halted = t.engine.read(|l| l.halted().cloned());
    assert!(halted.is_some(), "the currency waits for go-live");

    // The quoted, CP949 name with a comma and quotes came through intact.
    let quoted = t.merchants.read(|r| {
        r.records()
            .iter()
            .filter(|m| m.profile.name == "\"행복\"상회, 본점")
            .count()
    });
    assert_eq!(quoted, 2);
    // Frozen as the dump says: the unknown status and the closed member with value.
    let users = t.users.users_of(CURRENCY).unwrap().users;
    let account_of = |id: &str| {
        users
            .iter()
            .find(|u| u.login == format!("legacy-oldpay-{id}"))
            .map(|u| u.account)
    };
    for id in ["MX0000003", "MX0000005"] {
        let a = account_of(id).expect("imported");
        let state = t.engine.read(|l| l.account(AccountId(a)).map(|a| a.state));
        assert_eq!(state, Some(AccountState::Frozen), "{id}");
    }
    assert_eq!(
        account_of("MX0000001"),
        None,
        "conflicting duplicates are not imported"
    );
    assert_eq!(
        account_of("MX0000004"),
        None,
        "closed without value is not imported"
    );
    // Nobody can sign in as an imported member before claiming the account: the hash
    // is no password hash at all.
    let login = "legacy-oldpay-M00000001";
    let creds = t
        .users
        .sign_in_candidate(login, &service::auth::login_key(login))
        .unwrap()
        .expect("the member is a user");
    assert!(
        !creds.password_hash.starts_with("$argon2"),
        "{}",
        creds.password_hash
    );

    // Old stickers pay: the payload of an old sticker leads to the imported merchant.
    let brn_of_first = |id: &str| {
        t.merchants.read(|r| {
            r.records()
                .iter()
                .find(|m| m.last_change.reason.contains(&format!("id {id})")))
                .map(|m| m.id.0)
        })
    };
    let mut linked = 0;
    for i in 0..40 {
        let id = format!("S{i:07}");
        let scan = format!("https://pay.old-vendor.example/m/{id}");
        if let qr::ScanAnswer::Merchant(target) =
            t.merchants.classify_for_citizen(scan.as_bytes(), NOW_US)
        {
            assert_eq!(Some(target.merchant), brn_of_first(&id), "{id}");
            linked += 1;
        }
    }
    assert!(linked > 20, "most old stickers pay ({linked} of 40)");
    let shared = t
        .merchants
        .classify_for_citizen(b"https://pay.old-vendor.example/m/SHARED", NOW_US);
    assert!(
        !matches!(shared, qr::ScanAnswer::Merchant(_)),
        "a payload two shops had pays neither"
    );

    // Every won of value came in a Migrated command with its provenance.
    let notes = migrated_notes(&t);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("legacy oldpay wallets.csv:")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("legacy oldpay merchants.csv:"))
    );
}

fn all_commands(t: &Town) -> Vec<String> {
    let mut all = Vec::new();
    storage(&t.data)
        .read_records(1, None, &mut |rec| {
            if let Ok(engine::record::RecordBody::Batch(b)) = engine::record::decode(&rec.payload) {
                for (e, o) in b.commands.iter().zip(&b.outcomes) {
                    all.push(format!(
                        "{:?} -> {:?} repeated={} key={:x}",
                        e.command, o.result, o.repeated, e.key.0
                    ));
                }
            }
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    all
}

/// The notes of the journal's Migrated commands.
fn migrated_notes(t: &Town) -> Vec<String> {
    let mut notes = Vec::new();
    storage(&t.data)
        .read_records(1, None, &mut |rec| {
            if let Ok(engine::record::RecordBody::Batch(b)) = engine::record::decode(&rec.payload) {
                for e in b.commands {
                    if let Command::Migrated { note, .. } = e.command {
                        notes.push(note.as_str().to_owned());
                    }
                }
            }
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    notes
}

#[test]
fn a_rerun_changes_nothing_and_a_later_dump_imports_as_a_delta() {
    let t = town();
    let (day0, _) = dump(t._dir.path(), "day0", 0, 0);
    let first = t.import(&day0);
    assert!(first.commands > 300);
    let again = t.import(&day0);
    // Only the import's own resume and halt: every member and merchant is in place.
    assert_eq!(again.commands, 2, "{:?}", again.report.len());
    assert_eq!(again.imported, first.imported);
    assert_eq!(
        again.members_added + again.merchants_added + again.aliases_added,
        0
    );

    let (day1, expected1) = dump(t._dir.path(), "day1", 1, 0);
    let delta = t.import(&day1);
    assert_eq!(
        delta.imported, expected1.expected,
        "the delta brings the ledger to day 1"
    );
    assert!(delta.members_added > 0, "new members on day 1");
    assert!(delta.commands < first.commands, "a delta, not a reimport");
    assert!(delta.status.totals.iter().all(|c| !c.differs()));
    let before = all_commands(&t).len();
    let again = t.import(&day1);
    assert_eq!(again.commands, 2, "{:#?}", &all_commands(&t)[before..]);
    assert_eq!(again.imported, expected1.expected);
}

#[test]
fn a_one_won_difference_blocks_going_live_until_signed_off() {
    let t = town();
    let (dumps, _) = dump(t._dir.path(), "skewed", 0, 1);
    let o = t.import(&dumps);
    let blocking: Vec<&str> = o
        .status
        .blocking()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(blocking, ["outstanding.purchased"]);
    let err = legacy::go_live(&t.engine, &t.currency_dir(), "kim").unwrap_err();
    assert!(err.to_string().contains("outstanding.purchased"), "{err}");
    assert!(t.engine.read(|l| l.halted().is_some()), "still halted");
    assert!(
        legacy::sign_off(&t.engine, &t.currency_dir(), "members", "kim", "x", NOW_US).is_err(),
        "a total that agrees is not signed off"
    );
    legacy::sign_off(
        &t.engine,
        &t.currency_dir(),
        "outstanding.purchased",
        "김담당",
        "the old system counts a voided 1-won test charge",
        NOW_US,
    )
    .unwrap();
    assert!(
        migrated_notes(&t)
            .iter()
            .any(|n| n.starts_with("sign-off oldpay outstanding.purchased") && n.contains("김담당")),
        "the sign-off is journaled"
    );
    let live = legacy::go_live(&t.engine, &t.currency_dir(), "kim").unwrap();
    assert_eq!(live.stage, Stage::Live);
    assert!(
        t.engine.read(|l| l.halted().is_none()),
        "live: writes taken"
    );
    assert!(legacy::not_live_reason(&t.currency_dir()).is_none());
    // No more legacy runs once live.
    let again = t.try_import(&dumps);
    assert!(again.is_err());
}

#[test]
fn a_mapping_that_names_a_missing_column_stops_before_writing() {
    let t = town();
    let (dumps, _) = dump(t._dir.path(), "day0", 0, 0);
    let mapping = std::fs::read_to_string(dumps.join("mapping.toml"))
        .unwrap()
        .replace("balance = \"잔액\"", "balance = \"잔고\"");
    std::fs::write(dumps.join("mapping.toml"), mapping).unwrap();
    let r = t.try_import(&dumps);
    let err = r.unwrap_err().to_string();
    assert!(err.contains("잔고"), "{err}");
    assert_eq!(t.users.users_of(CURRENCY).unwrap().users.len(), 0);
    assert!(legacy::read_status(&t.currency_dir()).unwrap().is_none());
}

#[test]
fn a_first_import_refuses_a_currency_that_already_holds_value() {
    let t = town();
    let wallet = ledger::WalletId::new(100);
    let envs = vec![
        Command::OpenAccount {
            account: wallet.account(),
            kind: AccountKind::CitizenWallet,
            accepts: SourceSet::ALL,
        },
        Command::Transfer(ledger::Transfer::posted(ledger::TransferSpec::Charge {
            reserve: ledger::ReserveId::new(1),
            wallet,
            amount: ledger::Won::new(5_000),
            lot: ledger::LotSpec {
                tag: 0,
                expires_at: Timestamp::MAX,
            },
        })),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, command)| Envelope {
        client: ClientId(2),
        key: IdempotencyKey(i as u128 + 1),
        command,
    })
    .collect();
    for o in t.engine.execute(envs).unwrap() {
        o.result.unwrap();
    }
    let (dumps, _) = dump(t._dir.path(), "day0", 0, 0);
    let err = t.try_import(&dumps).unwrap_err().to_string();
    assert!(err.contains("already holds value"), "{err}");
    assert!(legacy::read_status(&t.currency_dir()).unwrap().is_none());
}
