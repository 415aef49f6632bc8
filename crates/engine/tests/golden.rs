//! The on-disk formats, pinned.
//!
//! 1. **Golden bytes** (`tests/golden/*.hex`): one example of every command (every
//!    transfer kind, every scheme command), every answer (scheme answers included), every
//!    rejection, each kind of record payload, a snapshot payload and a `journal.dat`
//!    record, encoded exactly as the journal writes them and compared with the committed
//!    bytes; the committed bytes are decoded back and must give the example. A changed
//!    entry is a change of the format: journals already written must still decode, so a
//!    difference here is a review question, not a file to refresh.
//! 2. **A journal written by an earlier build** (`tests/golden/journal/`): a small data
//!    directory with every kind of command, re-decided by this build's `verify` (and by
//!    `maeul verify` in `crates/maeul/tests/fixture_journal.rs`). It must verify with
//!    the same answers and state hashes as when it was written, and every deliberate
//!    rule change (`ledger::Fault`) must make it fail.
//!
//! Regenerate on purpose only:
//!
//! ```sh
//! MAEUL_UPDATE_GOLDEN=1 cargo test -p engine --test golden
//! ```
//!
//! That rewrites the `.hex` files and the fixture's expected report, and writes the
//! fixture journal only if `tests/golden/journal/` does not exist: an old journal is
//! never replaced (delete it by hand, with a reason in the commit, to start a new one).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod examples;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use engine::record;
use engine::replay;
use engine::{Engine, EngineOptions, FileStorage, Storage};
use journal::{FileJournal, FileJournalConfig, JournalReader, JournalStore, NewRecord};
use ledger::codec::{self, Reader};
use ledger::scheme::{AnnualRevenue, AutoChargeResult, AutoChargeSetting, SchemeApplied};
use ledger::scheme::{SchemeCommand, SchemeConfig};
use ledger::*;

// ----- the golden files ---------------------------------------------------------------

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn updating() -> bool {
    std::env::var("MAEUL_UPDATE_GOLDEN").is_ok_and(|v| v == "1")
}

const BYTES_PER_LINE: usize = 32;

/// `name (n bytes)` then the bytes in hex, 32 a line in groups of 8.
fn render(title: &str, entries: &[(String, Vec<u8>)]) -> String {
    let mut out = format!(
        "# {title}\n\
         # Golden bytes of maeul's journal format: a change here is a format change.\n\
         # Regenerate on purpose only: MAEUL_UPDATE_GOLDEN=1 cargo test -p engine --test golden\n"
    );
    for (name, bytes) in entries {
        out.push_str(&format!("\n{name} ({} bytes)\n", bytes.len()));
        for line in bytes.chunks(BYTES_PER_LINE) {
            let groups: Vec<String> = line
                .chunks(8)
                .map(|g| g.iter().map(|b| format!("{b:02x}")).collect())
                .collect();
            out.push_str(&format!("    {}\n", groups.join(" ")));
        }
    }
    out
}

fn parse(file: &str, text: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with(' ') {
            let entry = out
                .last_mut()
                .unwrap_or_else(|| panic!("{file}:{}: bytes before a name", n + 1));
            let hex: String = line.split_whitespace().collect();
            assert!(
                hex.len().is_multiple_of(2),
                "{file}:{}: odd hex digits",
                n + 1
            );
            for i in (0..hex.len()).step_by(2) {
                let byte = u8::from_str_radix(&hex[i..i + 2], 16)
                    .unwrap_or_else(|_| panic!("{file}:{}: not hex: {line}", n + 1));
                entry.1.push(byte);
            }
        } else {
            let name = line
                .rsplit_once(" (")
                .map_or(line, |(name, _)| name)
                .to_owned();
            out.push((name, Vec::new()));
        }
    }
    out
}

/// Compares `entries` with `tests/golden/<file>` (or rewrites it when updating) and
/// returns the committed entries, to be decoded.
fn check_golden(file: &str, title: &str, entries: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let path = golden_dir().join(file);
    let names: BTreeSet<&String> = entries.iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), entries.len(), "{file}: example names repeat");
    if updating() {
        std::fs::create_dir_all(golden_dir()).expect("creating tests/golden");
        std::fs::write(&path, render(title, entries)).expect("writing a golden file");
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with MAEUL_UPDATE_GOLDEN=1 cargo test -p engine --test golden",
            path.display()
        )
    });
    let golden = parse(file, &text);
    let mut problems = Vec::new();
    for (name, bytes) in entries {
        match golden.iter().find(|(n, _)| n == name) {
            None => problems.push(format!("{name}: not in the golden file (a new variant?)")),
            Some((_, old)) if old != bytes => {
                let at = old
                    .iter()
                    .zip(bytes)
                    .position(|(a, b)| a != b)
                    .unwrap_or(old.len().min(bytes.len()));
                problems.push(format!(
                    "{name}: encoded differently from byte {at} (golden {} bytes, now {} bytes; \
                     golden {:02x?}…, now {:02x?}…)",
                    old.len(),
                    bytes.len(),
                    &old[at..old.len().min(at + 8)],
                    &bytes[at..bytes.len().min(at + 8)],
                ));
            }
            Some(_) => {}
        }
    }
    for (name, _) in &golden {
        if !names.contains(name) {
            problems.push(format!("{name}: in the golden file but no longer encoded"));
        }
    }
    assert!(
        problems.is_empty(),
        "{file}: the journal format changed:\n  {}\n\
         Old journals must still decode. If the change is deliberate (a new variant at the \
         end, say), regenerate with MAEUL_UPDATE_GOLDEN=1 cargo test -p engine --test golden \
         and say why in the commit.",
        problems.join("\n  ")
    );
    golden
}

