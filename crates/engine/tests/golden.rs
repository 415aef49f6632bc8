//! The on-disk formats, pinned.
//!
//! **Golden bytes** (`tests/golden/*.hex`): one example of every command (every
//! transfer kind, every scheme command), every answer (scheme answers included), every
//! rejection, each kind of record payload, a snapshot payload and a `journal.dat`
//! record, encoded exactly as the journal writes them and compared with the committed
//! bytes; the committed bytes are decoded back and must give the example. A changed
//! entry is a change of the format: journals already written must still decode, so a
//! difference here is a review question, not a file to refresh.
//!
//! Regenerate on purpose only:
//!
//! ```sh
//! MAEUL_UPDATE_GOLDEN=1 cargo test -p engine --test golden
//! ```
//!
//! That rewrites the `.hex` files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod examples;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use engine::record;
use engine::replay;
use journal::{FileJournal, FileJournalConfig, JournalReader, JournalStore, NewRecord};
use ledger::codec::{self, Reader};
use ledger::scheme::{SchemeApplied, SchemeCommand};
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