fn golden_bytes<'a>(golden: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    &golden
        .iter()
        .find(|(n, _)| n == name)
        .expect("checked present")
        .1
}

// ----- golden bytes -------------------------------------------------------------------

#[test]
fn every_command_has_its_golden_bytes_and_decodes_back() {
    let examples = examples::commands();
    let encoded: Vec<(String, Vec<u8>)> = examples
        .iter()
        .map(|(n, e)| (n.clone(), examples::envelope_bytes(e)))
        .collect();
    let golden = check_golden(
        "commands.hex",
        "Commands in their envelopes (client u64, idempotency key u128, command), as in batch records",
        &encoded,
    );
    for (name, example) in &examples {
        let bytes = golden_bytes(&golden, name);
        let mut r = Reader::new(bytes);
        let decoded = codec::get_envelope(&mut r)
            .unwrap_or_else(|e| panic!("{name}: golden bytes do not decode: {e}"));
        assert!(r.is_empty(), "{name}: bytes left after the command");
        assert_eq!(
            &decoded, example,
            "{name}: golden bytes decode to another command"
        );
    }
}

#[test]
fn every_answer_has_its_golden_bytes_and_decodes_back() {
    for (file, title, examples) in [
        (
            "outcomes.hex",
            "Applied answers (repeated flag, result tag 0, answer), as in batch records",
            examples::applied_outcomes(),
        ),
        (
            "rejections.hex",
            "Rejections (repeated flag, result tag 1, code number, details), by code number",
            examples::rejection_outcomes(),
        ),
    ] {
        let encoded: Vec<(String, Vec<u8>)> = examples
            .iter()
            .map(|(n, o)| (n.clone(), examples::outcome_bytes(o)))
            .collect();
        let golden = check_golden(file, title, &encoded);
        for (name, example) in &examples {
            let bytes = golden_bytes(&golden, name);
            let mut r = Reader::new(bytes);
            let decoded = codec::get_outcome(&mut r)
                .unwrap_or_else(|e| panic!("{file} {name}: golden bytes do not decode: {e}"));
            assert!(r.is_empty(), "{file} {name}: bytes left after the outcome");
            assert_eq!(
                &decoded, example,
                "{file} {name}: decodes to another answer"
            );
        }
    }
}

#[test]
fn every_record_payload_has_its_golden_bytes_and_decodes_back() {
    let examples = examples::records();
    let encoded: Vec<(String, Vec<u8>)> = examples
        .iter()
        .map(|(n, bytes, _)| (n.clone(), bytes.clone()))
        .collect();
    let golden = check_golden(
        "records.hex",
        "Record payloads: genesis (G), rules marker (R), batch (B)",
        &encoded,
    );
    for (name, _, body) in &examples {
        let decoded = record::decode(golden_bytes(&golden, name))
            .unwrap_or_else(|e| panic!("{name}: golden bytes do not decode: {e}"));
        assert_eq!(&decoded, body, "{name}: decodes to another record");
    }
}

#[test]
fn snapshot_payloads_have_their_golden_bytes_and_decode_back() {
    let examples = examples::snapshots();
    let golden = check_golden(
        "snapshot.hex",
        "Snapshot payloads (format 2: rules id, writer, currency, the whole ledger)",
        &examples,
    );
    let expected_hash = examples::small_ledger().state_hash();
    for (name, _) in &examples {
        let bytes = golden_bytes(&golden, name);
        let s = replay::decode_snapshot(bytes)
            .unwrap_or_else(|e| panic!("{name}: golden bytes do not decode: {e}"));
        assert_eq!(s.rules, Some(examples::RULES), "{name}");
        assert_eq!(s.currency, examples::currency(), "{name}");
        assert_eq!(s.ledger.state_hash(), expected_hash, "{name}");
        s.ledger
            .check_all()
            .expect("the snapshot's ledger is consistent");
        let mut again = Vec::new();
        replay::encode_snapshot(
            &mut again,
            examples::RULES,
            s.writer.as_ref(),
            &s.currency,
            &s.ledger,
        );
        assert!(
            again == bytes,
            "{name}: decoding and encoding again changes it"
        );
    }
}

#[test]
fn journal_file_records_have_their_golden_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let config = FileJournalConfig::default().with_chunk_size(4096);
    let payloads: Vec<Vec<u8>> = examples::records()
        .into_iter()
        .take(2)
        .map(|(_, bytes, _)| bytes)
        .collect();
    let (mut journal, _) = FileJournal::open(dir.path(), config.clone()).unwrap();
    journal
        .append_durable(&[NewRecord {
            seq: 1,
            timestamp_us: 1_773_104_400_000_000,
            payload: &payloads[0],
        }])
        .unwrap();
    journal
        .append_durable(&[NewRecord {
            seq: 2,
            timestamp_us: 1_773_104_400_000_001,
            payload: &payloads[1],
        }])
        .unwrap();
    drop(journal);
    let file = std::fs::read(dir.path().join(journal::JOURNAL_FILE_NAME)).unwrap();
    let first = journal::record_len(payloads[0].len() as u64) as usize;
    let second = journal::record_len(payloads[1].len() as u64) as usize;
    assert!(
        file[first + second..].iter().all(|b| *b == 0),
        "nothing but zeros after the records"
    );
    let entries = vec![
        ("record 1 (genesis)".to_owned(), file[..first].to_vec()),
        (
            "record 2 (rules marker, second write group)".to_owned(),
            file[first..first + second].to_vec(),
        ),
    ];
    let golden = check_golden(
        "journal_file.hex",
        "journal.dat records: 80-byte header (magic, version, seq, time, length, synced-through, prev hash, crcs), payload, padding",
        &entries,
    );
    // The committed bytes are a journal this build reads.
    let copy = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = golden.iter().flat_map(|(_, b)| b.clone()).collect();
    std::fs::write(copy.path().join(journal::JOURNAL_FILE_NAME), bytes).unwrap();
    let reader = JournalReader::open(copy.path()).unwrap();
    let records = reader
        .records(journal::ReadOptions::default())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(records.len(), 2);
    for (rec, payload) in records.iter().zip(&payloads) {
        assert_eq!(&rec.payload, payload);
    }
}

// ----- every variant has an example ---------------------------------------------------

/// The variant names serde knows for an enum (the scheme layer's enums and
/// `Rejection` derive `Deserialize`): a deserializer that only listens for them.
fn serde_variants<T: for<'de> serde::Deserialize<'de>>() -> Vec<&'static str> {
    use serde::de::{Error as _, Visitor};
    struct Names<'a>(&'a mut &'static [&'static str]);
    impl<'de> serde::Deserializer<'de> for Names<'_> {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("not an enum"))
        }
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = variants;
            Err(Self::Error::custom("names taken"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            struct identifier ignored_any
        }
    }
    let mut names: &'static [&'static str] = &[];
    let _ = T::deserialize(Names(&mut names));
    assert!(
        !names.is_empty(),
        "{} is not an enum",
        std::any::type_name::<T>()
    );
    names.to_vec()
}

/// `Name { .. }` / `Name(..)` / `Name` → `Name`.
fn debug_variant(value: &impl std::fmt::Debug) -> String {
    format!("{value:?}")
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn assert_covers(what: &str, all: &[&str], examples: impl IntoIterator<Item = String>) {
    let have: BTreeSet<String> = examples.into_iter().collect();
    let missing: Vec<&&str> = all.iter().filter(|n| !have.contains(**n)).collect();
    assert!(
        missing.is_empty(),
        "{what} without a golden example: {missing:?} (add one to tests/examples/mod.rs)"
    );
}

#[test]
fn every_variant_has_an_example() {
    let commands = examples::commands();
    let scheme_commands = commands.iter().filter_map(|(_, e)| match &e.command {
        Command::Scheme(s) => Some(debug_variant(s)),
        _ => None,
    });
    assert_covers(
        "scheme commands",
        &serde_variants::<SchemeCommand>(),
        scheme_commands,
    );
    let applied = examples::applied_outcomes();
    let scheme_applied = applied.iter().filter_map(|(_, o)| match &o.result {
        Ok(Applied::Scheme(s)) => Some(debug_variant(s)),
        _ => None,
    });
    assert_covers(
        "scheme answers",
        &serde_variants::<SchemeApplied>(),
        scheme_applied,
    );
    let rejections = examples::rejection_outcomes();
    assert_covers(
        "rejections",
        &serde_variants::<Rejection>(),
        rejections.iter().map(|(_, o)| match &o.result {
            Err(r) => debug_variant(r),
            Ok(_) => String::new(),
        }),
    );
    let kinds: Vec<&str> = TransferKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_covers(
        "transfer kinds",
        &kinds,
        commands.iter().filter_map(|(_, e)| match &e.command {
            Command::Transfer(t) => Some(t.spec.kind().as_str().to_owned()),
            _ => None,
        }),
    );

    // The hand-encoded enums have no list of variants: their tags must run from 1 with
    // no gap, and the next tag must be unknown to the decoder (a new variant with a new
    // tag and no example fails here).
    let command_tags: BTreeSet<u8> = commands
        .iter()
        .map(|(_, e)| examples::envelope_bytes(e)[24])
        .collect();
    let next = check_tags("command", &command_tags);
    let mut bytes = examples::envelope_bytes(&commands[0].1)[..24].to_vec();
    bytes.push(next);
    bytes.extend([0u8; 64]);
    let err = codec::get_envelope(&mut Reader::new(&bytes)).expect_err("an unknown command tag");
    assert_eq!(
        // The reader reports the offset just after the tag it could not use.
        (err.offset, err.what),
        (25, "command tag"),
        "command tag {next} decodes: a new command needs an example"
    );

    let applied_tags: BTreeSet<u8> = applied
        .iter()
        .map(|(_, o)| examples::outcome_bytes(o)[2])
        .collect();
    let next = check_tags("answer", &applied_tags);
    let mut bytes = vec![0u8, 0, next];
    bytes.extend([0u8; 64]);
    let err = codec::get_outcome(&mut Reader::new(&bytes)).expect_err("an unknown answer tag");
    assert_eq!(
        (err.offset, err.what),
        (3, "applied tag"),
        "answer tag {next} decodes: a new answer needs an example"
    );
}

/// Checks that `tags` are 1..=n and returns n + 1.
fn check_tags(what: &str, tags: &BTreeSet<u8>) -> u8 {
    let n = tags.len() as u8;
    let expected: BTreeSet<u8> = (1..=n).collect();
    assert_eq!(tags, &expected, "{what} tags have a gap");
    n + 1
}

// ----- a journal written by an earlier build ------------------------------------------

const FIXTURE_CURRENCY: &str = "golden-town";
/// 2026-03-10 10:00 KST.
const T0: u64 = 1_773_104_400 * SECOND_US;

fn fixture_dir() -> PathBuf {
    golden_dir().join("journal")
}

fn fixture_currency_dir(data: &Path) -> PathBuf {
    data.join("currencies").join(FIXTURE_CURRENCY)
}

fn expected_report_path() -> PathBuf {
    golden_dir().join("journal.verify.txt")
}

fn file_storage(dir: &Path) -> Arc<dyn Storage> {
    Arc::new(FileStorage::new(
        dir,
        FileJournalConfig::default().with_chunk_size(1 << 16),
    ))
}

/// What `maeul verify` prints for the fixture, but its first line (which names where
/// the journal is): the report test in `crates/maeul` compares the same lines.
fn stable_report(report: &engine::VerifyReport) -> String {
    let text = report.to_string();
    let mut lines = text.lines();
    lines.next();
    lines.map(|l| format!("{l}\n")).collect()
}

#[test]
fn the_journal_written_by_an_earlier_build_verifies_and_every_rule_change_fails_it() {
    if updating() && !fixture_dir().exists() {
        write_fixture(&fixture_dir());
    }
    let data = tempfile::tempdir().unwrap();
    assert!(
        fixture_dir().is_dir(),
        "{}: missing (MAEUL_UPDATE_GOLDEN=1 writes it)",
        fixture_dir().display()
    );
    common::copy_dir(&fixture_dir(), data.path());
    let currency = fixture_currency_dir(data.path());

    let report = engine::verify(&FileStorage::new(&currency, FileJournalConfig::default()));
    assert!(
        report.ok(),
        "the fixture journal no longer verifies:\n{report}"
    );
    assert!(report.torn_tail.is_none(), "{report}");
    if updating() {
        std::fs::write(expected_report_path(), stable_report(&report)).unwrap();
    }
    let expected = std::fs::read_to_string(expected_report_path()).unwrap();
    assert_eq!(
        stable_report(&report),
        expected,
        "the fixture's verify report changed (tests/golden/journal.verify.txt)"
    );

    // Every deliberate rule change is caught by re-deciding this journal.
    for fault in Fault::ALL {
        let v = engine::verify_with(
            &FileStorage::new(&currency, FileJournalConfig::default()),
            &Rules::with_fault(fault),
            None,
        );
        assert!(
            !v.ok(),
            "{fault:?} re-decides the fixture the same way:\n{v}"
        );
        assert!(v.divergence.is_some(), "{fault:?}: {v}");
    }

    // And a start on it re-decides it all (there are no snapshots) and serves.
    let (_, clock) = common::manual_clock(T0 + 30 * DAY_US);
    let (engine, start) = Engine::open(
        file_storage(&currency),
        EngineOptions {
            clock,
            ..EngineOptions::default()
        },
    )
    .expect("a start on the fixture journal");
    assert_eq!(start.records_replayed, report.records, "{start:?}");
    assert_eq!(engine.state_hash(), report.state_hash.unwrap());
    engine.shutdown();
}

// The fixture's accounts.
const RESERVE: ReserveId = ReserveId::new(1);
const DISCOUNT: BudgetId = BudgetId::new(2);
const CLEARING: ClearingId = ClearingId::new(3);
const CASHBACK: BudgetId = BudgetId::new(4);
const ALLOWANCE: BudgetId = BudgetId::new(5);
const FEES: FeeId = FeeId::new(6);

fn citizen(i: u64) -> WalletId {
    WalletId::new(100 + i)
}

fn shop(i: u64) -> MerchantId {
    MerchantId::new(200 + i)
}

/// Writes the fixture: a data directory with one currency whose journal holds every
/// command kind, answered and refused, over a month of journal time.
fn write_fixture(data: &Path) {
    let work = tempfile::tempdir().unwrap();
    let (now, clock) = common::manual_clock(T0);
    let engine = Engine::create(
        file_storage(work.path()),
        engine::CurrencyCode::new(FIXTURE_CURRENCY).unwrap(),
        LedgerConfig::default(),
        EngineOptions {
            clock,
            // No batches but the ones below (no idle expiry ticks, no snapshots).
            idle_tick: std::time::Duration::from_secs(3_600),
            snapshot_every_commands: u64::MAX,
            ..EngineOptions::default()
        },
    )
    .unwrap();
    let mut key = 0u128;
    let mut env = |command: Command| {
        key += 1;
        Envelope {
            client: ClientId(1),
            key: IdempotencyKey(key),
            command,
        }
    };
    let mut step = |engine: &Engine, commands: Vec<Command>| -> Vec<Outcome> {
        let envs: Vec<Envelope> = commands.into_iter().map(&mut env).collect();
        engine.execute(envs).unwrap()
    };
    let ok = |outs: &[Outcome]| {
        assert!(outs.iter().all(Outcome::is_applied), "{outs:?}");
    };
    let sch = |c: SchemeCommand| Command::Scheme(Box::new(c));
    let scheme_answer = |o: &Outcome| -> SchemeApplied {
        match &o.result {
            Ok(Applied::Scheme(s)) => (**s).clone(),
            other => panic!("{other:?}"),
        }
    };
    let posted = |spec| Command::Transfer(Transfer::posted(spec));
    let advance = |us: u64| now.fetch_add(us, Ordering::SeqCst);

    // Set-up: accounts, budgets, the scheme (Busan-like cash-back plus a 5% discount),
    // citizens and merchants (a small one, a large one with lower cash-back, one whose
    // revenue is unknown).
    let open = |account: AccountId, kind| Command::OpenAccount {
        account,
        kind,
        accepts: SourceSet::ALL,
    };
    let mut config: SchemeConfig = examples::scheme_config();
    config.purchase.discount_bp = 500;
    config.purchase.discount_budget = Some(DISCOUNT.account());
    let mut setup = vec![
        open(RESERVE.account(), AccountKind::IssuerReserve),
        open(DISCOUNT.account(), AccountKind::SubsidyBudget),
        open(CLEARING.account(), AccountKind::SettlementClearing),
        open(CASHBACK.account(), AccountKind::SubsidyBudget),
        open(ALLOWANCE.account(), AccountKind::SubsidyBudget),
        open(FEES.account(), AccountKind::Fees),
    ];
    for budget in [DISCOUNT, CASHBACK, ALLOWANCE] {
        setup.push(posted(TransferSpec::BudgetFunding {
            reserve: RESERVE,
            budget,
            amount: Won::new(100_000_000),
        }));
    }
    setup.push(sch(SchemeCommand::SetScheme {
        config: Box::new(config.clone()),
        effective_at: Timestamp::ZERO,
        operator: examples::text("operator"),
    }));
    for i in 0..8 {
        setup.push(open(citizen(i).account(), AccountKind::CitizenWallet));
        setup.push(sch(SchemeCommand::RegisterCitizen {
            wallet: citizen(i),
            birth_year: 1980 + i as u16,
        }));
    }
    for (i, revenue) in [
        (0, AnnualRevenue::Known(Won::new(900_000_000))),
        (1, AnnualRevenue::Known(Won::new(1_500_000_000))),
        (2, AnnualRevenue::Unknown),
    ] {
        setup.push(open(shop(i).account(), AccountKind::Merchant));
        setup.push(sch(SchemeCommand::SetMerchantProfile {
            merchant: shop(i),
            category: 5812,
            annual_revenue: revenue,
        }));
    }
    ok(&step(&engine, setup));

    // Purchases: posted at once, pending then confirmed, pending then failed.
    let buy = |i, face: i64, pending: Option<u64>| {
        sch(SchemeCommand::Purchase {
            wallet: citizen(i),
            face: Won::new(face),
            channel: 0,
            full_price_ok: false,
            pending_timeout_us: pending,
        })
    };
    advance(60 * SECOND_US);
    let outs = step(
        &engine,
        vec![
            buy(0, 200_000, None),
            buy(1, 100_000, None),
            buy(2, 100_000, None),
            buy(3, 100_000, None),
            buy(4, 100_000, Some(DAY_US)),
            buy(5, 100_000, Some(DAY_US)),
        ],
    );
    ok(&outs);
    let purchase = |o: &Outcome| match scheme_answer(o) {
        SchemeApplied::Purchased {
            charge, discount, ..
        } => {
            assert_eq!(discount, Won::new(5_000));
            charge
        }
        other => panic!("{other:?}"),
    };
    let cancel_me = purchase(&outs[2]);
    let confirm_me = purchase(&outs[4]);
    let fail_me = purchase(&outs[5]);
    advance(60 * SECOND_US);
    ok(&step(
        &engine,
        vec![
            sch(SchemeCommand::ConfirmPurchase {
                purchase: confirm_me,
            }),
            sch(SchemeCommand::FailPurchase { purchase: fail_me }),
        ],
    ));

    // Payments with cash-back (10%, 8%, and the lowest band for unknown revenue), a
    // partial refund of one (its cash-back goes back in proportion), a gift.
    advance(3_600 * SECOND_US);
    let outs = step(
        &engine,
        vec![
            sch(SchemeCommand::Pay {
                payer: citizen(0),
                merchant: shop(0),
                amount: Won::new(20_000),
            }),
            sch(SchemeCommand::Pay {
                payer: citizen(0),
                merchant: shop(1),
                amount: Won::new(10_000),
            }),
            sch(SchemeCommand::Pay {
                payer: citizen(4),
                merchant: shop(2),
                amount: Won::new(5_000),
            }),
        ],
    );
    ok(&outs);
    let payment = match scheme_answer(&outs[0]) {
        SchemeApplied::Paid {
            payment, cashback, ..
        } => {
            assert_eq!(cashback, Won::new(2_000));
            payment
        }
        other => panic!("{other:?}"),
    };
    advance(60 * SECOND_US);
    ok(&step(
        &engine,
        vec![
            sch(SchemeCommand::RefundPayment {
                payment,
                amount: Won::new(10_000),
            }),
            sch(SchemeCommand::Gift {
                sender: citizen(1),
                recipient: citizen(6),
                amount: Won::new(30_000),
            }),
        ],
    ));

    // A cancelled purchase (its payout opened pending in the same command, then paid),
    // and a balance refund once 60% is used (payout pending, then voided: the bank
    // refused, so the refund stays owed in clearing).
    advance(60 * SECOND_US);
    let outs = step(
        &engine,
        vec![sch(SchemeCommand::CancelPurchase {
            purchase: cancel_me,
            payout_timeout_us: Some(DAY_US),
        })],
    );
    ok(&outs);
    let cancel_payout = match scheme_answer(&outs[0]) {
        SchemeApplied::PurchaseCancelled {
            payout: Some(p), ..
        } => p,
        other => panic!("{other:?}"),
    };
    ok(&step(
        &engine,
        vec![sch(SchemeCommand::Pay {
            payer: citizen(3),
            merchant: shop(1),
            amount: Won::new(70_000),
        })],
    ));
    let outs = step(
        &engine,
        vec![sch(SchemeCommand::RefundBalance {
            wallet: citizen(3),
            payout_timeout_us: Some(DAY_US),
        })],
    );
    ok(&outs);
    let refund_payout = match scheme_answer(&outs[0]) {
        SchemeApplied::BalanceRefunded {
            payout: Some(p),
            subsidy,
            ..
        } => {
            assert!(subsidy.is_positive());
            p
        }
        other => panic!("{other:?}"),
    };
    advance(60 * SECOND_US);
    ok(&step(
        &engine,
        vec![
            Command::PostPending {
                pending: cancel_payout,
                amount: None,
            },
            Command::VoidPending {
                pending: refund_payout,
            },
        ],
    ));

    // Redemptions: one confirmed by the bank (posted and settled in one command), one
    // refused (voided: the value returns to the merchant).
    advance(3_600 * SECOND_US);
    let redeem = |amount| {
        Command::Transfer(Transfer::pending(
            TransferSpec::Redemption {
                merchant: shop(0),
                clearing: CLEARING,
                amount: Won::new(amount),
            },
            DAY_US,
        ))
    };
    let outs = step(&engine, vec![redeem(5_000), redeem(3_000)]);
    ok(&outs);
    let id = |o: &Outcome| match &o.result {
        Ok(Applied::Transfer { id, .. }) => *id,
        other => panic!("{other:?}"),
    };
    let (confirm, void) = (id(&outs[0]), id(&outs[1]));
    ok(&step(
        &engine,
        vec![
            sch(SchemeCommand::ConfirmRedemption {
                redemption: confirm,
            }),
            Command::VoidPending { pending: void },
        ],
    ));

    // Merchant and account administration, auto-charge, a scheme version set by
    // mistake and withdrawn, an operator's halt and resume.
    advance(60 * SECOND_US);
    let later = Timestamp::from_micros(T0 + 365 * DAY_US);
    ok(&step(
        &engine,
        vec![
            sch(SchemeCommand::SuspendMerchant {
                merchant: shop(1),
                reason: examples::text("영업 정지"),
            }),
            Command::SetAccepts {
                merchant: shop(2),
                accepts: SourceSet::of(&[Source::Purchased, Source::Cashback]),
            },
            Command::SetAccountState {
                account: citizen(7).account(),
                state: AccountState::Frozen,
            },
            sch(SchemeCommand::SetAutoCharge {
                wallet: citizen(5),
                setting: Some(AutoChargeSetting {
                    day: 25,
                    monthly_face: Won::new(100_000),
                    channel: 0,
                    topup: false,
                }),
            }),
            sch(SchemeCommand::SetScheme {
                config: Box::new(config.clone()),
                effective_at: later,
                operator: examples::text("operator"),
            }),
        ],
    ));
    let outs = step(
        &engine,
        vec![
            sch(SchemeCommand::Pay {
                payer: citizen(0),
                merchant: shop(1),
                amount: Won::new(1_000),
            }),
            sch(SchemeCommand::ReinstateMerchant { merchant: shop(1) }),
            Command::SetAccountState {
                account: citizen(7).account(),
                state: AccountState::Active,
            },
            sch(SchemeCommand::WithdrawScheme {
                version: 2,
                operator: examples::text("operator"),
            }),
            sch(SchemeCommand::RecordAutoCharge {
                wallet: citizen(5),
                month: 0,
                result: AutoChargeResult::Failed {
                    code: examples::text("insufficient_funds"),
                    next_attempt_at: Some(Timestamp::from_micros(T0 + DAY_US)),
                },
            }),
        ],
    );
    assert!(
        matches!(&outs[0].result, Err(Rejection::MerchantSuspended { .. })),
        "{outs:?}"
    );
    ok(&outs[1..]);
    ok(&step(
        &engine,
        vec![Command::Halt {
            operator: examples::text("operator"),
            reason: examples::text("점검"),
        }],
    ));
    let outs = step(&engine, vec![buy(6, 10_000, None)]);
    assert!(
        matches!(&outs[0].result, Err(Rejection::CurrencyHalted)),
        "{outs:?}"
    );
    ok(&step(
        &engine,
        vec![Command::Resume {
            operator: examples::text("operator"),
        }],
    ));

    // Plain transfers of every kind, a linked pair, a pending charge posted in part and
    // one left to expire, value that expires at its exact instant.
    advance(3_600 * SECOND_US);
    let expires_at = Timestamp::from_micros(now.load(Ordering::SeqCst) + 600 * SECOND_US);
    let lot = LotSpec { tag: 0, expires_at };
    let never = LotSpec {
        tag: 0,
        expires_at: Timestamp::MAX,
    };
    let outs = step(
        &engine,
        vec![
            posted(TransferSpec::Charge {
                reserve: RESERVE,
                wallet: citizen(7),
                amount: Won::new(7_000),
                lot,
            }),
            posted(TransferSpec::Allowance {
                budget: ALLOWANCE,
                wallet: citizen(7),
                amount: Won::new(50_000),
                lot: never,
            }),
            posted(TransferSpec::Subsidy {
                budget: DISCOUNT,
                wallet: citizen(7),
                amount: Won::new(1_000),
                lot: never,
            }),
            posted(TransferSpec::Cashback {
                budget: CASHBACK,
                wallet: citizen(7),
                amount: Won::new(1_000),
                lot: never,
            }),
            posted(TransferSpec::Payment {
                payer: citizen(7),
                merchant: shop(2),
                amount: Won::new(4_000),
            }),
            posted(TransferSpec::Gift {
                sender: citizen(7),
                recipient: citizen(6),
                amount: Won::new(2_000),
                // Not the value about to expire: the expiry below must find some.
                sources: SourceSet::of(&[Source::Allowance]),
            }),
            posted(TransferSpec::CashRefund {
                wallet: citizen(7),
                clearing: CLEARING,
                amount: Won::new(3_000),
                sources: SourceSet::of(&[Source::Allowance]),
            }),
            posted(TransferSpec::SubsidyReturn {
                wallet: citizen(7),
                budget: ALLOWANCE,
                amount: Won::new(1_000),
                sources: SourceSet::of(&[Source::Allowance]),
            }),
            posted(TransferSpec::Settlement {
                clearing: CLEARING,
                reserve: RESERVE,
                amount: Won::new(3_000),
            }),
            posted(TransferSpec::Fee {
                merchant: shop(0),
                fees: FEES,
                amount: Won::new(500),
            }),
            posted(TransferSpec::Correction {
                debit: FEES.account(),
                credit: citizen(7).account(),
                amount: Won::new(100),
                auditor: examples::text("감사관 김"),
                reason: examples::text("수수료 과다 징수 정정"),
                lot: never,
            }),
            Command::Linked(vec![
                Transfer::posted(TransferSpec::Charge {
                    reserve: RESERVE,
                    wallet: citizen(6),
                    amount: Won::new(9_000),
                    lot: never,
                }),
                Transfer::posted(TransferSpec::Subsidy {
                    budget: DISCOUNT,
                    wallet: citizen(6),
                    amount: Won::new(1_000),
                    lot: never,
                }),
            ]),
            Command::Transfer(Transfer::pending(
                TransferSpec::Charge {
                    reserve: RESERVE,
                    wallet: citizen(6),
                    amount: Won::new(20_000),
                    lot: never,
                },
                DAY_US,
            )),
            Command::Transfer(Transfer::pending(
                TransferSpec::Charge {
                    reserve: RESERVE,
                    wallet: citizen(6),
                    amount: Won::new(1_000),
                    lot: never,
                },
                120 * SECOND_US,
            )),
        ],
    );
    ok(&outs);
    let raw_payment = id(&outs[4]);
    let post_part = id(&outs[12]);
    ok(&step(
        &engine,
        vec![
            posted(TransferSpec::PaymentRefund {
                payment: raw_payment,
                amount: Won::new(1_500),
            }),
            Command::PostPending {
                pending: post_part,
                amount: Some(Won::new(15_000)),
            },
        ],
    ));
    // The short pending expires when journal time passes its deadline; the lot expires
    // exactly at its instant.
    now.store(expires_at.as_micros(), Ordering::SeqCst);
    ok(&step(
        &engine,
        vec![posted(TransferSpec::Expiry {
            wallet: citizen(7),
            reserve: RESERVE,
        })],
    ));

    // Refusals, a repeat and a reused key, in one batch.
    advance(DAY_US);
    let outs = step(
        &engine,
        vec![
            sch(SchemeCommand::Pay {
                payer: citizen(2),
                merchant: shop(0),
                amount: Won::new(10_000_000),
            }),
            buy(1, 12_345, None),
            sch(SchemeCommand::Gift {
                sender: citizen(0),
                recipient: citizen(1),
                amount: Won::new(500_000),
            }),
            posted(TransferSpec::Expiry {
                wallet: citizen(7),
                reserve: RESERVE,
            }),
            Command::VoidPending {
                pending: refund_payout,
            },
        ],
    );
    assert!(outs.iter().all(|o| !o.is_applied()), "{outs:?}");
    let first = Envelope {
        client: ClientId(2),
        key: IdempotencyKey(u128::MAX),
        command: sch(SchemeCommand::Gift {
            sender: citizen(6),
            recipient: citizen(2),
            amount: Won::new(1_000),
        }),
    };
    let mut reused = first.clone();
    reused.command = sch(SchemeCommand::Gift {
        sender: citizen(6),
        recipient: citizen(2),
        amount: Won::new(2_000),
    });
    let outs = engine.execute(vec![first.clone(), first, reused]).unwrap();
    assert!(outs[0].is_applied() && outs[1].repeated, "{outs:?}");
    assert!(
        matches!(&outs[2].result, Err(Rejection::IdempotencyKeyReused)),
        "{outs:?}"
    );
    let last = engine.durable_seq();
    engine.shutdown();

    // The data directory: the journal only, cut after its last record (the rest of a
    // file is preallocated zeros).
    let journal = std::fs::read(work.path().join(journal::JOURNAL_FILE_NAME)).unwrap();
    let reader = JournalReader::open(work.path()).unwrap();
    let records = reader
        .records(journal::ReadOptions::default())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(records.last().map(|r| r.seq), Some(last));
    let end: u64 = records
        .iter()
        .map(|r| journal::record_len(r.payload.len() as u64))
        .sum();
    assert!(journal[end as usize..].iter().all(|b| *b == 0));
    let target = fixture_currency_dir(data);
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(
        target.join(journal::JOURNAL_FILE_NAME),
        &journal[..end as usize],
    )
    .unwrap();
}
